"""Multi-label softmax loss of Ghosh et al. (ACII 2015), Eqs. 1-2.

Paper -> code: C AU categories = `num_aus` (A); f(x_i) = `logits` [B, A(+1)];
p_ij = softmax_j f(x_i) (Eq. 2, over every output, the neutral one
included); y_ij in {0, 1} = `occurrence` [B, A] (-1 = not coded);
J = -1/N sum_i sum_{j present} log p_ij (Eq. 1).

Choices the paper leaves open (each documented where it is made):
- Neutral label (Sec. VI: "we augment our label set with a 13th label to
  indicate neutral facial expressions"): with `neutral=True` the logits carry
  one more column (the last) and a frame with no AU present among its coded
  AUs (and at least one coded) is a "neutral" frame: that label is its one
  present label. With `neutral=False` such a frame has no present label and
  adds nothing to the sum (Eq. 1 as written) -- it still counts in N.
- Uncoded AUs (-1) are neither present nor absent: they add no term to the
  sum. They stay in the softmax's denominator (Eq. 2 normalises over every
  output the network has; the network does not know what was coded).
- N = the number of real (unpadded) images of the batch (`mask`), as Eq. 1's
  1/N over all images.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def present_targets(occurrence: jax.Array, neutral: bool) -> jax.Array:
  """[B, A(+1)] float 0/1: the labels counted in Eq. 1's inner sum.

  occurrence: int [B, A] in {-1, 0, 1}. With `neutral`, column A is 1 for a
  frame whose coded AUs are all absent (and which has at least one coded AU).
  """
  y = (occurrence > 0).astype(jnp.float32)
  if not neutral:
    return y
  coded = jnp.any(occurrence >= 0, axis=-1)
  none_present = ~jnp.any(occurrence > 0, axis=-1)
  return jnp.concatenate([y, (coded & none_present).astype(jnp.float32)[:, None]], axis=-1)


def multilabel_softmax_loss(logits: jax.Array, occurrence: jax.Array, mask: jax.Array,
                            neutral: bool = False) -> jax.Array:
  """Eq. 1: -1/N sum_i sum_{j: y_ij = 1} log softmax(f(x_i))_j.

  Args:
    logits: [B, A] (or [B, A + 1] with `neutral`, the neutral output last).
    occurrence: int [B, A], 1 present, 0 absent, -1 not coded (no term).
    mask: [B] 1 for real images, 0 for padding (N = sum(mask)).
    neutral: the (A+1)-th label marks frames without any present AU.
  Returns:
    scalar loss (0 when the batch has no real image).
  """
  a = occurrence.shape[-1]
  if logits.shape[-1] != a + int(neutral):
    raise ValueError(f"logits have {logits.shape[-1]} outputs; {a} AUs"
                     f"{' + neutral' if neutral else ''} need {a + int(neutral)}")
  log_p = jax.nn.log_softmax(logits, axis=-1)                          # Eq. 2
  y = present_targets(occurrence, neutral)
  per_image = -jnp.sum(y * log_p, axis=-1)
  return jnp.sum(per_image * mask) / jnp.maximum(jnp.sum(mask), 1.0)
