"""Metrics against independent references: pingouin, scikit-learn, scipy, brute force."""
import warnings

import numpy as np
import pandas as pd
import pingouin
import pytest
import scipy.stats
from sklearn import metrics as skm

from au_jax import metrics as M


def _pingouin_icc3(a, b):
  n = len(a)
  df = pd.DataFrame({"target": np.r_[np.arange(n), np.arange(n)],
                     "rater": ["truth"] * n + ["pred"] * n, "score": np.r_[a, b]})
  with warnings.catch_warnings():   # pingouin's own pandas deprecations
    warnings.simplefilter("ignore")
    table = pingouin.intraclass_corr(df, targets="target", raters="rater", ratings="score")
  # Shrout & Fleiss ICC(3,1): "ICC3" in pingouin < 0.7, "ICC(C,1)" from 0.7 on.
  table = table.set_index("Type")["ICC"]
  return float(table["ICC(C,1)"] if "ICC(C,1)" in table else table["ICC3"])


@pytest.mark.parametrize("seed", range(4))
def test_intensity_scalars_match_references(seed):
  rng = np.random.default_rng(seed)
  y = rng.integers(0, 6, 80).astype(float)
  p = y * rng.uniform(0.3, 1.2) + rng.normal(scale=1.0, size=80) + rng.uniform(-1, 1)
  assert M.icc31(y, p) == pytest.approx(_pingouin_icc3(y, p), abs=1e-10)
  assert M.pcc(y, p) == pytest.approx(scipy.stats.pearsonr(y, p)[0], abs=1e-12)
  assert M.mae(y, p) == pytest.approx(skm.mean_absolute_error(y, p), abs=1e-12)
  assert M.mse(y, p) == pytest.approx(skm.mean_squared_error(y, p), abs=1e-12)


def test_icc_is_consistency_not_agreement():
  y = np.arange(10.0)
  assert M.icc31(y, y + 3) == pytest.approx(1.0)       # an offset does not matter (ICC3)
  assert M.icc31(y, 2 * y) == pytest.approx(_pingouin_icc3(y, 2 * y), abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_occurrence_scalars_match_sklearn(seed):
  rng = np.random.default_rng(seed)
  y = rng.random(200) < rng.uniform(0.1, 0.6)
  s = np.round(y * 0.3 + rng.random(200), 1)        # rounding makes many ties
  pred = s >= 0.6
  assert M.f1(y, pred) == pytest.approx(skm.f1_score(y, pred), abs=1e-12)
  assert M.precision(y, pred) == pytest.approx(skm.precision_score(y, pred), abs=1e-12)
  assert M.recall(y, pred) == pytest.approx(skm.recall_score(y, pred), abs=1e-12)
  assert M.accuracy(y, pred) == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
  assert M.phi(y, pred) == pytest.approx(skm.matthews_corrcoef(y, pred), abs=1e-12)
  assert M.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)


def test_auc_is_2afc_with_half_ties():
  rng = np.random.default_rng(0)
  y = rng.random(60) < 0.4
  s = rng.integers(0, 5, 60).astype(float)
  pos, neg = s[y], s[~y]
  two_afc = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (
      len(pos) * len(neg))
  assert M.roc_auc(y, s) == pytest.approx(two_afc, abs=1e-12)


def test_undefined_values_are_nan():
  const, ramp = np.ones(5), np.arange(5.0)
  assert np.isnan(M.pcc(const, ramp)) and np.isnan(M.pcc([1.0], [2.0]))
  assert np.isnan(M.icc31(const, const)) and np.isnan(M.icc31([1.0], [1.0]))
  assert np.isnan(M.mae([], [])) and np.isnan(M.accuracy([], []))
  zeros = np.zeros(6)
  assert np.isnan(M.f1(zeros, zeros))
  assert M.f1([0, 1, 1], [0, 0, 0]) == 0.0            # defined: there are true positives
  assert np.isnan(M.roc_auc(zeros, ramp[:5].tolist() + [9]))
  assert np.isnan(M.phi(zeros, [0, 1, 0, 1, 0, 1]))
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ref = skm.f1_score(zeros, zeros, zero_division=np.nan)
  assert np.isnan(ref)
  with pytest.raises(ValueError, match="same length"):
    M.mae([1, 2], [1, 2, 3])


