"""Our CSV against OpenFace 2.2's column contract, read the way OpenFace consumers read it.

OPENFACE_2_2 below is the header OpenFace 2.2.0's FeatureExtraction writes for a
video (the columns this project shares with it), as written by
lib/local/Utilities/src/RecorderCSV.cpp
(https://github.com/TadasBaltrusaitis/OpenFace/blob/OpenFace_2.2.0/lib/local/Utilities/src/RecorderCSV.cpp:
"frame, face_id, timestamp, confidence, success", then "pose_Tx, pose_Ty, pose_Tz,
pose_Rx, pose_Ry, pose_Rz", "x_0".."x_67", "y_0".."y_67", then the AU models'
AUxx_r and AUxx_c), described at
https://github.com/TadasBaltrusaitis/OpenFace/wiki/Output-Format, and checked
against the header of a CSV written by OpenFace 2.2.0. OpenFace's gaze, eye
landmark, 3-D landmark and shape-parameter columns are not produced here.
"""
import csv

import cv2
import numpy as np
import pytest

from au_jax.inference import table
from au_jax.predict import write_csv

OPENFACE_2_2_META = ["frame", "face_id", "timestamp", "confidence", "success"]
OPENFACE_2_2_POSE = ["pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz"]
OPENFACE_2_2_LANDMARKS = [f"x_{i}" for i in range(68)] + [f"y_{i}" for i in range(68)]
OPENFACE_2_2_AUS = [
    "AU01_r", "AU02_r", "AU04_r", "AU05_r", "AU06_r", "AU07_r", "AU09_r", "AU10_r", "AU12_r",
    "AU14_r", "AU15_r", "AU17_r", "AU20_r", "AU23_r", "AU25_r", "AU26_r", "AU45_r",
    "AU01_c", "AU02_c", "AU04_c", "AU05_c", "AU06_c", "AU07_c", "AU09_c", "AU10_c", "AU12_c",
    "AU14_c", "AU15_c", "AU17_c", "AU20_c", "AU23_c", "AU25_c", "AU26_c", "AU28_c", "AU45_c"]
OPENFACE_2_2 = OPENFACE_2_2_META + OPENFACE_2_2_POSE + OPENFACE_2_2_LANDMARKS + OPENFACE_2_2_AUS

DISFA_AUS = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)


def read_openface(path):
  """What readers of OpenFace files do (py-feat's read_openface): read the CSV,
  strip the names (OpenFace writes ", name"), select the time, AU, landmark and
  pose columns BY NAME (a missing one is a KeyError)."""
  import pandas as pd
  d = pd.read_csv(path, sep=",")
  d.columns = d.columns.str.strip(" ")
  return {"time": d[["frame", "timestamp", "confidence", "success"]],
          "aus": d[OPENFACE_2_2_AUS], "landmarks": d[OPENFACE_2_2_LANDMARKS],
          "pose": d[OPENFACE_2_2_POSE], "all": d}


def _in_order(header, names):
  """The positions of `names` in `header` (each must be there), increasing."""
  pos = [header.index(n) for n in names]
  return pos == sorted(pos)


def test_openface_layout_has_openfaces_au_columns_first_in_its_order():
  lay = table.Layout(aus=DISFA_AUS, r_index=tuple(range(12)), with_p=True)
  assert lay.au_set == "openface"
  assert lay.au_columns[:35] == OPENFACE_2_2_AUS
  # the model's probabilities after them; DISFA's AUs are all in OpenFace's set
  assert lay.au_columns[35:] == [f"AU{a:02d}_p" for a in DISFA_AUS]
  header = lay.columns
  assert header[0] == "input" and header[1:6] == OPENFACE_2_2_META
  for group in (OPENFACE_2_2_META, OPENFACE_2_2_POSE, OPENFACE_2_2_LANDMARKS, OPENFACE_2_2_AUS):
    assert _in_order(header, group)
  assert set(OPENFACE_2_2) <= set(header)


def test_model_aus_outside_openfaces_set_come_after_it():
  # BP4D-like: AU24 is not in OpenFace's set; occurrence-only AU43 has no _r
  aus = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24, 43)
  lay = table.Layout(aus=aus, r_index=tuple(range(12)), with_p=False)
  assert lay.au_columns[:35] == OPENFACE_2_2_AUS
  assert lay.au_columns[35:] == ["AU24_r", "AU24_c", "AU43_c"]
  model = table.Layout(aus=aus, r_index=tuple(range(12)), with_p=False, au_set="model")
  assert model.au_columns == ([f"AU{a:02d}_r" for a in aus[:12]]
                              + [f"AU{a:02d}_c" for a in aus])
  with pytest.raises(ValueError, match="openface"):
    table.Layout(aus=aus, r_index=(), with_p=False, au_set="OpenFace")


class _Face:
  def __init__(self, face_id, pose6):
    self.face_id, self.score, self.pose = face_id, 2.5, pose6
    self.box = np.array([10, 20, 30, 40], np.float32)
    self.landmarks68 = np.full((68, 2), 5.0, np.float32)


