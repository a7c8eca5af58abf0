"""Retrain on train + validation after model selection (Gudi et al., Sec. IV-C)."""
import json
import os

import numpy as np
import pytest

from au_jax import evaluate
from au_jax.data import sources
from au_jax import experiment
from au_jax.train import retrain
from tests.conftest import tiny_config


def test_stages_are_cut_after_the_selected_step():
  cfg = dict(repeat=2, stages=[dict(name="a", steps=3), dict(name="q", fit="qda")])
  assert retrain.truncated_stages(cfg, 8) == [dict(name="a", steps=3), dict(name="q", fit="qda"),
                                              dict(name="a", steps=3), dict(name="q", fit="qda")]
  assert retrain.truncated_stages(cfg, 6) == [dict(name="a", steps=3), dict(name="q", fit="qda"),
                                              dict(name="a", steps=2)]
  with pytest.raises(ValueError, match="past"):
    retrain.truncated_stages(cfg, 9)


@pytest.mark.slow
def test_retrain_uses_train_plus_validation_the_selected_steps_and_the_first_thresholds(
    tiny_data_dir, tmp_path):
  config = tiny_config("configs.gudi_synthetic", tiny_data_dir)
  workdir = str(tmp_path)
  first = experiment.train_and_evaluate(config, workdir)
  with open(os.path.join(workdir, "report.json")) as f:
    first_json = f.read()
  selected = first["selection"]["step"]
  report = retrain.run(config, workdir, first)

  # the training split holds every train and validation record
  rcfg = retrain.retrain_config(config, first)
  n = {s: len(sources.load_split(config.data, s).index) for s in ("train", "validation")}
  assert len(sources.load_split(rcfg.data, "train").index) == n["train"] + n["validation"]
  assert report["retrain"]["train_records"] == n["train"] + n["validation"]
  assert len(sources.load_split(rcfg.data, "validation").index) == n["validation"]
  # it ran the first run's selected number of steps, without selection
  rdir = os.path.join(workdir, "retrain")
  with open(os.path.join(rdir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  assert max(r["step"] for r in rows if r["split"] == "train") == selected == report["steps"]
  assert not any(r["split"] in ("validation", "selection") for r in rows)
  assert report["selection"] == {"metric": None, "step": selected, "value": None,
                                 "evaluations": 0, "eval_every": 0}
  # test was scored with the first run's thresholds (written to disk too)
  assert report["thresholds"] == first["thresholds"]
  on_disk = json.load(open(os.path.join(rdir, "report.json")))
  assert on_disk["thresholds"] == first["thresholds"]
  assert [r["threshold"] for r in on_disk["test"]["per_au"].values()] == first["thresholds"]
  with np.load(os.path.join(rdir, "test_predictions.npz")) as z:
    preds = {"occurrence": z["occurrence"], "intensity": z["intensity"]}
  info_parts = sources.load_data_info(config.data)
  expected = evaluate.split_metrics(preds, sources.load_split(config.data, "test").index,
                                    info_parts[0], first["thresholds"])
  assert report["test"]["mean"] == pytest.approx(expected["mean"], nan_ok=True)
  # a different model from the first run's, and the first report untouched
  assert not np.allclose(preds["occurrence"],
                         np.load(os.path.join(workdir, "test_predictions.npz"))["occurrence"])
  with open(os.path.join(workdir, "report.json")) as f:
    assert f.read() == first_json
