"""The licensed-dataset configs run end to end (runlocal) on fixture-built data.

The fixture trees (tests/fixtures/raw_trees.py) hold two subjects; protocols
need a subject in each of train / validation / test, so extra subjects are
made by copying one subject's files under another id of the protocol.
"""

import pytest

from au_jax import aus
from au_jax.data import sources
from au_jax import experiment
from tests.conftest import tiny_config
from tests.fixtures import raw_trees as rt


@pytest.fixture
def bp4d_data_dir(tmp_path, monkeypatch):
  from au_jax.face import detect
  facts = rt.make_bp4d(tmp_path / "raw", "fera2015")
  rt.copy_bp4d_subject(facts["root"], "F002", "F003")   # FERA train
  rt.copy_bp4d_subject(facts["root"], "F002", "M002")   # FERA devel
  # The fixture's drawn face defeats Haar; give the detector its landmarks.
  monkeypatch.setattr(detect, "detect_landmarks",
                      lambda img, backend="auto": rt.face_landmarks())
  data_dir = str(tmp_path / "data")
  sources.get_builder("bp4d", data_dir, manual_dir=str(facts["root"]))
  return data_dir


@pytest.mark.slow
def test_gudi_fera2015_runlocal_on_bp4d_fixture(bp4d_data_dir, tmp_path):
  config = tiny_config("configs.gudi_fera2015", bp4d_data_dir)
  config.train.batch_size = 4   # a fixture's training split: 6+ records
  report = experiment.train_and_evaluate(config, str(tmp_path / "run"))
  assert tuple(report["aus"]) == aus.FERA2015_OCC_AUS        # AU24 of BP4D dropped
  test = report["test"]
  assert test["n"] == 8                                         # F002 + M002, 4 coded frames each
  with_intensity = {au for au, r in test["per_au"].items() if "icc" in r}
  assert with_intensity <= {"AU06", "AU10", "AU12", "AU14", "AU17"}
  assert "AU06" in with_intensity and "f1" in test["per_au"]["AU01"]
