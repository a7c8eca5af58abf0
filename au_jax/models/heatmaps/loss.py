"""Loss of Sanchez et al. (BMVC 2018): Eq. 2 and the adaptive AU weights (Sec. 4).

Eq. 2 is the smooth L1 (Huber) loss with threshold 1:
  L = 0.5 d^2 if |d| < 1, |d| - 0.5 otherwise       (d = x - y per pixel)
`huber` keeps the threshold `delta` configurable (1 = the paper's).
"The total loss is computed as the average of the per-pixel loss per Action
Unit": `per_au_huber` averages over the pixels of each AU's map and over the
examples whose label of that AU is known.

Adaptive weighting (Sec. 4, Training): "the error per heatmap (i.e. per AU)
is weighted according to the error committed by the network in the previous
batch. Each of the weights is defined as the percentage of the error per AU,
with a minimum of 0.1." Read as

  w_a(t) = max(e_a(t-1) / sum_b e_b(t-1), 0.1),   loss(t) = sum_a w_a(t) L_a(t)

with e_a(t-1) the unweighted per-AU error L_a of the previous training batch
(not renormalised after the floor; the paper does not say). Before the first
batch every AU has an equal share, max(1/A, 0.1). An AU without a known label
in a batch keeps its weight, and a batch with zero total error changes
nothing. The weights are a non-gradient collection (`au_weights`) of the
train state: the loss reads them and returns the next ones in
aux["model_state"], as batch norm's statistics.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def huber(pred: jax.Array, target: jax.Array, delta: float = 1.0) -> jax.Array:
  """Per-pixel Eq. 2 (delta = 1), elementwise."""
  d = jnp.abs(pred - target)
  return jnp.where(d < delta, 0.5 * d ** 2, delta * (d - 0.5 * delta))


def per_au_huber(pred: jax.Array, target: jax.Array, valid: jax.Array,
                 delta: float = 1.0) -> tuple[jax.Array, jax.Array]:
  """Mean Huber loss of each AU's maps.

  Args:
    pred, target: [B, H, W, A] maps; valid: [B, A] weights (0 = unknown label
      or padding).
  Returns:
    (loss [A], has_data bool [A]); an AU without valid examples has loss 0.
  """
  per_ex = huber(pred, target, delta).mean(axis=(1, 2))               # [B, A]
  n = valid.sum(0)
  return (per_ex * valid).sum(0) / jnp.maximum(n, 1.0), n > 0


def next_au_weights(errors: jax.Array, has_data: jax.Array, previous: jax.Array,
                    minimum: float = 0.1) -> jax.Array:
  """The weights for the next batch from this batch's per-AU errors [A]."""
  errors = jax.lax.stop_gradient(jnp.where(has_data, errors, 0.0))
  total = errors.sum()
  share = errors / jnp.where(total > 0, total, 1.0)
  new = jnp.maximum(share, minimum)
  return jnp.where(has_data & (total > 0), new, previous)
