"""Alternative lowerings of convolution and max-pooling for XLA:CPU.

Same parameters, same numbers as the plain Flax layers (tests/models/
test_layers_fast.py compares outputs and gradients to 1e-5); they differ only
in the HLO handed to XLA, which decides how fast the CPU runs them.

`conv2d(x, kernel, padding, impl)`:
  "xla"      lax.conv_general_dilated (what nn.Conv emits).
  "im2col"   the k*k shifted slices concatenated on the channel axis, then ONE
             dot with the kernel reshaped to [k*k*C_in, C_out]. Pure data
             movement plus a matmul: XLA fuses the slices into one loop fusion,
             the weight gradient is one dot with the same patches and the input
             gradient is the sum of the padded slices (col2im) -- no
             convolution op left for XLA:CPU to lower.
  "patches"  lax.conv_general_dilated_patches, then one dot. The patches are
             built by a convolution with an identity filter (k*k*C_in output
             channels), whose cost grows with (k*k*C_in)^2: kept for the
             benchmark, not for use.
  "nchw"     the same convolution on NCHW / OIHW operands (transposes around).

`max_pool(x, window, strides, padding)` (pool_impl "mask"; "xla" =
nn.max_pool): lax.reduce_window's max with a custom VJP. The gradient of the plain max-pool is lowered on XLA:CPU to a
reduce-window that carries the arg-max as four s32 index arrays of the
padded input plus a scatter; here it is a mask per window offset (the first
maximum in row-major window order gets the gradient, as in XLA's
select-and-scatter), summed back per stride phase and interleaved by a
reshape: elementwise work that fuses.

Models take `conv_impl` (one name, or one per conv layer) and `pool_impl`
(GudiCNN, CCNNBackbone / CCNN; config.model.conv_impl / pool_impl). Defaults:
conv_impl "xla" (nn.Conv), pool_impl "mask" (same outputs and gradients as
nn.max_pool). Measured on the idle 2-core CPU with XLA:CPU's Eigen
convolutions (au_jax/xla_options.py; benchmarks/versus_torch.py, README
"Speed"): the mask pool makes the CCNN train step ~1.31x faster and the Gudi
step ~1.05x (benchmarks/results/versus_torch_eigen.json); conv_impl="im2col" is now slower than "xla" on both networks
(it won on Gudi only against the YNNPACK convolutions XLA:CPU uses by default).

`Conv`: nn.Conv's parameters ("kernel" [kh, kw, C_in, C_out], "bias"
[C_out], same initialisers), computed by `conv2d`.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from au_jax.errors import ConfigValueError

CONV_IMPLS = ("xla", "im2col", "patches", "nchw")
_DN = ("NHWC", "HWIO", "NHWC")


def _same_pads(k: int) -> tuple[int, int]:
  """'SAME' padding of a stride-1 window of side k (lax's: the extra pixel at the end)."""
  return (k - 1) // 2, k // 2


def _pad_input(x, kernel_shape, padding):
  kh, kw = kernel_shape[:2]
  if padding == "VALID":
    return x
  if padding != "SAME":
    raise ValueError(f"padding must be 'SAME' or 'VALID', got {padding!r}")
  return jnp.pad(x, ((0, 0), _same_pads(kh), _same_pads(kw), (0, 0)))


def im2col(x: jax.Array, kh: int, kw: int) -> jax.Array:
  """x [B, H, W, C] -> [B, H-kh+1, W-kw+1, kh*kw*C], channels ordered (i, j, c) like HWIO."""
  ho, wo = x.shape[1] - kh + 1, x.shape[2] - kw + 1
  return jnp.concatenate([x[:, i:i + ho, j:j + wo, :] for i in range(kh) for j in range(kw)], -1)


def conv2d(x: jax.Array, kernel: jax.Array, padding: str = "VALID", impl: str = "xla") -> jax.Array:
  """Stride-1 2D convolution. x [B, H, W, C_in], kernel [kh, kw, C_in, C_out] (HWIO)."""
  kh, kw, cin, cout = kernel.shape
  if impl == "xla":
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), padding, dimension_numbers=_DN)
  if impl == "nchw":
    y = jax.lax.conv_general_dilated(jnp.transpose(x, (0, 3, 1, 2)),
                                     jnp.transpose(kernel, (3, 2, 0, 1)), (1, 1), padding,
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return jnp.transpose(y, (0, 2, 3, 1))
  x = _pad_input(x, kernel.shape, padding)
  if impl == "im2col":
    cols = im2col(x, kh, kw)
    w = kernel.reshape(kh * kw * cin, cout)
  elif impl == "patches":
    # channels of conv_general_dilated_patches are ordered (c, i, j)
    cols = jax.lax.conv_general_dilated_patches(x, (kh, kw), (1, 1), "VALID",
                                                dimension_numbers=_DN)
    w = jnp.transpose(kernel, (2, 0, 1, 3)).reshape(cin * kh * kw, cout)
  else:
    raise ValueError(f"conv impl must be one of {CONV_IMPLS}, got {impl!r}")
  b, ho, wo, k = cols.shape
  return jnp.dot(cols.reshape(b * ho * wo, k), w).reshape(b, ho, wo, cout)


class Conv(nn.Module):
  """nn.Conv (stride 1, no dilation, one group) with a choice of lowering (`impl`)."""
  features: int
  kernel_size: Sequence[int]
  padding: str = "SAME"
  impl: str = "im2col"
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
  bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kh, kw = self.kernel_size
    kernel = self.param("kernel", self.kernel_init, (kh, kw, x.shape[-1], self.features))
    bias = self.param("bias", self.bias_init, (self.features,))
    return conv2d(x, kernel, self.padding, self.impl) + bias


def conv_impls(impl, n: int) -> tuple[str, ...]:
  """One impl name per conv layer from a name or a sequence of n names."""
  impls = (impl,) * n if isinstance(impl, str) else tuple(impl)
  if len(impls) != n or any(i not in CONV_IMPLS for i in impls):
    raise ValueError(f"conv_impl must be one of {CONV_IMPLS} or {n} of them, got {impl!r}")
  return impls


def conv_layer(features: int, kernel_size, padding: str, impl: str, name: str):
  """nn.Conv for impl "xla" (the plain layer, unchanged), else `Conv` with the same parameters."""
  if impl == "xla":
    return nn.Conv(features, tuple(kernel_size), padding=padding, name=name)
  if impl not in CONV_IMPLS:
    raise ValueError(f"conv impl must be one of {CONV_IMPLS}, got {impl!r}")
  return Conv(features, tuple(kernel_size), padding=padding, impl=impl, name=name)


# --------------------------------------------------------------------------- max-pool

def _pool_pads(shape, window, strides, padding):
  return jax.lax.padtype_to_pads(shape[1:3], window, strides, padding)


def _max_pool_plain(x, window, strides, padding):
  pads = _pool_pads(x.shape, window, strides, padding)
  return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, *window, 1), (1, *strides, 1),
                               ((0, 0), *pads, (0, 0)))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def max_pool(x: jax.Array, window: tuple[int, int], strides: tuple[int, int],
             padding: str) -> jax.Array:
  """nn.max_pool(x, window, strides, padding) for x [B, H, W, C], with a fusible gradient."""
  return _max_pool_plain(x, window, strides, padding)


