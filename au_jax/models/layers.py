"""Layers shared by several methods."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def gaussian_kernel_1d(size: int, sigma: float) -> np.ndarray:
  x = np.arange(size, dtype=np.float64) - (size - 1) / 2
  k = np.exp(-0.5 * (x / sigma) ** 2)
  return (k / k.sum()).astype(np.float32)


def _blur(x: jax.Array, k1: np.ndarray) -> jax.Array:
  """Separable Gaussian blur of x [B, H, W, 1] with zero padding ('SAME')."""
  kh = jnp.asarray(k1).reshape(-1, 1, 1, 1)
  kw = jnp.asarray(k1).reshape(1, -1, 1, 1)
  dn = ("NHWC", "HWIO", "NHWC")
  x = jax.lax.conv_general_dilated(x, kh, (1, 1), "SAME", dimension_numbers=dn)
  return jax.lax.conv_general_dilated(x, kw, (1, 1), "SAME", dimension_numbers=dn)


class LocalContrastNorm(nn.Module):
  """Local contrast normalisation (Jarrett et al., ICCV 2009), used by Gudi et al.

  Subtractive step v = x - sum_{j,p,q} w_pq x_{j, i+p, k+q}, then divisive step
  y = v / max(c, sigma) with sigma^2 = sum w_pq v^2 over a Gaussian window w
  (normalised over space AND the feature maps j) and c the mean of sigma over
  the image. Border windows are renormalised by their in-image weight. The
  window (9x9, sigma 2) is Jarrett's; Gudi et al. do not give it.
  """
  kernel_size: int = 9
  sigma: float = 2.0
  eps: float = 1e-4

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k = gaussian_kernel_1d(self.kernel_size, self.sigma)
    ones = jnp.ones(x.shape[:3] + (1,), x.dtype)
    norm = _blur(ones, k)
    # A window averaged over feature maps commutes with the spatial blur, so
    # blur the channel mean: one channel instead of C.
    mean = _blur(jnp.mean(x, -1, keepdims=True), k) / norm
    v = x - mean
    sigma = jnp.sqrt(_blur(jnp.mean(v * v, -1, keepdims=True), k) / norm + self.eps ** 2)
    c = jnp.mean(sigma, axis=(1, 2, 3), keepdims=True)
    return v / jnp.maximum(c, sigma)
