"""A workdir artefact that is missing, damaged or unfinished is refused by
predict in one or two plain lines naming the file, exit 2, and no file
changes: each test damages a copy of one tiny multi-label workdir (QDA
fitted state and tuned thresholds), trained once for the module."""
import hashlib
import json
import os
import shutil
import subprocess
import sys

import cv2
import jax
import numpy as np
import pytest

from au_jax.inference.workdir_check import PredictWorkdirError
from au_jax.predict import Predictor, main
from au_jax import experiment
from au_jax.train import checkpoint
from tests.conftest import ROOT, tiny_config


pytestmark = pytest.mark.slow   # every test predicts from a trained workdir


@pytest.fixture(scope="module")
def trained(tiny_data_dir, tmp_path_factory):
  wd = str(tmp_path_factory.mktemp("multilabel"))
  experiment.train_and_evaluate(tiny_config("configs.multilabel_synthetic", tiny_data_dir), wd)
  return wd


@pytest.fixture
def wd(trained, tmp_path):
  """A fresh copy of the trained workdir, to damage."""
  return shutil.copytree(trained, str(tmp_path / "run"))


@pytest.fixture
def media(tmp_path):
  img = tmp_path / "in" / "face.png"
  img.parent.mkdir()
  assert cv2.imwrite(str(img), np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
  return str(img)


def _tree(*folders) -> dict:
  """path -> sha1 of every file under the folders (what must not change)."""
  out = {}
  for top in folders:
    for d, _, files in os.walk(top):
      for f in files:
        p = os.path.join(d, f)
        out[p] = hashlib.sha1(open(p, "rb").read()).hexdigest()
  return out


def _refused(capsys, wd, media, tmp_path, *extra) -> str:
  """stderr of a predict run that must end in exit 2, one or two plain lines,
  with no file changed in the workdir, the inputs or the output folder."""
  out = tmp_path / "out"
  out.mkdir(exist_ok=True)
  before = _tree(wd, os.path.dirname(media), str(out))
  with pytest.raises(SystemExit) as e:
    main(["--workdir", wd, "--input", media, "--output", str(out / "aus.csv"),
          "--detector", "haar", *extra])
  assert e.value.code == 2
  err = capsys.readouterr().err
  assert "Traceback" not in err and 1 <= len(err.strip().splitlines()) <= 2, err
  assert _tree(wd, os.path.dirname(media), str(out)) == before
  return err


def _rewrite_fitted(wd, fn):
  """The selected checkpoint saved again with fn(fitted arrays)."""
  folder = os.path.join(wd, checkpoint.BEST_DIR)
  step, raw = checkpoint.restore_raw(folder)
  raw["fitted"] = jax.tree.map(fn, raw["fitted"])
  shutil.rmtree(os.path.join(folder, str(step)))
  ckpt = checkpoint.Checkpointer(folder, max_to_keep=None)
  ckpt.save(step, raw, {})
  ckpt.close()
  return os.path.join(folder, str(step))


def _edit_report(wd, **changes):
  path = os.path.join(wd, "report.json")
  report = json.load(open(path))
  report.update(changes)
  json.dump(report, open(path, "w"))


def test_a_sound_workdir_predicts_and_the_summary_names_the_checkpoint(wd, media, tmp_path):
  out = tmp_path / "aus.csv"
  main(["--workdir", wd, "--input", media, "--output", str(out), "--detector", "haar"])
  model = json.load(open(f"{out}.summary.json"))["model"]
  assert model["checkpoint"] == os.path.join(wd, checkpoint.BEST_DIR)
  assert model["step"] == json.load(open(os.path.join(wd, "report.json")))["selection"]["step"]
  assert model["finished"] and model["step"] == model["planned_steps"]


def test_unfitted_qda_arrays_are_refused(wd, media, tmp_path, capsys):
  where = _rewrite_fitted(wd, np.zeros_like)    # what a checkpoint saved before the fit holds
  err = _refused(capsys, wd, media, tmp_path)
  assert f"the checkpoint {where} holds an empty fitted 'qda' state" in err
  with pytest.raises(PredictWorkdirError, match="empty fitted 'qda'"):
    Predictor.from_workdir(wd, allow_unfinished=True)


def test_nan_qda_arrays_are_refused(wd, media, tmp_path, capsys):
  where = _rewrite_fitted(wd, lambda a: np.full_like(a, np.nan))
  err = _refused(capsys, wd, media, tmp_path)
  assert f"{where} holds a fitted 'qda' state that is not finite" in err


def test_a_checkpoint_saved_before_the_fit_stage_is_refused(wd, media, tmp_path, capsys):
  # the run killed after its last gradient step, before the QDA fit
  for sub in (checkpoint.BEST_DIR, checkpoint.LATEST_DIR):
    last = max(int(s) for s in os.listdir(os.path.join(wd, sub)) if s.isdigit())
    shutil.rmtree(os.path.join(wd, sub, str(last)))
  os.remove(os.path.join(wd, "report.json"))
  err = _refused(capsys, wd, media, tmp_path)
  assert "has not finished" in err and "--allow_unfinished" in err
  err = _refused(capsys, wd, media, tmp_path, "--allow_unfinished")
  assert "was saved before the fit stage 'qda'" in err


def test_a_deleted_report_is_refused(wd, media, tmp_path, capsys):
  os.remove(os.path.join(wd, "report.json"))
  err = _refused(capsys, wd, media, tmp_path)
  assert "has no report.json" in err and "--allow_unfinished" in err
  p = Predictor.from_workdir(wd, allow_unfinished=True)     # asked for: thresholds 0.5
  assert (p.thresholds == 0.5).all() and not p.source["finished"]


@pytest.mark.parametrize("thresholds, shown", [(None, "None"), ([0.5] * 3, "3 values"),
                                              ([float("nan")] * 12, "12 values")])
def test_bad_thresholds_are_refused(wd, media, tmp_path, capsys, thresholds, shown):
  _edit_report(wd, thresholds=thresholds)
  err = _refused(capsys, wd, media, tmp_path)
  assert f"report.json: 'thresholds' must be 12 finite numbers, one per AU (got {shown})" in err


def test_a_truncated_report_is_refused(wd, media, tmp_path, capsys):
  path = os.path.join(wd, "report.json")
  text = open(path).read()
  open(path, "w").write(text[:len(text) // 2])
  err = _refused(capsys, wd, media, tmp_path)
  assert f"{path} is unreadable (JSONDecodeError" in err


def test_an_unreadable_config_is_refused(wd, media, tmp_path, capsys):
  path = os.path.join(wd, "config.json")
  open(path, "w").write('{"model": ')
  err = _refused(capsys, wd, media, tmp_path)
  assert f"{path} is unreadable" in err
  config = {"model": {"name": "no_such_model"}, "train": {}}
  json.dump(config, open(path, "w"))
  err = _refused(capsys, wd, media, tmp_path)
  assert "config.json: unknown model 'no_such_model'" in err


def test_a_config_edited_to_another_shape_names_config_and_checkpoint(wd, media, tmp_path, capsys):
  path = os.path.join(wd, "config.json")
  config = json.load(open(path))
  config["model"]["fc_units"] = 32                 # the checkpoint has 16
  json.dump(config, open(path, "w"))
  err = _refused(capsys, wd, media, tmp_path)
  assert f"{path} does not match the checkpoint {wd}/{checkpoint.BEST_DIR}/" in err
  assert "restore the config.json the run was trained with" in err


def _corrupt_checkpoint(wd) -> str:
  folder = os.path.join(wd, checkpoint.BEST_DIR)
  step = max(int(s) for s in os.listdir(folder) if s.isdigit())
  for d, _, files in os.walk(os.path.join(folder, str(step), "state")):
    for f in files:
      if "manifest" in f or os.path.basename(d) == "d":
        open(os.path.join(d, f), "wb").write(b"\0" * 64)
  return os.path.join(folder, str(step))


def _edit_config_shapes(wd) -> None:
  path = os.path.join(wd, "config.json")
  config = json.load(open(path))
  config["model"]["features"] = [4, 4]            # the checkpoint has [4, 8]
  json.dump(config, open(path, "w"))


def test_a_corrupted_checkpoint_is_named(wd, media, tmp_path, capsys):
  where = _corrupt_checkpoint(wd)
  err = _refused(capsys, wd, media, tmp_path)
  assert f"the checkpoint {where} cannot be read" in err and "damaged" in err


@pytest.mark.slow
@pytest.mark.parametrize("damage, message", [
    (_edit_config_shapes, "config.json does not match the checkpoint"),
    (_corrupt_checkpoint, "cannot be read"),
])
def test_checkpoint_faults_in_a_fresh_process_are_one_line(wd, media, tmp_path, damage, message):
  """orbax / tensorstore must not scroll 'Event loop is closed' tracebacks past
  the one line (a fresh interpreter, as a user runs it)."""
  damage(wd)
  proc = subprocess.run([sys.executable, "-m", "au_jax.predict", "--workdir", wd, "--input",
                         media, "--output", str(tmp_path / "aus.csv")],
                        capture_output=True, text=True, cwd=ROOT, timeout=300,
                        env=dict(os.environ, AU_JAX_NO_PROGRESS="1"))
  assert proc.returncode == 2, proc.stderr[-2000:]
  lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
  assert len(lines) == 1 and message in lines[0], lines[:8]
  assert not os.path.exists(tmp_path / "aus.csv")
