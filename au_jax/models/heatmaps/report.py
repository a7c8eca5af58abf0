"""Figures of a finished heatmap run (its method report, see au_jax.reports):

  python -m au_jax.models.heatmaps.report runs/heatmaps

  plots/targets.png   Eq. 1 targets of every AU over three aligned test faces
                      of different subjects;
  plots/heatmaps.png  for four test frames: the input, the predicted maps and
                      the target maps of every AU (not for the ResNet-18
                      baseline, which predicts no maps).

Both need the dataset (the test split is read again); where it cannot be
read the figure is skipped with a message.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from au_jax.data import transforms as T
from au_jax.data import sources
from au_jax.inference.model import TrainedModel
from au_jax.models import get_spec
from au_jax.viz import _save, figure


def load_test(workdir: str, batch_size: int = 16):
  """(TrainedModel, test Split) of a finished workdir."""
  predictor = TrainedModel.from_workdir(workdir, batch_size=batch_size)
  return with_maps(predictor), sources.load_split(predictor.config.data, "test")


def with_maps(predictor):
  """The predictor returning the maps even where the run kept them out of its
  saved predictions (`heatmaps_output=False`, the licensed-data configs)."""
  model = predictor.config.model
  if model.get("heatmaps_output", True) or model.get("arch") == "resnet18":
    return predictor
  cfg = model.copy_and_resolve_references()
  cfg.heatmaps_output = True
  return predictor.use_method(get_spec("heatmaps").build(cfg, predictor.info))


def spread_rows(split, n: int) -> np.ndarray:
  """`n` record indices of different subjects where possible, evenly spaced."""
  subj = np.asarray(split.index.subject)
  firsts = np.unique(subj, return_index=True)[1]
  rows = np.sort(firsts) if len(firsts) >= n else np.arange(len(subj))
  return rows[np.linspace(0, len(rows) - 1, min(n, len(rows))).astype(int)]


def examples(predictor, split, rows):
  """Transformed test examples (no augmentation) batched: image [N, S, S, 3]
  in [0, 1], landmarks, intensity; plus the records' aligned faces (uint8)
  and landmarks, as `TrainedModel.predict` takes them."""
  t = predictor.method.transform
  recs = [split.source[int(r)] for r in rows]
  ex = [t(r, None, False) for r in recs]
  batch = {k: np.stack([e[k] for e in ex]) for k in ("image", "landmarks", "intensity")}
  faces = np.stack([T.decode(r["image"]) for r in recs])
  return batch, faces, np.stack([r["landmarks"] for r in recs])


def target_maps(transform, batch, map_size: int) -> np.ndarray:
  maps, _ = transform.targets.maps(batch["landmarks"], np.clip(batch["intensity"], 0, None),
                                   batch["image"].shape[1], map_size)
  return np.asarray(maps)


def _overlay(ax, image, heat, vmax=5.0):
  s = image.shape[0]
  ax.imshow(image)
  ax.imshow(heat, cmap="jet", alpha=0.5, vmin=0, vmax=vmax,
            extent=(-0.5, s - 0.5, s - 0.5, -0.5), interpolation="bilinear")
  ax.set_xticks([])
  ax.set_yticks([])


def plot_targets(images, maps, intensity, aus, path):
  """images [N, S, S, 3] in [0, 1]; maps [N, h, w, A]; one row per face."""
  n, a = len(images), len(aus)
  fig = figure(figsize=(1.8 * a, 1.9 * n), layout="constrained")
  axes = fig.subplots(n, a, squeeze=False)
  for i in range(n):
    for k in range(a):
      _overlay(axes[i, k], images[i], maps[i, ..., k])
      lab = intensity[i, k]
      axes[i, k].set_title(f"AU{aus[k]}  I={lab if lab >= 0 else '?'}", fontsize=8)
  fig.suptitle("Eq. 1 targets over aligned test faces (colour scale 0..5)", fontsize=9)
  _save(fig, path)


def plot_heatmaps(images, pred, target, intensity, pred_intensity, aus, path):
  """Per frame two rows: predicted maps (with the predicted intensity) and
  target maps (with the label); column 0 the input."""
  n, a = len(images), len(aus)
  fig = figure(figsize=(1.7 * (a + 1), 1.8 * 2 * n), layout="constrained")
  axes = fig.subplots(2 * n, a + 1, squeeze=False)
  for i in range(n):
    for r, (maps, vals, name) in enumerate(((pred, pred_intensity, "pred"),
                                            (target, intensity, "target"))):
      ax = axes[2 * i + r]
      ax[0].imshow(images[i])
      ax[0].set_xticks([])
      ax[0].set_yticks([])
      ax[0].set_ylabel(f"frame {i}: {name}", fontsize=8)
      for k in range(a):
        _overlay(ax[k + 1], images[i], maps[i, ..., k])
        ax[k + 1].set_title(f"AU{aus[k]} {vals[i, k]:.1f}", fontsize=8)
  fig.suptitle("Input, predicted and target maps of test frames (colour scale 0..5)",
               fontsize=9)
  _save(fig, path)


def write_report(workdir: str) -> None:
  """plots/targets.png and (heatmap archs) plots/heatmaps.png of a finished run."""
  plots = os.path.join(workdir, "plots")
  try:
    predictor, split = load_test(workdir)
  except Exception as e:  # the dataset may not be readable where the report is made
    print(f"[heatmaps_report] no figures: {e!r}", flush=True)
    return
  aus = list(predictor.info.aus)
  transform = predictor.method.transform
  batch, _, _ = examples(predictor, split, spread_rows(split, 3))
  map_size = batch["image"].shape[1] // 4
  plot_targets(batch["image"], target_maps(transform, batch, map_size), batch["intensity"],
               aus, os.path.join(plots, "targets.png"))
  rows = np.linspace(0, len(split.source) - 1, min(4, len(split.source))).astype(int)
  batch, faces, landmarks = examples(predictor, split, rows)
  out = predictor.predict(faces, landmarks)
  if "heatmaps" not in out:
    return
  pred = out["heatmaps"]
  plot_heatmaps(batch["image"], pred, target_maps(transform, batch, pred.shape[1]),
                batch["intensity"], out["intensity"], aus, os.path.join(plots, "heatmaps.png"))


if __name__ == "__main__":
  if len(sys.argv) != 2:
    sys.exit("usage: python -m au_jax.models.heatmaps.report WORKDIR")
  write_report(sys.argv[1])
