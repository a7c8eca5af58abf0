import numpy as np
import pytest

from au_jax.data.label_index import LabelIndex
from au_jax.data.samplers import SubjectBalancedSampler, UniformSampler, make_sampler


def make_index(subject_sizes=(50, 10, 4), num_aus=3, seed=0):
  rng = np.random.default_rng(seed)
  subject = np.concatenate([np.full(n, i) for i, n in enumerate(subject_sizes)]).astype(np.int32)
  n = len(subject)
  inten = rng.integers(0, 6, (n, num_aus)).astype(np.int32)
  return LabelIndex(intensity=inten, occurrence=(inten >= 2).astype(np.int32), subject=subject,
                    sequence=subject.copy(), frame=np.arange(n, dtype=np.int32),
                    dataset=np.zeros(n, np.int32),
                    subjects=tuple(f"s{i}" for i in range(len(subject_sizes))),
                    sequences=tuple(f"q{i}" for i in range(len(subject_sizes))))


def test_uniform_is_a_permutation_per_epoch():
  index = make_index()            # 64 records
  s = UniformSampler(index, batch_size=16, seed=3)
  epoch = np.concatenate([s(k) for k in range(4)])
  assert sorted(epoch) == list(range(64))
  second = np.concatenate([s(k) for k in range(4, 8)])
  assert sorted(second) == list(range(64)) and not np.array_equal(epoch, second)


def test_uniform_batches_straddling_epochs_are_valid():
  s = UniformSampler(make_index(), batch_size=24, seed=0)   # 64 not divisible by 24
  for k in range(10):
    idx = s(k)
    assert idx.shape == (24,) and idx.min() >= 0 and idx.max() < 64


def test_samplers_are_pure_functions_of_seed_and_step():
  index = make_index()
  for name in ("uniform", "subject_balanced"):
    a, b = make_sampler(name, index, 8, seed=5), make_sampler(name, index, 8, seed=5)
    assert np.array_equal(a(7), b(7))          # same step, fresh object
    assert not np.array_equal(a(7), make_sampler(name, index, 8, seed=6)(7))


def test_subject_balanced_gives_equal_shares():
  index = make_index((300, 20, 5))
  s = SubjectBalancedSampler(index, batch_size=30, seed=1)
  counts = np.bincount(index.subject[np.concatenate([s(k) for k in range(20)])], minlength=3)
  assert counts.tolist() == [200, 200, 200]
  # while uniform sampling follows the subjects' sizes
  u = UniformSampler(index, batch_size=30, seed=1)
  cu = np.bincount(index.subject[np.concatenate([u(k) for k in range(20)])], minlength=3)
  assert cu[0] > 10 * cu[2]


def test_unknown_sampler_names_itself():
  with pytest.raises(KeyError, match="nope"):
    make_sampler("nope", make_index(), 4, 0)
