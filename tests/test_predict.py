"""Inference from a training workdir: Python API and the CSV command line."""
import csv

import cv2
import numpy as np
import pytest

from au_jax.data import sources, transforms
from au_jax.predict import Predictor, main
from au_jax.train import loop
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def workdir(tiny_data_dir, tmp_path_factory):
  config = tiny_config("configs.gudi_synthetic", tiny_data_dir)
  config.model.gcn = "image"   # no session statistics: inference sees single images
  wd = str(tmp_path_factory.mktemp("run"))
  loop.train_and_evaluate(config, wd)
  return wd


def test_predictor_reproduces_the_runs_test_predictions(workdir, tiny_data_dir):
  p = Predictor.from_workdir(workdir, batch_size=16)
  config = tiny_config("configs.gudi_synthetic", tiny_data_dir)
  split = sources.load_split(config.data, "test")
  recs = [split.source[i] for i in range(len(split.source))]
  faces = np.stack([transforms.decode(r["image"]) for r in recs])
  out = p.predict(faces, np.stack([r["landmarks"] for r in recs]))
  saved = np.load(f"{workdir}/test_predictions.npz")
  np.testing.assert_allclose(out["intensity"], saved["intensity"], rtol=1e-4, atol=1e-5)
  np.testing.assert_array_equal(out["occurrence_label"],
                                saved["occurrence"] >= p.thresholds[None])


def test_predict_images_aligns_raw_frames(workdir):
  p = Predictor.from_workdir(workdir, batch_size=4)
  face = np.full((p.image_size, p.image_size, 3), 120, np.uint8)
  from au_jax.face.template import CANONICAL_68
  raw = cv2.resize(face, (2 * p.image_size, 2 * p.image_size))
  out = p.predict_images([raw, raw], landmarks=[CANONICAL_68 * 2 * p.image_size, None],
                         detector="haar")
  assert out["success"].tolist() == [True, False]     # a flat grey image has no face
  assert out["intensity"].shape == (2, len(p.info.aus))
  assert (out["intensity"][1] == 0).all()


def test_cli_writes_openface_style_csv(workdir, tmp_path):
  folder = tmp_path / "imgs"
  folder.mkdir()
  rng = np.random.default_rng(0)
  for i in range(2):
    cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 255, (64, 64, 3), np.uint8))
  video = str(tmp_path / "clip.avi")
  w = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 64))
  for _ in range(3):
    w.write(rng.integers(0, 255, (64, 64, 3), np.uint8))
  w.release()
  out = tmp_path / "aus.csv"
  main(["--workdir", workdir, "--input", str(folder), video, "--output", str(out),
        "--detector", "haar"])
  rows = list(csv.DictReader(open(out)))
  assert len(rows) == 5
  header = list(rows[0])
  assert header[:6] == ["input", "frame", "face_id", "timestamp", "confidence", "success"]
  assert "AU01_r" in header and "AU26_c" in header and not any(h.startswith(" ") for h in header)
  assert [r["frame"] for r in rows] == ["1", "2", "1", "2", "3"]
  assert rows[3]["timestamp"] == "0.100"
  assert all(r["success"] == "0" for r in rows)      # noise has no face


def test_missing_workdir_is_explained(tmp_path):
  with pytest.raises(FileNotFoundError, match="config.json"):
    Predictor.from_workdir(str(tmp_path))
