"""benchmarks/theta_recovery.py without training: Kendall's tau-b against a
plain loop over all pairs, the residual dependence, one seed's figures by
hand, and the workroot scan on made-up run files."""
import itertools
import json
import math

import numpy as np
import pytest

from benchmarks import theta_recovery as T


def _tau_b_loop(x, y):
  conc = disc = tx = ty = 0
  for i, j in itertools.combinations(range(len(x)), 2):
    dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    conc += dx * dy > 0
    disc += dx * dy < 0
    tx += dx != 0
    ty += dy != 0
  return (conc - disc) / math.sqrt(tx * ty)


def test_tau_b_matches_a_loop_over_all_pairs_with_ties():
  rng = np.random.default_rng(0)
  for _ in range(5):
    x = rng.integers(0, 4, 40).astype(float)
    y = x + rng.integers(-2, 3, 40)
    assert T.kendall_tau_b(x, y) == pytest.approx(_tau_b_loop(x, y), abs=1e-12)
  x = np.array([1.0, 2.0, np.nan, 4.0, 5.0])
  y = np.array([2.0, 1.0, 3.0, np.nan, 6.0])
  assert T.kendall_tau_b(x, y) == pytest.approx(_tau_b_loop([1, 2, 5], [2, 1, 6]))
  assert math.isnan(T.kendall_tau_b([1, 1, 1], [1, 2, 3]))


def test_residual_dependence_uses_the_frames_coding_both_aus():
  y = np.array([[0, 1], [2, 2], [3, -1], [5, 4], [1, 0]])
  e = np.array([[.5, .5], [1.0, 2.5], [2.0, 2.0], [4.0, 3.0], [1.5, 1.0]])
  label, resid = T.pair_dependence(y, e, 0, 1)
  keep = [0, 1, 3, 4]
  assert label == pytest.approx(_tau_b_loop(y[keep, 0], y[keep, 1]))
  assert resid == pytest.approx(_tau_b_loop(y[keep, 0] - e[keep, 0], y[keep, 1] - e[keep, 1]))


def test_seed_row_by_hand():
  rng = np.random.default_rng(1)
  n, aus = 60, [1, 2, 4]
  y = rng.integers(0, 6, (n, 3))
  e = np.clip(y + rng.normal(0, 1, (n, 3)), 0, 5)
  rows = [{"pair": "1-2", "theta": 3.0, "kendall_tau": 0.5},
          {"pair": "1-4", "theta": -1.0, "kendall_tau": 0.1},
          {"pair": "2-4", "theta": 0.5, "kendall_tau": -0.3},
          {"pair": "1-9", "theta": 9.0, "kendall_tau": 0.9}]      # AU9 not in the run
  got = T.seed_row(rows, {"intensity_true": y, "intensity_expected": e}, aus)
  assert got["n_pairs"] == 3 and got["n_strong"] == 2
  dep = {p: T.pair_dependence(y, e, *ij) for p, ij in
         (("1-2", (0, 1)), ("1-4", (0, 2)), ("2-4", (1, 2)))}
  resid = [dep[p][1] for p in ("1-2", "1-4", "2-4")]
  label = [dep[p][0] for p in ("1-2", "1-4", "2-4")]
  rank = lambda v: np.argsort(np.argsort(v))
  spearman = lambda a, b: np.corrcoef(rank(a), rank(b))[0, 1]   # no ties here
  assert got["spearman_theta_true"] == pytest.approx(spearman([3, -1, .5], [.5, .1, -.3]))
  assert got["spearman_theta_residual"] == pytest.approx(spearman([3, -1, .5], resid))
  share = (abs(resid[0]) + abs(resid[2])) / (abs(label[0]) + abs(label[2]))
  assert got["residual_share"] == pytest.approx(share)


def test_collect_reads_the_seeds_with_both_runs(tmp_path, capsys):
  rng = np.random.default_rng(2)
  rows = [{"pair": "1-2", "theta": 2.0, "kendall_tau": 0.4},
          {"pair": "1-4", "theta": 1.0, "kendall_tau": 0.2},
          {"pair": "2-4", "theta": -1.0, "kendall_tau": -0.1}]
  for seed in (0, 1, 3):
    c = tmp_path / f"ccnn_it_s{seed}"
    c.mkdir()
    (c / "ccnn_report.json").write_text(json.dumps(
        {"theta_vs_truth": {"synthetic_au/disfa_like": {"rows": rows}}}))
    if seed == 3:           # its OCNN-IT run is missing: not a seed of the table
      continue
    o = tmp_path / f"ocnn_it_s{seed}"
    o.mkdir()
    (o / "report.json").write_text(json.dumps({"aus": [1, 2, 4]}))
    y = rng.integers(0, 6, (30, 3))
    np.savez(o / "test_predictions.npz", intensity_true=y,
             intensity_expected=y + rng.normal(0, 1, (30, 3)))
  got = T.collect(str(tmp_path), "ccnn_it", "ocnn_it")
  assert sorted(got) == [0, 1]
  out = tmp_path / "tr.json"
  T.main([f"--workroot={tmp_path}", f"--out={out}"])
  saved = json.loads(out.read_text())
  assert saved["seeds"] == [0, 1]
  s = saved["summary"]["spearman_theta_residual"]
  assert s["n"] == 2 and s["mean"] == pytest.approx(
      np.mean([got[0]["spearman_theta_residual"], got[1]["spearman_theta_residual"]]))
  assert "| 1-2 | 0.40 |" in (tmp_path / "tr.md").read_text()
  with pytest.raises(SystemExit, match="no seed with both"):
    T.main([f"--workroot={tmp_path / 'none'}", f"--out={out}"])
