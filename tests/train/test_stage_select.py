"""A stage's `select` flag: its validation evaluations are logged, never selected."""
from __future__ import annotations

import pytest

from au_jax.errors import ConfigValueError
from au_jax.io import read_jsonl
from au_jax import experiment
from au_jax.train import schedule, selection
from tests.conftest import tiny_config


def test_select_flag_is_parsed_and_checked():
  stages = [dict(name="a", steps=2, select=False), dict(name="b", steps=3)]
  segs = schedule.build_schedule(dict(stages=stages, repeat=1), ("cnn",))
  assert [s.select for s in segs] == [False, True]
  with pytest.raises(ConfigValueError, match=r"stages\[0\]\.select"):
    schedule.build_schedule(dict(stages=[dict(steps=2, select="no")], repeat=1), ("cnn",))


@pytest.mark.slow
def test_unselectable_stage_is_evaluated_but_never_selected(tiny_data_dir, tmp_path,
                                                          monkeypatch):
  offered = []   # steps whose validation value reached the selection
  update = selection.Selection.update
  monkeypatch.setattr(selection.Selection, "update",
                      lambda self, value, step, force=False: (offered.append(step),
                                                              update(self, value, step, force))[1])
  config = tiny_config("configs.gudi_synthetic", tiny_data_dir, "runlocal,steps=4")
  first = dict(config.train.stages[0])
  config.train.stages = [dict(first, name="warm", steps=4, select=False),
                         dict(first, name="main", steps=4)]
  config.train.eval_every = 2
  config.train.select_metric = "auc"
  report = experiment.train_and_evaluate(config, str(tmp_path))
  recs = read_jsonl(tmp_path / "metrics.jsonl")
  val = {r["step"]: r["auc"] for r in recs if r["split"] == "validation"}
  assert sorted(val) == [2, 4, 6, 8]          # both stages are evaluated and logged
  assert offered == [6, 8]                     # only "main"'s evaluations are candidates
  best = max((6, 8), key=lambda s: (val[s], -s))          # first of the best, stage "main" only
  assert report["selection"]["step"] == best
  assert [r["step"] for r in recs if r["split"] == "selection"][0] >= 6
