"""The per-face table of inference: columns, and a chunk of frames -> DataFrame.

One row per face per frame, OpenFace 2.x names without leading spaces:

  input, frame, face_id, timestamp, confidence, success,
  face_x, face_y, face_width, face_height,          face box, input pixels
  x_0 .. x_67, y_0 .. y_67                          iBUG-68 landmarks, input pixels
  AUxx_r ...   intensity 0-5 (AUs the training data coded for intensity)
  AUxx_c ...   occurrence 0/1, from AUxx_r / AUxx_p by the method's rule
  AUxx_p ...   occurrence probability (methods that predict one)

A frame where no face is found (or that cannot be decoded) has ONE row with
face_id = -1, success = 0, confidence 0, empty box and landmarks (NaN in the
DataFrame) and zero AUs (as OpenFace: filter on `success`).
`confidence` is the face detector's score on that frame (dlib: HOG SVM
margin; Haar: cascade level weight; see au_jax/face/detect.py).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from au_jax import aus as au_lib

META_COLUMNS = ("input", "frame", "face_id", "timestamp", "confidence", "success")
BOX_COLUMNS = ("face_x", "face_y", "face_width", "face_height")
LANDMARK_COLUMNS = tuple(f"x_{i}" for i in range(68)) + tuple(f"y_{i}" for i in range(68))


@dataclasses.dataclass(frozen=True)
class Layout:
  """Which AU columns a model's table has.

  Attributes:
    aus: the model's AU ids.
    r_index: indices (into aus) with an AUxx_r column.
    with_p: AUxx_p columns (the model's occurrence is a probability).
    landmarks: x_i / y_i columns.
  """
  aus: tuple[int, ...]
  r_index: tuple[int, ...]
  with_p: bool
  landmarks: bool = True

  @property
  def au_columns(self) -> list[str]:
    lab = [au_lib.au_label(a) for a in self.aus]
    cols = [f"{lab[k]}_r" for k in self.r_index] + [f"{x}_c" for x in lab]
    return cols + ([f"{x}_p" for x in lab] if self.with_p else [])

  @property
  def columns(self) -> list[str]:
    return (list(META_COLUMNS) + list(BOX_COLUMNS)
            + (list(LANDMARK_COLUMNS) if self.landmarks else []) + self.au_columns)


@dataclasses.dataclass
class FrameRows:
  """What one frame contributes: its faces (maybe none) and, once predicted,
  one prediction row per face."""
  source: str
  number: int
  timestamp: float
  faces: list            # face.tracking.TrackedFace
  problem: str | None = None


def chunk_frame(layout: Layout, frames: Sequence[FrameRows], pred: dict | None):
  """pandas DataFrame of a chunk of frames.

  Args:
    frames: the frames in order; their faces in order are the rows of `pred`.
    pred: Predictor outputs ({"intensity", "occurrence", "occurrence_label"}
      [F, A]) for the F faces of the chunk (None when F = 0).
  """
  import pandas as pd  # pandas (slow to import) only for the DataFrame API
  n = sum(max(1, len(f.faces)) for f in frames)
  a = len(layout.aus)
  col: dict[str, np.ndarray] = {
      "input": np.empty(n, object), "frame": np.zeros(n, np.int64),
      "face_id": np.full(n, -1, np.int64), "timestamp": np.zeros(n, np.float64),
      "confidence": np.zeros(n, np.float64), "success": np.zeros(n, np.int64)}
  box = np.full((n, 4), np.nan, np.float32)
  lm = np.full((n, 68, 2), np.nan, np.float32)
  inten = np.zeros((n, a), np.float32)
  label = np.zeros((n, a), np.int64)
  prob = np.zeros((n, a), np.float32)
  row = face = 0
  for fr in frames:
    for k in range(max(1, len(fr.faces))):
      col["input"][row], col["frame"][row], col["timestamp"][row] = (fr.source, fr.number,
                                                                     fr.timestamp)
      if fr.faces:
        f = fr.faces[k]
        col["face_id"][row], col["confidence"][row], col["success"][row] = f.face_id, f.score, 1
        box[row], lm[row] = f.box, f.landmarks68
        inten[row], label[row] = pred["intensity"][face], pred["occurrence_label"][face]
        prob[row] = pred["occurrence"][face]
        face += 1
      row += 1
  lab = [au_lib.au_label(x) for x in layout.aus]
  for j, name in enumerate(BOX_COLUMNS):
    col[name] = box[:, j]
  if layout.landmarks:
    for i in range(68):
      col[f"x_{i}"] = lm[:, i, 0]
    for i in range(68):
      col[f"y_{i}"] = lm[:, i, 1]
  for k in layout.r_index:
    col[f"{lab[k]}_r"] = inten[:, k]
  for k in range(a):
    col[f"{lab[k]}_c"] = label[:, k]
  if layout.with_p:
    for k in range(a):
      col[f"{lab[k]}_p"] = prob[:, k]
  return pd.DataFrame(col, columns=layout.columns)


def empty_frame(layout: Layout):
  """The table with no row (its columns and dtypes)."""
  return chunk_frame(layout, [], None)