def _max_pool_fwd(x, window, strides, padding):
  y = _max_pool_plain(x, window, strides, padding)
  return y, (x, y)


def _max_pool_bwd(window, strides, padding, res, g):
  """The first maximum of each window (row-major) gets the window's gradient.

  The winners are found per window offset (i, j) on the pooled grid; their
  gradients are put back by phase: with stride (sh, sw), padded-input row
  sh*a + r only receives offsets i = r (mod sh), at pooled row a - (i - r) / sh.
  So each of the sh*sw phase planes (a, q) is a sum of the offsets' [B, Ho,
  Wo, C] terms shifted by 0 or 1 pooled cell, and the planes are interleaved
  by one reshape: dense, C-contiguous element-wise work. (The earlier form,
  one interior-padded full-size term per offset, gave the same sums in the
  same order, and was slower: README, "Speed and memory".)
  """
  x, y = res
  (pt, pb), (pl, pr) = _pool_pads(x.shape, window, strides, padding)
  xp = jnp.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=-jnp.inf)
  b, hp, wp, c = xp.shape
  ho, wo = y.shape[1:3]
  sh, sw = strides
  taken = jnp.zeros(y.shape, bool)
  zero = jnp.zeros((), g.dtype)
  terms = {}
  for i in range(window[0]):
    for j in range(window[1]):
      xs = jax.lax.slice(xp, (0, i, j, 0), (b, i + (ho - 1) * sh + 1, j + (wo - 1) * sw + 1, c),
                         (1, sh, sw, 1))
      hit = (xs == y) & ~taken          # the first maximum of each window, row-major
      taken = taken | hit
      terms[i, j] = jnp.where(hit, g, zero)
  rows_a, cols_q = -(-hp // sh), -(-wp // sw)     # phase-plane size
  planes = []
  for r in range(sh):
    row = []
    for t in range(sw):
      acc = jnp.zeros((b, rows_a, cols_q, c), g.dtype)
      for i in range(r, window[0], sh):           # row-major offset order, as before
        for j in range(t, window[1], sw):
          di, dj = (i - r) // sh, (j - t) // sw
          acc = acc + jnp.pad(terms[i, j], ((0, 0), (di, rows_a - ho - di),
                                            (dj, cols_q - wo - dj), (0, 0)))
      row.append(acc)
    planes.append(jnp.stack(row, 3))              # [B, A, Q, sw, C]
  dxp = jnp.stack(planes, 2).reshape(b, rows_a * sh, cols_q * sw, c)[:, :hp, :wp]
  return (dxp[:, pt:pt + x.shape[1], pl:pl + x.shape[2], :],)


max_pool.defvjp(_max_pool_fwd, _max_pool_bwd)


POOL_IMPLS = ("xla", "mask")


def check_lowerings(conv_impl, num_convs: int, pool_impl: str) -> None:
  """A model's conv_impl / pool_impl config values, checked at build time so a
  bad one is named in one line (ConfigValueError) before anything is traced."""
  try:
    conv_impls(conv_impl, num_convs)
  except ValueError as e:
    raise ConfigValueError(f"config.model.{e}") from None
  if pool_impl not in POOL_IMPLS:
    raise ConfigValueError(f"config.model.pool_impl {pool_impl!r}: one of {POOL_IMPLS}")


def pool_layer(x, window, strides, padding, impl: str):
  """nn.max_pool for impl "xla", `max_pool` for "mask" (same values, fusible gradient)."""
  if impl not in POOL_IMPLS:
    raise ValueError(f"pool_impl must be one of {POOL_IMPLS}, got {impl!r}")
  if impl == "xla":
    return nn.max_pool(x, tuple(window), strides=tuple(strides), padding=padding)
  return max_pool(x, tuple(window), tuple(strides), padding)

