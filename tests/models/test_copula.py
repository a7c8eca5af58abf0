"""Frank copula (Eq. 9) and its joint tables (Eqs. 6-8) against references."""
from decimal import Decimal, getcontext

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from statsmodels.distributions.copula.api import FrankCopula

from au_jax.models import copula, ordinal

EDGE_U = np.array([0.0, 1e-6, 0.01, 0.3, 0.5, 0.77, 0.999, 1.0])
THETAS = [0.0, 1e-6, -1e-6, 0.01, -0.04, 0.049, 0.051, 0.3, -0.7, 2.0, -5.0, 20.0, -20.0,
          50.0, -50.0]


def _grid(thetas):
  u, v, t = np.meshgrid(EDGE_U, EDGE_U, np.asarray(thetas, np.float64), indexing="ij")
  return u.ravel(), v.ravel(), t.ravel()


def _decimal_frank(u, v, t):
  """Eq. 9 in 60-digit decimal arithmetic (reference where float64 cancels)."""
  getcontext().prec = 60
  u, v, t = Decimal(float(u)), Decimal(float(v)), Decimal(float(t))
  if t == 0:
    return float(u * v)
  return float(-1 / t * (1 + ((-t * u).exp() - 1) * ((-t * v).exp() - 1) / ((-t).exp() - 1)).ln())


@pytest.fixture(scope="module")
def cdf_fn():
  return jax.jit(copula.frank_cdf)


@pytest.mark.parametrize("theta", [t for t in THETAS if t != 0.0])
def test_matches_statsmodels(cdf_fn, theta):
  u, v, _ = _grid([theta])
  with np.errstate(divide="ignore"):
    ref = FrankCopula(theta).cdf(np.stack([u, v], -1))
  # statsmodels forms 1 - num/den, which cancels to log(0) in float64 for
  # strong positive dependence near (1, 1); use the decimal reference there.
  bad = ~np.isfinite(ref) | (1 - np.prod(1 - np.exp(-theta * np.stack([u, v])), 0)
                             / (1 - np.exp(-theta)) < 1e-9)
  ref[bad] = [_decimal_frank(*x, theta) for x in zip(u[bad], v[bad])]
  got = cdf_fn(u.astype(np.float32), v.astype(np.float32), np.float32(theta))
  np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)
  # Boundary conditions of any copula hold exactly or to rounding.
  np.testing.assert_allclose(cdf_fn(EDGE_U, 1.0, theta), EDGE_U, atol=1e-6)
  np.testing.assert_allclose(cdf_fn(1.0, EDGE_U, theta), EDGE_U, atol=1e-6)
  np.testing.assert_allclose(cdf_fn(EDGE_U, 0.0, theta), 0.0, atol=1e-7)


def test_theta_zero_is_independence(cdf_fn):
  u, v, _ = [x.astype(np.float32) for x in _grid([0.0])]
  np.testing.assert_array_equal(cdf_fn(u, v, 0.0), u * v)
  gu, gv, gt = jax.jit(jax.vmap(jax.grad(copula.frank_cdf, (0, 1, 2))))(
      jnp.asarray(u, jnp.float32), jnp.asarray(v, jnp.float32), jnp.zeros(len(u)))
  np.testing.assert_allclose(gu, v, atol=1e-7)
  np.testing.assert_allclose(gv, u, atol=1e-7)
  # d C / d theta at 0 = uv(1-u)(1-v)/2 (first term of the series).
  np.testing.assert_allclose(gt, u * v * (1 - u) * (1 - v) / 2, atol=1e-7)


def test_gradients_finite_and_accurate_on_edge_grid():
  u, v, t = [x.astype(np.float32) for x in _grid(THETAS)]
  grads = jax.jit(jax.vmap(jax.grad(copula.frank_cdf, (0, 1, 2))))(u, v, t)
  for g in grads:
    assert np.all(np.isfinite(g))
  # Central differences of the float64 decimal reference at interior points.
  rng = np.random.default_rng(0)
  pts = [(rng.uniform(0.02, 0.98), rng.uniform(0.02, 0.98), th)
         for th in (0.0, 1e-6, 0.03, 0.2, -1.5, 7.0, -30.0, 50.0) for _ in range(3)]
  h = 1e-6
  grad_fn = jax.jit(jax.grad(copula.frank_cdf, (0, 1, 2)))
  for x in pts:
    got = [float(g) for g in grad_fn(*map(np.float32, x))]
    for i in range(3):
      xp, xm = list(x), list(x)
      xp[i] += h
      xm[i] -= h
      ref = (_decimal_frank(*xp) - _decimal_frank(*xm)) / (2 * h)
      assert abs(got[i] - ref) < 2e-5 * (1 + abs(ref)), (x, i, got[i], ref)


