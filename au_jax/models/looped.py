"""Convolutions that stay ordinary convolutions under `vmap` (for XLA:CPU).

Several methods run N copies of one network with separate parameters as one
`nn.vmap` (DSIN's P patch CNNs, the heatmaps' single-hourglass-per-AU
baseline). Under vmap a convolution whose input AND kernel are both mapped
becomes, by JAX's batching rule, ONE grouped convolution
(feature_group_count = N). GPUs run that well; XLA:CPU runs it ~40x slower
than N separate convolutions (DSIN, 2 cores: benchmarks/dsin_throughput.py).

`looped_conv_fn(strides, padding)` is `lax.conv_general_dilated` (NHWC x
HWIO -> NHWC) whose vmap rule (`jax.custom_batching.custom_vmap`) runs the
mapped convolutions one after another inside the one compiled computation,
forward and backward (`jax.custom_vjp`; the backward pass is the vjp of the
plain convolution, looped the same way). Outside vmap it is the plain
convolution. `Conv` is `nn.Conv` (same parameters, names, shapes and
initialisers) with a `looped` switch.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import custom_batching

DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")


def looped(fn: Callable) -> Callable:
  """`fn` whose vmap runs the mapped calls one after another (an unrolled
  loop inside the one compiled computation). An argument that is not mapped
  is passed as is to every call; every output is mapped."""
  f = custom_batching.custom_vmap(fn)

  @f.def_vmap
  def rule(axis_size, in_batched, *args):
    outs = [fn(*[a[i] if b else a for a, b in zip(args, in_batched)])
            for i in range(axis_size)]
    return (jax.tree.map(lambda *o: jnp.stack(o), *outs),
            jax.tree.map(lambda _: True, outs[0]))
  return f


def canonical_padding(padding, ndim: int = 2):
  """nn.Conv's padding ("SAME", "VALID", an int, or per spatial dim an int or
  a (low, high) pair) -> a hashable lax padding."""
  if isinstance(padding, str):
    if padding.upper() not in ("SAME", "VALID"):
      raise ValueError(f"looped convolution padding {padding!r}: only 'SAME', 'VALID' or "
                       f"explicit sizes")
    return padding.upper()
  if isinstance(padding, int):
    return ((padding, padding),) * ndim
  if isinstance(padding, Sequence) and len(padding) == ndim:
    pairs = tuple((p, p) if isinstance(p, int) else tuple(p) for p in padding)
    if all(len(p) == 2 and all(isinstance(q, int) for q in p) for p in pairs):
      return pairs
  raise ValueError(f"convolution padding {padding!r}: expected 'SAME', 'VALID', an int or "
                   f"{ndim} ints / (low, high) pairs")


def _tuple(v, ndim: int = 2) -> tuple[int, ...]:
  return (int(v),) * ndim if isinstance(v, int) else tuple(int(s) for s in v)


def plain_conv_fn(strides=(1, 1), padding="SAME") -> Callable:
  """(x [B, H, W, C], kernel [kh, kw, C, F]) -> [B, H', W', F]: lax's
  convolution, as nn.Conv computes it (no bias)."""
  strides, padding = _tuple(strides), canonical_padding(padding)

  def conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return jax.lax.conv_general_dilated(x, kernel, strides, padding,
                                        dimension_numbers=DIMENSION_NUMBERS)
  return conv


@functools.cache
def _looped_conv_fn(strides: tuple[int, ...], padding) -> Callable:
  conv = plain_conv_fn(strides, padding)
  fwd = looped(conv)
  bwd = looped(lambda x, k, g: jax.vjp(conv, x, k)[1](g))

  @jax.custom_vjp
  def looped_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return fwd(x, kernel)

  looped_conv.defvjp(lambda x, k: (fwd(x, k), (x, k)), lambda res, g: bwd(*res, g))
  return looped_conv


def looped_conv_fn(strides=(1, 1), padding="SAME") -> Callable:
  """`plain_conv_fn(strides, padding)`, the same numbers, but under vmap over
  the kernel (and the input, or not) it runs one ordinary convolution per
  mapped index, forward and backward, instead of JAX's batching rule (see
  the module docstring). One function per (strides, padding), cached."""
  return _looped_conv_fn(_tuple(strides), canonical_padding(padding))


class Conv(nn.Module):
  """nn.Conv over NHWC inputs with exactly its parameters: "kernel" [kh, kw,
  C, F] (lecun-normal), "bias" [F] (zeros, when `use_bias`), the same names
  and initialisers (so the same initial values for the same rng) and the
  same output. `looped` computes the convolution with `looped_conv_fn`
  (for modules that run under vmap on XLA:CPU), otherwise with lax's."""
  features: int
  kernel_size: int | Sequence[int]
  strides: int | Sequence[int] = 1
  padding: str | int | Sequence = "SAME"
  use_bias: bool = True
  looped: bool = False

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if x.ndim != 4:
      raise ValueError(f"Conv {self.name}: expected an NHWC input, got shape {x.shape}")
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        _tuple(self.kernel_size) + (x.shape[-1], self.features))
    conv = (looped_conv_fn if self.looped else plain_conv_fn)(self.strides, self.padding)
    y = conv(x, kernel)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,))
    return y
