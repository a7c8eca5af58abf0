"""BP4D-Spontaneous (Zhang et al. 2014), as released for FERA 2015 or in the
original layout: 41 subjects x 8 tasks, AU occurrence (0/1, 9 = unknown) for
many AUs, intensity 0-5 (9 = unknown) for AUs 6, 10, 12, 14, 17.

AU list = BP4D_AUS (1 2 4 6 7 10 12 14 15 17 23 24): the 12 AUs of the
DRML/JAA-Net/ME-GraphAU protocol; it contains the 11 FERA 2015 occurrence
AUs (select them by AU id from the metadata list). `au_occurrence` comes from
the occurrence CSV (9 -> -1; an AU the CSV has no column for -> -1);
`au_intensity` from the intensity CSVs for 6/10/12/14/17 (9 -> -1) and is -1
for the other AUs. `occluder` comes from the occurrence CSV's occlusion
column where it has one, read by header name (parse.parse_occlusion_csv):
1 -> "unspecified" (occluded; the code says neither by what nor where, so
`au_covered` stays missing), 0 -> "none", anything else missing (counted);
without such a column it is missing. Frames are matched by integer value: CSV frame N is the
image whose stem parses to N (stems are 3- or 4-digit zero-padded). Records
are the frames coded in either CSV. BP4D ships no per-frame landmarks that
the public parsers agree on, so faces are found by the detector
(missing_landmarks="detect"; "skip" would drop every frame).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from au_jax import aus as au_lists
from tfds_builders import raw_utils
from tfds_builders.bp4d import parse

_DIR = Path(__file__).parent


class Bp4d(raw_utils.RawAUBuilder):
  """BP4D-Spontaneous: occurrence of 12 AUs, intensity of 5, detected faces."""

  VERSION = tfds.core.Version("1.3.0")
  RELEASE_NOTES = {
      "1.0.0": "FERA 2015 and original layouts; 12 AUs; 9 -> -1.",
      **raw_utils.SCHEMA_RELEASE_NOTES,
      "1.3.0": raw_utils.SCHEMA_RELEASE_NOTES["1.3.0"] + " occluder from the occurrence "
               "CSV's occlusion column (by header name) where it has one: 1 -> 'unspecified', "
               "0 -> 'none'."}
  BUILDER_CONFIGS = [raw_utils.RawAUBuilderConfig(name="default")]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  BP4D-Spontaneous is licensed: request it from Binghamton University
  (http://www.cs.binghamton.edu/~lijun/Research/3DFE/3DFE_Analysis.html) or,
  for the FERA 2015 release, from the FERA 2015 organisers. Pass as
  --manual_dir the folder that holds, in either layout (any extra top folder
  or doubled <subject>/<subject> folder is fine):
    FERA 2015:  BP4D-training/F001/T1/*.jpg, AUCoding/F001_T1.csv,
                AU Intensity Codes3.0/AU06/F001_T1_AU06.csv
    original:   Sequences(2D+3D)/F001/T1/*.jpg, AUCoding/AU_OCC/F001_T1.csv,
                AUCoding/AU_INT/AU06/F001_T1_AU06.csv
  """

  def _aus(self):
    return au_lists.BP4D_AUS

  def _protocols(self):
    return raw_utils.load_protocols(_DIR)

  def _scan(self, root):
    return parse.scan(root, self._report)

  def _examples(self, dl_manager, subject):
    for task, e in sorted(self._scanned[subject].items()):
      with self._tolerate("sequence"):
        yield from self._task_examples(subject, task, e)

  def _task_examples(self, subject, task, e):
    """Records of one sequence (task); an unreadable CSV skips just this task."""
    aus = self._aus()
    rep = self._report
    seq = f"{subject}/{task}"
    occ_aus, occ, occl_col, occl = ([], {}, None, {})
    if e["occ"] is None:
      rep.skip("sequence without occurrence CSV (occurrence -1)", seq)
    else:
      text = raw_utils.read_text(e["occ"])
      occ_aus, occ = parse.parse_occurrence_csv(text, e["occ"])
      occl_col, occl = parse.parse_occlusion_csv(text, e["occ"])
      missing = [a for a in aus if a not in occ_aus]
      if missing:
        rep.skip("AU without a column in the occurrence CSV (-1)", f"{seq}: {missing}", n=len(missing))
      if occl_col is None:
        rep.skip("occurrence CSV without an occlusion column (occluder missing)", seq)
    inten: dict[int, dict[int, int]] = {}
    for au in au_lists.FERA2015_INT_AUS:
      if au not in e["int"]:
        rep.skip("missing intensity CSV (intensity -1)", f"{seq} AU{au}")
        continue
      inten[au] = raw_utils.parse_frame_value_rows(raw_utils.read_text(e["int"][au]), e["int"][au])
    frames = sorted(set(occ).union(*[set(v) for v in inten.values()]))
    for pos, frame in enumerate(frames):
      if not self._keep(pos):
        continue
      path = e["images"].get(frame)
      if path is None:
        rep.skip("coded frame without an image", f"{seq} frame {frame}")
        continue
      o = np.array([self._code(occ.get(frame, {}).get(a, -1), (0, 1), seq, frame, "occurrence")
                    for a in aus], np.int32)
      i = np.array([self._code(inten[a].get(frame, -1), range(6), seq, frame, "intensity")
                    if a in inten else -1 for a in aus], np.int32)
      image = None
      with self._tolerate("frame"):
        image = raw_utils.read_image_rgb(path)
      if image is None:
        continue
      rec = self._record(image=image, landmarks=None, where=str(path),
                         au_intensity=i, au_occurrence=o, subject=subject,
                         sequence=task, frame=frame,
                         occluder=self._occluder(occl, occl_col, seq, frame))
      if rec is not None:
        yield f"{subject}/{task}/{frame:06d}", rec

  def _occluder(self, flags: dict[int, int], column: str | None, seq, frame) -> str:
    """The record's occluder from the CSV's occlusion flag ("" = missing)."""
    if column is None:
      return ""
    v = flags.get(frame)
    if v in (0, 1):
      return ("none", "unspecified")[v]
    if v is None:
      self._report.skip("frame without an occlusion flag (occluder missing)", f"{seq} frame {frame}")
    else:
      self._report.skip(f"unexpected occlusion code in column {column!r} (occluder missing)",
                        f"{seq} frame {frame}: {v}")
    return ""

  def _code(self, v: int, valid, seq, frame, what) -> int:
    """Raw code -> label: 9 (unknown) and anything unexpected -> -1, counted."""
    if v == -1 or v in valid:
      return v
    if v == parse.UNKNOWN_CODE:
      self._report.skip(f"{what} code 9 (unknown) stored as -1")
    else:
      self._report.skip(f"unexpected {what} code stored as -1", f"{seq} frame {frame}: {v}")
    return -1
