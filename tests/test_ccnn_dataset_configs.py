"""The CCNN licensed-dataset configs run end to end (runlocal) on fixture-built data.

As tests/test_dataset_configs.py: the DISFA fixture tree holds SN001 and
SN002; protocol fold1 needs a subject in train (SN002), validation (SN001)
and test, so SN001's files are copied under the fold1 test id SN003. The
BP4D fixture (FERA 2015 protocol) is the one of tests/test_dataset_configs.py.
"""
import json

import numpy as np
import pytest

from au_jax import aus
from au_jax.data import sources
from au_jax import experiment
from tests.conftest import tiny_config
from tests.test_ccnn_lambda import brute_force_choice
from tests.fixtures import raw_trees as rt
from tests.test_dataset_configs import bp4d_data_dir  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow   # every test here trains end to end


def build_disfa_fixture(tmp_path) -> str:
  """The generated DISFA tree with SN001 copied to SN003 (a test subject), built; its data dir."""
  facts = rt.make_disfa(tmp_path / "raw")
  rt.copy_disfa_subject(facts["root"], "SN001", "SN003")
  data_dir = str(tmp_path / "data")
  sources.get_builder("disfa", data_dir, manual_dir=str(facts["root"]))
  return data_dir


def test_ccnn_disfa_runlocal_on_disfa_fixture(tmp_path, monkeypatch):
  """The default (lam=tune) goes through the paper's per-AU lambda tuning:
  one run per lambda of the runlocal grid, the choice on validation, the
  final run with it; a rerun reuses the grid runs."""
  data_dir = build_disfa_fixture(tmp_path)
  # it=false: one jitted step (the IT stages are covered on synthetic data).
  config = tiny_config("configs.ccnn_disfa", data_dir, "runlocal,it=false")
  config.train.batch_size = 4   # a fixture's training split: 6+ records
  workdir = tmp_path / "run"
  report = experiment.train_and_evaluate(config, str(workdir))
  assert tuple(report["aus"]) == aus.DISFA_AUS
  test = report["test"]
  assert test["n"] == 8                                   # SN003 = SN001's 8 coded frames
  assert {au for au, r in test["per_au"].items() if "mae" in r} == {
      f"AU{a:02d}" for a in aus.DISFA_AUS}
  assert np.isfinite(test["mean"]["mae"])

  grid = list(config.lambda_tuning.grid)
  chosen = json.loads((workdir / "lambda_tuning" / "lambdas.json").read_text())
  assert chosen["grid"] == grid and len(chosen["lambda"]) == len(aus.DISFA_AUS)
  runs = {lam: json.loads((workdir / "lambda_tuning" / f"lam_{lam:g}" / "report.json").read_text())
          for lam in grid}
  table = np.array([[runs[lam]["validation"]["per_au"][f"AU{a:02d}"].get("icc", np.nan)
                     for lam in grid] for a in aus.DISFA_AUS], float)
  assert chosen["lambda"] == brute_force_choice(grid, table)     # validation only
  saved = json.loads((workdir / "config.json").read_text())     # the final run's config
  assert saved["model"]["unary_l2"] == chosen["lambda"] and "lambda_tuning" not in saved
  for lam in grid:
    sub = json.loads((workdir / "lambda_tuning" / f"lam_{lam:g}" / "config.json").read_text())
    assert sub["model"]["unary_l2"] == lam
  assert list(report["lambda_tuning"]["lambda"].values()) == chosen["lambda"]
  assert "tuned on validation icc" in (workdir / "report.md").read_text()
  assert "lambda_tuning" in json.loads((workdir / "report.json").read_text())

  # rerun: the grid runs are reused, only the final workdir goes to the engine
  from au_jax.models.ccnn import lambda_tuning
  calls = []
  monkeypatch.setattr(lambda_tuning.retrain, "train_and_retrain", lambda c, wd: calls.append(wd)
                      or json.loads((workdir / "report.json").read_text()))
  again = lambda_tuning.train_and_evaluate(config, str(workdir))
  assert calls == [str(workdir)]
  assert list(again["lambda_tuning"]["lambda"].values()) == chosen["lambda"]


def test_ccnn_fera2015_runlocal_on_bp4d_fixture(bp4d_data_dir, tmp_path):
  # 5 intensity AUs: MAP decoding takes the exact-enumeration path.
  # lam=1e-4: one training (the lambda tuning is run by the DISFA test above)
  config = tiny_config("configs.ccnn_fera2015", bp4d_data_dir, "runlocal,it=false,lam=1e-4")
  config.train.batch_size = 4   # a fixture's training split: 6+ records
  report = experiment.train_and_evaluate(config, str(tmp_path / "run"))
  assert tuple(report["aus"]) == aus.FERA2015_INT_AUS
  assert report["test"]["n"] == 8
  scored = {au for au, r in report["test"]["per_au"].items() if "mae" in r}
  assert "AU06" in scored and scored <= {f"AU{a:02d}" for a in aus.FERA2015_INT_AUS}


def test_ccnn_multi_runlocal_on_three_fixture_datasets(bp4d_data_dir, tmp_path):
  """CCNN-IT(*): DISFA + BP4D + UNBC in one model (Eq. 12), on fixtures."""
  disfa = rt.make_disfa(tmp_path / "raw_disfa")
  rt.copy_disfa_subject(disfa["root"], "SN001", "SN003")
  sources.get_builder("disfa", bp4d_data_dir, manual_dir=str(disfa["root"]))
  unbc = rt.make_unbc(tmp_path / "raw_unbc")
  sources.get_builder("unbc_mcmaster", bp4d_data_dir, manual_dir=str(unbc["root"]))
  config = tiny_config("configs.ccnn_multi", bp4d_data_dir, "runlocal,it=false,lam=1e-4")
  config.train.batch_size = 4   # a fixture's training split: 6+ records
  report = experiment.train_and_evaluate(config, str(tmp_path / "run"))
  assert report["datasets"] == ["disfa", "bp4d", "unbc_mcmaster"]
  # the union AU list starts with DISFA's and adds the others' AUs
  assert tuple(report["aus"][:12]) == aus.DISFA_AUS
  assert set(aus.FERA2015_INT_AUS) <= set(report["aus"])
  npz = np.load(tmp_path / "run" / "test_predictions.npz")
  assert npz["intensity"].shape == (report["test"]["n"], len(report["aus"]))
  assert np.isfinite(report["test"]["mean"]["mae"])
