"""The dress rehearsal's trees and measurements (benchmarks/rehearsal_trees.py, rehearsal.py).

The generated trees are read back by the licensed builders themselves: a tree
the builder cannot read, or reads with other labels than the expression
model's, fails here.
"""
import importlib.util
import json
import sys

import cv2
import numpy as np
import pytest
import tensorflow_datasets as tfds

from au_jax.aus import BP4D_AUS, DISFA_AUS, FERA2015_INT_AUS, SYNTHETIC_AUS
from benchmarks import rehearsal
from benchmarks import rehearsal_trees as rt
from tfds_builders.synthetic_au import synthetic_au as sa


def test_real_subject_counts_and_scaled_frames():
  assert len(rt.subjects("disfa")) == 27 and len(rt.subjects("bp4d")) == 41
  assert rt.disfa_frames("SN001", 1.0) == 4845 and rt.disfa_frames("SN010", 1.0) == 4844
  assert rt.disfa_frames("SN001", 0.01) == 48
  # 146k frames over 41 subjects x 8 tasks.
  assert rt.bp4d_frames_per_task(1.0) == 445 and rt.bp4d_frames_per_task(0.01) == 4
  assert rt.scaled(10, 1e-9) == 1


def test_place_maps_landmarks_with_the_face():
  face = np.zeros((10, 10, 3), np.uint8)
  face[2, 7] = 255                      # a bright pixel at (x=7, y=2)
  img, lm = rt.place(face, np.array([[7.0, 2.0]]), (100, 60), 50)
  assert img.shape == (60, 100, 3)
  y, x = np.unravel_index(np.argmax(img[..., 0]), img.shape[:2])
  np.testing.assert_allclose(lm[0], [x, y], atol=2.5)   # within a scaled pixel
  assert img[0, 0, 0] == rt.BACKGROUND


def _build(cls, raw, data):
  b = cls(data_dir=str(data))
  b.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(raw)))
  return {s: list(b.as_data_source(split=s)) for s in b.info.splits}


@pytest.mark.slow
def test_disfa_subject_reads_back_with_the_expression_models_labels(tmp_path):
  from tfds_builders.disfa import Disfa
  n = rt.write_disfa_subject(tmp_path / "DISFA", "SN003", 2, 3 / 4845)
  assert n == 3
  video = tmp_path / "DISFA" / "Videos_LeftCamera" / "LeftVideoSN003_comp.avi"
  cap = cv2.VideoCapture(str(video))
  assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (1024, 768)
  cap.release()
  records = _build(Disfa, tmp_path / "DISFA", tmp_path / "data")["SN003"]
  want = sa.subject_expressions(rt._render_config("disfa_like", 0, 1, 3), 2).intensity[0]
  want = want[:, [SYNTHETIC_AUS.index(a) for a in DISFA_AUS]]
  assert [r["frame"] for r in records] == [1, 2, 3]
  np.testing.assert_array_equal(np.stack([r["au_intensity"] for r in records]), want)


@pytest.mark.slow
def test_bp4d_subject_reads_back_with_the_expression_models_labels(tmp_path):
  from tfds_builders.bp4d import Bp4d
  n = rt.write_bp4d_subject(tmp_path / "BP4D", "F002", 1, 1e-6)   # one frame per task
  assert n == 8
  img = cv2.imread(str(tmp_path / "BP4D" / "BP4D-training" / "F002" / "T1" / "0001.jpg"))
  assert img.shape == (1392, 1040, 3)
  records = _build(Bp4d, tmp_path / "BP4D", tmp_path / "data")["F002"]
  assert records, "no face detected in any frame"
  y = sa.subject_expressions(rt._render_config("bp4d_like", 1, 8, 1), 1).intensity[:, 0]
  for r in records:
    task = r["sequence"].decode() if isinstance(r["sequence"], bytes) else r["sequence"]
    q = int(task[1:]) - 1
    level = {a: y[q, SYNTHETIC_AUS.index(a)] for a in SYNTHETIC_AUS}
    np.testing.assert_array_equal(r["au_occurrence"],
                                  [int(level.get(a, 0) >= 1) for a in BP4D_AUS])
    np.testing.assert_array_equal(r["au_intensity"],
                                  [level[a] if a in FERA2015_INT_AUS else -1 for a in BP4D_AUS])


