"""Plots (matplotlib, Agg backend, written atomically as PNG)."""
from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from au_jax.io import read_jsonl  # noqa: E402


def _save(fig, path):
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}.png"
  fig.savefig(tmp, dpi=110, bbox_inches="tight")
  plt.close(fig)
  os.replace(tmp, path)


def learning_curves(metrics_path: str, out_path: str) -> None:
  """Training loss per logged window and validation metrics against step."""
  recs = read_jsonl(metrics_path)
  train = [r for r in recs if r.get("split") == "train"]
  val = [r for r in recs if r.get("split") == "validation"]
  fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
  if train:
    axes[0].plot([r["step"] for r in train], [r["loss"] for r in train], lw=1)
  axes[0].set(xlabel="step", ylabel="training loss", title="Training loss")
  for key in ("f1", "auc", "icc", "pcc"):
    pts = [(r["step"], r[key]) for r in val if r.get(key) is not None]
    if pts:
      axes[1].plot(*zip(*pts), marker="o", ms=3, label=key.upper())
  axes[1].set(xlabel="step", ylabel="mean over AUs", title="Validation (threshold 0.5)")
  if val:
    axes[1].legend()
  for ax in axes:
    ax.grid(alpha=0.3)
  _save(fig, out_path)
