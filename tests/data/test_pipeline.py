import numpy as np
import pytest

from au_jax.data import pipeline
from au_jax.data.samplers import UniformSampler
from tests.data.test_samplers import make_index


class ListSource:
  def __init__(self, n):
    self.n = n

  def __len__(self):
    return self.n

  def __getitem__(self, i):
    return {"value": np.float32(i)}


def transform(record, rng, train):
  noise = np.float32(rng.random()) if rng is not None else np.float32(0)
  return {"value": record["value"], "noise": noise}


def test_eval_batches_count_every_record_exactly_once():
  batches = list(pipeline.eval_batches(ListSource(10), transform, batch_size=4))
  assert len(batches) == 3
  mask = np.concatenate([b["mask"] for b in batches])
  values = np.concatenate([b["value"] for b in batches])
  assert mask.sum() == 10 and mask.tolist()[-2:] == [0, 0]
  assert values[mask > 0].tolist() == list(range(10))


def test_train_batches_are_addressable_by_step_and_resume_identically():
  index = make_index()
  src = ListSource(len(index))
  sampler = UniformSampler(index, batch_size=8, seed=0)
  ds = pipeline.train_dataset(src, sampler, transform, num_steps=6, seed=1, segment=2)
  it = pipeline.iterate(ds)
  full = [next(it) for _ in range(6)]
  # batch k holds the sampler's records of step k
  for k, b in enumerate(full):
    assert b["value"].tolist() == sampler(k).astype(np.float32).tolist()
  # an iterator restored at next_index=4 yields batches 4, 5 (augmentation too)
  it2 = pipeline.iterate(ds, state={"next_index": 4})
  for k in (4, 5):
    b = next(it2)
    np.testing.assert_array_equal(b["value"], full[k]["value"])
    np.testing.assert_array_equal(b["noise"], full[k]["noise"])
  assert it.get_state()["next_index"] == 6


def test_augmentation_rng_differs_by_segment():
  index = make_index()
  sampler = UniformSampler(index, batch_size=8, seed=0)
  a = pipeline.train_dataset(ListSource(64), sampler, transform, num_steps=1, seed=1, segment=0)
  b = pipeline.train_dataset(ListSource(64), sampler, transform, num_steps=1, seed=1, segment=1)
  assert not np.array_equal(a[0]["noise"], b[0]["noise"])


def test_processes_feed_disjoint_rows_of_the_global_batch():
  index = make_index()
  sampler = UniformSampler(index, batch_size=8, seed=0)
  full = pipeline.train_dataset(ListSource(64), sampler, transform, num_steps=2, seed=1, segment=0)
  parts = [pipeline.train_dataset(ListSource(64), sampler, transform, num_steps=2, seed=1,
                                  segment=0, process_index=k, process_count=2) for k in (0, 1)]
  for step in (0, 1):
    joined = np.concatenate([p[step]["value"] for p in parts])
    np.testing.assert_array_equal(joined, full[step]["value"])
    np.testing.assert_array_equal(np.concatenate([p[step]["noise"] for p in parts]),
                                  full[step]["noise"])


def test_eval_rows_per_process_rebuild_the_record_order():
  per = [list(pipeline.eval_batches(ListSource(10), transform, batch_size=4, process_index=k,
                                    process_count=2)) for k in (0, 1)]
  values = np.concatenate([np.concatenate([per[0][j]["value"], per[1][j]["value"]])
                           for j in range(len(per[0]))])
  masks = np.concatenate([np.concatenate([per[0][j]["mask"], per[1][j]["mask"]])
                          for j in range(len(per[0]))])
  assert values[masks > 0].tolist() == list(range(10))


def copy_transform(record, rng, train, copy=None):
  return {"value": record["value"], "copy": np.int32(copy), "noise": np.float32(rng.random())}


def test_copies_put_every_sampled_record_in_the_batch_once_per_copy():
  index = make_index()
  sampler = UniformSampler(index, batch_size=pipeline.records_per_step(8, 2), seed=0)
  ds = pipeline.train_dataset(ListSource(len(index)), sampler, copy_transform, num_steps=3,
                              seed=1, segment=0, copies=2)
  for step in range(3):
    b = ds[step]
    assert b["value"].shape == (8,)
    # row r = copy r % 2 of record r // 2; the two copies share the record's rng
    np.testing.assert_array_equal(b["value"], np.repeat(sampler(step), 2).astype(np.float32))
    assert b["copy"].tolist() == [0, 1] * 4
    np.testing.assert_array_equal(b["noise"][0::2], b["noise"][1::2])
  # a pure function of (seed, step): a fresh sampler and dataset, or a resumed
  # iterator, give the same batches
  again = pipeline.train_dataset(ListSource(len(index)), UniformSampler(index, 4, seed=0),
                                 copy_transform, num_steps=3, seed=1, segment=0, copies=2)
  it = pipeline.iterate(again, state={"next_index": 2})
  for k in (0, 1):
    np.testing.assert_array_equal(again[k]["value"], ds[k]["value"])
  resumed = next(it)
  for key in ("value", "copy", "noise"):
    np.testing.assert_array_equal(resumed[key], ds[2][key])
  # processes split the rows of the global batch of copies
  parts = [pipeline.train_dataset(ListSource(len(index)), sampler, copy_transform, num_steps=3,
                                  seed=1, segment=0, copies=2, process_index=k, process_count=4)
           for k in range(4)]
  joined = np.concatenate([p[1]["value"] for p in parts])
  np.testing.assert_array_equal(joined, ds[1]["value"])


def test_one_copy_calls_the_transform_as_before_and_odd_batches_fail():
  index = make_index()
  sampler = UniformSampler(index, batch_size=8, seed=0)
  ds = pipeline.train_dataset(ListSource(64), sampler, transform, num_steps=1, seed=1, segment=0,
                              copies=1)      # `transform` takes no `copy` argument
  assert ds[0]["value"].shape == (8,)
  with pytest.raises(ValueError, match="multiple"):
    pipeline.records_per_step(9, 2)
