"""Inference from a training workdir: Python API and the CSV command line."""
import csv
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from au_jax.data import sources, transforms
from au_jax import predict
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


def _noise_png(path, seed=0):
  rng = np.random.default_rng(seed)
  assert cv2.imwrite(str(path), rng.integers(0, 255, (64, 64, 3), np.uint8))


def _usage_error(capsys, argv) -> str:
  """stderr of a CLI call that must end with exit code 2 (and no traceback)."""
  with pytest.raises(SystemExit) as e:
    main(argv)
  assert e.value.code == 2
  err = capsys.readouterr().err
  assert "Traceback" not in err and len(err.strip().splitlines()) <= 2, err
  return err


def test_output_may_not_be_an_input(workdir, tmp_path, capsys):
  img = tmp_path / "face.png"
  _noise_png(img)
  before = img.read_bytes()
  err = _usage_error(capsys, ["--workdir", workdir, "--input", str(img), "--output", str(img)])
  assert "would overwrite the input" in err and str(img) in err
  assert img.read_bytes() == before
  folder = tmp_path / "frames"
  folder.mkdir()
  _noise_png(folder / "1.png")
  err = _usage_error(capsys, ["--workdir", workdir, "--input", str(folder),
                              "--output", str(folder / "aus.csv")])
  assert "inside the input folder" in err
  assert sorted(os.listdir(folder)) == ["1.png"]
  err = _usage_error(capsys, ["--workdir", workdir, "--input", str(img), "--output", str(folder)])
  assert "is a folder" in err


def test_corrupt_image_in_a_folder_is_a_counted_failed_row(workdir, tmp_path, capsys):
  folder = tmp_path / "imgs"
  folder.mkdir()
  _noise_png(folder / "a.png")
  (folder / "b.png").write_bytes(b"\x89PNG not really")
  (folder / "notes.txt").write_text("not an image")
  out = tmp_path / "aus.csv"
  main(["--workdir", workdir, "--input", str(folder), "--output", str(out), "--detector", "haar"])
  rows = list(csv.DictReader(open(out)))
  assert [(r["frame"], r["success"]) for r in rows] == [("1", "0"), ("2", "0")]
  assert all(float(r["AU01_r"]) == 0 for r in rows)
  summary = json.load(open(f"{out}.summary.json"))
  assert summary["frames"] == 2 and summary["inputs"] == 1 and summary["complete"]
  assert summary["skips"]["unreadable image (OpenCV cannot decode it) (row with success = 0)"] == 1
  assert summary["skips"]["file in an input folder ignored: not an image format OpenCV reads"] == 1
  (problem,) = summary["files"][0]["problems"]
  assert problem["path"] == str(folder / "b.png") and problem["frame"] == 2
  assert summary["files"][0]["ignored"][0]["path"] == str(folder / "notes.txt")
  assert "unreadable image" in capsys.readouterr().err
  assert not os.path.exists(f"{out}.partial")


def test_truncated_video_and_a_missing_input_are_counted(workdir, tmp_path):
  rng = np.random.default_rng(1)
  video = tmp_path / "clip.avi"
  w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 64))
  for _ in range(20):
    w.write(rng.integers(0, 255, (64, 64, 3), np.uint8))
  w.release()
  data = video.read_bytes()
  video.write_bytes(data[:len(data) * 55 // 100])
  img = tmp_path / "face.png"
  _noise_png(img)
  out = tmp_path / "aus.csv"
  main(["--workdir", workdir, "--input", str(video), str(tmp_path / "gone.mp4"), str(img),
        "--output", str(out), "--detector", "haar"])
  rows = list(csv.DictReader(open(out)))
  summary = json.load(open(f"{out}.summary.json"))
  decoded = summary["files"][0]["frames"]
  assert 0 < decoded < 20 and len(rows) == decoded + 1
  assert summary["files"][0]["truncated"] == (
      f"truncated video: {decoded} of the 20 frames its container declares")
  assert summary["skips"]["truncated video (its decodable frames kept)"] == 1
  assert summary["skips"]["input skipped: no such file or folder"] == 1
  assert summary["inputs"] == 3 and summary["inputs_skipped"] == 1
  assert summary["files"][0].get("decoder_warnings", 0) >= 1  # FFmpeg's complaint, counted


def test_rows_written_before_a_failure_are_kept(workdir, tmp_path, monkeypatch):
  folder = tmp_path / "imgs"
  folder.mkdir()
  for i in range(3):
    _noise_png(folder / f"{i}.png", seed=i)
  p = Predictor.from_workdir(workdir, batch_size=4)
  calls = []
  real = p.predict_images

  def interrupted(images, **kw):
    calls.append(1)
    if len(calls) == 2:
      raise KeyboardInterrupt
    return real(images, **kw)

  monkeypatch.setattr(p, "predict_images", interrupted)
  out = tmp_path / "aus.csv"
  with pytest.raises(KeyboardInterrupt):
    predict.write_csv(p, [str(folder)], str(out), detector="haar", chunk=1)
  assert not out.exists() and not os.path.exists(f"{out}.summary.json")
  kept = list(csv.DictReader(open(f"{out}.partial")))
  assert [r["frame"] for r in kept] == ["1"]


def test_cli_usage_errors_are_plain(workdir, tmp_path, capsys):
  img = tmp_path / "face.png"
  _noise_png(img)
  out = str(tmp_path / "aus.csv")
  err = _usage_error(capsys, ["--workdir=", "--input", str(img), "--output", out])
  assert "--workdir is empty" in err
  err = _usage_error(capsys, ["--workdir", str(tmp_path), "--input", str(img), "--output", out])
  assert "config.json" in err
  err = _usage_error(capsys, ["--workdir", workdir, "--input", str(tmp_path / "x.webm"),
                              str(tmp_path / "notes.txt"), "--output", out])
  assert "nothing to predict" in err and "no such file or folder" in err
  assert sorted(os.listdir(tmp_path)) == ["face.png"]


def test_batch_size_zero_exits_2_without_traceback(tmp_path):
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  proc = subprocess.run(
      [sys.executable, "-m", "au_jax.predict", "--workdir", str(tmp_path), "--input", "x.png",
       "--output", str(tmp_path / "o.csv"), "--batch_size", "0"],
      capture_output=True, text=True, cwd=root)
  assert proc.returncode == 2
  assert "--batch_size" in proc.stderr and "positive integer" in proc.stderr
  assert "Traceback" not in proc.stderr