def test_check_grads_interior():
  u = jnp.asarray([0.2, 0.5, 0.9, 0.35])
  v = jnp.asarray([0.7, 0.5, 0.1, 0.6])
  f = jax.jit(copula.frank_cdf)
  for theta in (-8.0, 0.5, 12.0):
    check_grads(f, (u, v, jnp.full(4, theta)), order=1, modes=("rev",), eps=1e-2, atol=2e-2,
                rtol=2e-2)


def _random_cdfs(seed, b=3, a=4, l=6):
  rng = np.random.default_rng(seed)
  psi = ordinal.thresholds(jnp.asarray(rng.normal(0, 1.5, (a, l - 1)), jnp.float32))
  sigma = ordinal.scale(jnp.asarray(rng.normal(0, 1, (a,)), jnp.float32))
  f = jnp.asarray(rng.normal(0, 2, (b, a)), jnp.float32)
  return _UNARY(f, psi, sigma)


_UNARY = jax.jit(lambda f, psi, sigma: (ordinal.cumulative(f, psi, sigma),
                                        jnp.exp(ordinal.level_log_probs(f, psi, sigma))))


@pytest.mark.parametrize("seed", range(2))
def test_pairwise_tables_sum_and_marginalise(seed):
  u, p = _random_cdfs(seed)
  pairs = np.asarray(copula.all_pairs(4))
  rng = np.random.default_rng(seed)
  theta = jnp.asarray(rng.choice([0.0, -50.0, -3.0, 1e-6, 5.0, 50.0], len(pairs)), jnp.float32)
  tables = jax.jit(copula.pairwise_tables)(u, theta, pairs)
  assert tables.shape == (3, len(pairs), 6, 6)
  assert np.all(np.asarray(tables) >= 0)
  np.testing.assert_allclose(tables.sum((-1, -2)), 1.0, atol=1e-5)
  np.testing.assert_allclose(tables.sum(-1), p[:, pairs[:, 0]], atol=2e-6)
  np.testing.assert_allclose(tables.sum(-2), p[:, pairs[:, 1]], atol=2e-6)
  # theta = 0 pairs are exactly the product of the marginals (independence).
  zero = np.asarray(theta) == 0
  outer = p[:, pairs[:, 0], :, None] * p[:, pairs[:, 1], None, :]
  np.testing.assert_allclose(tables[:, zero], outer[:, zero], atol=1e-6)
  # Per-example theta [B, P] gives the same as shared theta broadcast.
  t2 = jax.jit(copula.pairwise_tables)(u, jnp.broadcast_to(theta, (3, len(pairs))), pairs)
  np.testing.assert_allclose(t2, tables, atol=1e-7)


def test_joint_table_matches_statsmodels_rectangles():
  u_r = np.array([0.0, 0.1, 0.35, 0.6, 0.8, 0.95, 1.0])
  u_s = np.array([0.0, 0.3, 0.5, 0.55, 0.7, 0.9, 1.0])
  for theta in (-6.0, 4.0):
    c = FrankCopula(theta).cdf(np.stack(np.meshgrid(u_r, u_s, indexing="ij"), -1))
    ref = c[1:, 1:] - c[:-1, 1:] - c[1:, :-1] + c[:-1, :-1]
    np.testing.assert_allclose(jax.jit(copula.joint_table)(u_r, u_s, theta), ref, atol=2e-6)


def test_frank_pairwise_module_per_dataset():
  u, _ = _random_cdfs(0, b=4)
  m = copula.FrankPairwise(num_aus=4, pairs=((0, 1), (2, 3), (1, 3)), theta_max=10.0,
                           num_datasets=2)
  params = jax.jit(m.init)(jax.random.PRNGKey(0), u)["params"]
  assert params["theta_raw"].shape == (2, 3)
  raw = jnp.asarray([[1e3, -1e3, 0.3], [0.0, 2.0, -0.5]])
  apply = jax.jit(m.apply)
  tables, theta = apply({"params": {"theta_raw": raw}}, u, jnp.asarray([0, 1, 1, 0]))
  assert tables.shape == (4, 3, 6, 6)
  np.testing.assert_allclose(theta[0], [10.0, -10.0, 10 * np.tanh(0.3)], rtol=1e-6)
  np.testing.assert_allclose(theta[1], 10 * np.tanh(raw[1]), rtol=1e-6)
  ref = jax.jit(copula.pairwise_tables)(u[1:2], theta[1], m.edge_list())
  np.testing.assert_allclose(tables[1:2], ref, atol=1e-7)
  nll = lambda r: -jnp.sum(jnp.log(apply({"params": {"theta_raw": r}}, u)[0] + 1e-8))
  g = jax.jit(jax.grad(nll))(jnp.zeros((2, 3)))
  assert np.all(np.isfinite(g)) and np.all(g[1] == 0)  # dataset 1 unused by default
