"""Records without their labels, and an even sample of rows: what session
statistics are fitted from (au_jax/train/fitted.py) in training and at
inference (au_jax/inference/model.py). numpy only, so that prediction does
not import the evaluation stack to use them."""
from __future__ import annotations

import numpy as np

LABEL_KEYS = ("intensity", "occurrence")


def strip_labels(record: dict) -> dict:
  return {k: v for k, v in record.items() if k not in LABEL_KEYS}


def evenly_spaced(rows: np.ndarray, n: int) -> np.ndarray:
  """At most `n` of `rows`, evenly spaced (all of them when there are fewer)."""
  if n <= 0 or len(rows) <= n:
    return rows
  return rows[np.linspace(0, len(rows) - 1, n).astype(int)]
