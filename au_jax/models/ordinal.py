"""Ordinal probit unary potentials of the Copula CNN (Walecki et al., CVPR 2017).

Each AU q is an ordinal variable with L intensity levels, observed through the
latent regression of Eq. 3,

  y*_q = beta_q . f_d(x, W) + eps_q,   eps_q ~ N(0, sigma_q^2),
  y_q = l  iff  psi_{q,l-1} < y*_q <= psi_{q,l},

with psi_{q,0} = -inf < psi_{q,1} < ... < psi_{q,L-1} < psi_{q,L} = +inf, so that
(Eq. 4, with z_{q,k} = (psi_{q,k} - beta_q . f_d) / sigma_q)

  Pr(y_q = l | f_d, phi_q) = Phi(z_{q,l}) - Phi(z_{q,l-1}),

which is the unary potential U of Eq. 5. The copula (Eqs. 6-9) needs the same
CDF at the level boundaries, u_{q,k} = Phi(z_{q,k}), k = 0..L (u_0 = 0, u_L = 1).

Levels are 0-based in code (intensity 0..5 -> level index 0..L-1); the paper's
level l in 1..L is code level l - 1.

Paper symbol -> code name:
  f_d(x, W)          -> `x` (input features [B, F] of the module)
  beta_q             -> `beta` (kernel [F, A] of a bias-free Dense: all AUs at once)
  beta_q . f_d       -> `f` [B, A]
  psi_{q,1..L-1}     -> `psi` [A, L-1] (strictly increasing along the last axis)
  sigma_q            -> `sigma` [A] (> 0)
  phi_q              -> {beta_q, psi_q, sigma_q}
  z_{q,k}            -> `z` [B, A, L-1]
  u_{q,k} = Phi(z)   -> `cdf` [B, A, L+1]
"""
from __future__ import annotations

from statistics import NormalDist
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import log_ndtr, ndtr

# Strict positivity margins of the constrained parameters. A threshold gap of
# 1e-3 keeps psi strictly increasing in float32 for |psi| < ~1e4.
MIN_GAP = 1e-3
MIN_SIGMA = 1e-3
# |z| beyond this changes no probability representable in float32 (Phi(-40) ~
# 1e-350) and keeps log_ndtr's asymptotic branch away from overflow.
Z_CLIP = 1e3


def thresholds(psi_raw: jax.Array) -> jax.Array:
  """Unconstrained parameters -> strictly increasing thresholds psi (Eq. 3).

  psi_1 = raw_1 and psi_k = psi_{k-1} + softplus(raw_k) + MIN_GAP, so the order
  psi_1 < ... < psi_{L-1} holds for ANY raw values (not only at a good init).

  Args:
    psi_raw: [..., L-1] unconstrained.

  Returns:
    psi: [..., L-1] strictly increasing along the last axis.
  """
  incr = jax.nn.softplus(psi_raw[..., 1:]) + MIN_GAP
  return jnp.concatenate(
      [psi_raw[..., :1], psi_raw[..., :1] + jnp.cumsum(incr, axis=-1)], axis=-1)


def thresholds_inverse(psi: np.ndarray) -> np.ndarray:
  """Inverse of `thresholds` (numpy), for initialising at given thresholds."""
  psi = np.asarray(psi, np.float64)
  gaps = np.diff(psi, axis=-1) - MIN_GAP
  if np.any(gaps <= 0):
    raise ValueError(f"thresholds must increase by more than {MIN_GAP}: {psi}")
  return np.concatenate([psi[..., :1], gaps + np.log(-np.expm1(-gaps))], axis=-1)


def scale(sigma_raw: jax.Array) -> jax.Array:
  """Unconstrained -> sigma = softplus(raw) + MIN_SIGMA > 0 (Eq. 3 noise std)."""
  return jax.nn.softplus(sigma_raw) + MIN_SIGMA


