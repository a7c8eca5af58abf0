"""The single-hourglass network of Sanchez et al. (BMVC 2018), Sec. 3.1 and 4.

"The Hourglass takes as input a cropped 256 x 256 RGB image, and passes it
through a set of residual blocks to bring the resolution down to 64 x 64, and
the number of channels up to 256 ... Each of the blocks in the Hourglass
correspond to a bottleneck", whose "3 x 3 filters are of 128 channels".
The layer list follows the FAN hourglass the paper adapts, as in the
authors' released network (github.com/ESanchezLozano/Action-Units-Heatmaps,
hourglass.py):

  stem       conv 7x7/2 (features/4) + BN + ReLU -> bottleneck (features/2)
             -> max-pool 2 -> bottleneck (features/2) -> bottleneck (features)
             256 -> 64 x 64 x 256
  hourglass  depth 4, every block a bottleneck features -> features/2 (1x1)
             -> features/2 (3x3) -> features (1x1), + identity; max-pool 2
             down, nearest x2 up, skip branch added (13 blocks)
  head       bottleneck -> conv 1x1 (features) + BN + ReLU -> conv 1x1 to N maps

At features=256, N=5: 3.42M parameters (3.5M in the paper; the test counts
them). Batch norm throughout (its statistics are the `batch_stats`
collection).

`SingleHeatmaps` is Table 1's "Single Heatmap" baseline: one such network
per AU, each with one output map, as one `nn.vmap` over the AUs (separate
parameters and batch statistics per AU, the same input image), N times the
parameters and compute (5 x 3.42M = 17.1M at the paper's settings).
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from au_jax.errors import ConfigValueError
from au_jax.models.layers_fast import max_pool   # nn.max_pool's values, a fusible gradient
from au_jax.models.looped import Conv


def _bn(train: bool, name: str) -> nn.BatchNorm:
  # PyTorch's defaults (momentum 0.1 = Flax 0.9, eps 1e-5), as FAN trains them.
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)


class Bottleneck(nn.Module):
  """1x1 (features/2) -> 3x3 -> 1x1 (features), BN + ReLU, residual; a 1x1
  projection (+ BN) when the input width differs. `looped_conv`: the
  convolutions are au_jax.models.looped's (same parameters and numbers; see
  `SingleHeatmaps`)."""
  features: int
  looped_conv: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    mid = self.features // 2
    lc = self.looped_conv
    y = nn.relu(_bn(train, "bn1")(Conv(mid, (1, 1), use_bias=False, looped=lc, name="conv1")(x)))
    y = nn.relu(_bn(train, "bn2")(Conv(mid, (3, 3), use_bias=False, looped=lc, name="conv2")(y)))
    y = _bn(train, "bn3")(Conv(self.features, (1, 1), use_bias=False, looped=lc,
                               name="conv3")(y))
    if x.shape[-1] != self.features:
      x = _bn(train, "down_bn")(Conv(self.features, (1, 1), use_bias=False, looped=lc,
                                     name="down")(x))
    return nn.relu(y + x)


def _up2(x: jax.Array) -> jax.Array:
  """Nearest-neighbour x2 upsampling."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


class Hourglass(nn.Module):
  """Recursive hourglass (Newell et al.): skip branch + pooled branch, added."""
  features: int
  depth: int = 4
  looped_conv: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    return self._level(x, self.depth, train)

  def _block(self, name):
    return Bottleneck(self.features, looped_conv=self.looped_conv, name=name)

  def _level(self, x, level, train):
    up = self._block(f"b1_{level}")(x, train=train)
    low = max_pool(x, (2, 2), (2, 2), "VALID")
    low = self._block(f"b2_{level}")(low, train=train)
    if level > 1:
      low = self._level(low, level - 1, train)
    else:
      low = self._block(f"b2_plus_{level}")(low, train=train)
    low = self._block(f"b3_{level}")(low, train=train)
    return up + _up2(low)


def au_weights_variable(module: nn.Module, num_aus: int, minimum: float) -> None:
  """The loss's adaptive AU weights (collection `au_weights`), equal shares of
  the error to start with (the rule of loss.next_au_weights)."""
  module.variable("au_weights", "weights", lambda: jnp.full(
      (num_aus,), max(1.0 / num_aus, minimum), jnp.float32))


