"""Frank-copula pairwise potentials of the Copula CNN (Walecki et al., CVPR 2017).

For two AUs r, s with ordinal marginals (see `ordinal.py`), the joint pmf is
obtained from a copula C_theta applied to the marginal CDFs at the level
boundaries, by inclusion-exclusion (Eqs. 6-7; code levels a, b are 0-based):

  Pr(y_r = a, y_s = b) = C(u_{r,a+1}, u_{s,b+1}) - C(u_{r,a}, u_{s,b+1})
                         - C(u_{r,a+1}, u_{s,b}) + C(u_{r,a}, u_{s,b}),

which is the pairwise potential V of Eq. 8, with the Frank copula (Eq. 9)

  C_theta(u, v) = -1/theta * log(1 + (e^{-theta u} - 1)(e^{-theta v} - 1)
                                      / (e^{-theta} - 1)).

theta > 0 is positive, theta < 0 negative dependence; theta -> 0 gives
independence C = u v (the ordinal model of Eq. 4, as the paper notes).

Paper symbol -> code name:
  theta_{r,s}          -> `theta` [P] (or [D, P] per dataset, Eq. 12)
  (r, s) in E          -> `pairs` [P, 2] int (AU indices into the A axis)
  u_{q,k} = F(z_{q,k}) -> `u` [B, A, L+1] (from `ordinal.cumulative`)
  V(y_r, y_s) (Eq. 8)  -> `pairwise_tables(...)` [B, P, L, L]
"""
from __future__ import annotations

import itertools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# Below |theta| < SERIES_THETA, C is evaluated by its Taylor series in theta
# (exact at theta = 0, with the right d/dtheta); above, by the closed form.
# 0.05 balances the series truncation (theta^3 term ~ 4e-4 theta^3) against the
# float32 cancellation of d/dtheta of log1p(w)/theta (~ eps / theta).
SERIES_THETA = 0.05


def frank_cdf(u: jax.Array, v: jax.Array, theta: jax.Array) -> jax.Array:
  """Frank copula C_theta(u, v) of Eq. 9, elementwise with broadcasting.

  Finite values and finite gradients (in u, v and theta) in float32 for
  |theta| <= 50 (tested; ~80 before exp(-theta) underflows) and u, v anywhere
  in [0, 1], edges included. Three regimes, joined by "double where" so the
  unselected regimes only ever see safe arguments:

  - |theta| < SERIES_THETA: C = uv + theta g/2 + theta^2 g (1-2u)(1-2v)/12
    + O(theta^3), g = uv(1-u)(1-v) (derived by expanding Eq. 9; the theta^3
    coefficient is below 0.01 g). theta == 0 returns u*v exactly, and
    dC/dtheta = g/2 there.
  - otherwise C = -log1p(w)/theta with w = a (b / c), a = expm1(-theta u),
    b = expm1(-theta v), c = expm1(-theta): b/c is in [0, 1] and is evaluated
    without forming e^{|theta|} (see below), so nothing overflows for negative
    theta, gradients included, and w keeps full relative precision.
  - theta > 0 and 1 + w < 1/2 (strong positive dependence, u, v near 1):
    1 + w cancels catastrophically, so use the exact rearrangement
    1 + w = [e^{-theta u}(1 - e^{-theta v}) + e^{-theta v}(1 - e^{-theta(1-v)})]
            / (1 - e^{-theta}),
    a sum of two non-negative terms (no cancellation).

  Args:
    u, v: CDF values in [0, 1], broadcastable.
    theta: dependence parameter, broadcastable; 0 allowed (independence).

  Returns:
    C_theta(u, v), broadcast shape, in [max(u + v - 1, 0), min(u, v)] up to rounding.
  """
  u, v, theta = jnp.broadcast_arrays(*(jnp.asarray(x, jnp.result_type(float, x))
                                       for x in (u, v, theta)))
  small = jnp.abs(theta) < SERIES_THETA
  # Series (Taylor in theta around 0).
  ts = jnp.where(small, theta, 0.0)
  g = u * v * (1 - u) * (1 - v)
  c_series = u * v + ts * g / 2 + ts**2 * g * (1 - 2 * u) * (1 - 2 * v) / 12
  # Closed form, Eq. 9.
  td = jnp.where(small, 1.0, theta)
  # b / c, rewritten for theta < 0 as e^{theta(1-v)} expm1(theta v) / expm1(theta)
  # so that neither it nor its gradient (which has c^2 = e^{2|theta|}) overflows.
  ta = jnp.abs(td)
  b_over_c = (jnp.exp(-jax.nn.relu(-td) * (1 - v))
              * (jnp.expm1(-ta * v) / jnp.expm1(-ta)))
  w = jnp.expm1(-td * u) * b_over_c
  tail = (~small) & (theta > 0) & (w < -0.5)
  log1pw_direct = jnp.log1p(jnp.where(tail, 0.0, w))
  tt = jnp.where(tail, theta, 1.0)
  n = (jnp.exp(-tt * u) * -jnp.expm1(-tt * v)
       + jnp.exp(-tt * v) * -jnp.expm1(-tt * (1 - v)))
  log1pw_tail = jnp.log(n) - jnp.log(-jnp.expm1(-tt))
  c_closed = -jnp.where(tail, log1pw_tail, log1pw_direct) / td
  return jnp.where(small, c_series, c_closed)


