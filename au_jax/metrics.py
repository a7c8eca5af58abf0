"""The papers' AU metrics, computed once from all predictions of a split.

Pure numpy in float64. Intensity: ICC(3,1), MAE, MSE, PCC. Occurrence: F1,
accuracy, 2AFC (= ROC AUC), phi (= Matthews correlation), plus precision and
recall. Label arrays use -1 for "not coded / unknown": such entries are
masked out per AU. Never average these over batches: F1, ICC and PCC are not
means of per-batch values.

Undefined values are NaN rather than an arbitrary 0, so that summaries can
skip them (au_jax.evaluate averages over AUs only the finite values):

- `pcc`: fewer than 2 samples or a constant input.
- `icc31`: fewer than 2 samples, or both raters constant.
- `f1`, `precision`, `recall`: zero denominator (e.g. no positives at all).
- `roc_auc`: only one class present.
- `phi`: a constant input (a zero marginal).
- `mae`, `mse`, `accuracy`: no samples.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def _pair(a, b):
  a = np.asarray(a, np.float64).ravel()
  b = np.asarray(b, np.float64).ravel()
  if a.shape != b.shape:
    raise ValueError(f"inputs must have the same length, got {a.shape} and {b.shape}")
  return a, b


def _div(num, den):
  """num / den elementwise, NaN where den == 0 (no warnings)."""
  num, den = np.broadcast_arrays(np.asarray(num, np.float64), np.asarray(den, np.float64))
  out = np.full(num.shape, np.nan)
  np.divide(num, den, out=out, where=den != 0)
  return out if out.ndim else float(out)


# ---------------------------------------------------------------- intensity

def icc31(y_true, y_pred) -> float:
  """ICC(3,1) of Shrout & Fleiss (1979): two-way mixed, consistency, single rater.

  The n samples are the targets and (truth, prediction) the k = 2 raters:
  ICC(3,1) = (BMS - EMS) / (BMS + (k - 1) EMS), with BMS the between-targets
  and EMS the residual mean square of the two-way ANOVA.
  """
  y = np.stack(_pair(y_true, y_pred), 1)        # [n, k]
  n, k = y.shape
  if n < 2:
    return float("nan")
  grand = y.mean()
  ss_rows = k * ((y.mean(1) - grand) ** 2).sum()
  ss_cols = n * ((y.mean(0) - grand) ** 2).sum()
  ss_err = ((y - grand) ** 2).sum() - ss_rows - ss_cols
  bms = ss_rows / (n - 1)
  ems = ss_err / ((n - 1) * (k - 1))
  return _div(bms - ems, bms + (k - 1) * ems)


def mae(y_true, y_pred) -> float:
  """Mean absolute error; NaN for empty input."""
  a, b = _pair(y_true, y_pred)
  return float(np.abs(a - b).mean()) if a.size else float("nan")


def mse(y_true, y_pred) -> float:
  """Mean squared error; NaN for empty input."""
  a, b = _pair(y_true, y_pred)
  return float(((a - b) ** 2).mean()) if a.size else float("nan")


def pcc(y_true, y_pred) -> float:
  """Pearson correlation; NaN with < 2 samples or a constant input."""
  a, b = _pair(y_true, y_pred)
  if a.size < 2:
    return float("nan")
  a, b = a - a.mean(), b - b.mean()
  den = np.sqrt((a * a).sum() * (b * b).sum())
  return float(np.clip(_div((a * b).sum(), den), -1.0, 1.0))


# ---------------------------------------------------------------- occurrence

def _confusion(y_true01, y_pred01):
  t, p = _pair(y_true01, y_pred01)
  t, p = t > 0.5, p > 0.5
  tp = float((t & p).sum())
  fp = float((~t & p).sum())
  fn = float((t & ~p).sum())
  tn = float((~t & ~p).sum())
  return tp, fp, fn, tn


def f1(y_true01, y_pred01) -> float:
  """F1 of the positive class, 2TP / (2TP + FP + FN); NaN if no positives at all."""
  tp, fp, fn, _ = _confusion(y_true01, y_pred01)
  return _div(2 * tp, 2 * tp + fp + fn)


def precision(y_true01, y_pred01) -> float:
  """TP / (TP + FP); NaN without predicted positives."""
  tp, fp, _, _ = _confusion(y_true01, y_pred01)
  return _div(tp, tp + fp)


def recall(y_true01, y_pred01) -> float:
  """TP / (TP + FN); NaN without true positives."""
  tp, _, fn, _ = _confusion(y_true01, y_pred01)
  return _div(tp, tp + fn)


def accuracy(y_true01, y_pred01) -> float:
  """Fraction of agreements; NaN for empty input."""
  tp, fp, fn, tn = _confusion(y_true01, y_pred01)
  return _div(tp + tn, tp + fp + fn + tn)


def phi(a01, b01) -> float:
  """Phi coefficient of two binary variables (= Matthews correlation).

  NaN when either variable is constant (a zero marginal).
  """
  n11, n01, n10, n00 = _confusion(a01, b01)   # a is "truth", b "prediction"
  den = np.sqrt((n11 + n10) * (n01 + n00) * (n11 + n01) * (n10 + n00))
  return _div(n11 * n00 - n01 * n10, den)


def _average_ranks(x: np.ndarray) -> np.ndarray:
  """1-based ranks of x [n], ties getting their average rank. O(n log n)."""
  order = np.argsort(x, kind="stable")
  xs = x[order]
  starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
  counts = np.diff(np.r_[starts, len(xs)])
  avg = starts + (counts + 1) / 2.0          # mean of ranks start+1 .. start+count
  ranks = np.empty(len(x))
  ranks[order] = np.repeat(avg, counts)
  return ranks


def roc_auc(y_true01, score) -> float:
  """Area under the ROC curve = 2AFC score, ties counted 1/2.

  P(score of a random positive > score of a random negative) + 1/2 P(tie),
  via the Mann-Whitney U statistic on average ranks. NaN with one class only.
  """
  t, s = _pair(y_true01, score)
  pos = t > 0.5
  n_pos, n_neg = int(pos.sum()), int((~pos).sum())
  if n_pos == 0 or n_neg == 0:
    return float("nan")
  u = _average_ranks(s)[pos].sum() - n_pos * (n_pos + 1) / 2.0
  return float(u / (n_pos * n_neg))


# ---------------------------------------------------------------- per AU

def finite_mean(values) -> float:
  """Mean of the finite values (a per-AU metric undefined for some AUs); NaN
  when there is none, without numpy's empty-slice warning."""
  v = np.asarray(values, np.float64)
  ok = np.isfinite(v)
  return float(v[ok].mean()) if ok.any() else float("nan")