class HeatmapHourglass(nn.Module):
  """Image [B, S, S, 3] in [0, 1] -> maps [B, S/4, S/4, num_maps].

  `features` is the hourglass width (256 in the paper); the stem's widths are
  features/4 and features/2 as in FAN. S/4 must be divisible by 2**depth.

  The module also owns the loss's adaptive AU weights (collection
  `au_weights`, Sec. 4 "iterative weighting schedule"): non-gradient state
  created by `init` with the rest of the model so it lives in the train
  state; the loss reads and returns it (au_jax.models.heatmaps.loss).
  `own_au_weights=False` inside `SingleHeatmaps`, which holds one set for
  all its AUs. `looped_conv` (set by `SingleHeatmaps`): every convolution
  is au_jax.models.looped's (the same parameters and numbers).
  """
  num_maps: int
  features: int = 256
  depth: int = 4
  min_au_weight: float = 0.1
  own_au_weights: bool = True
  looped_conv: bool = False

  @nn.compact
  def __call__(self, image: jax.Array, *, train: bool) -> jax.Array:
    size = image.shape[1]
    if size % 4 or (size // 4) % (2 ** self.depth):
      raise ConfigValueError(
          f"input size {size}: the maps are {size}/4 pixels and the hourglass halves them "
          f"{self.depth} times, so the input size must be a multiple of {4 * 2 ** self.depth}")
    if self.own_au_weights:
      au_weights_variable(self, self.num_maps, self.min_au_weight)
    f, lc = self.features, self.looped_conv
    x = Conv(f // 4, (7, 7), strides=(2, 2), padding=3, looped=lc, name="stem_conv")(image)
    x = nn.relu(_bn(train, "stem_bn")(x))
    x = Bottleneck(f // 2, lc, name="stem_block1")(x, train=train)
    x = max_pool(x, (2, 2), (2, 2), "VALID")
    x = Bottleneck(f // 2, lc, name="stem_block2")(x, train=train)
    x = Bottleneck(f, lc, name="stem_block3")(x, train=train)
    x = Hourglass(f, self.depth, lc, name="hourglass")(x, train=train)
    x = Bottleneck(f, lc, name="head_block")(x, train=train)
    x = nn.relu(_bn(train, "head_bn")(Conv(f, (1, 1), looped=lc, name="head_conv")(x)))
    return Conv(self.num_maps, (1, 1), looped=lc, name="maps")(x)


class SingleHeatmaps(nn.Module):
  """Table 1's "Single Heatmap": one hourglass per AU, each regressing one map.

  Image [B, S, S, 3] -> maps [B, S/4, S/4, num_maps]; map a comes from the
  a-th network (`hourglasses`, parameters stacked on a leading AU axis).

  `conv`: how the vmapped hourglasses' convolutions are computed (the same
  function and the same parameters either way): "grouped" = JAX's batching
  rule (a convolution with a mapped input and kernel becomes one grouped
  convolution, feature_group_count = num_maps: fast on GPU/TPU, very slow
  on XLA:CPU), "looped" = au_jax.models.looped (num_maps ordinary
  convolutions per layer, forward and backward), "auto" = looped on the CPU
  backend, grouped elsewhere.
  Measured, the synthetic config's train step (features 64, input 64, 5 AUs,
  batch 32) on the shared 2-core CPU (load average ~3 from other jobs: upper
  bounds), `python -m benchmarks.throughput
  --config=configs/heatmaps_synthetic.py:arch=single --batch_size=32
  --steps=5 --parts=train_step`: grouped 10.9 s/step (10.6 CPU s), looped
  1.00 s/step (1.02 CPU s), ~10x faster.
  """
  num_maps: int
  features: int = 256
  depth: int = 4
  min_au_weight: float = 0.1
  conv: str = "auto"

  def _looped(self) -> bool:
    if self.conv not in ("auto", "looped", "grouped"):
      raise ConfigValueError(f"config.model.conv must be 'auto', 'looped' or 'grouped', "
                             f"got {self.conv!r}")
    if self.conv == "auto":
      return jax.default_backend() == "cpu"
    return self.conv == "looped"

  @nn.compact
  def __call__(self, image: jax.Array, *, train: bool) -> jax.Array:
    au_weights_variable(self, self.num_maps, self.min_au_weight)
    per_au = nn.vmap(lambda net, x: net(x, train=train), in_axes=None, out_axes=-1,
                     variable_axes={"params": 0, "batch_stats": 0},
                     split_rngs={"params": True}, axis_size=self.num_maps)
    net = HeatmapHourglass(num_maps=1, features=self.features, depth=self.depth,
                           own_au_weights=False, looped_conv=self._looped(),
                           name="hourglasses")
    return per_au(net, image)[..., 0, :]                     # [B, H, W, 1, A] -> [B, H, W, A]