def standardized_thresholds(f: jax.Array, psi: jax.Array, sigma: jax.Array) -> jax.Array:
  """z_{q,k} = (psi_{q,k} - f_q) / sigma_q of Eq. 4.

  Args:
    f: [B, A] projections beta_q . f_d.
    psi: [A, L-1] increasing thresholds.
    sigma: [A] noise scales.

  Returns:
    z: [B, A, L-1], clipped to +-Z_CLIP (no effect on any float32 probability).
  """
  z = (psi[None] - f[..., None]) / sigma[None, :, None]
  return jnp.clip(z, -Z_CLIP, Z_CLIP)


def level_log_probs(f: jax.Array, psi: jax.Array, sigma: jax.Array) -> jax.Array:
  """log Pr(y_q = l | f_d, phi_q) of Eq. 4, for every AU and level.

  Computed in log space (log_ndtr) so that tail levels keep accurate, finite
  log-probabilities and gradients in float32 even when Phi itself underflows.
  Inner levels use log(Phi(b) - Phi(a)) = log Phi(b) + log(1 - exp(log Phi(a)
  - log Phi(b))), with intervals in the upper half reflected (Phi(b) - Phi(a)
  = Phi(-a) - Phi(-b)) so the subtraction is always between the smaller tail
  masses. One log_ndtr call covers all terms (it is a large graph to compile).

  Args:
    f: [B, A] projections beta_q . f_d.
    psi: [A, L-1] increasing thresholds.
    sigma: [A] noise scales.

  Returns:
    [B, A, L] log-probabilities; logsumexp over the last axis is 0.
  """
  z = standardized_thresholds(f, psi, sigma)
  a, b = z[..., :-1], z[..., 1:]  # inner level l: (z_{l-1}, z_l]
  flip = a + b > 0
  lo, hi = jnp.where(flip, -b, a), jnp.where(flip, -a, b)
  # First level: Phi(z_1) - 0; last level: 1 - Phi(z_{L-1}) = Phi(-z_{L-1}).
  n = a.shape[-1]
  logs = log_ndtr(jnp.concatenate([lo, hi, z[..., :1], -z[..., -1:]], axis=-1))
  la, lb = logs[..., :n], logs[..., n:2 * n]
  # d <= 0; capping at -1e-30 (a == b after rounding) keeps log and its gradient
  # finite: the interval then gets probability ~1e-30 * Phi(b), not exactly 0.
  d = jnp.minimum(la - lb, -1e-30)
  near = d > -0.6931472
  # Each branch only sees arguments where it is finite ("double where"), so
  # the unselected branch cannot put NaN into the gradient.
  log1mexp = jnp.where(near, jnp.log(-jnp.expm1(jnp.where(near, d, -1.0))),
                       jnp.log1p(-jnp.exp(jnp.where(near, -1.0, d))))
  return jnp.concatenate([logs[..., 2 * n:2 * n + 1], lb + log1mexp, logs[..., 2 * n + 1:]],
                         axis=-1)


def cumulative(f: jax.Array, psi: jax.Array, sigma: jax.Array) -> jax.Array:
  """CDF values u_{q,k} = Phi(z_{q,k}) at the L+1 level boundaries (Eq. 6).

  u_{q,0} = 0 and u_{q,L} = 1 exactly; these are the copula arguments of the
  inclusion-exclusion in Eqs. 6-7, and u_{q,l} - u_{q,l-1} = Pr(y_q = l).

  Args:
    f: [B, A] projections beta_q . f_d.
    psi: [A, L-1] increasing thresholds.
    sigma: [A] noise scales.

  Returns:
    u: [B, A, L+1], non-decreasing along the last axis, in [0, 1].
  """
  u = ndtr(standardized_thresholds(f, psi, sigma))
  zeros = jnp.zeros(u.shape[:-1] + (1,), u.dtype)
  # Monotone even where float32 rounds neighbouring Phi values together.
  u = jax.lax.cummax(u, axis=u.ndim - 1)
  return jnp.concatenate([zeros, u, zeros + 1], axis=-1)


