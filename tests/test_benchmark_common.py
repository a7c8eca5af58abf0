"""benchmarks/common.py: the intervals against scipy and statsmodels, the verdict rule,
the atomic JSON writer."""
import json
import os

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.weightstats import DescrStatsW

from benchmarks import common


@pytest.mark.parametrize("diffs,verdict", [([0.1, 0.12, 0.08, 0.11, 0.09], "holds"),
                                           ([-0.1, -0.12, -0.08], "reversed"),
                                           ([0.1, -0.1, 0.05], "not shown"),
                                           ([0.3], "not shown")])
def test_t_interval_is_statsmodels_t_interval_and_the_verdict_follows_it(diffs, verdict):
  out = common.t_interval(diffs)
  assert out["verdict"] == verdict
  if len(diffs) > 1:
    lo, hi = DescrStatsW(np.asarray(diffs)).tconfint_mean(alpha=0.05)
    np.testing.assert_allclose(out["ci95"], [lo, hi], rtol=1e-9)
  assert common.t_interval([-d for d in diffs], direction=-1)["verdict"] == verdict


def test_paired_t_interval_agrees_with_scipy_ttest_rel():
  rng = np.random.default_rng(0)
  a = rng.normal(0.5, 0.1, 7)
  b = a - rng.normal(0.03, 0.05, 7)
  out = common.t_interval(a - b)
  res = stats.ttest_rel(a, b)
  ci = res.confidence_interval(0.95)
  np.testing.assert_allclose(out["ci95"], [ci.low, ci.high], rtol=1e-9)
  # the interval excludes 0 exactly when the two-sided paired test rejects at 5 %
  assert (out["verdict"] != "not shown") == (res.pvalue < 0.05)
  half = stats.t.ppf(0.975, 6) * np.std(a - b, ddof=1) / np.sqrt(7)
  np.testing.assert_allclose(out["ci95"][1] - out["mean"], half, rtol=1e-12)


def test_mean_interval_drops_non_finite_values_and_has_no_verdict():
  out = common.mean_interval([0.2, float("nan"), 0.4, 0.3, None])
  assert out["n"] == 3 and out["per_seed"] == [0.2, 0.4, 0.3]
  ci = stats.t.interval(0.95, 2, loc=0.3, scale=stats.sem([0.2, 0.4, 0.3]))
  np.testing.assert_allclose(out["ci95"], ci, rtol=1e-9)
  assert "verdict" not in out
  assert np.isnan(common.mean_interval([1.0])["half"])


def test_write_json_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
  path = str(tmp_path / "sub" / "r.json")
  common.write_json(path, {"a": 1})
  common.write_json(path, {"b": [1, 2]})
  assert json.load(open(path)) == {"b": [1, 2]}
  assert os.listdir(tmp_path / "sub") == ["r.json"]
  assert common.read_json(str(tmp_path / "missing.json"), {}) == {}


def test_by_seed_groups_runs():
  runs = [{"seed": 1, "name": "a"}, {"seed": 0, "name": "b"}, {"seed": 1, "name": "b"}]
  assert common.by_seed(runs) == {1: {"a": runs[0], "b": runs[2]}, 0: {"b": runs[1]}}