def test_unpredicted_aus_are_empty_never_zero():
  lay = table.Layout(aus=DISFA_AUS, r_index=tuple(range(12)), with_p=True)
  frames = [table.FrameRows("clip.avi", 1, 0.0, [_Face(0, np.arange(6.0))]),
            table.FrameRows("clip.avi", 2, 0.04, [])]                  # no face found
  pred = {"intensity": np.full((1, 12), 1.5, np.float32),
          "occurrence": np.full((1, 12), 0.7, np.float32),
          "occurrence_label": np.ones((1, 12), np.int32)}
  df = table.chunk_frame(lay, frames, pred)
  cols = table.chunk_frame(lay, frames, pred, pandas=False)
  assert list(cols) == list(df.columns) == lay.columns
  for name in ("AU07_r", "AU45_r", "AU07_c", "AU28_c", "AU45_c"):     # not predicted
    assert df[name].isna().all() and np.isnan(cols[name]).all()
  assert df["AU01_r"].tolist() == [1.5, 0.0] and df["AU01_c"].tolist() == [1, 0]
  assert df["pose_Ry"].tolist()[0] == 4.0 and np.isnan(df["pose_Ry"].tolist()[1])
  rows = table.csv_rows(cols)
  header = lay.columns
  assert rows[0][header.index("AU45_r")] == "" and rows[1][header.index("AU28_c")] == ""
  assert rows[1][header.index("AU01_r")] == "0.000" and rows[0][header.index("AU01_c")] == "1"


def test_csv_rows_write_what_pandas_to_csv_writes():
  import io

  import pandas as pd
  rng = np.random.default_rng(0)
  x = rng.normal(0, 100, 6).astype(np.float32)
  x[2] = np.nan
  cols = {"input": np.array(["a.png", "b,c.png", 'q"uote.png', "d", "e", "f"], object),
          "frame": np.arange(6, dtype=np.int64), "x": x,
          "t": np.array([0, 1 / 3, -0.0004, 2.5, 1e6, np.nan]),
          "c": np.array([0, 1, 0, 1, 1, 0], np.int64)}
  buf = io.StringIO()
  csv.writer(buf).writerows(table.csv_rows(cols))
  ref = pd.DataFrame(cols).to_csv(header=False, index=False, float_format="%.3f", na_rep="")
  assert buf.getvalue().replace("\r\n", "\n") == ref


@pytest.fixture(scope="module")
def predictor():
  from tests.fixtures.untrained import untrained_predictor
  return untrained_predictor(aus=DISFA_AUS)


@pytest.mark.slow
def test_an_openface_reader_selects_every_column_by_name_in_our_csv(predictor, tmp_path):
  from au_jax.inference import demo_media
  photos = demo_media.photos()
  folder = tmp_path / "photos"
  folder.mkdir()
  for name in ("astronaut", "coffee"):          # a face, and no face
    cv2.imwrite(str(folder / f"{name}.png"), cv2.cvtColor(photos[name], cv2.COLOR_RGB2BGR))
  out = tmp_path / "aus.csv"
  write_csv(predictor, [str(folder)], str(out), detector="haar")
  with open(out, newline="") as f:
    header = next(csv.reader(f))
  for group in (OPENFACE_2_2_META, OPENFACE_2_2_POSE, OPENFACE_2_2_LANDMARKS, OPENFACE_2_2_AUS):
    assert _in_order(header, group)
  got = read_openface(out)
  ok = got["time"]["success"] == 1
  assert ok.tolist() == [True, False]
  predicted = [f"AU{a:02d}_{s}" for a in DISFA_AUS for s in "rc"]
  missing = [c for c in OPENFACE_2_2_AUS if c not in predicted]
  assert missing == ["AU07_r", "AU10_r", "AU14_r", "AU23_r", "AU45_r",
                     "AU07_c", "AU10_c", "AU14_c", "AU23_c", "AU28_c", "AU45_c"]
  assert got["aus"][missing].isna().all().all()                 # empty, never 0
  assert got["aus"][predicted].notna().all().all()
  assert got["aus"].loc[~ok, predicted].eq(0).all().all()        # no face: zeros
  position, rotation = OPENFACE_2_2_POSE[:3], OPENFACE_2_2_POSE[3:]
  assert got["landmarks"][ok].notna().all().all() and got["pose"].loc[ok, position].notna().all().all()
  # Haar's landmarks are a template in the face box: no head turn, so no rotation (empty)
  assert got["pose"].loc[ok, rotation].isna().all().all()
  assert got["pose"][~ok].isna().all().all()
  tz = got["pose"].loc[ok, "pose_Tz"].iloc[0]
  assert 100 < tz < 5000                              # a face in front of the camera (mm)
  # --columns=model: the model's own AUs only
  write_csv(predictor, [str(folder)], str(out), detector="haar", columns="model")
  with open(out, newline="") as f:
    header = next(csv.reader(f))
  assert [c for c in header if c.startswith("AU")] == (
      [f"AU{a:02d}_r" for a in DISFA_AUS] + [f"AU{a:02d}_c" for a in DISFA_AUS]
      + [f"AU{a:02d}_p" for a in DISFA_AUS])
  # the same numbers as the Predictor's own prediction of that face (the CSV's landmarks)
  lm = got["landmarks"][ok].to_numpy(np.float64).reshape(2, 68).T
  direct = predictor.predict_images([photos["astronaut"]], landmarks=[lm])
  np.testing.assert_allclose(got["aus"].loc[ok, [f"AU{a:02d}_r" for a in DISFA_AUS]].to_numpy()[0],
                             direct["intensity"][0], atol=2e-3)
