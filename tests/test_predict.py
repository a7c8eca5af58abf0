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
from au_jax import experiment
from tests.conftest import ROOT, tiny_config


@pytest.fixture(scope="module")
def workdir(tiny_data_dir, tmp_path_factory):
  config = tiny_config("configs.gudi_synthetic", tiny_data_dir)
  config.model.gcn = "image"   # no session statistics: inference sees single images
  wd = str(tmp_path_factory.mktemp("run"))
  experiment.train_and_evaluate(config, wd)
  return wd


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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
  assert header[:10] == ["input", "frame", "face_id", "timestamp", "confidence", "success",
                         "face_x", "face_y", "face_width", "face_height"]
  assert header[10:12] == ["x_0", "x_1"] and header[78] == "y_0" and header[145] == "y_67"
  assert "AU01_r" in header and "AU26_c" in header and "AU26_p" in header
  assert not any(h.startswith(" ") for h in header)
  assert [r["frame"] for r in rows] == ["1", "2", "1", "2", "3"]
  assert [r["input"] for r in rows[:2]] == [str(folder / "0.png"), str(folder / "1.png")]
  assert rows[3]["input"] == video and rows[3]["timestamp"] == "0.100"
  # noise has no face: one row per frame, face_id -1, no box, no landmarks, zero AUs
  assert all(r["success"] == "0" and r["face_id"] == "-1" and r["confidence"] == "0.000"
             and r["face_x"] == "" and r["x_0"] == "" and r["AU01_r"] == "0.000" for r in rows)


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


@pytest.mark.slow
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


@pytest.mark.slow
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
  assert sorted(os.listdir(tmp_path)) == ["aus.csv", "aus.csv.summary.json", "imgs"]


@pytest.mark.slow
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


@pytest.mark.slow
def test_rows_written_before_a_failure_are_kept(workdir, tmp_path, monkeypatch):
  folder = tmp_path / "imgs"
  folder.mkdir()
  for i in range(3):
    _noise_png(folder / f"{i}.png", seed=i)
  p = Predictor.from_workdir(workdir, batch_size=4)
  calls = []
  real = predict.table.chunk_frame

  def interrupted(*args):
    calls.append(1)
    if len(calls) == 2:
      raise KeyboardInterrupt
    return real(*args)

  monkeypatch.setattr(predict.table, "chunk_frame", interrupted)
  out = tmp_path / "aus.csv"
  with pytest.raises(KeyboardInterrupt):
    predict.write_csv(p, [str(folder)], str(out), detector="haar", chunk_frames=1)
  assert not out.exists() and not os.path.exists(f"{out}.summary.json")
  (partial,) = [f for f in os.listdir(tmp_path) if f.endswith(".partial")]
  assert partial.startswith(f"aus.csv.{os.getpid()}.")        # this run's own partial file
  kept = list(csv.DictReader(open(tmp_path / partial)))
  assert [r["frame"] for r in kept] == ["1"]
  assert not os.path.exists(f"{out}.lock")                    # the output's lock released


@pytest.mark.slow
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


@pytest.mark.slow
def test_batch_size_zero_exits_2_without_traceback(tmp_path):
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  proc = subprocess.run(
      [sys.executable, "-m", "au_jax.predict", "--workdir", str(tmp_path), "--input", "x.png",
       "--output", str(tmp_path / "o.csv"), "--batch_size", "0"],
      capture_output=True, text=True, cwd=root)
  assert proc.returncode == 2
  assert "--batch_size" in proc.stderr and "positive integer" in proc.stderr
  assert "Traceback" not in proc.stderr


# ------------------------------------------------ real faces: tables, tracking, options

demo = pytest.importorskip("au_jax.inference.demo_media")
CLIP_FRAMES = (100, 101, 102, 103, 104, 105, 440, 460)   # 6 with two faces, 2 without


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
  """An 8-frame 640x360 MJPG clip of two real faces, then a cat and a cup."""
  path = str(tmp_path_factory.mktemp("media") / "clip.avi")
  w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 360))
  for i in CLIP_FRAMES:
    w.write(cv2.cvtColor(demo.demo_frame(i, 480), cv2.COLOR_RGB2BGR))
  w.release()
  return path


@pytest.fixture(scope="module")
def predictor(workdir):
  return Predictor.from_workdir(workdir, batch_size=8)


