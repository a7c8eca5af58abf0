"""Raw-format readers of DISFA.

Tree (as distributed; folders matched case-insensitively, at any depth up to
4 below --manual_dir):

  Videos_LeftCamera/LeftVideoSN001_comp.avi
  ActionUnit_Labels/SN001/SN001_au1.txt ... SN001_au26.txt   "<frame>,<intensity>"
  Landmark_Points/SN001/<one subfolder>/SN001_0000_lm.mat    pts: [66, 2]
                                        or l00001_lm.mat     (1-based numbering)
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import numpy as np

from tfds_builders import raw_utils

LEFT_VIDEO_RE = r"LeftVideo(SN\d{3})_comp\.avi"
AU_FILE_RE = r"(SN\d{3})_au(\d+)\.txt"
LANDMARK_RE = r".*_lm\.mat"


def read_au_file(path) -> dict[int, int]:
  """{1-based label frame: intensity} of one `SN001_au<k>.txt` file."""
  return raw_utils.parse_frame_value_rows(raw_utils.read_text(path), path)


def landmark_label_frame(name: str) -> Optional[int]:
  """1-based label frame of a landmark file name, for both naming schemes.

  `SN001_0000_lm.mat` is 0-based (label frame = n + 1); `l00001_lm.mat` is
  1-based (label frame = n). None for names of neither scheme.
  """
  m = re.fullmatch(r"SN\d{3}_(\d+)_lm\.mat", name, re.IGNORECASE)
  if m:
    return int(m.group(1)) + 1
  m = re.fullmatch(r"l(\d+)_lm\.mat", name, re.IGNORECASE)
  if m:
    return int(m.group(1))
  return None


def read_landmarks(path) -> np.ndarray:
  """float64 [66, 2] (x, y) video pixels from a DISFA landmark .mat (variable pts)."""
  import scipy.io  # pylint: disable=g-import-not-at-top
  try:
    mat = scipy.io.loadmat(str(path))
  except Exception as e:  # scipy raises several types for corrupt files
    raise raw_utils.RawFormatError(path, f"not a readable MATLAB file ({e})") from None
  if "pts" not in mat:
    raise raw_utils.RawFormatError(path, f"no variable 'pts' (has {sorted(k for k in mat if not k.startswith('__'))})")
  pts = np.asarray(mat["pts"], np.float64)
  if pts.shape == (2, 66):
    pts = pts.T
  if pts.shape != (66, 2):
    raise raw_utils.RawFormatError(path, f"pts has shape {pts.shape}, expected (66, 2)")
  return pts


def scan(root: Path, aus, report: raw_utils.SkipReport) -> dict[str, dict]:
  """Index of a DISFA tree: {subject: {video, au_files {au: path}, landmarks {frame: path}}}."""
  videos = {}
  for p in raw_utils.walk_files(root, LEFT_VIDEO_RE):
    sn = re.fullmatch(LEFT_VIDEO_RE, p.name, re.IGNORECASE).group(1).upper()
    videos.setdefault(sn, p)
  labels: dict[str, dict[int, Path]] = {}
  for p in raw_utils.walk_files(root, AU_FILE_RE):
    m = re.fullmatch(AU_FILE_RE, p.name, re.IGNORECASE)
    sn, au = m.group(1).upper(), int(m.group(2))
    if au not in aus:
      report.skip("AU file of an AU outside the DISFA list", p)
      continue
    labels.setdefault(sn, {}).setdefault(au, p)
  lm_root = raw_utils.find_dir(root, "Landmark_Points?")
  out = {}
  for sn in sorted(set(videos) | set(labels)):
    if sn not in videos:
      report.skip("subject with labels but no left-camera video", sn)
      continue
    if sn not in labels:
      report.skip("subject with a video but no AU label files", sn)
      continue
    lms = {}
    sn_dir = raw_utils.find_dir(lm_root, sn, max_depth=1) if lm_root else None
    if sn_dir is None:
      report.skip("subject without a landmark folder", sn)
    else:
      lms = raw_utils.index_by_int(raw_utils.walk_files(sn_dir, LANDMARK_RE), report,
                                   "DISFA landmark file", key=lambda p: landmark_label_frame(p.name))
    out[sn] = dict(video=videos[sn], au_files=labels[sn], landmarks=lms)
  return out
