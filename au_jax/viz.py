"""Plots (matplotlib, written atomically as PNG).

Every figure is a bare `matplotlib.figure.Figure`, never pyplot's: drawing
a run's figures leaves the caller's matplotlib backend and pyplot state alone
(a notebook keeps its own), and matplotlib is imported only when a figure is
drawn, not when a run starts.
"""
from __future__ import annotations

import os

import numpy as np

from au_jax.io import read_jsonl


def figure(**kwargs):
  """A bare matplotlib Figure (kwargs: Figure's, e.g. figsize); `_save` writes it."""
  from matplotlib.figure import Figure
  return Figure(**kwargs)


def _handle(**kwargs):
  """A legend entry: an empty Line2D with `kwargs`."""
  from matplotlib.lines import Line2D
  return Line2D([], [], **kwargs)


def _save(fig, path, tight: bool = True):
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}.png"
  fig.savefig(tmp, dpi=110, bbox_inches="tight" if tight else None)
  os.replace(tmp, path)


# Validation metrics where lower is better: drawn dashed on their own axis,
# since errors on the 0-5 intensity scale dwarf scores in [-1, 1].
_ERRORS = ("mae", "mse")
_NOT_METRICS = ("step", "split", "stage", "cycle", "time")


def learning_curve_series(records: list[dict]) -> dict:
  """The series of the learning-curve plot, from metrics.jsonl records.

  Returns a dict:
    train: {stage name: (steps, losses)} in order of first appearance; the
      windows of one stage across all cycles form one series (CCNN-IT's
      stages optimise differently weighted objectives, so their losses are
      on different scales and only comparable within a stage).
    validation: {metric: (steps, values)} for every numeric metric of the
      split="validation" records (None = NaN in the file is skipped).
    selected_step: best_step of the last split="selection" record (the
      checkpoint model selection kept), else None.
    selection_metric: the metric it was selected by, else None.
    log_loss: True when the stages' median losses differ by more than 10x
      (and all losses are positive): a log axis keeps every stage readable.
  """
  train: dict[str, tuple[list, list]] = {}
  validation: dict[str, tuple[list, list]] = {}
  selected = metric = None
  for r in records:
    split = r.get("split")
    if split == "train" and isinstance(r.get("loss"), (int, float)):  # fit stages carry no loss
      steps, losses = train.setdefault(str(r.get("stage", "train")), ([], []))
      steps.append(r["step"])
      losses.append(float(r["loss"]))
    elif split == "validation":
      for k, v in r.items():
        if k not in _NOT_METRICS and isinstance(v, (int, float)) and not isinstance(v, bool):
          steps, values = validation.setdefault(k, ([], []))
          steps.append(r["step"])
          values.append(float(v))
    elif split == "selection" and r.get("best_step") is not None:
      selected, metric = int(r["best_step"]), r.get("metric")
  all_losses = [v for _, losses in train.values() for v in losses]
  medians = [float(np.median(losses)) for _, losses in train.values()]
  log_loss = bool(all_losses) and min(all_losses) > 0 and max(medians) > 10 * min(medians)
  return dict(train=train, validation=validation, selected_step=selected,
              selection_metric=metric, log_loss=log_loss)


def learning_curve_figure(series: dict):
  """Two panels: training loss per stage; validation metrics (or why there are none)."""
  fig = figure(figsize=(11, 3.8))
  ax_train, ax_val = fig.subplots(1, 2)
  for stage, (steps, losses) in series["train"].items():
    ax_train.plot(steps, losses, lw=1, marker="o", ms=2.5, label=stage)
  if series["log_loss"]:
    ax_train.set_yscale("log")
  ax_train.set(xlabel="step", ylabel="training loss" + (" (log)" if series["log_loss"] else ""),
               title="Training loss per stage")
  if len(series["train"]) > 1:
    ax_train.legend(fontsize=8, title="stage", title_fontsize=8)

  val = series["validation"]
  scores = {k: v for k, v in val.items() if k not in _ERRORS}
  errors = {k: v for k, v in val.items() if k in _ERRORS}
  for k, (steps, values) in scores.items():
    ax_val.plot(steps, values, marker="o", ms=3, lw=1, label=k.upper())
  ax_val.set(xlabel="step", ylabel="mean over AUs", title="Validation (threshold 0.5)")
  handles, labels = ax_val.get_legend_handles_labels()
  if errors:
    ax_err = ax_val.twinx()
    for k, (steps, values) in errors.items():
      ax_err.plot(steps, values, ls="--", marker="s", ms=3, lw=1, color="0.35" if k == "mae"
                  else "0.65", label=f"{k.upper()} (right)")
    ax_err.set_ylabel("error (lower is better)")
    h, l = ax_err.get_legend_handles_labels()
    handles, labels = handles + h, labels + l
  if not val:
    ax_val.text(0.5, 0.5, "no validation evaluations\n(config.train.eval_every = 0)",
                ha="center", va="center", transform=ax_val.transAxes, color="0.3")
    ax_val.set(xticks=[], yticks=[], ylabel="")

  if series["selected_step"] is not None:
    s = series["selected_step"]
    label = f"selected: step {s}" + (f" (best {series['selection_metric']})"
                                     if series["selection_metric"] else "")
    for ax in (ax_train, ax_val):
      line = ax.axvline(s, color="k", ls=":", lw=1.2, label=label)
    handles, labels = handles + [line], labels + [label]
  if handles:
    ax_val.legend(handles, labels, fontsize=7, ncol=2)
  for ax in (ax_train, ax_val):
    ax.grid(alpha=0.3)
  fig.tight_layout()
  return fig


