"""The per-face table of inference: columns, and a chunk of frames -> DataFrame.

One row per face per frame, OpenFace 2.x names without leading spaces:

  input, frame, face_id, timestamp, confidence, success,
  face_x, face_y, face_width, face_height          face box, input pixels
  x_0 .. x_67, y_0 .. y_67                         iBUG-68 landmarks, input pixels
  pose_Tx, pose_Ty, pose_Tz, pose_Rx, pose_Ry, pose_Rz
                                                   head pose (mm, radians; au_jax/face/pose.py)
  AUxx_r ...   intensity 0-5 (AUs the training data coded for intensity)
  AUxx_c ...   occurrence 0/1, from AUxx_r / AUxx_p by the method's rule
  AUxx_p ...   occurrence probability (methods that predict one)

The AU columns come in one of two sets (`Layout.au_set`):

- "openface" (the default): OpenFace 2.x's own AU columns in its order, the 17
  intensity columns AU01_r .. AU45_r then the 18 occurrence columns AU01_c ..
  AU45_c (`OPENFACE_INTENSITY_AUS`, `OPENFACE_OCCURRENCE_AUS`), so readers of
  OpenFace files find every column they select by name; an AU the model does
  not predict is empty (NaN in the DataFrame), never 0. Then the model's AUs
  outside OpenFace's set (AUxx_r, then AUxx_c), then AUxx_p of every model AU.
- "model": only the model's AUs: AUxx_r, AUxx_c, AUxx_p in the model's order.

Each group keeps OpenFace's order within it; the groups' order differs in one
place (OpenFace writes the pose before the landmarks), which readers that select
columns by name do not see. OpenFace's gaze, 3-D landmark and shape-parameter
columns are not written.

A frame where no face is found (or that cannot be decoded) has ONE row with
face_id = -1, success = 0, confidence 0, empty box, landmarks and pose (NaN in
the DataFrame) and zero predicted AUs (as OpenFace: filter on `success`).
`confidence` is the face detector's score on that frame (dlib: HOG SVM
margin; Haar: cascade level weight; see au_jax/face/detect.py).

`chunk_frame(..., pandas=False)` gives the columns as numpy arrays and
`csv_rows` formats them (3 decimals, NaN empty): the command line writes its
CSV without importing pandas.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from au_jax import aus as au_lib
from au_jax.face.pose import COLUMNS as POSE_COLUMNS

META_COLUMNS = ("input", "frame", "face_id", "timestamp", "confidence", "success")
BOX_COLUMNS = ("face_x", "face_y", "face_width", "face_height")
LANDMARK_COLUMNS = tuple(f"x_{i}" for i in range(68)) + tuple(f"y_{i}" for i in range(68))
# OpenFace 2.x's AU columns (FaceAnalyser's AU models; the CSV header of FeatureExtraction).
OPENFACE_INTENSITY_AUS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)
OPENFACE_OCCURRENCE_AUS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 28, 45)
COLUMN_SETS = ("openface", "model")


@dataclasses.dataclass(frozen=True)
class Layout:
  """Which columns a model's table has.

  Attributes:
    aus: the model's AU ids.
    r_index: indices (into aus) with an AUxx_r column.
    with_p: AUxx_p columns (the model's occurrence is a probability).
    landmarks: x_i / y_i columns.
    au_set: the AU columns, "openface" or "model" (module docstring).
  """
  aus: tuple[int, ...]
  r_index: tuple[int, ...]
  with_p: bool
  landmarks: bool = True
  au_set: str = "openface"

  def __post_init__(self):
    if self.au_set not in COLUMN_SETS:
      raise ValueError(f"the AU columns are one of {COLUMN_SETS}, got {self.au_set!r}")

  @property
  def au_sources(self) -> list[tuple[str, str, int | None]]:
    """(column, "r" / "c" / "p", index into aus or None: not predicted, NaN)."""
    lab = [au_lib.au_label(a) for a in self.aus]
    r_of = {self.aus[k]: k for k in self.r_index}
    c_of = {a: k for k, a in enumerate(self.aus)}
    out: list[tuple[str, str, int | None]] = []
    if self.au_set == "openface":
      out += [(f"{au_lib.au_label(a)}_r", "r", r_of.get(a)) for a in OPENFACE_INTENSITY_AUS]
      out += [(f"{au_lib.au_label(a)}_c", "c", c_of.get(a)) for a in OPENFACE_OCCURRENCE_AUS]
      out += [(f"{lab[k]}_r", "r", k) for k in self.r_index
              if self.aus[k] not in OPENFACE_INTENSITY_AUS]
      out += [(f"{lab[k]}_c", "c", k) for k in range(len(lab))
              if self.aus[k] not in OPENFACE_OCCURRENCE_AUS]
    else:
      out += [(f"{lab[k]}_r", "r", k) for k in self.r_index]
      out += [(f"{x}_c", "c", k) for k, x in enumerate(lab)]
    if self.with_p:
      out += [(f"{x}_p", "p", k) for k, x in enumerate(lab)]
    return out

  @property
  def au_columns(self) -> list[str]:
    return [name for name, _, _ in self.au_sources]

  @property
  def columns(self) -> list[str]:
    return (list(META_COLUMNS) + list(BOX_COLUMNS)
            + (list(LANDMARK_COLUMNS) if self.landmarks else []) + list(POSE_COLUMNS)
            + self.au_columns)


@dataclasses.dataclass
class FrameRows:
  """What one frame contributes: its faces (maybe none) and, once predicted,
  one prediction row per face."""
  source: str
  number: int
  timestamp: float
  faces: list            # face.tracking.TrackedFace
  problem: str | None = None


def chunk_frame(layout: Layout, frames: Sequence[FrameRows], pred: dict | None,
                pandas: bool = True):
  """pandas DataFrame of a chunk of frames (`pandas=False`: {column: numpy array},
  in the layout's order).

  Args:
    frames: the frames in order; their faces in order are the rows of `pred`.
    pred: Predictor outputs ({"intensity", "occurrence", "occurrence_label"}
      [F, A]) for the F faces of the chunk (None when F = 0).
  """
  n = sum(max(1, len(f.faces)) for f in frames)
  a = len(layout.aus)
  col: dict[str, np.ndarray] = {
      "input": np.empty(n, object), "frame": np.zeros(n, np.int64),
      "face_id": np.full(n, -1, np.int64), "timestamp": np.zeros(n, np.float64),
      "confidence": np.zeros(n, np.float64), "success": np.zeros(n, np.int64)}
  box = np.full((n, 4), np.nan, np.float32)
  lm = np.full((n, 68, 2), np.nan, np.float32)
  head = np.full((n, 6), np.nan, np.float32)
  outputs = {"r": np.zeros((n, a), np.float32), "c": np.zeros((n, a), np.int64),
             "p": np.zeros((n, a), np.float32)}
  row = face = 0
  for fr in frames:
    for k in range(max(1, len(fr.faces))):
      col["input"][row], col["frame"][row], col["timestamp"][row] = (fr.source, fr.number,
                                                                     fr.timestamp)
      if fr.faces:
        f = fr.faces[k]
        col["face_id"][row], col["confidence"][row], col["success"][row] = f.face_id, f.score, 1
        box[row], lm[row] = f.box, f.landmarks68
        if getattr(f, "pose", None) is not None:
          head[row] = f.pose
        outputs["r"][row] = pred["intensity"][face]
        outputs["c"][row] = pred["occurrence_label"][face]
        outputs["p"][row] = pred["occurrence"][face]
        face += 1
      row += 1
  for j, name in enumerate(BOX_COLUMNS):
    col[name] = box[:, j]
  if layout.landmarks:
    for i in range(68):
      col[f"x_{i}"] = lm[:, i, 0]
    for i in range(68):
      col[f"y_{i}"] = lm[:, i, 1]
  for j, name in enumerate(POSE_COLUMNS):
    col[name] = head[:, j]
  missing = np.full(n, np.nan, np.float32)
  for name, kind, k in layout.au_sources:
    col[name] = missing if k is None else outputs[kind][:, k]
  if not pandas:
    return {c: col[c] for c in layout.columns}
  import pandas as pd  # pandas (slow to import) only for the DataFrame API
  return pd.DataFrame(col, columns=layout.columns)


def empty_frame(layout: Layout):
  """The table with no row (its columns and dtypes)."""
  return chunk_frame(layout, [], None)


def csv_rows(columns: dict[str, np.ndarray]) -> list[list[str]]:
  """Rows of CSV fields of a chunk's columns: floats with 3 decimals, NaN empty,
  integers and text as they are (what DataFrame.to_csv(float_format="%.3f",
  na_rep="") writes)."""
  fields = []
  for v in columns.values():
    v = np.asarray(v)
    if v.dtype.kind == "f":
      text = np.char.mod("%.3f", v).astype(object)
      text[np.isnan(v)] = ""
      fields.append(text)
    elif v.dtype.kind in "iub":
      fields.append(v.astype(np.int64).astype(str))
    else:
      fields.append(["" if x is None else str(x) for x in v])
  return [list(r) for r in zip(*fields)]
