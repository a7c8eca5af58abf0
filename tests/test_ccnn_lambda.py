"""lambda of Eq. 11 per AU, tuned on validation (au_jax.models.ccnn.lambda_tuning).

The selection is checked against a brute-force numpy argmax over a fake
validation table; the end-to-end run through the tuning (DISFA fixture,
ccnn_disfa:runlocal) is tests/test_ccnn_dataset_configs.py.
"""
import math

import numpy as np
import pytest

from au_jax.errors import ConfigValueError
from au_jax.models.ccnn import lambda_tuning as lt


def brute_force_choice(grid, table, sign=1.0):
  """Per AU (rows of `table` [A, G], NaN = no value; `grid` ascending), the
  grid value of the best sign * value, the first (smallest lambda) on a tie; an
  AU without a finite value takes the lambda of the best mean over AUs."""
  t = sign * np.asarray(table, float)
  means = np.array([np.mean(c[np.isfinite(c)]) if np.isfinite(c).any() else -np.inf
                    for c in t.T])
  fallback = grid[int(np.argmax(means))]
  return [grid[int(np.nanargmax(r))] if np.isfinite(r).any() else fallback for r in t]


def _reports(grid, table, test_table=None):
  labels = [f"AU{a:02d}" for a in range(1, table.shape[0] + 1)]
  out = {}
  for g, lam in enumerate(grid):
    split = lambda col: {"per_au": {a: {"icc": float(v), "mae": float(-v)}
                                    for a, v in zip(labels, col)}}
    out[lam] = {"aus": list(range(1, len(labels) + 1)), "validation": split(table[:, g]),
                "test": split((test_table if test_table is not None else table)[:, g])}
  return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_selection_is_the_validation_argmax(seed):
  rng = np.random.default_rng(seed)
  grid = [0.0, 1e-5, 1e-4, 1e-3, 1e-2]
  table = np.round(rng.uniform(-0.2, 0.8, (9, len(grid))), 1)   # coarse: many ties
  table[2, 1:] = table[2, 0]                     # a full tie -> the smallest lambda
  table[4, :] = np.nan                           # no finite value -> best mean lambda
  table[5, [0, 3]] = np.nan                      # some values missing
  reports = _reports(grid, table, test_table=rng.uniform(-1, 1, table.shape))
  sel = lt.select_lambdas(reports, "icc")
  assert sel["lambda"] == brute_force_choice(grid, table)
  assert sel["lambda"][2] == 0.0
  # lower-is-better metrics: mae = -icc here, so the same choice
  assert lt.select_lambdas(reports, "mae")["lambda"] == brute_force_choice(grid, -table, -1.0)
  assert lt.select_lambdas(reports, "mae")["lambda"] == sel["lambda"]
  table_t = {a: row for a, row in sel["validation"].items()}
  assert all(math.isnan(v) for v in table_t["AU05"].values())


def test_a_diverged_run_is_left_out_and_all_diverged_fails():
  grid = [1e-4, 1e-2]
  table = np.array([[0.1, 0.5], [0.4, 0.2]])
  reports = _reports(grid, table)
  reports[1e-2] = {"aus": [], "validation": {"per_au": {}}, "diverged": True}
  assert lt.select_lambdas(reports)["lambda"] == [1e-4, 1e-4]
  reports[1e-4] = reports[1e-2]
  with pytest.raises(ConfigValueError, match="diverged"):
    lt.select_lambdas(reports)


def test_tuning_spec_names_bad_values():
  assert lt.tuning_spec(dict(grid=(1e-2, 0, 1e-4))) == ((0.0, 1e-4, 1e-2), "icc")
  for spec, key in ((dict(grid=(1e-4,)), "grid"), (dict(grid=(0, -1)), "grid"),
                    (dict(grid=("a", 1)), "grid"), (dict(metric="f1"), "metric"),
                    (dict(grids=(0, 1)), "grids")):
    with pytest.raises(ConfigValueError, match=key):
      lt.tuning_spec(spec)


