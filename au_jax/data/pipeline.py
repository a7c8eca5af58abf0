"""grain pipelines: sampler -> record -> model transform -> batch.

Training: a `grain.MapDataset` over the global example positions of a stage;
position p belongs to step p // B, slot p % B, and reads record
`sampler(step)[slot]` with augmentation rng `default_rng((seed, segment,
step, slot))`. Everything is a function of the position, so the iterator's
state is one integer (saved with checkpoints) and a resumed run sees the same
batches as an uninterrupted one. grain threads read, decode and transform
examples in parallel and prefetch batches.

Copies (`copies=C`, default 1): each record the sampler draws appears in the
batch C times, as `transform(record, rng, True, copy=k)` for k = 0..C-1 (what
a copy is, the transform says: GudiTransform's copy 1 is the mirrored image,
the paper's "mirrored copy of all training images"). Row r of a step's batch
is copy r % C of the sampler's record r // C, so the batch holds
sampler.batch_size * C rows; the C copies of a record share its augmentation
rng and differ only by the copy index. Samplers stay untouched (a sampler
drawing B / C records per step) and the position is still the whole state.

Evaluation: every record once, in order; the last batch is padded with copies
of record 0 and carries `mask` = 0 there, so each example counts exactly once.
"""
from __future__ import annotations

import functools
from typing import Callable, Iterator

import grain
import numpy as np

from au_jax.data.samplers import Sampler
from au_jax.errors import ConfigValueError

Transform = Callable[[dict, "np.random.Generator | None", bool], dict]


def _stack(examples: list[dict]) -> dict:
  return {k: np.stack([e[k] for e in examples]) for k in examples[0]}


def records_per_step(batch_size: int, copies: int) -> int:
  """The sampler's batch size when each record fills `copies` rows of a batch."""
  if copies < 1 or batch_size % copies:
    raise ConfigValueError(f"config.train.batch_size {batch_size} must be a multiple of the "
                           f"{copies} training copies of each record")
  return batch_size // copies


def train_dataset(source, sampler: Sampler, transform: Transform, *, num_steps: int,
                  seed: int, segment: int, process_index: int = 0,
                  process_count: int = 1, copies: int = 1) -> grain.MapDataset:
  """MapDataset of the `num_steps` training batches of one schedule segment.

  Batches hold B = sampler.batch_size * copies rows (module docstring). With
  several processes (multi-host), process k yields rows [k * B/n, (k+1) * B/n)
  of every global batch.
  """
  rows = sampler.batch_size * copies
  if rows % process_count:
    raise ValueError(f"batch size {rows} not divisible by {process_count} processes")
  b = rows // process_count
  first_row = process_index * b
  step_indices = functools.lru_cache(maxsize=64)(sampler)

  def example(position: int) -> dict:
    step, local = divmod(int(position), b)
    slot, copy = divmod(first_row + local, copies)
    record = source[int(step_indices(step)[slot])]
    rng = np.random.default_rng((seed, segment, step, slot))
    out = (transform(record, rng, True) if copies == 1 else
           transform(record, rng, True, copy=copy))
    out["mask"] = np.float32(1.0)
    return out

  return (grain.MapDataset.range(num_steps * b)
          .map(example)
          .batch(b, batch_fn=_stack))


def iterate(ds: grain.MapDataset, *, num_threads: int = 2, prefetch: int = 4,
            state: dict | None = None):
  """A checkpointable iterator over `ds` (threads read ahead)."""
  it = iter(ds.to_iter_dataset(grain.ReadOptions(num_threads=num_threads,
                                                  prefetch_buffer_size=prefetch)))
  if state is not None:
    it.set_state(state)
  return it


def eval_batches(source, transform: Transform, *, batch_size: int,
                 indices: np.ndarray | None = None, num_threads: int = 2,
                 process_index: int = 0, process_count: int = 1) -> Iterator[dict]:
  """Batches of every record (or of `indices`) once, padded + masked.

  Global batch j holds positions [j*B, (j+1)*B); process k yields its rows
  [k*B/n, (k+1)*B/n) of each, so gathering the processes' outputs in order
  restores the record order.
  """
  idx = np.arange(len(source)) if indices is None else np.asarray(indices)
  n = len(idx)
  padded = -(-n // batch_size) * batch_size
  b = batch_size // process_count

  def example(q: int) -> dict:
    j, local = divmod(int(q), b)
    p = j * batch_size + process_index * b + local
    out = transform(source[int(idx[p if p < n else 0])], None, False)
    out["mask"] = np.float32(p < n)
    return out

  ds = grain.MapDataset.range(padded // process_count).map(example).batch(b, batch_fn=_stack)
  return iterate(ds, num_threads=num_threads)
