"""CCNN's report: the true dependence graph beside the learned one, theta recovery
(rank correlation over pairs and per pair), and the learned graph alone where the
dataset states no truth; on fake workdirs, checked against scipy and by hand."""
import json

import numpy as np
import pytest
from scipy import stats

from au_jax import viz
from au_jax.models.ccnn import report as ccnn_report

AUS = (1, 2, 4, 6)
PAIRS = np.array([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]])
# The dataset codes AUs 1, 2, 4 only: pairs with AU6 have no truth.
DEP = {"aus": [1, 2, 4],
       "frank_theta": [[0, 8.0, -2.0], [8.0, 0, 0.0], [-2.0, 0.0, 0]],
       "kendall_tau": [[1, .6, -.2], [.6, 1, 0.0], [-.2, 0.0, 1]]}
THETA = np.array([3.0, 1.5, 9.0, -0.5, 2.0, -4.0])


def test_recovery_per_pair_and_rank_correlation():
  cmp = ccnn_report.theta_vs_truth(THETA, PAIRS, AUS, DEP, DEP["aus"])
  rows = {r["pair"]: r for r in cmp["rows"]}
  assert list(rows) == ["1-2", "1-4", "2-4"] and cmp["n_pairs"] == 3
  assert rows["1-4"]["true_theta"] == -2.0 and rows["1-4"]["theta"] == 1.5
  # rank 1 = most positive: learned 3.0 > 1.5 > -0.5, true 8 > 0 > -2
  assert [rows[p]["rank_theta"] for p in ("1-2", "1-4", "2-4")] == [1, 2, 3]
  assert [rows[p]["rank_true_theta"] for p in ("1-2", "1-4", "2-4")] == [1, 3, 2]
  # signs: 1-2 agree (+, +), 1-4 disagree (+, -), 2-4 true theta 0: not counted
  assert rows["1-2"]["sign_agrees"] is True and rows["1-4"]["sign_agrees"] is False
  assert rows["2-4"]["sign_agrees"] is None and cmp["sign_agreement"] == 0.5
  ref = stats.spearmanr([3.0, 1.5, -0.5], [8.0, -2.0, 0.0]).statistic
  assert cmp["spearman_theta"] == pytest.approx(ref)
  assert cmp["spearman_tau"] == pytest.approx(stats.spearmanr([3.0, 1.5, -0.5],
                                                              [.6, -.2, 0.0]).statistic)


def test_true_theta_aligned_with_the_model_pairs():
  t = ccnn_report.true_theta_of_pairs(PAIRS, AUS, DEP, DEP["aus"])
  assert np.array_equal(np.isnan(t), [False, False, True, False, True, True])
  assert t[0] == 8.0 and t[1] == -2.0 and t[3] == 0.0


def _workdir(tmp_path):
  (tmp_path / "report.json").write_text(json.dumps(
      {"aus": list(AUS), "datasets": ["synthetic_au/disfa_like"]}))
  (tmp_path / "config.json").write_text(json.dumps(
      {"model": {"variant": "ccnn"},
       "data": {"sources": [{"name": "synthetic_au/disfa_like"}], "data_dir": "/nowhere"}}))
  rng = np.random.default_rng(0)
  true = rng.integers(0, 6, (20, 4))
  np.savez(tmp_path / "test_predictions.npz", intensity_true=true,
           intensity_map=np.clip(true + rng.integers(-1, 2, true.shape), 0, 5),
           intensity_expected=true + rng.normal(0, .5, true.shape))
  return tmp_path


def _panels(monkeypatch):
  drawn, draw = [], viz.dependency_graphs
  monkeypatch.setattr(viz, "dependency_graphs",
                      lambda panels, *a, **k: drawn.append((panels, k)) or draw(panels, *a, **k))
  monkeypatch.setattr(ccnn_report, "learned_theta", lambda wd: (THETA[None], PAIRS))
  return drawn


def test_report_draws_truth_beside_learned(tmp_path, monkeypatch):
  wd = _workdir(tmp_path)
  drawn = _panels(monkeypatch)
  monkeypatch.setattr(ccnn_report, "true_dependence", lambda src, data_dir: (DEP, ""))
  out = ccnn_report.ccnn_outputs(str(wd))
  (panels, _), = drawn
  assert panels[0][0].startswith("true") and len(panels) == 2
  assert np.array_equal(panels[1][1], THETA)
  assert panels[0][1][0] == 8.0 and np.isnan(panels[0][1][2])
  assert (wd / "plots" / "dependency_graph_0.png").stat().st_size > 0
  cmp = out["theta_vs_truth"]["synthetic_au/disfa_like"]
  assert cmp["sign_agreement"] == 0.5 and "no_true_dependence" not in out
  md = (wd / "ccnn_report.md").read_text()
  assert "Theta recovery" in md and "| 1-4 | 1.50 | -2.00 | -0.20 | 2 | 3 | no |" in md
  saved = json.loads((wd / "ccnn_report.json").read_text())
  assert saved["theta_vs_truth"]["synthetic_au/disfa_like"]["rows"][0]["rank_theta"] == 1


class _Info:
  """A licensed dataset's metadata: no dependence."""
  metadata = None


class _Builder:
  info = _Info


def test_report_without_truth_draws_learned_only_and_says_so(tmp_path, monkeypatch):
  wd = _workdir(tmp_path)
  drawn = _panels(monkeypatch)
  monkeypatch.setattr(_Info, "metadata", {"aus": [1, 2, 4, 6]})
  monkeypatch.setattr(ccnn_report.sources, "get_builder", lambda *a, **k: _Builder)
  out = ccnn_report.ccnn_outputs(str(wd))
  (panels, kwargs), = drawn
  assert len(panels) == 1 and panels[0][0].startswith("learned")
  assert "no true dependence" in kwargs["note"]
  assert "theta_vs_truth" not in out
  line = out["no_true_dependence"]["synthetic_au/disfa_like"]
  assert "states no true dependence" in line
  assert line in (wd / "ccnn_report.md").read_text()
  assert (wd / "plots" / "dependency_graph_0.png").exists()


def test_truth_lookup_never_builds_a_dataset(tmp_path):
  dep, why = ccnn_report.true_dependence("synthetic_au/disfa_like_tiny", str(tmp_path / "data"))
  assert dep is None and "cannot be read" in why
  assert not (tmp_path / "data" / "synthetic_au").exists()
