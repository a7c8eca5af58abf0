"""Raw-format readers of CK+.

  cohn-kanade-images/S005/001/S005_001_00000001.png ...   grey or colour
  Landmarks/S005/001/S005_001_00000001_landmarks.txt      68 rows "x y"
  FACS/S005/001/S005_001_00000011_facs.txt                peak (last) frame: rows "AU intensity"
  Emotion/S005/001/S005_001_00000011_emotion.txt          one number 0-7 (327 sequences)
Label folders may be nested as FACS_labels/FACS/ and Emotion_labels/Emotion/;
files are found by name pattern anywhere below the root.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tfds_builders import raw_utils

NAME_RE = r"(S\d{3})_(\d{3})_(\d+)"
EMOTIONS = ("neutral", "anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")


def parse_facs(text: str, path="<facs>") -> list[tuple[int, int]]:
  """[(AU, intensity)] of a CK+ FACS file; intensity 0 = not specified."""
  arr = raw_utils.parse_matlab_ascii(text, path)
  if arr.size == 0:
    return []
  if arr.shape[1] != 2 or not np.all(arr == np.round(arr)):
    raise raw_utils.RawFormatError(path, f"expected rows of two integers 'AU intensity', got {arr.tolist()}")
  return [(int(a), int(v)) for a, v in arr]


def read_landmarks(path) -> np.ndarray:
  """float64 [68, 2] (x, y) image pixels."""
  arr = raw_utils.read_matlab_ascii(path)
  if arr.shape != (68, 2):
    raise raw_utils.RawFormatError(path, f"expected 68 x 2 numbers, got {arr.shape}")
  return arr


def scan(root: Path, report: raw_utils.SkipReport) -> dict[str, dict[str, dict]]:
  """{subject: {sequence: {images, landmarks: {frame: path}, facs: (frame, path), emotion}}}."""
  seqs: dict[tuple[str, str], dict] = {}

  def add(pattern, kind):
    for p in raw_utils.walk_files(root, NAME_RE + pattern):
      s, q, f = re.match(NAME_RE, p.name, re.IGNORECASE).groups()
      e = seqs.setdefault((s.upper(), q), dict(images={}, landmarks={}, facs=None, emotion=None))
      if kind in ("images", "landmarks"):
        if int(f) in e[kind]:
          report.skip(f"CK+ {kind}: two files with the same frame number (first kept)", p)
        else:
          e[kind][int(f)] = p
      elif e[kind] is not None:
        report.skip(f"second {kind} file of a sequence (first kept)", p)
      else:
        e[kind] = (int(f), p)

  add(r"\.png", "images")
  add(r"_landmarks\.txt", "landmarks")
  add(r"_facs\.txt", "facs")
  add(r"_emotion\.txt", "emotion")
  out: dict[str, dict[str, dict]] = {}
  for (s, q), e in sorted(seqs.items()):
    if not e["images"]:
      report.skip("labelled sequence without images", f"{s}/{q}")
    elif e["facs"] is None:
      report.skip("sequence without a FACS file", f"{s}/{q}")
    else:
      out.setdefault(s, {})[q] = e
  return out