@pytest.mark.slow
def test_predict_video_returns_every_face_as_a_dataframe(predictor, clip):
  df = predictor.predict_video(clip, detector="haar", detect_every=3)
  assert list(df.columns) == predictor.csv_columns()
  assert len(df) == 6 * 2 + 2 and (df["input"] == clip).all()
  faces = df[df["success"] == 1]
  assert faces.groupby("frame")["face_id"].apply(list).tolist() == [[0, 1]] * 6
  none = df[df["frame"] > 6]
  assert none["face_id"].tolist() == [-1, -1] and none["face_x"].isna().all()
  assert (none["AU01_r"] == 0).all() and (none["confidence"] == 0).all()
  assert faces["confidence"].nunique() > 1 and (faces["confidence"] > 1.5).all()
  np.testing.assert_allclose(faces["timestamp"].unique(), np.arange(6) / 30.0, atol=1e-6)
  # landmarks in input pixels: the eyes lie inside the face box
  for side in ("x", "y"):
    eye = faces[[f"{side}_{i}" for i in range(36, 48)]].mean(axis=1)
    lo = faces["face_x" if side == "x" else "face_y"]
    assert ((eye > lo) & (eye < lo + faces["face_width"])).all()
  # AUxx_c follows from AUxx_p by the tuned threshold, AUxx_r = 5 AUxx_p (gudi's rule)
  for k, au in enumerate(predictor.info.aus):
    lab = f"AU{au:02d}"
    np.testing.assert_array_equal(faces[f"{lab}_c"], faces[f"{lab}_p"] >= predictor.thresholds[k])
    np.testing.assert_allclose(faces[f"{lab}_r"], 5 * faces[f"{lab}_p"], rtol=1e-5)
  assert df.attrs["summary"]["frames"] == 8 and df.attrs["summary"]["faces"] == 12
  # streamed in chunks without threads: the same table
  chunks = list(predictor.stream_video(clip, detector="haar", detect_every=3, chunk_frames=3,
                                       threads=False))
  assert [len(c.drop_duplicates("frame")) for c in chunks] == [3, 3, 2]
  import pandas as pd
  pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), df, check_like=False)


@pytest.mark.slow
def test_predict_folder_names_each_image(predictor, tmp_path):
  photos = demo.photos()
  for name in ("astronaut", "coffee", "grace_hopper"):
    cv2.imwrite(str(tmp_path / f"{name}.png"), cv2.cvtColor(photos[name], cv2.COLOR_RGB2BGR))
  df = predictor.predict_folder(str(tmp_path), detector="haar", landmarks=False)
  assert [os.path.basename(p) for p in df["input"]] == ["astronaut.png", "coffee.png",
                                                        "grace_hopper.png"]
  assert df["success"].tolist() == [1, 0, 1] and df["frame"].tolist() == [1, 2, 3]
  assert "x_0" not in df.columns and df["face_id"].tolist() == [0, -1, 0]


@pytest.mark.slow
def test_cli_every_face_options_plot_and_overlay(workdir, clip, tmp_path):
  out = tmp_path / "aus.csv"
  main(["--workdir", workdir, "--input", clip, "--output", str(out), "--detector", "haar",
        "--max_faces", "1", "--no_landmarks", "--plot", str(tmp_path / "aus.png"),
        "--overlay", str(tmp_path / "overlay.avi")])
  rows = list(csv.DictReader(open(out)))
  assert len(rows) == 8 and "x_0" not in rows[0] and "face_width" in rows[0]
  assert [r["face_id"] for r in rows] == ["0"] * 6 + ["-1"] * 2
  assert all(float(r["face_x"]) > 320 for r in rows[:6])     # the larger face (right)
  png = cv2.imread(str(tmp_path / "aus.png"))
  assert png is not None and png.shape[0] > 100
  cap = cv2.VideoCapture(str(tmp_path / "overlay.avi"))
  n = 0
  while cap.read()[0]:
    n += 1
  assert n == 8


@pytest.mark.slow
def test_a_detector_failure_is_one_failed_row(predictor, clip, monkeypatch):
  from au_jax.face import tracking
  real, calls = tracking.FaceTracker.__call__, []

  def flaky(self, img):
    calls.append(1)
    if len(calls) == 2:
      raise RuntimeError("detector crashed")
    return real(self, img)

  monkeypatch.setattr(tracking.FaceTracker, "__call__", flaky)
  df = predictor.predict_video(clip, detector="haar")
  assert df[df["frame"] == 2]["success"].tolist() == [0]
  assert (df[df["frame"] == 3]["success"] == 1).all()
  (problem,) = df.attrs["summary"]["problems"]
  assert problem["frame"] == 2 and "face detection failed" in problem["reason"]


