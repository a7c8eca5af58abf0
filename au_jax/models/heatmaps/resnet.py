"""ResNet-18 (He et al., CVPR 2016) regressing the N AU intensities jointly:
the baseline of Sanchez et al. (BMVC 2018), Table 1 ("trained a ResNet-18
using the library as is, modified to account for the joint regression of
the 5 Action Units": torchvision's resnet18 with an N-way last layer).

  conv 7x7/2 (64) + BN + ReLU, max-pool 3x3/2
  4 stages of 2 basic blocks (3x3, 3x3, + identity or 1x1/2 projection),
  64, 128, 256, 512 channels, stride 2 from the second stage
  global average pool, dense to N intensities

11.18M parameters with N = 5 (torchvision's 11.69M less 507.5K of its
1000-way classifier), at any input size.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from au_jax.models.heatmaps.network import _bn, au_weights_variable


class BasicBlock(nn.Module):
  features: int
  stride: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    s = (self.stride, self.stride)
    y = nn.Conv(self.features, (3, 3), s, padding=1, use_bias=False, name="conv1")(x)
    y = nn.relu(_bn(train, "bn1")(y))
    y = _bn(train, "bn2")(nn.Conv(self.features, (3, 3), padding=1, use_bias=False,
                                  name="conv2")(y))
    if self.stride != 1 or x.shape[-1] != self.features:
      x = _bn(train, "down_bn")(nn.Conv(self.features, (1, 1), s, use_bias=False,
                                        name="down")(x))
    return nn.relu(y + x)


class ResNet18(nn.Module):
  """Image [B, S, S, 3] in [0, 1] -> intensities [B, num_maps] (unclipped).

  Owns the adaptive AU weights (collection `au_weights`) like the heatmap
  networks, so the baseline trains with the same loss and schedule.
  """
  num_maps: int
  min_au_weight: float = 0.1
  widths: tuple = (64, 128, 256, 512)
  blocks: tuple = (2, 2, 2, 2)

  @nn.compact
  def __call__(self, image: jax.Array, *, train: bool) -> jax.Array:
    au_weights_variable(self, self.num_maps, self.min_au_weight)
    x = nn.Conv(self.widths[0], (7, 7), (2, 2), padding=3, use_bias=False,
                name="stem_conv")(image)
    x = nn.relu(_bn(train, "stem_bn")(x))
    x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    for i, (w, n) in enumerate(zip(self.widths, self.blocks)):
      for j in range(n):
        x = BasicBlock(w, stride=2 if (i and not j) else 1, name=f"layer{i + 1}_{j}")(
            x, train=train)
    return nn.Dense(self.num_maps, name="fc")(jnp.mean(x, axis=(1, 2)))
