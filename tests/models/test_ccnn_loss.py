"""Composite likelihood (Eqs. 10-12) for CNN / OCNN / CCNN / SCNN output layers."""
import jax
import jax.numpy as jnp
import numpy as np

from au_jax.models import copula, ordinal
from au_jax.models.ccnn import loss as ccnn_loss

B, A, L = 5, 4, 6
PAIRS = np.asarray(copula.all_pairs(A))


def _problem(seed=0):
  rng = np.random.default_rng(seed)
  psi = ordinal.thresholds(jnp.asarray(rng.normal(0, 1, (A, L - 1)), jnp.float32))
  sigma = ordinal.scale(jnp.asarray(rng.normal(0, 0.5, A), jnp.float32))
  f = jnp.asarray(rng.normal(0, 1.5, (B, A)), jnp.float32)
  theta = jnp.asarray(rng.uniform(-8, 15, len(PAIRS)), jnp.float32)
  labels = rng.integers(0, L, (B, A))
  labels[0, 1] = -1
  labels[2, :] = -1
  labels[3, 3] = -1
  return f, psi, sigma, theta, jnp.asarray(labels, jnp.int32)


@jax.jit
def _ccnn_loss(f, psi, sigma, theta, labels, **kw):
  logp = ordinal.level_log_probs(f, psi, sigma)
  tables = copula.pairwise_tables(ordinal.cumulative(f, psi, sigma), theta, PAIRS)
  return ccnn_loss.composite_nll(logp, labels, ccnn_loss.copula_pair_log_probs(tables), PAIRS,
                                 **kw)


def test_ccnn_loss_matches_manual_sum_and_masks():
  f, psi, sigma, theta, labels = _problem()
  # The bookkeeping, on arbitrary log-probability arrays.
  rng = np.random.default_rng(0)
  logp = -rng.exponential(size=(B, A, L))
  pair_logp = -rng.exponential(size=(B, len(PAIRS), L, L))
  loss, metrics = jax.jit(ccnn_loss.composite_nll)(
      jnp.asarray(logp, jnp.float32), labels, jnp.asarray(pair_logp, jnp.float32), PAIRS)
  lab = np.asarray(labels)
  total, n_u, n_p = 0.0, 0, 0
  for i in range(B):
    for q in range(A):
      if lab[i, q] >= 0:
        total += logp[i, q, lab[i, q]]
        n_u += 1
    for p, (r, s) in enumerate(PAIRS):
      if lab[i, r] >= 0 and lab[i, s] >= 0:
        total += pair_logp[i, p, lab[i, r], lab[i, s]]
        n_p += 1
  np.testing.assert_allclose(loss, -total / B, rtol=1e-5)
  assert metrics["unary_terms"] == n_u and metrics["pair_terms"] == n_p
  loss, _ = _ccnn_loss(f, psi, sigma, theta, labels)
  # A missing label's value is irrelevant; a zero example weight drops the example.
  other = labels.at[2].set(3)
  w = jnp.asarray([1.0, 1.0, 1.0, 1.0, 0.0])
  l1, _ = _ccnn_loss(f, psi, sigma, theta, labels, example_weight=w)
  l2, _ = _ccnn_loss(f, psi, sigma, theta, labels.at[4].set(0), example_weight=w)
  np.testing.assert_allclose(l1, l2, rtol=1e-6)
  assert not np.isclose(_ccnn_loss(f, psi, sigma, theta, other)[0], loss)


def test_ccnn_gradients_finite_and_theta_only_from_pairs():
  f, psi, sigma, theta, labels = _problem(1)
  theta = theta.at[:3].set(jnp.asarray([0.0, 50.0, -50.0]))
  grad_fn = jax.jit(jax.grad(lambda f, psi, sigma, theta, labels, uw: _ccnn_loss(
      f, psi, sigma, theta, labels, unary_weight=uw)[0], argnums=(0, 1, 2, 3)))
  grads = grad_fn(f, psi, sigma, theta, labels, 1.0)
  assert all(np.all(np.isfinite(g)) for g in grads)
  # theta's gradient comes from the pair terms alone (Alg. 1 step 3).
  np.testing.assert_allclose(grad_fn(f, psi, sigma, theta, labels, 0.0)[3], grads[3],
                             rtol=1e-3, atol=1e-6)
  # Pairs with a missing AU give theta no gradient.
  g = grad_fn(f, psi, sigma, theta, labels.at[:, 0].set(-1), 1.0)[3]
  np.testing.assert_array_equal(np.asarray(g)[(PAIRS == 0).any(1)], 0.0)