@pytest.mark.slow
def test_bad_media_in_python_name_the_file(predictor, tmp_path):
  from au_jax.errors import UserError
  with pytest.raises(UserError, match="gone.mp4: no such file"):
    predictor.predict_video(str(tmp_path / "gone.mp4"))
  fake = tmp_path / "fake.mp4"
  fake.write_text("not a video")
  with pytest.raises(UserError, match="fake.mp4"):
    predictor.predict_video(str(fake), detector="haar")


def test_ccnn_occurrence_follows_the_decoded_intensity():
  import ml_collections
  p = object.__new__(Predictor)
  p.config = ml_collections.ConfigDict(dict(model=dict(name="ccnn")))
  p.info = sources.DataInfo(aus=(1, 12), intensity_coded=(True, False),
                            occurrence_coded=(True, True), datasets=("x",), metadata=({},))
  p.thresholds = np.array([0.3, 0.3])
  inten = np.array([[0., 0.], [1., 0.], [2., 0.], [1.4, 0.], [1.6, 0.]])
  prob = np.array([[0.9, 0.9], [0.1, 0.1], [0.1, 0.2], [0.5, 0.5], [0.2, 0.31]])
  # coded AU: round(_r) >= 2 whatever the marginal; uncoded AU: tuned threshold on _p
  np.testing.assert_array_equal(p.occurrence_label(inten, prob),
                                [[0, 1], [0, 0], [1, 0], [0, 1], [1, 1]])
  assert p.layout().with_p and p.occurrence_rule == "intensity"


@pytest.mark.slow
def test_notebook_runs_top_to_bottom(workdir, tmp_path, monkeypatch):
  nbformat = pytest.importorskip("nbformat")
  nbclient = pytest.importorskip("nbclient")
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  nb = nbformat.read(os.path.join(root, "notebooks", "inference.ipynb"), as_version=4)
  monkeypatch.setenv("AU_JAX_WORKDIR", workdir)
  monkeypatch.setenv("AU_JAX_MEDIA", str(tmp_path / "media"))
  monkeypatch.setenv("AU_JAX_DEMO_FRAMES", "6")
  monkeypatch.setenv("AU_JAX_DETECTOR", "haar")
  monkeypatch.setenv("PYTHONPATH", root + os.pathsep + os.environ.get("PYTHONPATH", ""))
  nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                          resources={"metadata": {"path": str(tmp_path)}}).execute()
  text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
  assert "6 frames" in text and "face ids [0, 1]" in text
  assert (tmp_path / "au_traces.png").stat().st_size > 1000
  assert (tmp_path / "aligned_faces.png").stat().st_size > 1000
  figures = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
  assert len(figures) >= 2        # the traces and the aligned faces with their AU bars


@pytest.mark.slow
def test_one_video_or_folder_is_one_session(workdir, predictor, clip, tmp_path, monkeypatch):
  """Models with session statistics get them fitted once per input, and every
  chunk of that input is predicted with them (the wiring; the statistics
  themselves are tested in tests/train/test_fitted_state.py)."""
  fitted, used = [], []
  monkeypatch.setattr(Predictor, "session_sample", property(lambda self: 5))
  monkeypatch.setattr(predict, "_fit_input_session",
                      lambda p, path, kind, detector: fitted.append((path, kind)) or path)
  real = Predictor._run

  def run(self, records, n, session=None):
    used.append(session)
    return real(self, records, n, None)

  monkeypatch.setattr(Predictor, "_run", run)
  predictor.predict_video(clip, detector="haar", chunk_frames=2)
  assert fitted == [(clip, "video")] and len(used) == 3 and set(used) == {clip}
  folder = tmp_path / "photos"
  folder.mkdir()
  for name in ("astronaut", "grace_hopper"):
    cv2.imwrite(str(folder / f"{name}.png"), cv2.cvtColor(demo.photos()[name], cv2.COLOR_RGB2BGR))
  fitted.clear()
  used.clear()
  main(["--workdir", workdir, "--input", clip, str(folder), "--output", str(tmp_path / "aus.csv"),
        "--detector", "haar"])
  assert fitted == [(clip, "video"), (str(folder), "folder")]
  assert used == [clip, str(folder)]       # one batch per input, each with its own session


# ------------------------------------------- the output: never another's file, one run at a time

