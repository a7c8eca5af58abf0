"""DSIN losses (Sec. 4.1 "Training", Alg. 1) as pure functions of arrays.

  L_Pi     `patch_l2`: weighted L2 on the patch predictions p, the weight of
           AU a inversely proportional to its rate of positives in training
           (`balance_weights`)
  L_Phi    `masked_bce` on the fusion output f
  L_Omega  `masked_bce` on the final structure-inference prediction y^T,
           plus r * mean(chi) (`chi_penalty`: chi in (0, 1), so mean |chi| is
           the L1 sparsity term on the correction factors, Fig. 5)

Labels: occurrence int [B, A], -1 = unknown (masked); mask [B] (0 = padding).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from au_jax.models.spec import masked_mean


def label_weights(occurrence: jax.Array, mask: jax.Array) -> jax.Array:
  """[B, A] 1 where the label is known and the example is not padding."""
  return (occurrence >= 0).astype(jnp.float32) * mask[:, None].astype(jnp.float32)


def balance_weights(rates: jax.Array) -> jax.Array:
  """[A] weights proportional to 1 / rate of positives, mean 1 over AUs.

  The paper: "The weights are inversely proportional to the ratio of positives
  in the total number of observations for each AU class in training ... a more
  equal gradient update across classes". We read it as one weight per AU
  (not per positive example); normalised to mean 1 so that `balance=False`
  (all weights 1) keeps the loss on the same scale. Rates are clipped to
  [1e-3, 1] so an AU without positives does not get an infinite weight.
  """
  inv = 1.0 / jnp.clip(rates, 1e-3, 1.0)
  return inv / jnp.mean(inv)


def batch_rates(occurrence: jax.Array, mask: jax.Array) -> jax.Array:
  """[A] rate of positives among the batch's known labels, Laplace-smoothed
  ((pos + 1) / (known + 2)): the fallback when the training split's rates
  are not given."""
  w = label_weights(occurrence, mask)
  pos = jnp.sum((occurrence > 0) * w, axis=0)
  return (pos + 1.0) / (jnp.sum(w, axis=0) + 2.0)


def patch_l2(probs: jax.Array, occurrence: jax.Array, mask: jax.Array,
             au_weights: jax.Array) -> jax.Array:
  """L_Pi: mean over known labels and the P patches of w_a (p_pa - y_a)^2.

  probs: [B, P, A] patch predictions (sigmoid outputs); au_weights: [A].
  """
  y = jnp.maximum(occurrence, 0).astype(jnp.float32)[:, None, :]
  sq = au_weights * (probs - y) ** 2                          # [B, P, A]
  w = jnp.broadcast_to(label_weights(occurrence, mask)[:, None, :], sq.shape)
  return masked_mean(sq, w)


def masked_bce(logits: jax.Array, occurrence: jax.Array, mask: jax.Array) -> jax.Array:
  """Binary cross-entropy of sigmoid(logits) [B, A] on the known labels."""
  y = jnp.maximum(occurrence, 0).astype(jnp.float32)
  return masked_mean(optax.sigmoid_binary_cross_entropy(logits, y),
                     label_weights(occurrence, mask))


def chi_penalty(chi: jax.Array, mask: jax.Array) -> jax.Array:
  """mean |chi| over the real examples, iterations and AUs; chi: [B, T, A]."""
  w = jnp.broadcast_to(mask.astype(jnp.float32)[:, None, None], chi.shape)
  return masked_mean(jnp.abs(chi), w)
