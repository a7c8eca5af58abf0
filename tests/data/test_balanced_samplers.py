"""Level-, co-occurrence- and dataset-balanced samplers (CCNN-IT, Alg. 1 / Eq. 12)."""
import numpy as np
import pytest

from au_jax.data import samplers
from au_jax.data.label_index import LabelIndex

STEPS, BATCH = 150, 64


@pytest.fixture(scope="module")
def index():
  """Skewed 2-dataset split: level 0 dominates, level 5 is rare, AU 3 lacks levels."""
  rng = np.random.default_rng(0)
  n, a = 6000, 4
  p = np.array([0.80, 0.08, 0.05, 0.04, 0.02, 0.01])
  inten = rng.choice(6, size=(n, a), p=p)
  inten[:, 1] = np.where(inten[:, 0] >= 2, inten[:, 0], inten[:, 1])  # AU 1 co-occurs with AU 0
  inten[:, 3] = np.minimum(inten[:, 3], 2)  # AU 3: only levels 0..2 present
  dataset = (np.arange(n) >= 5000).astype(np.int32)  # 5000 vs 1000 records
  inten[dataset == 1, 2] = -1  # dataset 1 does not code AU 2
  inten[rng.random((n, a)) < 0.02] = -1  # scattered unknowns
  occ = np.where(inten < 0, -1, (inten >= 2).astype(int))
  return LabelIndex(
      intensity=inten.astype(np.int32), occurrence=occ.astype(np.int32),
      subject=rng.integers(0, 10, n).astype(np.int32), sequence=np.zeros(n, np.int32),
      frame=np.arange(n, dtype=np.int32), dataset=dataset,
      subjects=tuple(f"S{i}" for i in range(10)), sequences=("seq",), datasets=("big", "small"))


def _draws(sampler):
  outs = [sampler.draw(t) for t in range(STEPS)]
  return [np.concatenate(x) for x in zip(*outs)]


def _check_valid_and_deterministic(name, index, **kw):
  s = samplers.make_sampler(name, index, BATCH, seed=3, **kw)
  idx = s(7)
  assert idx.dtype == np.int64 and idx.shape == (BATCH,)
  assert np.all((idx >= 0) & (idx < len(index)))
  np.testing.assert_array_equal(idx, samplers.make_sampler(name, index, BATCH, seed=3, **kw)(7))
  assert not np.array_equal(idx, s(8))
  assert not np.array_equal(idx, samplers.make_sampler(name, index, BATCH, seed=4, **kw)(7))


@pytest.mark.parametrize("name", ["level_balanced", "cooccurrence_balanced", "dataset_balanced"])
def test_registered_valid_deterministic(index, name):
  _check_valid_and_deterministic(name, index)


def test_level_balanced(index):
  s = samplers.LevelBalancedSampler(index, BATCH, seed=0)
  rec, au, level = _draws(s)
  # Each slot's record really has the chosen level for the chosen AU.
  np.testing.assert_array_equal(index.intensity[rec, au], level)
  n = len(rec)
  # AUs equally likely; within an AU, every present level equally likely.
  np.testing.assert_allclose(np.bincount(au, minlength=4) / n, 0.25, atol=0.02)
  for q in range(4):
    present = np.unique(index.intensity[:, q][index.intensity[:, q] >= 0])
    freq = np.bincount(level[au == q], minlength=6)[present] / np.sum(au == q)
    np.testing.assert_allclose(freq, 1 / len(present), atol=0.035)
    assert set(np.unique(level[au == q])) == set(present)
  # Rare level 5 of AU 0 (1% of the data) gets ~1/6 of AU 0's slots.
  assert np.mean(index.intensity[rec[au == 0], 0] == 5) > 0.13


def test_cooccurrence_balanced(index):
  s = samplers.CooccurrenceBalancedSampler(index, BATCH, seed=0)
  rec, pair, pattern = _draws(s)
  r, t = s.pairs[pair, 0], s.pairs[pair, 1]
  occ = index.occurrence
  np.testing.assert_array_equal(2 * occ[rec, r] + occ[rec, t], pattern)
  n = len(rec)
  np.testing.assert_allclose(np.bincount(pair, minlength=6) / n, 1 / 6, atol=0.02)
  for p, (a, b) in enumerate(s.pairs):
    ok = (occ[:, a] >= 0) & (occ[:, b] >= 0)
    present = np.unique(2 * occ[ok, a] + occ[ok, b])
    freq = np.bincount(pattern[pair == p], minlength=4)[present] / np.sum(pair == p)
    np.testing.assert_allclose(freq, 1 / len(present), atol=0.05)
  # Pair (0, 1) never shows pattern 10 (AU 1 follows AU 0): only 3 patterns.
  p01 = int(np.flatnonzero((s.pairs == (0, 1)).all(1))[0])
  assert 2 not in set(pattern[pair == p01])
  restricted = samplers.CooccurrenceBalancedSampler(index, BATCH, seed=0, pairs=[(0, 1), (2, 3)])
  assert set(np.unique(restricted.draw(0)[1])) <= {0, 1}


def test_dataset_balanced(index):
  s = samplers.DatasetBalancedSampler(index, BATCH, seed=0)
  idx = np.concatenate([s(t) for t in range(STEPS)])
  shares = np.bincount(index.dataset[idx], minlength=2) / len(idx)
  np.testing.assert_allclose(shares, 0.5, atol=1e-9)  # exact: 1000-record dataset gets half
  b = samplers.DatasetBalancedSampler(index, 7, seed=0)  # odd batch: within one record
  for t in range(5):
    counts = np.bincount(index.dataset[b(t)], minlength=2)
    assert abs(counts[0] - counts[1]) <= 1
  # Wrapping the level rule: each dataset level-balanced on its own records.
  lv = samplers.make_sampler("dataset_balanced", index, BATCH, seed=0, within="level_balanced")
  idx = np.concatenate([lv(t) for t in range(STEPS)])
  np.testing.assert_allclose(np.bincount(index.dataset[idx], minlength=2) / len(idx), 0.5)
  for d in (0, 1):
    sel = idx[index.dataset[idx] == d]
    assert np.mean(index.intensity[sel, 0] == 5) > 0.02  # vs 0.01 * 0.98 in the data
  assert np.all(index.dataset[lv(3)][index.intensity[lv(3), 2] >= 0] == 0)
  with pytest.raises(ValueError):
    samplers.DatasetBalancedSampler(index, BATCH, seed=0, within="dataset_balanced")


def test_take_keeps_every_per_record_field_with_the_nuisance(index):
  """LabelIndex.take (the dataset-balanced sampler's per-dataset index): the
  records' nuisance is subset with the labels."""
  import dataclasses
  n = len(index)
  with_nuisance = dataclasses.replace(index, nuisance={
      "yaw": np.arange(n, dtype=np.float32), "au_covered": np.full((n, 4), .5, np.float32)})
  rows = np.flatnonzero(index.dataset == 1)
  sub = with_nuisance.take(rows)
  np.testing.assert_array_equal(sub.nuisance["yaw"], rows.astype(np.float32))
  np.testing.assert_array_equal(sub.frame, index.frame[rows])
  np.testing.assert_array_equal(sub.intensity, index.intensity[rows])
  assert sub.nuisance["au_covered"].shape == (len(rows), 4) and sub.subjects == index.subjects
  sampler = samplers.make_sampler("dataset_balanced", with_nuisance, BATCH, seed=0)
  assert len(sampler.indices(0)) == BATCH
