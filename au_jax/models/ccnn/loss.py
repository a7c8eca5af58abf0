"""Composite-likelihood losses of the Copula CNN and its baselines (Eqs. 10-12).

The paper trains piecewise (Sec. 3.3): instead of the CRF likelihood of Eq. 1
(partition function over L^Q labellings) it maximises the composite likelihood
of Eq. 10,

  P(Y|X) = prod_i [ prod_{q in V} P(y_i^q | x_i) * prod_{(r,s) in E} P(y_i^r, y_i^s | x_i) ],

so the loss of Eq. 11 is (Eq. 11 is garbled in the text: the summands are the
LOGS of the Eq. 10 factors, as its "negative log-likelihood of Eq. (11)" says)

  lambda ||phi||^2 - sum_i [ sum_q log P(y_i^q|x_i) + sum_{(r,s)} log P(y_i^r, y_i^s|x_i) ].

Here the data term is averaged over the examples of the batch (sum over AUs
and pairs, mean over examples) so that the learning rate does not depend on
the batch size; the l2 term is `ordinal.unary_l2`, added by the caller.

Missing labels (-1, e.g. an AU a dataset does not code, Eq. 12) drop the
unary terms of that AU and every pair term that involves it; with
dataset-specific pairwise parameters this is exactly the multi-dataset
objective of Eq. 12 (shared marginals, per-dataset joints).

Variants (the paper's baselines, Sec. 4), all through `composite_nll`:
  CNN   [14]: unary_log_probs = jax.nn.log_softmax(logits [B, A, L]); no pairs.
  OCNN      : unary_log_probs = ordinal log-probs (`ordinal.level_log_probs`); no pairs.
  CCNN      : + pair_log_probs = `copula_pair_log_probs(copula.pairwise_tables(...))`.
  SCNN [22] : + pair_log_probs = `linear_pair_log_probs(unary, table, pairs)`: a
              CRF on the pair (r, s) alone, log-potential
              log p_r(a) + log p_s(b) + W_rs[a, b], normalised over its L x L
              labellings. This is the piecewise (per-pair normalised) local
              likelihood of Sutton & McCallum [39] with the linear (table)
              pairwise potential of [22]; it keeps SCNN's objective the same
              composite likelihood as CCNN's with only the pairwise potential
              swapped, as the paper's SCNN-IT comparison describes. W = 0
              gives the product of marginals, like theta = 0 in the copula.

SCNN checked against the paper and [22] (Lin et al., CVPR 2016): the paper's
SCNN is "our implementation in which we minimize the same objective as in the
CCNN-IT model but with linear pairwise potentials instead of the copula
functions" (Sec. 4.1), [22]'s "linear pairwise potentials ... trained using
piecewise [39] optimization" with its unaries replaced by the ordinal ones
(Sec. 4). Eq. 10's pair factor is a normalised joint P(y_r, y_s | x); with
C_theta(u_r, u_s) swapped for a linear (table) log-potential it is the local
CRF above, so the form follows the paper's text. Where [22] differs: its
pairwise potentials are outputs of a pairwise network (image-dependent, an
L x L block per edge) and its pairwise factor is normalised alone, without
the unaries; the paper does not say it kept either. A property of this form,
unlike the copula (whose joint has p_r, p_s as its exact marginals): W's row /
column offsets (2(L-1) of its L^2 degrees of freedom) shift the pair's
marginals, duplicate the unaries' thresholds, and act in decoding as
image-independent level biases summed over each AU's A-1 neighbours; a
likely (unverified) reason for SCNN's lower ICC on synthetic data
(docs/ccnn.md), not a departure from the text.

Paper symbol -> code name: y_i^q -> `labels[i, q]` (code level 0..L-1, -1 =
missing); P(y^q|x) -> `unary_log_probs`; P(y^r, y^s|x) -> `pair_log_probs`;
E -> `pairs` [P, 2]; W_rs -> `table` (SCNN).
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from au_jax.errors import ConfigValueError

# Floor added to copula table cells before the log. Float32 inclusion-exclusion
# (Eq. 7) resolves cells only to ~1e-7 absolute; below that a cell is rounding
# noise, and the floor bounds its loss (-log 1e-7 = 16) and gradient (1e7).
COPULA_MIN_PROB = 1e-7


def copula_pair_log_probs(tables: jax.Array, min_prob: float = COPULA_MIN_PROB) -> jax.Array:
  """log P(y_r = a, y_s = b) from copula joint tables (Eq. 8), floored.

  Args:
    tables: [B, P, L, L] joint probabilities (`copula.pairwise_tables`).
    min_prob: added before the log (see COPULA_MIN_PROB).

  Returns:
    [B, P, L, L] log-probabilities.
  """
  return jnp.log(tables + min_prob)


def linear_pair_log_probs(unary_log_probs: jax.Array, table: jax.Array,
                          pairs: jax.Array) -> jax.Array:
  """SCNN pair likelihood: per-pair normalised CRF with a linear pairwise table.

  log P_rs(a, b) = log p_r(a) + log p_s(b) + W_rs[a, b] - log Z_rs,
  Z_rs = sum_{a, b} p_r(a) p_s(b) exp(W_rs[a, b]).

  Args:
    unary_log_probs: [B, A, L] log p_q(l).
    table: [P, L, L] or [B, P, L, L] log-potentials W_rs.
    pairs: [P, 2] int (r, s).

  Returns:
    [B, P, L, L] log-probabilities, each [b, p] normalised over its L x L cells.
  """
  pairs = jnp.asarray(pairs)
  logits = (unary_log_probs[:, pairs[:, 0], :, None]
            + unary_log_probs[:, pairs[:, 1], None, :] + table)
  b, p, l, _ = logits.shape
  return jax.nn.log_softmax(logits.reshape(b, p, l * l), axis=-1).reshape(b, p, l, l)


def label_log_likelihoods(unary_log_probs: jax.Array, labels: jax.Array,
                          pair_log_probs: jax.Array | None = None,
                          pairs: jax.Array | None = None) -> dict:
  """The log-likelihood terms of Eq. 10 at the observed labels, with masks.

  Args:
    unary_log_probs: [B, A, L] log P(y^q = l | x).
    labels: [B, A] int code levels 0..L-1; -1 (or any negative) = missing.
    pair_log_probs: [B, P, L, L] log P(y^r = a, y^s = b | x), or None.
    pairs: [P, 2] int (r, s); required with pair_log_probs.

  Returns:
    dict with `unary` [B, A] log P(y^q), `unary_mask` [B, A] (1 = labelled),
    and, with pairs, `pair` [B, P] log P(y^r, y^s), `pair_mask` [B, P]
    (1 = both labelled). Masked entries are 0.
  """
  labels = jnp.asarray(labels)
  num_levels = unary_log_probs.shape[-1]
  valid = labels >= 0
  lab = jnp.clip(labels, 0, num_levels - 1)
  unary = jnp.take_along_axis(unary_log_probs, lab[..., None], axis=-1)[..., 0]
  out = {"unary": jnp.where(valid, unary, 0.0), "unary_mask": valid.astype(unary.dtype)}
  if pair_log_probs is not None:
    pairs = jnp.asarray(pairs)
    r, s = pairs[:, 0], pairs[:, 1]
    cell = lab[:, r] * num_levels + lab[:, s]  # [B, P]
    flat = pair_log_probs.reshape(pair_log_probs.shape[:2] + (-1,))
    pair = jnp.take_along_axis(flat, cell[..., None], axis=-1)[..., 0]
    pvalid = valid[:, r] & valid[:, s]
    out["pair"] = jnp.where(pvalid, pair, 0.0)
    out["pair_mask"] = pvalid.astype(pair.dtype)
  return out


def composite_nll(unary_log_probs: jax.Array, labels: jax.Array,
                  pair_log_probs: jax.Array | None = None,
                  pairs: jax.Array | None = None, *,
                  example_weight: jax.Array | None = None,
                  unary_weight: float = 1.0, pair_weight: float = 1.0
                  ) -> tuple[jax.Array, dict]:
  """Negative log composite likelihood (Eqs. 10-11, data term), batch-averaged.

  loss = -sum_i w_i [unary_weight sum_q log P(y_i^q) + pair_weight sum_rs log P(y_i^r, y_i^s)]
         / max(sum_i w_i, 1),
  with missing-label terms dropped. Alg. 1 trains W on the whole objective,
  phi on the unary terms (pair_weight = 0) and theta on the pair terms
  (unary_weight = 0 has the same theta-gradient as the full loss).

  Args:
    unary_log_probs: [B, A, L].
    labels: [B, A] int, -1 = missing.
    pair_log_probs: [B, P, L, L] or None (CNN / OCNN: unary terms only).
    pairs: [P, 2] int, with pair_log_probs.
    example_weight: [B] (e.g. the batch's padding mask); None = all ones.
    unary_weight, pair_weight: weights of the two sums.

  Returns:
    (loss scalar, metrics dict: `unary_nll` / `pair_nll` = mean NLL per labelled
    term, `unary_terms` / `pair_terms` = number of labelled terms).
  """
  terms = label_log_likelihoods(unary_log_probs, labels, pair_log_probs, pairs)
  w = (jnp.ones(unary_log_probs.shape[:1]) if example_weight is None
       else jnp.asarray(example_weight, unary_log_probs.dtype))
  denom = jnp.maximum(jnp.sum(w), 1.0)
  u_sum = jnp.sum(w[:, None] * terms["unary"])
  u_n = jnp.sum(w[:, None] * terms["unary_mask"])
  metrics = {"unary_nll": -u_sum / jnp.maximum(u_n, 1.0), "unary_terms": u_n}
  total = unary_weight * u_sum
  if pair_log_probs is not None:
    p_sum = jnp.sum(w[:, None] * terms["pair"])
    p_n = jnp.sum(w[:, None] * terms["pair_mask"])
    metrics.update(pair_nll=-p_sum / jnp.maximum(p_n, 1.0), pair_terms=p_n)
    total = total + pair_weight * p_sum
  return -total / denom, metrics


SCNN_TABLES = ("full", "interaction")


def interaction_part(table: jax.Array) -> jax.Array:
  """The double-centred table: W - row means - column means + grand mean.

  Removes the 2(L-1) row / column offsets of each L x L table (they act as
  per-level biases on y_r or y_s alone, i.e. duplicate the unaries'
  thresholds), keeping the (L-1)^2 interaction degrees of freedom: every row
  and every column of the result sums to 0.
  """
  return (table - table.mean(-1, keepdims=True) - table.mean(-2, keepdims=True)
          + table.mean((-2, -1), keepdims=True))


class LinearPairwise(nn.Module):
  """SCNN's linear pairwise potentials: an L x L table W_rs per AU pair.

  Zero-initialised (independence, as CCNN's theta = 0); optionally one table
  per dataset, selected per example, like `copula.FrankPairwise` (Eq. 12).

  Attributes:
    pairs: the CRF edges ((r, s), ...).
    num_levels: L.
    num_datasets: D.
    table: "full" (default; the paper's "linear pairwise potentials", an
      unconstrained L x L table) or "interaction" (`interaction_part`: the
      table without its row / column offsets, which otherwise shift each
      pair's marginals away from the unaries; an option, not in the paper).
  """
  pairs: Sequence[tuple[int, int]]
  num_levels: int = 6
  num_datasets: int = 1
  table: str = "full"

  @nn.compact
  def __call__(self, unary_log_probs: jax.Array, dataset: jax.Array | None = None
               ) -> tuple[jax.Array, jax.Array]:
    """[B, A, L] unary log-probs -> (pair log-probs [B, P, L, L], W [B, P, L, L])."""
    if self.table not in SCNN_TABLES:
      raise ConfigValueError(f"config.model.scnn_table must be one of {SCNN_TABLES}, got {self.table!r}")
    pairs = np.asarray(self.pairs, np.int32).reshape(-1, 2)
    l = self.num_levels
    table = self.param("table", nn.initializers.zeros, (self.num_datasets, len(pairs), l, l))
    if self.table == "interaction":
      table = interaction_part(table)
    if dataset is None:
      dataset = jnp.zeros(unary_log_probs.shape[:1], jnp.int32)
    w = table[dataset]
    return linear_pair_log_probs(unary_log_probs, w, pairs), w