@pytest.mark.slow
def test_output_never_replaces_a_file_au_jax_did_not_write(workdir, tmp_path, capsys):
  img = tmp_path / "face.png"
  _noise_png(img)
  for name, content in (("photo.jpg", b"\xff\xd8\xff\xe0 a photo"), ("notes.txt", b"notes\n"),
                        ("other.csv", b"frame,face_id,timestamp,confidence,success\n1,0,0,1,1\n")):
    target = tmp_path / name
    target.write_bytes(content)
    listing = sorted(os.listdir(tmp_path))
    err = _usage_error(capsys, ["--workdir", workdir, "--input", str(img), "--output",
                                str(target)])
    assert f"{target} exists and is not an au-jax CSV" in err and "--overwrite" in err
    assert target.read_bytes() == content and sorted(os.listdir(tmp_path)) == listing
  # a summary sidecar that is not ours is protected too
  (tmp_path / "aus.csv.summary.json").write_text("my notes")
  err = _usage_error(capsys, ["--workdir", workdir, "--input", str(img), "--output",
                              str(tmp_path / "aus.csv")])
  assert "aus.csv.summary.json exists and is not an au-jax CSV or summary" in err
  assert (tmp_path / "aus.csv.summary.json").read_text() == "my notes"
  # --overwrite replaces it, on request
  main(["--workdir", workdir, "--input", str(img), "--output", str(tmp_path / "notes.txt"),
        "--detector", "haar", "--overwrite"])
  assert (tmp_path / "notes.txt").read_text().startswith("input,frame,face_id,")
  # an au-jax CSV is rewritten by a rerun without asking
  before = (tmp_path / "notes.txt").stat().st_mtime_ns
  main(["--workdir", workdir, "--input", str(img), "--output", str(tmp_path / "notes.txt"),
        "--detector", "haar"])
  assert (tmp_path / "notes.txt").stat().st_mtime_ns != before
  assert not [f for f in os.listdir(tmp_path) if f.endswith((".partial", ".lock"))]
  # --plot / --overlay files are replaced on a rerun (checked against the inputs only)
  predict.check_output(str(tmp_path / "photo.jpg"), [str(img)], csv_output=False)
  with pytest.raises(predict.UsageError, match="would overwrite the input"):
    predict.check_output(str(img), [str(img)], csv_output=False)


@pytest.mark.slow
def test_a_second_run_on_the_same_output_stops_at_once(workdir, tmp_path, capsys):
  img = tmp_path / "face.png"
  _noise_png(img)
  out = tmp_path / "aus.csv"
  main(["--workdir", workdir, "--input", str(img), "--output", str(out), "--detector", "haar"])
  capsys.readouterr()
  first = out.read_bytes()
  held = predict.OutputLock(str(out)).acquire()     # another run writing this output
  try:
    listing = sorted(os.listdir(tmp_path))
    err = _usage_error(capsys, ["--workdir", workdir, "--input", str(img), "--output", str(out)])
    assert f"--output {out} is being written by another run (pid {os.getpid()}" in err
    assert f"lock {out}.lock" in err
    assert out.read_bytes() == first and sorted(os.listdir(tmp_path)) == listing
    with pytest.raises(predict.UsageError, match="being written by another run"):
      predict.write_csv(Predictor.from_workdir(workdir), [str(img)], str(out), detector="haar")
  finally:
    held.release()
  assert not os.path.exists(f"{out}.lock")
  main(["--workdir", workdir, "--input", str(img), "--output", str(out), "--detector", "haar"])


@pytest.mark.slow
def test_two_processes_on_one_output_never_mix(workdir, tmp_path):
  """Two real predict processes on one --output: each run's rows are its own;
  the CSV is one run's complete table, never a mixture."""
  folder = tmp_path / "imgs"
  folder.mkdir()
  for i in range(6):
    _noise_png(folder / f"{i}.png", seed=i)
  out = tmp_path / "aus.csv"
  env = dict(os.environ, AU_JAX_NO_PROGRESS="1")
  cmd = [sys.executable, "-m", "au_jax.predict", "--workdir", workdir, "--detector", "haar",
         "--output", str(out)]
  procs = [subprocess.Popen(cmd + ["--input", str(folder)], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE),
           subprocess.Popen(cmd + ["--input", str(folder / "0.png")], cwd=ROOT, env=env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)]
  results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
  for code, err in results:
    assert code == 0 or (code == 2 and "is being written by another run" in err
                         and len(err.strip().splitlines()) == 1), err[-1500:]
  rows = list(csv.DictReader(open(out)))
  summary = json.load(open(f"{out}.summary.json"))
  assert len(rows) == summary["rows"] and len(rows) in (1, 6)
  assert all(r["AU01_r"] != "" and len(r) == len(rows[0]) for r in rows)
  assert sorted(os.listdir(tmp_path)) == ["aus.csv", "aus.csv.summary.json", "imgs"]


