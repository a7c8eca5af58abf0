"""One command over folds: every fold in its own workdir, resumable, mean over folds."""
import json
import os

import numpy as np
import pytest

from au_jax import sweep


@pytest.mark.slow
def test_sweep_runs_each_fold_and_reports_the_mean(tiny_data_dir, tmp_path, monkeypatch):
  monkeypatch.setenv("AU_JAX_DATA_DIR", tiny_data_dir)
  root = str(tmp_path / "folds")
  summary = sweep.run("configs/gudi_synthetic.py", "runlocal,steps=2", "protocol",
                      ["fold1", "fold2"], root)
  folds = {f: json.load(open(os.path.join(root, f, "report.json")))
           for f in ("protocol=fold1", "protocol=fold2")}
  assert [r["protocol"] for r in folds.values()] == [
      "synthetic_au/disfa_like_tiny:fold1", "synthetic_au/disfa_like_tiny:fold2"]
  for m in ("auc", "icc"):
    vals = [r["test"]["mean"][m] for r in folds.values()]
    assert summary["mean"][m]["mean"] == pytest.approx(np.mean(vals))
    assert summary["mean"][m]["n"] == 2
  assert "| **mean** |" in open(os.path.join(root, "sweep.md")).read()
  # A rerun reuses the finished folds (no training: the workdirs are untouched).
  before = os.path.getmtime(os.path.join(root, "protocol=fold1", "metrics.jsonl"))
  sweep.run("configs/gudi_synthetic.py", "runlocal,steps=2", "protocol", ["fold1", "fold2"], root)
  assert os.path.getmtime(os.path.join(root, "protocol=fold1", "metrics.jsonl")) == before


def test_loso_expands_to_every_subject(tiny_data_dir, monkeypatch):
  monkeypatch.setenv("AU_JAX_DATA_DIR", tiny_data_dir)
  values = sweep.expand("configs/gudi_synthetic.py", "runlocal", "protocol", ["loso"])
  assert values == [f"loso:D0{i}" for i in range(1, 7)]


def test_loso75_expands_to_every_subject_and_the_config_adds_its_split_seed(
    tiny_data_dir, monkeypatch):
  monkeypatch.setenv("AU_JAX_DATA_DIR", tiny_data_dir)
  values = sweep.expand("configs/gudi_synthetic.py", "runlocal", "protocol", ["loso75"])
  assert values == [f"loso75:D0{i}" for i in range(1, 7)]
  from configs import multilabel_disfa
  config = multilabel_disfa.get_config("split_seed=2,protocol=loso75:SN003")
  assert config.data.sources[0]["protocol"] == "loso75:SN003:2"


def test_a_reused_fold_reports_the_retrained_model_when_there_is_one(tmp_path):
  def report(auc):
    return {"test": {"mean": {"auc": auc}, "per_au": {"AU01": {"auc": auc}}}}
  for fold, retrained in (("a", True), ("b", False)):
    wd = tmp_path / f"fold={fold}"
    (wd / "retrain").mkdir(parents=True)
    (wd / "report.json").write_text(json.dumps(report(0.5)))
    if retrained:
      (wd / "retrain" / "report.json").write_text(json.dumps(report(0.9)))
    (wd / "sweep_done").write_text("1\n")
  summary = sweep.run("configs/gudi_synthetic.py", "", "fold", ["a", "b"], str(tmp_path))
  assert summary["mean"]["auc"]["mean"] == pytest.approx(0.7)


def test_the_command_line_registers_the_builders_launch_py_registers():
  """`python -m au_jax.sweep` builds a dataset on first use as launch.py does:
  it imports the same tfds_builders modules."""
  import ast
  import os

  from au_jax import sweep
  from tests.conftest import ROOT
  tree = ast.parse(open(os.path.join(ROOT, "launch.py")).read())
  launched = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
              and n.module == "tfds_builders" for a in n.names}
  assert launched and set(sweep.BUILDERS) == launched