def learning_curves(metrics_path: str, out_path: str) -> dict:
  """Write the learning-curve PNG of a run's metrics.jsonl; returns its series."""
  series = learning_curve_series(read_jsonl(metrics_path))
  _save(learning_curve_figure(series), out_path)
  return series


# One figure per metric: a panel per stratification (occlusion, |yaw|, true
# intensity, expressivity), the mean over AUs of each stratum, each AU faint.
def strata_series(strata: dict, metric: str) -> dict:
  """{stratification: (stratum names, mean per stratum, {AU: values per stratum},
  [stratum has an AU flagged for few positives])} of one metric; NaN where
  undefined. Stratifications without any finite value of the metric are left out."""
  out = {}
  for name, s in strata["by"].items():
    tables = s["strata"]
    names = list(tables)
    means = [tables[k]["mean"].get(metric, np.nan) for k in names]
    aus = list(next(iter(tables.values()))["per_au"]) if tables else []
    per_au = {au: [tables[k]["per_au"][au].get(metric, np.nan) for k in names] for au in aus}
    flagged = [bool(tables[k]["few_positives"]) for k in names]
    if np.isfinite(np.asarray(means + [v for vs in per_au.values() for v in vs],
                              np.float64)).any():
      out[name] = (names, means, per_au, flagged)
  return out


_STRATA_XLABEL = {"occlusion": "AU region covered (au_covered)",
                  "occluder": "frame's occluder", "yaw": "|yaw| (degrees)",
                  "intensity": "true intensity", "expressivity": "expressivity tertile"}


STRATA_METRICS = ("f1", "accuracy", "auc", "phi", "icc", "mae", "mse", "pcc")


def strata_figure(strata: dict, metrics=STRATA_METRICS):
  """One figure: a row per metric, a panel per stratification (the series of
  `strata_series`); None when no stratification has any of `metrics`. A
  fixed layout (no tight bounding boxes): one figure of ~30 panels draws in
  about a second."""
  rows = [(m, strata_series(strata, m)) for m in metrics]
  rows = [(m, series) for m, series in rows if series]
  if not rows:
    return None
  names = list(dict.fromkeys(n for _, series in rows for n in series))
  fig = figure(figsize=(2.9 * len(names), 2.1 * len(rows)))
  axes = fig.subplots(len(rows), len(names), squeeze=False)
  any_flag = False
  for r, (metric, series) in enumerate(rows):
    for c, name in enumerate(names):
      ax = axes[r][c]
      if name not in series:
        ax.axis("off")
        continue
      labels, means, per_au, flagged = series[name]
      x = np.arange(len(labels))
      for values in per_au.values():
        ax.plot(x, values, color="0.75", lw=0.8, marker=".", ms=3)
      means = np.asarray(means, np.float64)
      flagged = np.asarray(flagged)
      ax.plot(x, means, color="C0", lw=1.8, marker="o", ms=4)
      if flagged.any():
        any_flag = True
        ax.plot(x[flagged], means[flagged], ls="none", marker="o", ms=9, mfc="none", color="C3")
      ax.set_xticks(x, labels if r == len(rows) - 1 else [""] * len(x), fontsize=7)
      ax.tick_params(labelsize=7)
      ax.grid(alpha=0.3)
      if r == 0:
        ax.set_title(_STRATA_XLABEL.get(name, strata["by"][name]["field"]), fontsize=8)
      if c == 0:
        ax.set_ylabel(metric.upper() + (" (lower better)" if metric in _ERRORS else ""),
                      fontsize=8)
  handles = [_handle(color="C0", lw=1.8, marker="o", label="mean over AUs"),
             _handle(color="0.75", lw=0.8, marker=".", label="each AU")]
  if any_flag:
    handles.append(_handle(ls="none", marker="o", ms=9, mfc="none", color="C3",
                          label=f"some AU has < {strata['min_positives']} positives"))
  fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
  h = fig.get_figheight()
  fig.suptitle(f"Metrics per stratum ({strata['split']} split)", fontsize=10, y=1 - 0.1 / h)
  fig.subplots_adjust(left=0.08, right=0.98, top=1 - 0.6 / h,
                      bottom=0.55 / h, hspace=0.25, wspace=0.3)
  return fig


