"""Per-AU Quadratic Discriminant Analysis on learned features, as fitted state.

The multi-label CNN of Ghosh et al. (ACII 2015) classifies each AU with a
QDA on the network's last hidden layer. `fit` (numpy, training split only)
estimates per AU and class (absent / present) the mean, the regularised
covariance and the prior; `log_odds` (jnp, inside the jitted predict) turns
features into log p(present) - log p(absent).

Covariance regularisation: Sigma = (1 - reg) * S + reg * I, with S the
maximum-likelihood class covariance (divided by n, as scikit-learn 1.9's
`QuadraticDiscriminantAnalysis`). This is scikit-learn's `reg_param` whenever a
class has more examples than feature dimensions (sklearn then uses the same
eigen-decomposition; with fewer it drops the null space, which we do not:
our Sigma stays full rank, so every feature direction counts).

An AU with fewer than `min_count` examples of a class in the training split
(no positive, one positive, ...) cannot have a class covariance: it falls
back to the prior alone (a constant score), with a warning naming the AU.
"""
from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np


def init(num_aus: int, dim: int) -> dict:
  """Zero arrays with the fitted shapes (the checkpoint template)."""
  return dict(mean=np.zeros((num_aus, 2, dim), np.float32),
              precision=np.zeros((num_aus, 2, dim, dim), np.float32),
              logdet=np.zeros((num_aus, 2), np.float32),
              log_prior=np.zeros((num_aus, 2), np.float32))


def fit(features: np.ndarray, labels: np.ndarray, *, reg: float = 1e-2, min_count: int = 2,
        au_names=None) -> dict:
  """QDA per AU. features [N, D]; labels int [N, A] in {0, 1}, -1 = unknown (skipped)."""
  x = np.asarray(features, np.float64)
  y = np.asarray(labels)
  n, d = x.shape
  a = y.shape[1]
  out = init(a, d)
  out = {k: v.astype(np.float64) for k, v in out.items()}
  for k in range(a):
    name = au_names[k] if au_names is not None else f"AU column {k}"
    valid = y[:, k] >= 0
    counts = np.array([(y[valid, k] == c).sum() for c in (0, 1)])
    # Empirical priors (as scikit-learn); Laplace-smoothed for the prior-only
    # fallback, so an AU never present gets a finite, very low score.
    out["log_prior"][k] = np.log(counts / counts.sum()) if counts.min() >= min_count else \
        np.log((counts + 1.0) / (counts.sum() + 2.0))
    if counts.min() < min_count:
      warnings.warn(f"QDA: {name} has {counts[1]} positive and {counts[0]} negative training "
                    f"examples (< {min_count} in a class): it scores by its prior only",
                    stacklevel=2)
      continue  # mean 0, precision 0, logdet 0: both classes differ by the prior alone
    for c in (0, 1):
      xc = x[valid & (y[:, k] == c)]
      mu = xc.mean(0)
      cov = np.cov(xc - mu, rowvar=False, bias=True).reshape(d, d)
      sigma = (1.0 - reg) * cov + reg * np.eye(d)
      sign, logdet = np.linalg.slogdet(sigma)
      if sign <= 0 or not np.isfinite(logdet):
        raise ValueError(f"QDA: the covariance of {name} (class {c}) is singular even after "
                         f"regularisation {reg}; raise the regulariser")
      out["mean"][k, c] = mu
      out["precision"][k, c] = np.linalg.inv(sigma)
      out["logdet"][k, c] = logdet
  return {k: v.astype(np.float32) for k, v in out.items()}


def log_odds(fitted: dict, features: jnp.ndarray) -> jnp.ndarray:
  """[B, A] log p(present | x) - log p(absent | x) under the fitted QDA."""
  diff = features[:, None, None, :] - fitted["mean"][None]          # [B, A, 2, D]
  maha = jnp.einsum("bacd,acde,bace->bac", diff, fitted["precision"], diff)
  score = -0.5 * (maha + fitted["logdet"][None]) + fitted["log_prior"][None]
  return score[..., 1] - score[..., 0]
