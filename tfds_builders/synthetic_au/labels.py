"""Dependence helpers of synthetic_au: Kendall tau-b of ordinal labels and the
Frank copula theta with a given tau.

(The 1.x latent Gaussian label model lived here; 2.0 draws labels from the
expression model, expressions.py, and 1.x is retired.)
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from au_jax.aus import MAX_INTENSITY


def table_tau_b(p: np.ndarray) -> float:
  """Kendall tau-b of two ordinal variables from their joint cell probabilities
  p[i, j] = P(a = i, b = j) (NaN when either is constant)."""
  # above[i, j] = P(a > i, b > j); below[i, j] = P(a > i, b < j).
  tail = p[::-1, ::-1].cumsum(0).cumsum(1)[::-1, ::-1]
  above = np.zeros_like(p)
  above[:-1, :-1] = tail[1:, 1:]
  low = p[::-1].cumsum(0)[::-1].cumsum(1)
  below = np.zeros_like(p)
  below[:-1, 1:] = low[1:, :-1]
  concordant, discordant = 2 * (p * above).sum(), 2 * (p * below).sum()
  ties = np.sqrt((1 - (p.sum(1) ** 2).sum()) * (1 - (p.sum(0) ** 2).sum()))
  return float((concordant - discordant) / ties) if ties > 0 else float("nan")



# --- dependence summaries: Kendall tau and the Frank copula with that tau ----

def debye1(x: float) -> float:
  """Debye function D1(x) = (1/x) int_0^x t / (e^t - 1) dt (D1(0) = 1)."""
  if abs(x) < 1e-8:
    return 1.0
  f = lambda t: t / np.expm1(t) if t != 0 else 1.0
  from scipy import integrate  # scipy costs ~0.5 s of every launch.py start: only here
  return integrate.quad(f, 0.0, x)[0] / x


def frank_tau(theta: float) -> float:
  """Kendall tau of the Frank copula: 1 - 4/theta (1 - D1(theta))."""
  if abs(theta) < 1e-8:
    return 0.0
  return 1.0 - 4.0 / theta * (1.0 - debye1(theta))


def frank_theta_from_tau(tau: float) -> float:
  """The Frank copula theta whose Kendall tau is `tau` (|tau| < 1)."""
  if not np.isfinite(tau) or abs(tau) < 1e-10:
    return 0.0
  tau = float(np.clip(tau, -0.995, 0.995))
  hi = 1.0
  while abs(frank_tau(hi)) < abs(tau):
    hi *= 2
  from scipy import optimize  # lazy: see debye1
  theta = optimize.brentq(lambda t: frank_tau(t) - abs(tau), 1e-6, hi, xtol=1e-10)
  return float(np.sign(tau) * theta)  # Frank: tau(-theta) = -tau(theta)


def dependence_summary(y: np.ndarray, aus: Sequence[int]) -> dict:
  """Empirical dependence and marginals of intensities y: [N, A] (0..5).

  Returns JSON-friendly lists: `kendall_tau` and `frank_theta` [A][A]
  (tau-b over all N frames; diagonal 1 / null, null where an AU is constant),
  and `marginals` [A][6] = P(y = 0..5).
  """
  from scipy import stats  # lazy: see debye1
  y = np.asarray(y)
  a = len(aus)
  tau = [[1.0 if i == j else None for j in range(a)] for i in range(a)]
  theta = [[None] * a for _ in range(a)]
  for i in range(a):
    for j in range(i + 1, a):
      t = stats.kendalltau(y[:, i], y[:, j]).statistic
      if np.isfinite(t):
        tau[i][j] = tau[j][i] = round(float(t), 4)
        theta[i][j] = theta[j][i] = round(frank_theta_from_tau(t), 4)
  marg = [[round(float(np.mean(y[:, i] == l)), 5) for l in range(MAX_INTENSITY + 1)]
          for i in range(a)]
  return dict(kendall_tau=tau, frank_theta=theta, marginals=marg)
