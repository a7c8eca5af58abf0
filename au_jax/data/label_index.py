"""LabelIndex: the labels, subjects and sequences of every record of a split,
held in memory without images, so that samplers can choose records by label.

Building it reads each record with image decoding skipped (a few seconds for
100k records); `au_jax.data.sources` caches it next to the dataset.
"""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class LabelIndex:
  """Per-record metadata of a (possibly multi-dataset) split.

  Attributes:
    intensity: int32 [N, A] intensity 0..5, -1 = unknown (A = the split's AU list).
    occurrence: int32 [N, A] 0/1, -1 = unknown; already merged with the
      occurrence-from-intensity rule where the dataset codes only intensity.
    subject: int32 [N] code into `subjects`.
    sequence: int32 [N] code into `sequences`.
    frame: int32 [N] raw frame number.
    dataset: int32 [N] code into `datasets` (0 for a single dataset).
    subjects, sequences, datasets: names for the codes.
  """
  intensity: np.ndarray
  occurrence: np.ndarray
  subject: np.ndarray
  sequence: np.ndarray
  frame: np.ndarray
  dataset: np.ndarray
  subjects: tuple[str, ...]
  sequences: tuple[str, ...]
  datasets: tuple[str, ...] = ("default",)

  def __post_init__(self):
    n = len(self.subject)
    for f in ("intensity", "occurrence", "sequence", "frame", "dataset"):
      if len(getattr(self, f)) != n:
        raise ValueError(f"LabelIndex.{f} has {len(getattr(self, f))} rows, expected {n}")

  def __len__(self) -> int:
    return len(self.subject)

  @property
  def num_aus(self) -> int:
    return self.intensity.shape[1]

  def groups(self, codes: np.ndarray) -> list[np.ndarray]:
    """Record indices grouped by an integer code array (e.g. self.subject)."""
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    return [g for g in np.split(order, bounds) if len(g)]
