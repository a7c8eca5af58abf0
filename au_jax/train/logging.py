"""Metrics as JSON lines, and a progress bar.

`metrics.jsonl` has one object per event (train log, eval); on resume, lines
past the restored step are dropped (atomically), so the file always matches
the checkpointed run.
"""
from __future__ import annotations

import json
import math
import os
import sys

from tqdm import tqdm

from au_jax.io import atomic_write


def _clean(v):
  if isinstance(v, float) and not math.isfinite(v):
    return None if math.isnan(v) else (1e308 if v > 0 else -1e308)
  if isinstance(v, dict):
    return {k: _clean(x) for k, x in v.items()}
  if isinstance(v, (list, tuple)):
    return [_clean(x) for x in v]
  return v


class MetricsWriter:

  def __init__(self, path: str, resume_step: int = 0):
    self.path = path
    if os.path.exists(path):
      kept = []
      with open(path) as f:
        for line in f:
          try:
            rec = json.loads(line)
          except json.JSONDecodeError:
            continue  # a line cut by a kill
          # Final-evaluation lines are rewritten when the run ends again.
          if rec.get("step", 0) <= resume_step and rec.get("split") != "test":
            kept.append(line if line.endswith("\n") else line + "\n")
      atomic_write(path, "".join(kept))
    self._f = open(path, "a")

  def write(self, **record) -> None:
    self._f.write(json.dumps(_clean(record)) + "\n")
    self._f.flush()

  def close(self) -> None:
    self._f.close()


class NullWriter:
  """MetricsWriter of the processes of a multi-process run other than process 0."""

  def write(self, **record) -> None:
    del record

  def close(self) -> None:
    pass


def progress(total: int, initial: int, desc: str = "train"):
  interactive = sys.stderr.isatty()
  return tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True,
              mininterval=0.5 if interactive else 30.0, file=sys.stderr,
              disable=os.environ.get("AU_JAX_NO_PROGRESS") == "1")