def test_per_au_metrics_mask_unknown_labels():
  rng = np.random.default_rng(5)
  n, a = 300, 4
  inten = rng.integers(0, 6, (n, a))
  pred = inten + rng.normal(scale=1.0, size=(n, a))
  inten[rng.random((n, a)) < 0.2] = -1
  inten[:, 3] = -1                                   # an AU never coded
  out = M.intensity_metrics(inten, pred)
  assert set(out) == {"icc", "mae", "mse", "pcc"}
  for k in range(3):
    m = inten[:, k] >= 0
    assert out["icc"][k] == pytest.approx(_pingouin_icc3(inten[m, k], pred[m, k]), abs=1e-10)
    assert out["pcc"][k] == pytest.approx(scipy.stats.pearsonr(inten[m, k], pred[m, k])[0])
    assert out["mae"][k] == pytest.approx(np.abs(inten[m, k] - pred[m, k]).mean())
  assert all(np.isnan(v[3]) for v in out.values())

  occ = rng.integers(-1, 2, (n, a))
  prob = np.clip(0.5 * (occ == 1) + 0.6 * rng.random((n, a)), 0, 1)
  thr = np.array([0.3, 0.5, 0.6, 0.7])
  res = M.occurrence_metrics(occ, prob, thr)
  for k in range(a):
    m = occ[:, k] >= 0
    y, p = occ[m, k], prob[m, k] >= thr[k]
    assert res["f1"][k] == pytest.approx(skm.f1_score(y, p))
    assert res["accuracy"][k] == pytest.approx(skm.accuracy_score(y, p))
    assert res["phi"][k] == pytest.approx(skm.matthews_corrcoef(y, p))
    assert res["auc"][k] == pytest.approx(skm.roc_auc_score(y, prob[m, k]))
  np.testing.assert_allclose(M.occurrence_metrics(occ, prob, 0.5)["f1"],
                             M.occurrence_metrics(occ, prob, np.full(a, 0.5))["f1"])


@pytest.mark.parametrize("metric", ["f1", "accuracy", "phi"])
@pytest.mark.parametrize("seed", range(3))
def test_tune_thresholds_matches_brute_force(metric, seed):
  rng = np.random.default_rng(seed)
  n, a = 120, 3
  occ = (rng.random((n, a)) < [0.1, 0.3, 0.6]).astype(int)
  occ[rng.random((n, a)) < 0.1] = -1
  score = np.round(0.4 * (occ == 1) + rng.random((n, a)), 2)   # ties included
  fn = {"f1": M.f1, "accuracy": M.accuracy, "phi": M.phi}[metric]
  thr = M.tune_thresholds(occ, score, metric=metric)
  for k in range(a):
    m = occ[:, k] >= 0
    y, s = occ[m, k], score[m, k]
    cands = np.r_[np.unique(s), s.max() + 1]          # every distinct "score >= t" rule
    brute = np.nanmax([fn(y, s >= c) for c in cands])
    assert fn(y, s >= thr[k]) == pytest.approx(brute, abs=1e-12)
    # Midpoint rule: the threshold sits strictly between observed scores.
    assert not np.isin(thr[k], s)


def test_tune_thresholds_midpoint_and_degenerate_aus():
  y = np.array([[0, -1], [0, -1], [1, 0], [1, 0]])
  s = np.array([[0.1, 0.2], [0.2, 0.3], [0.6, 0.4], [0.8, 0.5]])
  thr = M.tune_thresholds(y, s, default=0.42)
  assert thr[0] == pytest.approx(0.4)              # between 0.2 and 0.6
  assert thr[1] == 0.42                            # no positives: F1 undefined, default
  with pytest.raises(ValueError, match="metric"):
    M.tune_thresholds(y, s, metric="auc")


def test_phi_matrix_matches_pairwise_phi():
  rng = np.random.default_rng(7)
  n, a = 200, 5
  base = rng.random((n, 1))
  lab = (rng.random((n, a)) < 0.3 + 0.4 * base).astype(int)
  lab[rng.random((n, a)) < 0.15] = -1
  lab[:, 4] = np.where(lab[:, 4] >= 0, 1, -1)     # constant AU: NaN row/column
  phi = M.phi_matrix(lab)
  assert phi.shape == (a, a)
  np.testing.assert_allclose(phi, phi.T, equal_nan=True)
  for i in range(4):
    assert phi[i, i] == pytest.approx(1.0)
    for j in range(4):
      m = (lab[:, i] >= 0) & (lab[:, j] >= 0)
      assert phi[i, j] == pytest.approx(skm.matthews_corrcoef(lab[m, i], lab[m, j]), abs=1e-12)
  assert np.isnan(phi[4]).all() and np.isnan(phi[:, 4]).all()


def test_finite_mean_is_numpys_nanmean_without_the_warning():
  import warnings

  from au_jax import metrics as M
  assert M.finite_mean([1.0, np.nan, 3.0, np.inf]) == np.nanmean([1.0, np.nan, 3.0])
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    assert np.isnan(M.finite_mean([np.nan, np.nan]))