def l2_penalty(beta: jax.Array, psi: jax.Array, sigma: jax.Array,
               lam: float | jax.Array = 1.0) -> jax.Array:
  """lambda ||phi||_2^2 of Eq. 11, with a per-AU lambda_q as in Alg. 1 step 2.

  Follows the paper literally: phi_q = {psi_q, beta_q, sigma_q}, all squared.

  Args:
    beta: [F, A] projection kernel.
    psi: [A, L-1] thresholds.
    sigma: [A] scales.
    lam: scalar or [A] per-AU weights lambda_q.

  Returns:
    scalar sum_q lambda_q (||beta_q||^2 + ||psi_q||^2 + sigma_q^2).
  """
  per_au = jnp.sum(beta**2, axis=0) + jnp.sum(psi**2, axis=-1) + sigma**2
  return jnp.sum(jnp.broadcast_to(lam, per_au.shape) * per_au)


class OrdinalOutput(NamedTuple):
  """What `OrdinalUnary` returns (a pytree).

  Attributes:
    f: [B, A] projections beta_q . f_d (the latent mean of Eq. 3).
    psi: [A, L-1] increasing thresholds.
    sigma: [A] noise scales.
    log_probs: [B, A, L] log Pr(y_q = l) (Eq. 4).
    cdf: [B, A, L+1] u_{q,k} at the level boundaries (copula input, Eq. 6).
  """
  f: jax.Array
  psi: jax.Array
  sigma: jax.Array
  log_probs: jax.Array
  cdf: jax.Array


class OrdinalUnary(nn.Module):
  """Ordinal probit unary layer of CCNN / OCNN (Eqs. 3-5), all AUs at once.

  Params: `beta` (bias-free Dense kernel [F, A]; a bias would be redundant with
  the thresholds), `psi_raw` [A, L-1] (see `thresholds`), `sigma_raw` [A]
  (see `scale`). At init sigma = 1 and psi = Phi^{-1}(k / L), so that with
  f ~ 0 all levels start equally likely.

  Attributes:
    num_aus: A.
    num_levels: L (6 for FACS intensity 0..5).
  """
  num_aus: int
  num_levels: int = 6

  @nn.compact
  def __call__(self, x: jax.Array) -> OrdinalOutput:
    """x: [B, F] features f_d(x, W) -> OrdinalOutput."""
    a, l = self.num_aus, self.num_levels
    f = nn.Dense(a, use_bias=False, name="beta",
                 kernel_init=nn.initializers.lecun_normal())(x)
    # standard normal quantiles (the standard library's: scipy would cost
    # ~0.2 s of every prediction's start-up for this one call)
    quantiles = [NormalDist().inv_cdf(q) for q in np.arange(1, l) / l]
    psi0 = thresholds_inverse(np.array(quantiles))
    psi_raw = self.param("psi_raw", lambda _, s: jnp.broadcast_to(
        jnp.asarray(psi0, jnp.float32), s), (a, l - 1))
    sigma_raw = self.param("sigma_raw", nn.initializers.constant(
        float(np.log(np.expm1(1.0 - MIN_SIGMA)))), (a,))
    psi, sigma = thresholds(psi_raw), scale(sigma_raw)
    f = f.astype(jnp.float32)
    return OrdinalOutput(f=f, psi=psi, sigma=sigma,
                         log_probs=level_log_probs(f, psi, sigma),
                         cdf=cumulative(f, psi, sigma))


def unary_l2(params: dict, lam: float | jax.Array = 1.0) -> jax.Array:
  """`l2_penalty` on the constrained parameters of an `OrdinalUnary` params dict."""
  return l2_penalty(params["beta"]["kernel"], thresholds(params["psi_raw"]),
                    scale(params["sigma_raw"]), lam)