def _columns(true, pred):
  t = np.asarray(true)
  p = np.asarray(pred, np.float64)
  if t.ndim != 2 or t.shape != p.shape:
    raise ValueError(f"labels and predictions must both be [N, A], got {t.shape} and {p.shape}")
  return t, p


INTENSITY_METRICS: dict[str, Callable] = {"icc": icc31, "mae": mae, "mse": mse, "pcc": pcc}


def intensity_metrics(true, pred) -> dict[str, np.ndarray]:
  """Per-AU intensity metrics.

  Args:
    true: int [N, A] intensities 0-5; -1 (any negative) = unknown, masked.
    pred: float [N, A] predicted intensities.

  Returns:
    {"icc", "mae", "mse", "pcc"} -> float64 [A]; NaN for an AU without
    labels (or where the metric is undefined).
  """
  t, p = _columns(true, pred)
  out = {k: np.full(t.shape[1], np.nan) for k in INTENSITY_METRICS}
  for a in range(t.shape[1]):
    m = t[:, a] >= 0
    for k, fn in INTENSITY_METRICS.items():
      out[k][a] = fn(t[m, a], p[m, a])
  return out


def occurrence_metrics(true, prob, thresholds=0.5) -> dict[str, np.ndarray]:
  """Per-AU occurrence metrics.

  Args:
    true: int [N, A] in {-1, 0, 1}; -1 = not coded, masked.
    prob: float [N, A] scores (probabilities); predicted positive where
      `prob >= threshold` (the rule `tune_thresholds` optimises).
    thresholds: scalar or [A] decision thresholds.

  Returns:
    {"f1", "precision", "recall", "accuracy", "phi"} (of the thresholded
    prediction against the truth) and "auc" (2AFC of the raw scores) ->
    float64 [A].
  """
  t, s = _columns(true, prob)
  thr = np.broadcast_to(np.asarray(thresholds, np.float64), (t.shape[1],))
  names = ("f1", "precision", "recall", "accuracy", "phi")
  fns = (f1, precision, recall, accuracy, phi)
  out = {k: np.full(t.shape[1], np.nan) for k in names + ("auc",)}
  for a in range(t.shape[1]):
    m = t[:, a] >= 0
    ya, pa = t[m, a], s[m, a] >= thr[a]
    for k, fn in zip(names, fns):
      out[k][a] = fn(ya, pa)
    out["auc"][a] = roc_auc(ya, s[m, a])
  return out


