"""Raw-format readers of the UNBC-McMaster Shoulder Pain Expression Archive.

  Images/042-ll042/ll042t1aaaff/ll042t1aaaff001.png        (`images/` in some copies)
  Frame_Labels/FACS/042-ll042/ll042t1aaaff/ll042t1aaaff001_facs.txt   rows: AU intensity x x
  Frame_Labels/PSPI/042-ll042/ll042t1aaaff/ll042t1aaaff001_facs.txt   one number (same suffix!)
  AAM_landmarks/042-ll042/ll042t1aaaff/ll042t1aaaff001_aam.txt        66 rows: x y
  Sequence_Labels/{AFF,OPR,SEN,VAS}/042-ll042/ll042t1aaaff.txt        one number
All numbers are MATLAB `save -ascii` text.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import numpy as np

from tfds_builders import raw_utils

SEQUENCE_SCALES = ("AFF", "OPR", "SEN", "VAS")


def parse_facs(text: str, path="<facs>") -> list[tuple[int, int]]:
  """[(AU, intensity)] of a frame's FACS file; empty text = no AU in the frame.

  Columns 3-4 (meaning unknown, usually 0) are ignored.
  """
  arr = raw_utils.parse_matlab_ascii(text, path)
  if arr.size == 0:
    return []
  if arr.shape[1] < 2:
    raise raw_utils.RawFormatError(path, f"FACS rows need >= 2 columns (AU, intensity), got {arr.shape[1]}")
  if not np.all(arr[:, :2] == np.round(arr[:, :2])):
    raise raw_utils.RawFormatError(path, "AU or intensity is not an integer")
  return [(int(a), int(v)) for a, v in arr[:, :2]]


def pspi(facs: list[tuple[int, int]]) -> int:
  """Prkachin-Solomon pain intensity: AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43."""
  d = dict(facs)
  g = lambda au: d.get(au, 0)
  return g(4) + max(g(6), g(7)) + max(g(9), g(10)) + g(43)


def frame_number(name: str, sequence: str, suffix: str) -> Optional[int]:
  """Frame number of `<seq><NNN><suffix>`; the sequence prefix may itself hold digits."""
  stem = name[:-len(suffix)] if name.lower().endswith(suffix.lower()) else None
  if stem is None:
    return None
  if stem.lower().startswith(sequence.lower()) and stem[len(sequence):].isdigit():
    return int(stem[len(sequence):])
  return raw_utils.trailing_int(stem)


def _per_frame(folder: Optional[Path], subject: str, seq: str, suffix: str,
               report: raw_utils.SkipReport, what: str) -> dict[int, Path]:
  if folder is None:
    return {}
  d = raw_utils.find_dir(folder, re.escape(subject), re.escape(seq), max_depth=1)
  if d is None:
    return {}
  files = [p for p in d.iterdir() if p.is_file() and p.name.lower().endswith(suffix.lower())]
  return raw_utils.index_by_int(files, report, what, key=lambda p: frame_number(p.name, seq, suffix))


def scan(root: Path, report: raw_utils.SkipReport) -> dict[str, dict[str, dict]]:
  """{subject: {sequence: {images, facs, pspi, aam: {frame: path}, scales: {AFF: path}}}}."""
  images = raw_utils.find_dir(root, "images")
  if images is None:
    raise raw_utils.RawFormatError(root, "no Images/ folder")
  facs = raw_utils.find_dir(root, "Frame_Labels", "FACS")
  pspi_dir = raw_utils.find_dir(root, "Frame_Labels", "PSPI")
  aam = raw_utils.find_dir(root, "AAM_landmarks")
  seq_labels = raw_utils.find_dir(root, "Sequence_Labels")
  for name, d in (("Frame_Labels/FACS", facs), ("AAM_landmarks", aam)):
    if d is None:
      report.skip(f"no {name} folder", root)
  out: dict[str, dict[str, dict]] = {}
  for subj_dir in raw_utils.subdirs(images):
    if not re.fullmatch(r"\d{3}-\w+", subj_dir.name):
      report.skip("Images/ entry that is not a subject folder NNN-xxNNN", subj_dir)
      continue
    subject = subj_dir.name
    for seq_dir in raw_utils.subdirs(subj_dir):
      seq = seq_dir.name
      pngs = [p for p in seq_dir.iterdir() if p.suffix.lower() == ".png"]
      e = dict(images=raw_utils.index_by_int(pngs, report, "UNBC image",
                                             key=lambda p: frame_number(p.name, seq, ".png")),
               facs=_per_frame(facs, subject, seq, "_facs.txt", report, "UNBC FACS file"),
               pspi=_per_frame(pspi_dir, subject, seq, "_facs.txt", report, "UNBC PSPI file"),
               aam=_per_frame(aam, subject, seq, "_aam.txt", report, "UNBC AAM file"),
               scales={})
      for scale in SEQUENCE_SCALES:
        d = raw_utils.find_dir(seq_labels, scale, re.escape(subject), max_depth=0) if seq_labels else None
        hit = [p for p in d.iterdir() if p.name.lower() == f"{seq.lower()}.txt"] if d else []
        if hit:
          e["scales"][scale] = hit[0]
      if e["images"]:
        out.setdefault(subject, {})[seq] = e
  return out