def test_extrapolation_is_linear_in_frames():
  res = {"stages": {
      "generate_bp4d": dict(rc=0, dataset="bp4d", frames=1460, wall_s=10, cpu_s=5, disk_mb=1),
      "build_bp4d_single": dict(rc=0, dataset="bp4d", frames=1000, wall_s=36, cpu_s=18,
                                disk_mb=2048),
      "train_gudi_fera2015": dict(rc=0, dataset="bp4d", wall_s=100, cpu_s=90, disk_mb=5,
                                  files={"test_predictions.npz": 2**20}),
      "predict_plain": dict(rc=0, dataset="disfa_videos", frames=130814 // 100, wall_s=36,
                            cpu_s=1, disk_mb=1),
      "build_disfa_beam2": dict(rc=1, dataset="disfa", frames=10, wall_s=1, cpu_s=1, disk_mb=1)}}
  for st in res["stages"].values():
    st.update(peak_rss_process_mb=1, peak_rss_tree_mb=1)
  rows = {r["stage"]: r for r in rehearsal.extrapolate(res)}
  assert set(rows) == {"generate_bp4d", "build_bp4d_single", "train_gudi_fera2015",
                       "predict_plain"}
  b = rows["build_bp4d_single"]
  assert b["full_wall_h"] == pytest.approx(36 / 1000 * 146_000 / 3600, abs=0.01)
  assert b["full_disk_gb"] == pytest.approx(2 * 146, abs=0.1)
  # Prediction scales to every DISFA frame; training's time is not extrapolated, its
  # saved test predictions scale with the dataset's generated frames.
  assert rows["predict_plain"]["full_wall_h"] == pytest.approx(1.0, rel=0.01)
  t = rows["train_gudi_fera2015"]
  assert "full_wall_h" not in t and t["frames"] == 1460
  assert t["full_test_predictions_mb"] == pytest.approx(146_000 / 1460, abs=0.1)
  assert "| build_disfa_beam2 | 1 |" in rehearsal.table(res)
  # A build reads every frame of its tree (a face not found costs too).
  res["stages"]["build_bp4d_single"]["frames_read"] = 2000
  rows = {r["stage"]: r for r in rehearsal.extrapolate(res)}
  assert rows["build_bp4d_single"]["full_wall_h"] == pytest.approx(36 / 2000 * 146_000 / 3600,
                                                                   abs=0.01)
  # Two prediction runs: start-up (the first run) + the cost per further frame.
  res["stages"]["predict_plain_all"] = dict(rc=0, dataset="disfa_videos", frames=2616,
                                            wall_s=46, cpu_s=2, disk_mb=2)
  m = {r["stage"]: r for r in rehearsal.extrapolate(res)}["predict_marginal"]
  assert m["full_wall_h"] == pytest.approx((36 + 10 / 1308 * (130814 - 1308)) / 3600, abs=0.01)


def test_disk_and_named_outputs(tmp_path):
  (tmp_path / "run" / "sub").mkdir(parents=True)
  (tmp_path / "run" / "test_predictions.npz").write_bytes(b"x" * 5000)
  (tmp_path / "run" / "sub" / "other.bin").write_bytes(b"y" * 10)
  assert rehearsal.named_sizes(tmp_path / "run") == {"test_predictions.npz": 5000}
  assert rehearsal.disk_bytes(tmp_path / "run") >= 5010
  assert rehearsal.disk_bytes(tmp_path / "missing") == 0


@pytest.mark.slow
def test_run_measured_reports_the_childs_peak_memory_and_cpu(tmp_path):
  code = ("import numpy as np, time; a = np.ones(300 * 2**20 // 8); "
          "t = time.process_time()\nwhile time.process_time() - t < 0.5: pass")
  m = rehearsal.run_measured([sys.executable, "-c", code], tmp_path / "log")
  assert m["rc"] == 0
  assert m["peak_rss_process_mb"] >= 300 and m["peak_rss_tree_mb"] >= 300
  assert m["cpu_s"] >= 0.5 and m["wall_s"] >= 0.5
  assert (tmp_path / "log").read_text().startswith("$ ")