def test_real_data_configs_tune_by_default_and_synthetic_does_not():
  from configs import ccnn_disfa, ccnn_fera2015, ccnn_multi, ccnn_synthetic
  for m in (ccnn_disfa, ccnn_fera2015, ccnn_multi):
    assert tuple(m.get_config(None).lambda_tuning.grid) == ccnn_disfa.LAMBDA_GRID
    assert len(m.get_config("runlocal").lambda_tuning.grid) == 2
    scalar = m.get_config("lam=1e-3")
    assert "lambda_tuning" not in scalar and scalar.model.unary_l2 == 1e-3
  assert "lambda_tuning" not in ccnn_synthetic.get_config(None)
  with pytest.raises(ValueError, match="lam"):
    ccnn_disfa.get_config("lam=often")


def test_grid_runs_reuse_finished_runs_and_record_divergence(tmp_path, monkeypatch):
  """A fake engine: each call writes config.json + report.json (or diverges)."""
  import json

  from au_jax.train import loop
  from configs import ccnn_disfa
  config = ccnn_disfa.get_config("runlocal")
  calls = []

  def fake(cfg, wd):
    calls.append(wd)
    lam = float(cfg.model.unary_l2)
    (tmp_path / wd).mkdir(parents=True, exist_ok=True)
    (tmp_path / wd / "config.json").write_text(cfg.to_json_best_effort())
    if lam > 1e-3:
      raise loop.TrainingDiverged("loss exploded")
    (tmp_path / wd / "report.json").write_text(json.dumps(
        {"aus": [1], "validation": {"per_au": {"AU01": {"icc": lam}}}}))

  monkeypatch.setattr(lt.retrain, "train_and_retrain", fake)
  make = lambda lam: lt.with_lambda(config, lam)
  root = str(tmp_path / "root")
  reports = lt.grid_runs(make, (1e-4, 1e-2, 0.0), root, log=lambda m: None)
  assert len(calls) == 3 and reports[1e-2]["diverged"]
  assert lt.select_lambdas(reports)["lambda"] == [1e-4]
  lt.grid_runs(make, (0.0, 1e-4, 1e-2), root, log=lambda m: None)
  assert len(calls) == 3                                    # all reused, the diverged one too
  def changed(lam):   # another seed (a missing key would mean its default, the same run)
    cfg = lt.with_lambda(config, lam)
    cfg.seed = int(cfg.get("seed") or 0) + 1
    return cfg
  lt.grid_runs(changed, (0.0,), root, log=lambda m: None)   # another config: to the engine
  assert len(calls) == 4

  # the CLI (benchmarks/ccnn_tune_lambda.py) over the same functions: same flags and JSON
  import os

  from benchmarks import ccnn_tune_lambda as cli
  out = tmp_path / "lam.json"
  synthetic = os.path.join(os.path.dirname(__file__), "..", "configs", "ccnn_synthetic.py")
  cli.main([f"--config={synthetic}", "--config_arg=runlocal", "--grid=0,1e-4",
            f"--workroot={tmp_path / 'cli'}", f"--out={out}"])
  saved = json.loads(out.read_text())
  assert set(saved) == {"config", "config_arg", "grid", "selection", "workroot", "aus", "lambda",
                        "validation"}
  assert saved["lambda"] == [1e-4] and saved["grid"] == [0.0, 1e-4] and len(calls) == 6


def test_a_workdir_trained_with_one_lambda_is_refused_before_tuning(tmp_path):
  from au_jax.errors import WorkdirError
  from configs import ccnn_disfa
  config = ccnn_disfa.get_config("runlocal")
  old = ccnn_disfa.get_config("runlocal,lam=1e-4")          # the old default, one lambda
  (tmp_path / "config.json").write_text(old.to_json_best_effort())
  with pytest.raises(WorkdirError, match="unary_l2"):
    lt.train_and_evaluate(config, str(tmp_path))
  assert not (tmp_path / "lambda_tuning").exists()