@pytest.mark.slow
def test_input_takes_several_values_after_equals(workdir, tmp_path):
  folder = tmp_path / "photos"
  folder.mkdir()
  _noise_png(folder / "a.png")
  img = tmp_path / "clip.png"
  _noise_png(img, seed=3)
  out = tmp_path / "aus.csv"
  main(["--workdir", workdir, f"--input={img}", str(folder), "--output", str(out),
        "--detector", "haar"])
  assert [r["input"] for r in csv.DictReader(open(out))] == [str(img), str(folder / "a.png")]
  main(["--workdir", workdir, "--input", str(img), "--input", str(folder), f"--output={out}",
        "--detector", "haar"])
  assert len(list(csv.DictReader(open(out)))) == 2


class _FakeCapture:
  """A video whose container declares 98 frames while 95 decode; `complain`
  makes the decoder print on fd 2 at the end, as FFmpeg does on a cut file."""
  complain = False

  def __init__(self, path):
    self.i = 0

  def isOpened(self):
    return True

  def get(self, prop):
    return 98.0 if prop == cv2.CAP_PROP_FRAME_COUNT else 25.0

  def read(self):
    self.i += 1
    if self.i > 95:
      if self.complain:
        os.write(2, b"[mjpeg @ 0x0] overread 8\n")
      return False, None
    return True, np.full((32, 32, 3), self.i % 255, np.uint8)

  def release(self):
    pass


@pytest.mark.parametrize("complain", [False, True])
def test_a_video_is_truncated_only_when_decoding_failed(predictor, tmp_path, monkeypatch,
                                                        complain):
  video = tmp_path / "clip.mp4"
  video.write_bytes(b"not empty")
  monkeypatch.setattr(cv2, "VideoCapture", _FakeCapture)
  monkeypatch.setattr(_FakeCapture, "complain", complain)
  entry = predictor.predict_video(str(video), detector="haar", landmarks=False).attrs["summary"]
  assert entry["frames"] == 95
  if complain:
    assert entry["truncated"] == "truncated video: 95 of the 98 frames its container declares"
  else:
    assert "truncated" not in entry and entry["frames_declared"] == 98


@pytest.mark.slow
def test_predict_memory_benchmark_runs_and_writes_its_summary(workdir, tmp_path):
  from benchmarks import predict_memory
  out = tmp_path / "predict_memory.json"
  predict_memory.main(["--workdir", workdir, "--minutes", "0.02", "--images", "7",
                       "--width", "160", "--sample_s", "0.2", "--out", str(out)])
  result = json.load(open(out))
  (video,), (folder,) = result["videos"], result["folders"]
  assert video["frames"] == 30 and folder["frames"] == 7 and folder["images"] == 7
  assert 100 < video["peak_rss_mb"] < 20000 and video["rss_mb_samples"]
  assert result["frame_size"] == [160, 90] and not list(tmp_path.glob("*.tmp*"))


@pytest.mark.slow
def test_an_unfinished_run_is_used_only_when_asked(workdir, tmp_path, capsys):
  import shutil
  wd = shutil.copytree(workdir, str(tmp_path / "run"))      # killed after checkpoint 3 of 6
  regular = os.path.join(wd, "checkpoints")
  steps = sorted(int(s) for s in os.listdir(regular) if s.isdigit())
  assert len(steps) >= 2
  shutil.rmtree(os.path.join(regular, str(steps[-1])))
  best = os.path.join(wd, "best_checkpoint")
  for s in os.listdir(best):
    if s.isdigit() and int(s) > steps[-2]:
      shutil.rmtree(os.path.join(best, s))
  os.remove(os.path.join(wd, "report.json"))
  img = tmp_path / "face.png"
  _noise_png(img)
  out = tmp_path / "aus.csv"
  err = _usage_error(capsys, ["--workdir", wd, "--input", str(img), "--output", str(out)])
  assert (f"the run in {wd} has not finished (latest checkpoint step {steps[-2]} of {steps[-1]}; "
          f"no report.json)") in err and "--allow_unfinished" in err
  assert not out.exists()
  main(["--workdir", wd, "--input", str(img), "--output", str(out), "--detector", "haar",
        "--allow_unfinished"])
  model = json.load(open(f"{out}.summary.json"))["model"]
  assert model["step"] == steps[-2] and model["planned_steps"] == steps[-1]
  assert not model["finished"] and model["thresholds"] == "0.5 (no report.json)"
  assert f"step {steps[-2]}; UNFINISHED run: {steps[-1]} steps planned" in capsys.readouterr().err
