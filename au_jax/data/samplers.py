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

import functools

import numpy as np

from au_jax.data.label_index import LabelIndex
from au_jax.errors import ConfigKeyError


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

  def __init__(self, index, batch_size, seed):
    super().__init__(index, batch_size, seed)
    self._perm = functools.lru_cache(maxsize=2)(
        lambda epoch: self.rng(0, epoch).permutation(len(self.index)))

  def indices(self, step):
    n, b = len(self.index), self.batch_size
    pos = np.arange(step * b, (step + 1) * b)
    out = np.empty(b, np.int64)
    for epoch in np.unique(pos // n):
      sel = pos // n == epoch
      out[sel] = self._perm(int(epoch))[pos[sel] % n]
    return out


class SubjectBalancedSampler(Sampler):
  """Each batch draws (nearly) equally from subjects, then uniformly within.

  The subjects of a batch cycle through a per-cycle permutation, so over
  consecutive steps every subject gets the same share of the batch (CCNN-IT's
  CNN stage; it keeps subjects with many frames from dominating).
  """

  def __init__(self, index, batch_size, seed):
    super().__init__(index, batch_size, seed)
    groups = index.groups(index.subject)
    self._order = np.concatenate(groups)
    self._sizes = np.array([len(g) for g in groups])
    self._starts = np.concatenate([[0], np.cumsum(self._sizes)[:-1]])

  def indices(self, step):
    s, b = len(self._sizes), self.batch_size
    pos = np.arange(step * b, (step + 1) * b)
    group = np.empty(b, np.int64)
    for cycle in np.unique(pos // s):
      sel = pos // s == cycle
      group[sel] = self.rng(0, cycle).permutation(s)[pos[sel] % s]
    within = (self.rng(1, step).random(b) * self._sizes[group]).astype(np.int64)
    return self._order[self._starts[group] + within]


class _Strata:
  """Records grouped into strata (unit, sub); vectorised two-level draws.

  Built once from parallel arrays of (unit, sub, record) memberships; a record
  may belong to many strata (one per AU it is coded for, or per pair).
  """

  def __init__(self, unit: np.ndarray, sub: np.ndarray, record: np.ndarray, num_sub: int):
    key = unit.astype(np.int64) * num_sub + sub
    order = np.argsort(key, kind="stable")
    key, self.records = key[order], record[order].astype(np.int64)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    self.offset = starts
    self.count = np.diff(np.r_[starts, len(key)])
    self.unit_of, self.sub_of = np.divmod(key[starts], num_sub)
    ustarts = np.flatnonzero(np.r_[True, self.unit_of[1:] != self.unit_of[:-1]])
    self.unit_first = ustarts
    self.unit_num = np.diff(np.r_[ustarts, len(starts)])

  def draw(self, rng: np.random.Generator, n: int):
    """n draws -> (records [n], unit [n], sub [n])."""
    u = rng.integers(len(self.unit_first), size=n)
    g = self.unit_first[u] + rng.integers(self.unit_num[u])
    rec = self.records[self.offset[g] + rng.integers(self.count[g])]
    return rec, self.unit_of[g], self.sub_of[g]


class LevelBalancedSampler(Sampler):
  """Intensity-level-balanced batches (CCNN-IT unary stage, Alg. 1 step 2).

  Each slot picks an AU uniformly among the AUs with any coded record, then a
  level uniformly among the levels present for that AU, then a record with
  that level for that AU. So every (AU, present level) gets the same share
  within its AU, however rare the level (e.g. DISFA's intensity 5).

  Args:
    field: "intensity" (levels 0..5) or "occurrence" (0/1) labels to balance.
  """

  def __init__(self, index, batch_size, seed, field: str = "intensity"):
    super().__init__(index, batch_size, seed)
    labels = np.asarray(getattr(index, field))
    rows, aus = np.nonzero(labels >= 0)
    if not len(rows):
      raise ValueError(f"LevelBalancedSampler: no coded {field} labels in the split")
    self.strata = _Strata(aus, labels[rows, aus], rows, int(labels.max()) + 1)

  def draw(self, step: int):
    """(records [b], au [b], level [b]) of a step: the chosen strata, for tests."""
    return self.strata.draw(self.rng(2, step), self.batch_size)

  def indices(self, step):
    return self.draw(step)[0]


class CooccurrenceBalancedSampler(Sampler):
  """AU-co-occurrence-balanced batches (CCNN-IT copula stage, Alg. 1 step 3).

  Each slot picks an AU pair (r, s) uniformly among pairs coded together in
  some record, then a joint occurrence pattern 2 o_r + o_s (00, 01, 10, 11)
  uniformly among the patterns present for that pair, then a record with it.
  Memory: one int64 per (record, pair coded in it), built once.

  Args:
    pairs: AU index pairs [(r, s), ...]; default all r < s.
  """

  def __init__(self, index, batch_size, seed, pairs=None):
    super().__init__(index, batch_size, seed)
    occ = np.asarray(index.occurrence)
    a = occ.shape[1]
    self.pairs = (np.asarray([(r, s) for r in range(a) for s in range(r + 1, a)], np.int64)
                  if pairs is None else np.asarray(pairs, np.int64).reshape(-1, 2))
    units, subs, recs = [], [], []
    for p, (r, s) in enumerate(self.pairs):  # once, at construction
      rows = np.flatnonzero((occ[:, r] >= 0) & (occ[:, s] >= 0))
      units.append(np.full(len(rows), p))
      subs.append(2 * (occ[rows, r] > 0) + (occ[rows, s] > 0))
      recs.append(rows)
    if not sum(len(x) for x in recs):
      raise ValueError("CooccurrenceBalancedSampler: no record codes two AUs of a pair")
    self.strata = _Strata(np.concatenate(units), np.concatenate(subs),
                          np.concatenate(recs), 4)

  def draw(self, step: int):
    """(records [b], pair index [b], pattern [b] = 2 o_r + o_s) of a step."""
    return self.strata.draw(self.rng(3, step), self.batch_size)

  def indices(self, step):
    return self.draw(step)[0]


class DatasetBalancedSampler(Sampler):
  """Equal share of every dataset (multi-dataset learning, Eq. 12).

  Slot k of step t goes to dataset (t * batch_size + k) mod D, so shares are
  exactly equal over consecutive steps and differ by at most one within a
  batch. Within a dataset, records come from a `within` sampler (any other
  registered one, e.g. "level_balanced") over that dataset's records alone,
  with its own seed, so each dataset is balanced by the same rule.

  Args:
    within: name in SAMPLERS of the rule applied inside each dataset.
    within_kwargs: extra arguments of that sampler.
  """

  def __init__(self, index, batch_size, seed, within: str = "uniform",
               within_kwargs: dict | None = None):
    super().__init__(index, batch_size, seed)
    if within == "dataset_balanced" or within not in SAMPLERS:
      raise ValueError(f"DatasetBalancedSampler: bad within sampler {within!r}")
    self._rows = index.groups(np.asarray(index.dataset))
    per = -(-self.batch_size // len(self._rows))
    self._inner = []
    for d, rows in enumerate(self._rows):
      sub = index.take(rows)
      inner_seed = int(np.random.SeedSequence((self.seed, 4, d)).generate_state(1)[0])
      self._inner.append(SAMPLERS[within](sub, per, inner_seed, **(within_kwargs or {})))

  def indices(self, step):
    b, num = self.batch_size, len(self._rows)
    slot_ds = (step * b + np.arange(b)) % num
    out = np.empty(b, np.int64)
    for d in range(num):  # a handful of datasets
      sel = slot_ds == d
      out[sel] = self._rows[d][self._inner[d](step)[:sel.sum()]]
    return out


SAMPLERS: dict[str, type[Sampler]] = {
    "uniform": UniformSampler,
    "subject_balanced": SubjectBalancedSampler,
    "level_balanced": LevelBalancedSampler,
    "cooccurrence_balanced": CooccurrenceBalancedSampler,
    "dataset_balanced": DatasetBalancedSampler,
}


def make_sampler(name: str, index: LabelIndex, batch_size: int, seed: int, **kwargs) -> Sampler:
  if name not in SAMPLERS:
    raise ConfigKeyError(f"unknown sampler {name!r}; known: {sorted(SAMPLERS)}")
  return SAMPLERS[name](index, batch_size, seed, **kwargs)