def test_ocnn_and_softmax_cnn_are_unary_only():
  rng = np.random.default_rng(2)
  logits = jnp.asarray(rng.normal(size=(B, A, L)), jnp.float32)
  labels = jnp.asarray(rng.integers(-1, L, (B, A)), jnp.int32)
  loss, metrics = ccnn_loss.composite_nll(jax.nn.log_softmax(logits), labels)
  lab = np.asarray(labels)
  lsm = np.asarray(jax.nn.log_softmax(logits))
  ref = -sum(lsm[i, q, lab[i, q]] for i in range(B) for q in range(A) if lab[i, q] >= 0) / B
  np.testing.assert_allclose(loss, ref, rtol=1e-5)
  assert "pair_nll" not in metrics


def test_scnn_linear_pairwise_is_normalised_and_reduces_to_independence():
  f, psi, sigma, _, labels = _problem(3)
  logp = jax.jit(ordinal.level_log_probs)(f, psi, sigma)
  pair_fn = jax.jit(ccnn_loss.linear_pair_log_probs)
  zero = pair_fn(logp, jnp.zeros((B, len(PAIRS), L, L)), PAIRS)
  ref = logp[:, PAIRS[:, 0], :, None] + logp[:, PAIRS[:, 1], None, :]
  np.testing.assert_allclose(zero, ref, atol=1e-5)
  w = jnp.asarray(np.random.default_rng(0).normal(size=(B, len(PAIRS), L, L)), jnp.float32)
  lp = np.asarray(pair_fn(logp, w, PAIRS), np.float64)
  np.testing.assert_allclose(np.exp(lp).sum((-1, -2)), 1.0, atol=1e-5)
  # Brute force of one cell: p_r(a) p_s(b) e^{W[a,b]} / sum over cells.
  p = np.exp(np.asarray(logp, np.float64))
  num = p[1, 0, :, None] * p[1, 1, None, :] * np.exp(np.asarray(w[1, 0], np.float64))
  np.testing.assert_allclose(np.exp(lp[1, 0]), num / num.sum(), rtol=1e-4)
  # The module: per-dataset tables, zero init = independence.
  m = ccnn_loss.LinearPairwise(pairs=tuple(map(tuple, PAIRS)), num_levels=L, num_datasets=2)
  params = jax.jit(m.init)(jax.random.PRNGKey(0), logp)
  assert params["params"]["table"].shape == (2, len(PAIRS), L, L)
  out, table = jax.jit(m.apply)(params, logp, jnp.asarray([0, 1, 0, 1, 1]))
  np.testing.assert_allclose(out, ref, atol=1e-5)
  loss, _ = jax.jit(ccnn_loss.composite_nll)(logp, labels, out, PAIRS)
  assert np.isfinite(loss) and table.shape == (B, len(PAIRS), L, L)


def test_scnn_interaction_table_drops_row_and_column_offsets():
  rng = np.random.default_rng(1)
  w = rng.normal(size=(2, 3, L, L))
  inter = np.asarray(ccnn_loss.interaction_part(jnp.asarray(w, jnp.float32)), np.float64)
  np.testing.assert_allclose(inter.sum(-1), 0.0, atol=1e-5)
  np.testing.assert_allclose(inter.sum(-2), 0.0, atol=1e-5)
  # Plain-numpy reference: least-squares fit of W by row + column offsets, residual.
  for d in range(2):
    for p in range(3):
      rows, cols = np.meshgrid(np.arange(L), np.arange(L), indexing="ij")
      x = np.concatenate([np.eye(L)[rows.ravel()], np.eye(L)[cols.ravel()]], axis=1)
      coef, *_ = np.linalg.lstsq(x, w[d, p].ravel(), rcond=None)
      np.testing.assert_allclose(inter[d, p].ravel(), w[d, p].ravel() - x @ coef, atol=1e-5)
  # A table of pure offsets is no interaction: the pair factor is independence.
  f, psi, sigma, _, _ = _problem(3)
  logp = jax.jit(ordinal.level_log_probs)(f, psi, sigma)
  m = ccnn_loss.LinearPairwise(pairs=tuple(map(tuple, PAIRS)), num_levels=L, table="interaction")
  params = jax.jit(m.init)(jax.random.PRNGKey(0), logp)
  offsets = rng.normal(size=(1, len(PAIRS), L, 1)) + rng.normal(size=(1, len(PAIRS), 1, L))
  params = {"params": {"table": jnp.asarray(offsets, jnp.float32)}}
  out, _ = jax.jit(m.apply)(params, logp)
  ref = logp[:, PAIRS[:, 0], :, None] + logp[:, PAIRS[:, 1], None, :]
  np.testing.assert_allclose(out, ref, atol=1e-5)