def strata_plots(strata: dict, out_dir: str) -> list[str]:
  """Write plots/strata.png (every metric against every stratification); the paths."""
  fig = strata_figure(strata)
  if fig is None:
    return []
  path = os.path.join(out_dir, "strata.png")
  _save(fig, path, tight=False)
  return [path]


def dependency_graphs(panels, pairs, labels, path: str, min_abs: float = 2.0,
                      note: str = "", name: str = "theta") -> None:
  """Pairwise dependence graphs side by side, on one scale, with a legend.

  Args:
    panels: [(title, weights [P])] (NaN: a pair the panel has no value for).
    pairs: [P, 2] indices into `labels`; labels: the nodes, on a circle.
    path: the PNG written.
    min_abs: edges with |weight| below it are not drawn (every panel).
    note: a line under the panels (e.g. why a panel is missing).
    name: the weight's name in the legend.

  Colour is the sign (red: positive dependence, blue: negative); width and
  opacity grow with |weight|, on the largest |weight| of all panels, so
  the panels' strengths compare directly.
  """
  pairs = np.asarray(pairs, int).reshape(-1, 2)
  n = len(labels)
  ang = np.pi / 2 - 2 * np.pi * np.arange(n) / n
  xy = np.stack([np.cos(ang), np.sin(ang)], 1)
  weights = [np.asarray(w, float) for _, w in panels]
  finite = [np.abs(w[np.isfinite(w)]) for w in weights]
  big = max([float(f.max()) for f in finite if f.size] + [1e-6])

  def width(a):
    return 0.5 + 6 * a / big

  fig = figure(figsize=(5 * len(panels), 5.4))
  axes = fig.subplots(1, len(panels), squeeze=False)
  for ax, (title, _), w in zip(axes[0], panels, weights):
    order = np.argsort(np.where(np.isfinite(w), np.abs(w), -1))
    drawn = 0
    for p in order:
      t = w[p]
      if not np.isfinite(t) or abs(t) < min_abs:
        continue
      drawn += 1
      ax.plot(*xy[pairs[p]].T, color="tab:red" if t > 0 else "tab:blue", lw=width(abs(t)),
              alpha=0.35 + 0.6 * abs(t) / big, zorder=1)
    ax.scatter(*xy.T, s=500, color="white", edgecolor="black", zorder=2)
    for (x, y), lab in zip(xy, labels):
      ax.text(x, y, str(lab), ha="center", va="center", fontsize=9, zorder=3)
    ax.set_title(f"{title}\n{drawn} of {int(np.isfinite(w).sum())} pairs drawn", fontsize=9)
    ax.set_aspect("equal")
    ax.axis("off")
  levels = sorted({round(v, 1) for v in (min_abs, big / 2, big) if v >= min_abs})
  handles = [_handle(color="tab:red", lw=3, label=f"{name} > 0 (positive dependence)"),
             _handle(color="tab:blue", lw=3, label=f"{name} < 0 (negative dependence)")]
  handles += [_handle(color="grey", lw=width(v), label=f"|{name}| = {v:g}") for v in levels]
  fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 5), fontsize=8,
             frameon=False, bbox_to_anchor=(0.5, -0.02))
  text = f"edges with |{name}| >= {min_abs:g}; width and opacity ~ |{name}| (max {big:.1f})"
  fig.text(0.5, -0.07, text + (f"\n{note}" if note else ""), ha="center", va="top", fontsize=8)
  _save(fig, path)
