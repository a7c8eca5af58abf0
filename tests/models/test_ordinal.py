"""Ordinal probit unaries (Eqs. 3-5) against scipy.stats.norm brute force."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

from au_jax.models import ordinal


def _reference_probs(f, psi, sigma):
  """float64 Eq. 4 with explicit -inf/+inf outer thresholds."""
  edges = np.concatenate([np.full(psi.shape[:-1] + (1,), -np.inf), psi,
                          np.full(psi.shape[:-1] + (1,), np.inf)], -1)
  z = (edges[None] - f[..., None]) / sigma[None, :, None]
  cdf = norm.cdf(z)
  # Upper-tail intervals through the survival function (no cancellation near 1).
  lower, upper = np.diff(cdf, axis=-1), -np.diff(norm.sf(z), axis=-1)
  return np.where(z[..., 1:] + z[..., :-1] > 0, upper, lower), cdf


def _random_problem(seed, b=7, a=4, l=6, scale=2.0):
  rng = np.random.default_rng(seed)
  psi_raw = rng.normal(0, scale, (a, l - 1)).astype(np.float32)
  sigma_raw = rng.normal(0, 1, (a,)).astype(np.float32)
  f = rng.normal(0, 3, (b, a)).astype(np.float32)
  psi = np.asarray(ordinal.thresholds(psi_raw), np.float64)
  sigma = np.asarray(ordinal.scale(sigma_raw), np.float64)
  return f, psi, sigma


@pytest.mark.parametrize("seed", range(3))
def test_level_log_probs_match_scipy(seed):
  f, psi, sigma = _random_problem(seed)
  ref, ref_cdf = _reference_probs(f.astype(np.float64), psi, sigma)
  args = (jnp.asarray(f), jnp.asarray(psi, jnp.float32), jnp.asarray(sigma, jnp.float32))
  probs = jnp.exp(jax.jit(ordinal.level_log_probs)(*args))
  np.testing.assert_allclose(probs, ref, atol=2e-6)
  np.testing.assert_allclose(jax.jit(ordinal.cumulative)(*args), ref_cdf, atol=2e-6)
  np.testing.assert_allclose(np.sum(probs, -1), 1.0, atol=1e-5)
  # log-probabilities keep relative accuracy where probabilities are tiny.
  logp = np.asarray(jax.jit(ordinal.level_log_probs)(*args))
  tiny = (ref < 1e-3) & (ref > 1e-300)
  np.testing.assert_allclose(logp[tiny], np.log(ref[tiny]), rtol=2e-4)


def test_extreme_features_finite_log_probs_and_grads():
  psi = jnp.asarray(np.linspace(-2, 2, 5)[None].repeat(3, 0), jnp.float32)
  sigma = jnp.asarray([0.01, 1.0, 50.0], jnp.float32)
  f = jnp.asarray([[-1e4, 0.0, 3e1], [1e4, 1e-3, -40.0]], jnp.float32)
  logp = jax.jit(ordinal.level_log_probs)(f, psi, sigma)
  assert np.all(np.isfinite(logp))
  np.testing.assert_allclose(jax.nn.logsumexp(logp, -1), 0.0, atol=1e-5)
  # Jacobian of every level's log-probability w.r.t. f, psi and sigma.
  jac = jax.jit(jax.jacrev(ordinal.level_log_probs, argnums=(0, 1, 2)))(f, psi, sigma)
  assert all(np.all(np.isfinite(x)) for x in jac)
  # Deep tail: log Phi(-30) via asymptotics, compared with scipy in float64.
  lp = jax.jit(ordinal.level_log_probs)(
      jnp.zeros((1, 1)), jnp.asarray([[30.0, 31.0]]), jnp.ones(1))
  np.testing.assert_allclose(lp[0, 0, 2], norm.logsf(31.0), rtol=1e-5)
  np.testing.assert_allclose(lp[0, 0, 1], np.log(norm.sf(30.0) - norm.sf(31.0)), rtol=1e-5)


def test_thresholds_always_increasing():
  rng = np.random.default_rng(0)
  for scale in (0.1, 10.0, 100.0):
    raw = jnp.asarray(rng.normal(0, scale, (200, 5)), jnp.float32)
    assert np.all(np.diff(np.asarray(ordinal.thresholds(raw)), axis=-1) > 0)
  # Increments far in the softplus underflow region still give a margin.
  raw = jnp.asarray([[3.0, -1e4, -1e4, -200.0, 50.0]])
  assert np.all(np.diff(np.asarray(ordinal.thresholds(raw))) >= 0.99e-3)
  psi = np.array([-1.0, -0.2, 0.5, 1.1, 3.0])
  np.testing.assert_allclose(ordinal.thresholds(ordinal.thresholds_inverse(psi)), psi, atol=1e-5)
  assert np.all(np.asarray(ordinal.scale(jnp.asarray([-1e4, 0.0, 1e4]))) > 0)


def test_module_shapes_init_and_penalty():
  m = ordinal.OrdinalUnary(num_aus=5, num_levels=6)
  x = jnp.zeros((3, 8))
  params = jax.jit(m.init)(jax.random.PRNGKey(0), x)["params"]
  assert params["beta"]["kernel"].shape == (8, 5)
  out = jax.jit(m.apply)({"params": params}, x)
  assert out.f.shape == (3, 5) and out.log_probs.shape == (3, 5, 6) and out.cdf.shape == (3, 5, 7)
  # At init, zero features give equally likely levels.
  np.testing.assert_allclose(jnp.exp(out.log_probs), 1 / 6, atol=1e-5)
  np.testing.assert_allclose(np.diff(out.cdf, axis=-1), jnp.exp(out.log_probs), atol=1e-6)
  pen = jax.jit(ordinal.unary_l2)(params, lam=jnp.arange(5.0))
  beta, psi, sigma = params["beta"]["kernel"], out.psi, out.sigma
  ref = sum(q * (np.sum(beta[:, q]**2) + np.sum(psi[q]**2) + sigma[q]**2) for q in range(5))
  np.testing.assert_allclose(pen, ref, rtol=1e-5)
