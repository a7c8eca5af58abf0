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


BLUR_IMPLS = ("banded", "conv")


def band_matrix(n: int, k1: np.ndarray) -> np.ndarray:
  """T [n, n] with (T @ x)[i] = sum_t k1[t] x[i + t - lo], x zero outside [0, n):
  lax's 'SAME' correlation along one axis (lo = (K - 1) // 2)."""
  size, lo = len(k1), (len(k1) - 1) // 2
  t = np.arange(n)[None, :] - np.arange(n)[:, None] + lo
  return np.where((t >= 0) & (t < size), k1[np.clip(t, 0, size - 1)], 0.0).astype(np.float32)


def _blur(x: jax.Array, k1: np.ndarray, impl: str = "banded") -> jax.Array:
  """Separable Gaussian blur of x [B, H, W, 1] with zero padding ('SAME').

  "conv": two lax convolutions (9x1, 1x9); "banded": the same sums as two
  products with banded [H, H] and [W, W] matrices (band_matrix), which XLA
  runs as small dots. On one channel the convolutions are slow on XLA:CPU
  (9x1 over 100 x 44 x 44: 10 ms for 3.5 MFLOP; docs/performance.md);
  the products take a fraction of that. Same numbers to float rounding.
  """
  if impl == "conv":
    kh = jnp.asarray(k1).reshape(-1, 1, 1, 1)
    kw = jnp.asarray(k1).reshape(1, -1, 1, 1)
    dn = ("NHWC", "HWIO", "NHWC")
    x = jax.lax.conv_general_dilated(x, kh, (1, 1), "SAME", dimension_numbers=dn)
    return jax.lax.conv_general_dilated(x, kw, (1, 1), "SAME", dimension_numbers=dn)
  if impl != "banded":
    raise ValueError(f"LocalContrastNorm blur_impl {impl!r}: one of {BLUR_IMPLS}")
  hi = jax.lax.Precision.HIGHEST      # full float32 on every backend (no TF32)
  th = jnp.asarray(band_matrix(x.shape[1], k1), x.dtype)
  tw = jnp.asarray(band_matrix(x.shape[2], k1), x.dtype)
  x = jnp.einsum("ij,bjwc->biwc", th, x, precision=hi)
  return jnp.einsum("bhjc,wj->bhwc", x, tw, precision=hi)


class LocalContrastNorm(nn.Module):
  """Local contrast normalisation (Jarrett et al., ICCV 2009), used by Gudi et al.

  Subtractive step v = x - sum_{j,p,q} w_pq x_{j, i+p, k+q}, then divisive step
  y = v / max(c, sigma) with sigma^2 = sum w_pq v^2 over a Gaussian window w
  (normalised over space AND the feature maps j) and c the mean of sigma over
  the image. Border windows are renormalised by their in-image weight. The
  window (9x9, sigma 2) is Jarrett's; Gudi et al. do not give it.

  `blur_impl` lowers the separable blur (`_blur`): "banded" (default; banded
  matrix products, the in-image weights a constant) or "conv" (lax
  convolutions, the earlier lowering); same outputs and gradients to 1e-5
  (tests/models/test_gudi.py).
  """
  kernel_size: int = 9
  sigma: float = 2.0
  eps: float = 1e-4
  blur_impl: str = "banded"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k = gaussian_kernel_1d(self.kernel_size, self.sigma)
    if self.blur_impl == "banded":
      # the blur of ones is separable too: the outer product of the row sums
      norm = jnp.asarray(np.outer(band_matrix(x.shape[1], k).sum(1),
                                  band_matrix(x.shape[2], k).sum(1))[None, :, :, None], x.dtype)
    else:
      norm = _blur(jnp.ones(x.shape[:3] + (1,), x.dtype), k, self.blur_impl)
    blur = lambda y: _blur(y, k, self.blur_impl)
    # A window averaged over feature maps commutes with the spatial blur, so
    # blur the channel mean: one channel instead of C.
    mean = blur(jnp.mean(x, -1, keepdims=True)) / norm
    v = x - mean
    sigma = jnp.sqrt(blur(jnp.mean(v * v, -1, keepdims=True)) / norm + self.eps ** 2)
    c = jnp.mean(sigma, axis=(1, 2, 3), keepdims=True)
    return v / jnp.maximum(c, sigma)
