"""Training samplers: which records make up the batch of each training step.

A sampler is a pure, random-access function of the step: `sampler(step)`
returns the [batch_size] record indices (into the split's LabelIndex) of that
step, computed from `np.random.default_rng((seed, step))` alone. So a resumed
run sees exactly the batches an uninterrupted one would, and the data
iterator's whole state is the step number.

To add a sampler: subclass `Sampler`, implement `indices(step)`, and register
it in `SAMPLERS` under the name configs use (`stage.sampler`).
"""
from __future__ import annotations

import numpy as np

from au_jax.data.label_index import LabelIndex


class Sampler:
  """Base: holds the index, the global batch size and the seed."""

  def __init__(self, index: LabelIndex, batch_size: int, seed: int):
    if len(index) == 0:
      raise ValueError(f"{type(self).__name__}: the split has no records")
    self.index = index
    self.batch_size = int(batch_size)
    self.seed = int(seed)

  def rng(self, *keys: int) -> np.random.Generator:
    return np.random.default_rng((self.seed,) + tuple(int(k) for k in keys))

  def indices(self, step: int) -> np.ndarray:
    raise NotImplementedError

  def __call__(self, step: int) -> np.ndarray:
    idx = np.asarray(self.indices(step), np.int64)
    assert idx.shape == (self.batch_size,), idx.shape
    return idx


class UniformSampler(Sampler):
  """Epochs over all records, each a fresh permutation (without replacement)."""

  def indices(self, step):
    n, b = len(self.index), self.batch_size
    pos = np.arange(step * b, (step + 1) * b)
    out = np.empty(b, np.int64)
    for epoch in np.unique(pos // n):
      sel = pos // n == epoch
      out[sel] = self.rng(0, epoch).permutation(n)[pos[sel] % n]
    return out


class SubjectBalancedSampler(Sampler):
  """Each batch draws (nearly) equally from subjects, then uniformly within.

  The subjects of a batch cycle through a per-cycle permutation, so over
  consecutive steps every subject gets the same share of the batch (CCNN-IT's
  CNN stage; it keeps subjects with many frames from dominating).
  """

  def __init__(self, index, batch_size, seed):
    super().__init__(index, batch_size, seed)
    self._groups = index.groups(index.subject)

  def indices(self, step):
    s, b = len(self._groups), self.batch_size
    pos = np.arange(step * b, (step + 1) * b)
    rng = self.rng(1, step)
    out = np.empty(b, np.int64)
    for i, p in enumerate(pos):
      g = self._groups[self.rng(0, p // s).permutation(s)[p % s]]
      out[i] = g[rng.integers(len(g))]
    return out


SAMPLERS: dict[str, type[Sampler]] = {
    "uniform": UniformSampler,
    "subject_balanced": SubjectBalancedSampler,
}


def make_sampler(name: str, index: LabelIndex, batch_size: int, seed: int, **kwargs) -> Sampler:
  if name not in SAMPLERS:
    raise KeyError(f"unknown sampler {name!r}; known: {sorted(SAMPLERS)}")
  return SAMPLERS[name](index, batch_size, seed, **kwargs)