def joint_table(u_r: jax.Array, u_s: jax.Array, theta: jax.Array) -> jax.Array:
  """Pr(y_r = a, y_s = b) for all level pairs, Eqs. 7-8 with the Frank copula.

  Inclusion-exclusion of C_theta at the level-boundary CDF values. Rounding in
  float32 can leave cells at about -1e-7 where the true value is ~0; they are
  clipped to 0 (a probability cannot be negative; the clip moves the table's
  sum by at most that much). Rows/columns sum to the marginals
  u_{r,a+1} - u_{r,a} because C(u, 1) = u and C(1, v) = v hold to rounding.

  Args:
    u_r: [L+1] boundary CDF values of AU r (u_0 = 0, u_L = 1).
    u_s: [L+1] boundary CDF values of AU s.
    theta: scalar dependence theta_{r,s}.

  Returns:
    [L, L] joint probabilities (rows: level of r, columns: level of s).
  """
  c = frank_cdf(u_r[:, None], u_s[None, :], theta)  # [L+1, L+1]
  p = c[1:, 1:] - c[:-1, 1:] - c[1:, :-1] + c[:-1, :-1]
  return jnp.maximum(p, 0.0)


def pairwise_tables(u: jax.Array, theta: jax.Array, pairs: jax.Array) -> jax.Array:
  """Joint tables of all AU pairs of a batch (vmapped `joint_table`).

  Args:
    u: [B, A, L+1] boundary CDF values (`ordinal.cumulative`).
    theta: [P] shared, or [B, P] per example (dataset-specific theta, Eq. 12).
    pairs: [P, 2] int AU indices (r, s).

  Returns:
    [B, P, L, L] with [b, p, i, j] = Pr(y_r = i, y_s = j | x_b).
  """
  pairs = jnp.asarray(pairs)
  theta = jnp.broadcast_to(theta, u.shape[:1] + pairs.shape[:1])
  u_r, u_s = u[:, pairs[:, 0]], u[:, pairs[:, 1]]  # [B, P, L+1]
  return jax.vmap(jax.vmap(joint_table))(u_r, u_s, theta)


def all_pairs(num_aus: int) -> tuple[tuple[int, int], ...]:
  """All (r, s) with r < s: the fully connected CRF graph of the paper."""
  return tuple(itertools.combinations(range(num_aus), 2))


class FrankPairwise(nn.Module):
  """Frank-copula pairwise potentials with one theta per AU pair (and dataset).

  theta = theta_max * tanh(raw): bounded so that training can never leave the
  range where `frank_cdf` is verified stable (|theta| <= 50), smooth, and
  initialised at raw = 0, i.e. theta = 0 = independence (CCNN starts as OCNN).
  Kendall's tau of a Frank copula is 0.82 at theta = 20, 0.92 at 50.

  For multi-dataset learning (Eq. 12) the unaries are shared, but each dataset
  h has its own dependencies P_h(y_r, y_s): params are [num_datasets, P] and
  each example selects its dataset's row.

  Attributes:
    num_aus: A.
    pairs: the CRF edges E, ((r, s), ...); default: all pairs r < s.
    theta_max: bound on |theta|.
    num_datasets: D (1 = single dataset).
  """
  num_aus: int
  pairs: Sequence[tuple[int, int]] | None = None
  theta_max: float = 20.0
  num_datasets: int = 1

  def edge_list(self) -> np.ndarray:
    """[P, 2] int32 array of the CRF edges."""
    pairs = all_pairs(self.num_aus) if self.pairs is None else self.pairs
    return np.asarray(pairs, np.int32).reshape(-1, 2)

  @nn.compact
  def __call__(self, u: jax.Array, dataset: jax.Array | None = None
               ) -> tuple[jax.Array, jax.Array]:
    """Pairwise joint tables.

    Args:
      u: [B, A, L+1] boundary CDF values.
      dataset: [B] int dataset ids in [0, D); None = dataset 0.

    Returns:
      (tables [B, P, L, L], theta [B, P]).
    """
    pairs = self.edge_list()
    raw = self.param("theta_raw", nn.initializers.zeros,
                     (self.num_datasets, len(pairs)))
    theta_all = self.theta_max * jnp.tanh(raw)  # [D, P]
    if dataset is None:
      dataset = jnp.zeros(u.shape[:1], jnp.int32)
    theta = theta_all[dataset]  # [B, P]
    return pairwise_tables(u, theta, pairs), theta