# ---------------------------------------------------------------- thresholds

# Metrics of the rule "score >= t" as functions of the counts (tp, fp) at
# each candidate threshold, with p positives and n negatives in total. F1
# without any true positive label is 0 or 0/0 for every threshold: NaN, so
# the AU gets the default threshold instead of an arbitrary one.
_COUNT_METRICS: dict[str, Callable] = {
    "f1": lambda tp, fp, p, n: _div(2 * tp, (tp + fp + p) * (p > 0)),
    "accuracy": lambda tp, fp, p, n: _div(tp + n - fp, p + n),
    "phi": lambda tp, fp, p, n: _div(
        tp * (n - fp) - fp * (p - tp),
        np.sqrt(p * n * (tp + fp) * (p + n - tp - fp))),
}


def tune_thresholds(true, score, metric: str = "f1", default: float = 0.5) -> np.ndarray:
  """Per-AU decision thresholds that maximise `metric` on (validation) data.

  Exact: for the rule `score >= t` only the set of scores above t matters, so
  every distinct classifier is tried, from "no positive" to "all positive",
  with cumulative counts over the scores sorted once (O(n log n) per AU).
  The returned threshold is the midpoint between the lowest score predicted
  positive and the next lower distinct score, so unseen test scores close to
  the boundary do not flip on floating-point noise. At the ends (nothing or
  everything positive) it lies half a neighbouring gap beyond the extreme
  score (0.5 away when all scores are equal). Among equally good thresholds
  the highest is taken.

  Args:
    true: int [N, A] in {-1, 0, 1}; -1 masked.
    score: float [N, A].
    metric: "f1", "accuracy" or "phi".
    default: threshold for an AU where the metric is undefined everywhere
      (no labels; for F1 no positive label; for phi a single class).

  Returns:
    float64 [A] thresholds.
  """
  if metric not in _COUNT_METRICS:
    raise ValueError(f"unknown threshold metric {metric!r}; choose from {sorted(_COUNT_METRICS)}")
  t, s = _columns(true, score)
  out = np.full(t.shape[1], float(default))
  for a in range(t.shape[1]):
    m = (t[:, a] >= 0) & np.isfinite(s[:, a])
    if not m.any():
      continue
    ya, sa = t[m, a] > 0, s[m, a]
    order = np.argsort(-sa, kind="stable")
    ss, ys = sa[order], ya[order]
    # Ends of each group of equal scores in descending order: thresholding at
    # a group's value makes every score up to the group's end positive.
    last = np.r_[np.flatnonzero(ss[1:] != ss[:-1]), len(ss) - 1]
    values = ss[last]                                   # distinct, descending
    tp = np.r_[0.0, np.cumsum(ys)[last]]                # [m + 1], first = none positive
    fp = np.r_[0.0, last + 1 - tp[1:]]
    p, n = float(ys.sum()), float(len(ys) - ys.sum())
    val = np.asarray(_COUNT_METRICS[metric](tp, fp, p, n), np.float64)
    if not np.isfinite(val).any():
      continue
    best = int(np.nanargmax(val))                       # first = highest threshold
    # Candidate thresholds: above the max, then between consecutive values.
    gap = 0.5 * np.diff(values) if len(values) > 1 else np.array([])
    lo_gap = -gap[-1] if len(gap) else 0.5
    hi_gap = -gap[0] if len(gap) else 0.5
    cands = np.r_[values[0] + hi_gap, values[:-1] + gap, values[-1] - lo_gap]
    out[a] = cands[best]
  return out


# ---------------------------------------------------------------- dependencies

def phi_matrix(labels) -> np.ndarray:
  """Pairwise phi between AU occurrence columns (Ghosh et al. dependency plots).

  Args:
    labels: int [N, A] in {-1, 0, 1}; each pair (i, j) uses the rows where
      both AUs are coded.

  Returns:
    float64 [A, A], symmetric; NaN where a column is constant over the pair's
    rows (the diagonal is 1 for a non-constant AU).
  """
  lab = np.asarray(labels)
  if lab.ndim != 2:
    raise ValueError(f"labels must be [N, A], got shape {lab.shape}")
  v = (lab >= 0).astype(np.float64)
  x = (lab > 0).astype(np.float64)
  n = v.T @ v              # [A, A] rows where both are coded
  n11 = x.T @ x            # both positive
  ni = x.T @ v             # [i, j]: i positive, j coded
  nj = ni.T                # [i, j]: i coded, j positive
  den = np.sqrt(ni * (n - ni) * nj * (n - nj))
  return _div(n * n11 - ni * nj, den)