def test_a_recorded_stage_is_skipped(tmp_path, monkeypatch):
  calls = []
  monkeypatch.setattr(rehearsal, "stages", lambda args: [
      ("a", dict(cmd=["true"], out=tmp_path, dataset="disfa")),
      ("b", dict(cmd=["false"], out=tmp_path, dataset="disfa"))])
  monkeypatch.setattr(rehearsal, "run_measured",
                      lambda cmd, log: calls.append(cmd[0]) or dict(
                          rc=int(cmd[0] == "false"), wall_s=0, cpu_s=0,
                          peak_rss_process_mb=0, peak_rss_tree_mb=0))
  args = rehearsal.argparse.Namespace(results=str(tmp_path / "r.json"), frame_fraction=0.5,
                                      steps=1, work=str(tmp_path), redo="", only="")
  rehearsal.run(args)
  rehearsal.run(args)
  assert calls == ["true", "false", "false"]          # the failed stage is retried
  saved = json.loads((tmp_path / "r.json").read_text())
  assert saved["stages"]["a"]["rc"] == 0 and saved["frame_fraction"] == 0.5
  args.frame_fraction = 0.1
  with pytest.raises(SystemExit, match="frame_fraction=0.5"):
    rehearsal.run(args)


def test_a_beam_work_item_rebuilds_a_builder_of_a_registered_config(tmp_path):
  """What the rehearsal's first Beam build hit: `tfds_builders.build disfa --beam_workers=N`
  (the registered "default" config) pickles the work item's arguments; an unpickled
  copy of a registered config is refused by TFDS, so the config travels by name."""
  import pickle

  from tests.fixtures import raw_trees as fixture
  from tfds_builders import common
  from tfds_builders.disfa import Disfa
  facts = fixture.make_disfa(tmp_path / "raw")
  builder = Disfa(data_dir=str(tmp_path / "data"), config=Disfa.BUILDER_CONFIGS[0])
  with pytest.raises(ValueError, match="same as an available BuilderConfig"):
    pickle.loads(pickle.dumps(builder))       # the builder itself does not survive pickling
  kwargs = pickle.loads(pickle.dumps(dict(builder_cls=Disfa, state=common._worker_state(builder))))
  assert kwargs["state"]["config"] == "default"
  items = list(common._subject_work((1, "SN002"), init={}, manual_dir=str(facts["root"]),
                                    **kwargs))
  records = [r for i, r in items if i == 1]
  assert [pos for pos, _ in records] == list(range(len(records)))
  assert len(records) == 6                    # SN002's 7 video frames, l00004 has no landmarks
  assert items[-1][0] == -1 and items[-1][1]["subject"] == "SN002"


@pytest.mark.slow
def test_compare_builds_finds_a_changed_record(tmp_path):
  from tests.fixtures import raw_trees as fixture
  from tfds_builders import build
  fixture.make_disfa(tmp_path / "raw")
  for mode in ("single", "beam1"):
    build.build("disfa", str(tmp_path / "raw"), str(tmp_path / "data" / mode), image_size=32)
  assert rehearsal.compare_builds(tmp_path, "disfa", ("beam1",)) == {
      "beam1": dict(records=14, differences={})}
  # A build of other frames (SN001's labels changed) is reported at its first difference.
  au1 = next((tmp_path / "raw").rglob("SN001_au1.txt"))
  au1.write_text(au1.read_text().replace("1,", "1,5", 1)[:-1] + "\n")
  build.build("disfa", str(tmp_path / "raw"), str(tmp_path / "data" / "beam2"), image_size=32)
  diffs = rehearsal.compare_builds(tmp_path, "disfa", ("beam2",))["beam2"]["differences"]
  assert list(diffs) == ["SN001"] and "au_intensity" in diffs["SN001"]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("apache_beam") is None,
                    reason="apache-beam is not installed (pip install 'au-jax[beam]')")
def test_beam_build_of_the_registered_config(tmp_path):
  """The command line's Beam build with no override (the registered "default" config)."""
  from tests.fixtures import raw_trees as fixture
  from tfds_builders import build
  fixture.make_disfa(tmp_path / "raw")
  b = build.build("disfa", str(tmp_path / "raw"), str(tmp_path / "data"), beam_workers=1)
  assert b.builder_config.name == "default"
  assert sum(s.num_examples for s in b.info.splits.values()) == 14
