"""MAP decoding of pairwise CRFs: exact enumeration, loopy BP, ICM, marginals."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from au_jax import decode
from au_jax.models import copula, ordinal

CHAIN = ((0, 1), (2, 1), (2, 3), (3, 4))  # mixed edge orientations on purpose
STAR = ((0, 1), (0, 2), (3, 0), (0, 4))


def _random_problem(seed, batch, num_aus, num_levels=6, pairs=None, coupling=1.0):
  """Random CRF: U ~ N(0, 1), V ~ N(0, coupling^2); default graph fully connected."""
  pairs = tuple(itertools.combinations(range(num_aus), 2)) if pairs is None else pairs
  rng = np.random.default_rng(seed)
  unary = rng.normal(size=(batch, num_aus, num_levels))
  pairwise = coupling * rng.normal(size=(batch, len(pairs), num_levels, num_levels))
  return jnp.asarray(unary, jnp.float32), jnp.asarray(pairwise, jnp.float32), pairs


@pytest.fixture(scope="module")
def loopy():
  """200 fully connected 5-AU, 6-level random CRFs (coupling 1)."""
  return _random_problem(6, 200, 5, 6, coupling=1.0)


def _brute_force(unary, pairwise, pairs):
  """Score of every labelling with itertools, float64: ([B, S], labellings [S, A])."""
  unary, pairwise = np.asarray(unary, np.float64), np.asarray(pairwise, np.float64)
  _, a, l = unary.shape
  ys = np.asarray(list(itertools.product(range(l), repeat=a)))
  s = sum(unary[:, q, ys[:, q]] for q in range(a))
  s = s + sum(pairwise[:, p, ys[:, r], ys[:, t]] for p, (r, t) in enumerate(pairs))
  return s, ys


def test_exact_map_equals_brute_force():
  pairs = ((0, 1), (2, 0), (1, 2), (3, 1))
  u, v, _ = _random_problem(1, 16, 4, 3, pairs=pairs, coupling=1.5)
  y, s = decode.exact_map(u, v, pairs)
  ref_s, ys = _brute_force(u, v, pairs)
  np.testing.assert_array_equal(y, ys[np.argmax(ref_s, 1)])
  np.testing.assert_allclose(s, ref_s.max(1), rtol=1e-5)
  np.testing.assert_allclose(decode.score(u, v, pairs, y), s, rtol=1e-5)


def test_bp_is_exact_on_trees():
  for pairs in (CHAIN, STAR):
    u, v, _ = _random_problem(2, 64, 5, 6, pairs=pairs, coupling=2.0)
    y_bp, s_bp = decode.bp_map(u, v, pairs, icm_sweeps=0, multistart=False)
    y_ex, s_ex = decode.exact_map(u, v, pairs)
    np.testing.assert_array_equal(y_bp, y_ex)
    np.testing.assert_allclose(s_bp, s_ex, rtol=1e-5)


def test_sum_product_marginals_exact_on_chain_and_expected_intensity():
  u, v, _ = _random_problem(3, 8, 5, 4, pairs=CHAIN)
  ref_s, ys = _brute_force(u, v, CHAIN)
  joint = np.exp(ref_s - ref_s.max(1, keepdims=True))
  joint /= joint.sum(1, keepdims=True)
  ref = np.stack([np.stack([joint[:, ys[:, q] == l].sum(1) for l in range(4)], -1)
                  for q in range(5)], 1)
  logm = decode.bp_marginals(u, v, CHAIN)
  np.testing.assert_allclose(np.exp(logm), ref, atol=1e-5)
  np.testing.assert_allclose(decode.expected_intensity(logm), ref @ np.arange(4), atol=1e-4)
  # From unnormalised unary log-potentials: softmax first.
  p = jax.nn.softmax(u, -1)
  np.testing.assert_allclose(decode.expected_intensity(u), p @ jnp.arange(4.0), atol=1e-5)


def test_icm_never_decreases_score_and_converges(loopy):
  u, v, pairs = loopy
  y0 = np.random.default_rng(5).integers(0, 6, u.shape[:2])
  score = decode.score
  y1 = decode.icm(u, v, pairs, y0, sweeps=10)
  assert np.all(np.asarray(score(u, v, pairs, y1) - score(u, v, pairs, y0)) >= -1e-5)
  # Fixed point: no single-AU change improves S (coordinate-wise optimum).
  b, a, l = u.shape
  moves = np.repeat(np.asarray(y1)[None], a * l, 0)  # [A*L, B, A]
  for q in range(a):
    moves[q * l:(q + 1) * l, :, q] = np.arange(l)[:, None]
  tile = lambda x: jnp.tile(x, (a * l,) + (1,) * (x.ndim - 1))
  s_moves = score(tile(u), tile(v), pairs, moves.reshape(-1, a)).reshape(a * l, b)
  assert np.all(np.asarray(s_moves) <= np.asarray(score(u, v, pairs, y1))[None] + 1e-4)


def test_bp_gap_on_random_loopy_problems(loopy):
  """Fully connected 5-AU random CRFs (10 loopy edges, frustrated couplings).

  Measured on 1000 problems (coupling 1, 50 damped iterations, 3 ICM sweeps):
  bp_map mean relative gap 0.0034, exact on 90%; max-product BP + ICM alone
  0.024 / 73%; unary-only decoding ~0.5. Bounds leave room for the seed.
  """
  u, v, pairs = loopy
  gap = decode.decoder_gap(u, v, pairs)
  assert gap["mean_relative_gap"] < 0.01, gap
  assert gap["exact_fraction"] > 0.8, gap
  single = decode.decoder_gap(u, v, pairs, lambda a, b, c: decode.bp_map(
      a, b, c, multistart=False))
  assert single["mean_relative_gap"] < 0.05 and single["exact_fraction"] > 0.6, single
  naive = decode.decoder_gap(u, v, pairs, lambda a, b, c: decode.bp_map(
      a, b, c, num_iters=0, icm_sweeps=0))
  assert naive["mean_relative_gap"] > 10 * gap["mean_relative_gap"], (naive, gap)


def test_ccnn_potentials_bp_gap():
  """CCNN-shaped problems: ordinal unaries + Frank-copula PMI on 5 AUs.

  Measured on 3 x 1000 problems: bp_map exact on 92-98%, mean relative gap
  1e-4 to 8e-4 (copula dependencies are smooth and mostly unfrustrated).
  """
  rng = np.random.default_rng(0)
  b, a = 200, 5
  psi = ordinal.thresholds(jnp.asarray(rng.normal(0, 1, (a, 5)), jnp.float32))
  sigma = ordinal.scale(jnp.asarray(rng.normal(0, 0.5, a), jnp.float32))
  f = jnp.asarray(rng.normal(0, 1.5, (b, a)), jnp.float32)
  pairs = copula.all_pairs(a)
  theta = jnp.asarray(rng.uniform(-5, 15, len(pairs)), jnp.float32)

  @jax.jit
  def potentials(theta):
    tables = copula.pairwise_tables(ordinal.cumulative(f, psi, sigma), theta, np.asarray(pairs))
    return decode.ccnn_potentials(ordinal.level_log_probs(f, psi, sigma), tables, pairs)

  u, v = potentials(theta)
  gap = decode.decoder_gap(u, v, pairs)
  assert gap["exact_fraction"] > 0.85 and gap["mean_relative_gap"] < 0.005, gap
  # With theta = 0 the CCNN energy is independent per AU: exact = per-AU argmax.
  u0, v0 = potentials(jnp.zeros(len(pairs)))
  np.testing.assert_array_equal(decode.exact_map(u0, v0, pairs)[0], jnp.argmax(u0, -1))
