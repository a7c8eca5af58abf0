"""The heatmap licensed-dataset configs run end to end (runlocal) on fixture-built data.

The fixture builds are those of tests/test_dataset_configs.py (BP4D, FERA
2015 protocol) and tests/test_ccnn_dataset_configs.py (DISFA fold1, SN001
copied as the test subject SN003). One step each of a one-level hourglass on
one device, no validation during training: the plumbing, not the learning,
is under test; the figures hook is skipped (tested on synthetic data in
tests/models/test_heatmaps.py).
"""
import numpy as np
import pytest

from au_jax import aus
from au_jax.models import heatmaps  # noqa: F401  (registers the method)
from au_jax import experiment
from tests.conftest import tiny_config
from tests.test_ccnn_dataset_configs import build_disfa_fixture
from tests.test_dataset_configs import bp4d_data_dir  # noqa: F401  (fixture)


@pytest.fixture
def no_figures(monkeypatch):
  from au_jax.models.heatmaps import report
  monkeypatch.setattr(report, "write_report", lambda workdir: None)


def _run(config, workdir):
  config.train.batch_size = 4   # a fixture's training split: 6+ records
  # Compilation dominates a run this short: a one-level hourglass on one device.
  config.model.depth = 1
  config.num_devices = 1
  config.train.stages[0]["steps"] = 1
  config.train.update(eval_every=0, checkpoint_every=1, log_every=1)
  return experiment.train_and_evaluate(config, str(workdir))


@pytest.mark.slow
def test_heatmaps_fera2015_runlocal_on_bp4d_fixture(bp4d_data_dir, tmp_path, no_figures):
  config = tiny_config("configs.heatmaps_fera2015", bp4d_data_dir)
  assert config.train.optimizer.name == "rmsprop"
  report = _run(config, tmp_path / "run")
  assert tuple(report["aus"]) == aus.FERA2015_INT_AUS
  assert config.train.select_metric == "icc"
  test = report["test"]
  assert test["n"] == 8                                        # F002 + M002, 4 coded frames each
  assert "AU06" in {au for au, r in test["per_au"].items() if "icc" in r}
  assert np.isfinite(test["mean"]["mae"])


@pytest.mark.slow
def test_heatmaps_disfa_runlocal_on_disfa_fixture(tmp_path, no_figures):
  data_dir = build_disfa_fixture(tmp_path)
  report = _run(tiny_config("configs.heatmaps_disfa", data_dir), tmp_path / "run")
  assert tuple(report["aus"]) == aus.DISFA_AUS
  test = report["test"]
  assert test["n"] == 8                                   # SN003 = SN001's 8 coded frames
  assert {au for au, r in test["per_au"].items() if "mae" in r} == {
      f"AU{a:02d}" for a in aus.DISFA_AUS}
  assert np.isfinite(test["mean"]["mae"])
