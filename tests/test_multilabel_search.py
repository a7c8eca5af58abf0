"""benchmarks/multilabel_search.py: Sec. V's random search, resumable, ranked."""
import json
import os
import warnings

import numpy as np
import pytest

from benchmarks import multilabel_search as search


def test_draws_lie_in_the_papers_ranges_fit_the_input_and_follow_the_seed():
  draws = search.sample(200, seed=0, input_size=42)
  assert draws == search.sample(200, seed=0, input_size=42)
  assert draws[:5] != search.sample(5, seed=1, input_size=42)
  for d in draws:
    assert 5000 <= d["iterations"] <= 10000 and 0.5 <= d["momentum"] <= 0.9
    assert 1e-4 <= d["learning_rate"] <= 1e-2 and 5e-6 <= d["weight_decay"] <= 5e-3
    assert all(5 <= k <= 15 for k in d["kernels"]) and all(2 <= p <= 4 for p in d["pools"])
    assert search.fits(42, d["kernels"], d["pools"])
  assert not search.fits(42, (15, 15), (4, 4))          # 28 -> 7 -> no room for a 15 kernel
  # log-uniform: about half of the learning rates below the geometric midpoint 1e-3
  assert 0.35 < np.mean([d["learning_rate"] < 1e-3 for d in draws]) < 0.65


@pytest.mark.slow
def test_search_runs_n_trials_resumes_and_ranks_by_validation(tiny_data_dir, tmp_path):
  root = str(tmp_path / "search")
  spec = "configs/multilabel_synthetic.py:runlocal"
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    ranked = search.run(spec, 2, 0, root, iterations=(3, 4), data_dir=tiny_data_dir)
  assert sorted(r["trial"] for r in ranked) == [0, 1]
  vals = [r["validation"] for r in ranked]
  assert vals == sorted(vals, reverse=True) and ranked[0]["metric"] == "auc"
  for r in ranked:   # each trial trained its draw
    wd = r["workdir"]
    steps = [json.loads(x)["step"] for x in open(os.path.join(wd, "metrics.jsonl"))]
    assert max(steps) == r["draw"]["iterations"] + 1          # + the QDA fit
    cfg = json.load(open(os.path.join(wd, "trial.json")))
    assert cfg["draw"]["kernels"] == list(r["draw"]["kernels"])
  saved = json.load(open(os.path.join(root, "search.json")))
  assert [r["trial"] for r in saved["ranked"]] == [r["trial"] for r in ranked]
  assert "| 1 |" in open(os.path.join(root, "search.md")).read()
  # a rerun reuses the finished trials
  before = os.path.getmtime(os.path.join(ranked[0]["workdir"], "metrics.jsonl"))
  search.run(spec, 2, 0, root, iterations=(3, 4), data_dir=tiny_data_dir)
  assert os.path.getmtime(os.path.join(ranked[0]["workdir"], "metrics.jsonl")) == before
