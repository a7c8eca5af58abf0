"""DSIN outputs after training: Tables 2-3 layout, Fig. 5's chi, SI gain, patches.

  python -m au_jax.models.dsin.report runs/dsin   # writes runs/dsin/dsin_report.{md,json}
                                                  # and runs/dsin/plots/{chi,si_gain,patches}.png

Written by au_jax.reports at the end of every run, from the
finished workdir (report.json, config.json, test_predictions.npz: `predict`
keeps `patch` [N, P, A], `fusion` [N, A], `si` and `chi` [N, T, A], and the
engine saves every key):
  - per-AU F1 on the test split in the layout of Tables 2-3, every row from
    the SAME trained model: PP(<input>) = each patch CNN's own output p_i,
    PP+F = the fusion output f, DSIN_t = the SI prediction y^t after t
    iterations (t in 2, 5 and T, as far as T goes; iterations of the one
    T-iteration model, not separately trained DSIN_t as in Table 2), all at
    the paper's tau = 0.5; and DSIN^tt = y^T with the per-AU thresholds the
    engine tuned on validation (report.json `thresholds`);
  - chi statistics per iteration t: mean and standard deviation of the
    correction factors over the test examples and AUs (Fig. 5 plots them
    over training; here they are the final model's, per iteration), plot
    plots/chi.png;
  - plots/si_gain.png: per-AU F1 of PP+F against DSIN (what SI changes);
  - plots/patches.png: the patch windows on three test faces registered to
    the run's fitted reference anchors (needs the dataset; skipped with a
    message when it cannot be read);
  - the reference anchors and how many neutral training frames they average,
    and how many patch windows were clamped on test.
"""
from __future__ import annotations

import json
import os
import sys

import ml_collections
import numpy as np

from au_jax import viz
from au_jax import metrics as M
from au_jax import aus as au_lib
from au_jax.data import sources
from au_jax.io import atomic_write
from au_jax.models.dsin.transform import DSINTransform
from au_jax.train import checkpoint

TAU = 0.5
SI_ITERATIONS = (2, 5, 10)   # Table 2's DSIN_T


def f1_row(true: np.ndarray, prob: np.ndarray, thresholds=TAU) -> np.ndarray:
  """Per-AU F1 [A] of `prob` [N, A] against `true` [N, A] (-1 masked)."""
  return M.occurrence_metrics(true, prob, thresholds)["f1"]


def table_rows(npz, input_names, thresholds=None) -> dict[str, np.ndarray]:
  """{row name: per-AU F1 [A]} of Tables 2-3 from one model's test predictions.

  Args:
    npz: mapping with `occurrence_true` [N, A], `patch` [N, P, A], `fusion`
      [N, A], and (with SI) `si` [N, T, A].
    input_names: the P input names (the patches, then "face").
    thresholds: [A] tuned thresholds of the final output (DSIN^tt row), or None.
  """
  true = np.asarray(npz["occurrence_true"])
  patch = np.asarray(npz["patch"])
  if patch.shape[1] != len(input_names):
    raise ValueError(f"test_predictions.npz has {patch.shape[1]} patch outputs, the config "
                     f"{len(input_names)} inputs {list(input_names)}")
  rows = {f"PP({name})": f1_row(true, patch[:, i]) for i, name in enumerate(input_names)}
  rows["PP+F"] = f1_row(true, np.asarray(npz["fusion"]))
  final = "PP+F"
  if "si" in npz:
    si = np.asarray(npz["si"])
    iters = si.shape[1]
    for t in sorted({t for t in SI_ITERATIONS if t < iters} | {iters}):
      rows[f"DSIN_{t}"] = f1_row(true, si[:, t - 1])
    final = f"DSIN_{iters}"
  if thresholds is not None:
    prob = np.asarray(npz["si"])[:, -1] if "si" in npz else np.asarray(npz["fusion"])
    rows[("DSIN" if "si" in npz else "PP+F") + "^tt"] = f1_row(true, prob, np.asarray(thresholds))
  rows["_final"] = rows[final]
  return rows


def chi_stats(chi: np.ndarray) -> dict[str, list[float]]:
  """Per iteration t: mean and std of chi^t [N, T, A] over examples and AUs."""
  chi = np.asarray(chi, np.float64)
  return {"iteration": list(range(1, chi.shape[1] + 1)),
          "mean": chi.mean(axis=(0, 2)).tolist(), "std": chi.std(axis=(0, 2)).tolist()}


def markdown_table(rows: dict[str, np.ndarray], aus) -> str:
  """Rows of per-AU F1 (x100, as the paper) and their mean over AUs."""
  head = "| | " + " | ".join(au_lib.au_label(a) for a in aus) + " | Avg |"
  lines = [head, "|" + "---|" * (len(aus) + 2)]
  for name, f1 in rows.items():
    cells = ["-" if not np.isfinite(v) else f"{100 * v:.1f}" for v in f1]
    mean = np.nanmean(f1) if np.isfinite(f1).any() else np.nan
    lines.append(f"| {name} | " + " | ".join(cells) + f" | {100 * mean:.1f} |")
  return "\n".join(lines)


def plot_chi(stats: dict, path: str, title: str = "") -> None:
  """Fig. 5 style: mean of chi per iteration (line) and +- std (envelope)."""
  t, mu, sd = (np.asarray(stats[k], float) for k in ("iteration", "mean", "std"))
  fig = viz.figure(figsize=(5, 3))
  ax = fig.subplots()
  ax.fill_between(t, mu - sd, mu + sd, alpha=0.3, color="tab:blue", label="± std")
  ax.plot(t, mu, color="tab:blue", marker="o", label="mean")
  ax.set(xlabel="SI iteration t", ylabel="correction factor chi", ylim=(0, 1),
         title=title or "chi per iteration (test set)")
  ax.legend(fontsize=8)
  viz._save(fig, path)


def plot_si_gain(fusion_f1: np.ndarray, si_f1: np.ndarray, aus, path: str,
                 si_name: str = "DSIN") -> None:
  """Per-AU F1 of PP+F and DSIN side by side (bars), the gain annotated."""
  x = np.arange(len(aus))
  fig = viz.figure(figsize=(max(4, 0.6 * len(aus) + 1.5), 3))
  ax = fig.subplots()
  ax.bar(x - 0.2, np.nan_to_num(fusion_f1), 0.4, label="PP+F")
  ax.bar(x + 0.2, np.nan_to_num(si_f1), 0.4, label=si_name)
  for i, (a, b) in enumerate(zip(fusion_f1, si_f1)):
    if np.isfinite(a) and np.isfinite(b):
      ax.text(i, max(a, b) + 0.02, f"{100 * (b - a):+.0f}", ha="center", fontsize=7)
  ax.set_xticks(x, [au_lib.au_label(a) for a in aus], rotation=45, fontsize=8)
  ax.set(ylabel="F1 (tau = 0.5)", ylim=(0, 1.1), title="what structure inference changes")
  ax.legend(fontsize=8)
  viz._save(fig, path)


def plot_patches(faces, windows, patch_size: int, names, path: str, reference=None) -> None:
  """The patch windows (boxes, named) on registered faces (one panel each),
  and the reference anchors (white crosses) the faces were registered to."""
  from matplotlib import colormaps
  from matplotlib.patches import Rectangle
  fig = viz.figure(figsize=(3 * len(faces), 3.2))
  axes = fig.subplots(1, len(faces), squeeze=False)
  colours = colormaps["tab10"](np.arange(len(names)) % 10)
  for ax, face, win in zip(axes[0], faces, windows):
    ax.imshow(face)
    for (x, y), name, c in zip(win, names, colours):
      ax.add_patch(Rectangle((x - 0.5, y - 0.5), patch_size, patch_size, fill=False,
                                 edgecolor=c, lw=1.5))
      ax.text(x, y - 1, name, color=c, fontsize=6, va="bottom")
    if reference is not None:
      ax.plot(reference[:, 0], reference[:, 1], "w+", ms=8, mew=1.5)
    ax.axis("off")
  fig.suptitle(f"DSIN patches ({patch_size} x {patch_size}) on registered faces (+: reference "
               "anchors); the 6th input is the whole face", fontsize=8)
  viz._save(fig, path)


def transform_of(model_cfg: dict):
  """The run's DSINTransform from its saved config.model."""
  keys = ("face_size", "patch_size", "patches")
  return DSINTransform(**{k: model_cfg[k] for k in keys if k in model_cfg})


def fitted_anchors(workdir: str) -> dict:
  """The run's fitted reference anchors (selected checkpoint): {"reference"
  [3, 2] face pixels, "neutral_frames"}."""
  _, _, raw = checkpoint.restore_workdir_raw(workdir, "best")
  return {k: np.asarray(v) for k, v in raw["fitted"]["anchors"].items()}


def sample_faces(config: dict, transform, reference, n: int = 3):
  """(registered faces uint8, patch windows) of `n` test records of different
  subjects where possible, registered with `reference` as the model does."""

  split = sources.load_split(ml_collections.ConfigDict(config["data"]), "test")
  subj = np.asarray(split.index.subject)
  firsts = np.unique(subj, return_index=True)[1]
  rows = (firsts if len(firsts) >= n else np.arange(len(subj)))
  rows = rows[np.linspace(0, len(rows) - 1, min(n, len(rows))).astype(int)]
  ex = [transform(split.source[int(r)]) for r in rows]
  faces, _, windows, _ = transform.register(np.stack([e["face"] for e in ex]),
                                            np.stack([e["landmarks"] for e in ex]), reference)
  faces = np.clip(np.rint(np.asarray(faces)), 0, 255).astype(np.uint8)
  return list(faces), list(np.asarray(windows))


def dsin_outputs(workdir: str, faces: bool = True) -> dict:
  """Write dsin_report.{json,md} and plots/{chi,si_gain,patches}.png of a finished run."""
  with open(os.path.join(workdir, "report.json")) as f:
    report = json.load(f)
  with open(os.path.join(workdir, "config.json")) as f:
    config = json.load(f)
  aus = report["aus"]
  npz = dict(np.load(os.path.join(workdir, "test_predictions.npz")))
  transform = transform_of(config["model"])
  names = transform.input_names
  rows = table_rows(npz, names, report.get("thresholds"))
  final = rows.pop("_final")
  out = {"aus": aus, "tau": TAU, "thresholds_tuned": report.get("thresholds"),
         "occurrence_threshold": config["data"].get("occurrence_threshold"),
         "f1": {k: [float(x) if np.isfinite(x) else None for x in v] for k, v in rows.items()},
         "f1_mean": {k: float(np.nanmean(v)) if np.isfinite(v).any() else None
                     for k, v in rows.items()}}
  md = [f"# DSIN outputs: {report.get('protocol', '')}", "",
        (f"Per-AU F1 (x100) on the test split, Tables 2-3 layout, one trained model. "
         f"Rows at tau = {TAU} unless marked ^tt (per-AU thresholds tuned on validation). "
         f"DSIN_t = the SI prediction after t iterations of this model."), "",
        markdown_table(rows, aus), ""]
  plots = os.path.join(workdir, "plots")
  if "si" in npz:
    plot_si_gain(rows["PP+F"], final, aus, os.path.join(plots, "si_gain.png"),
                 f"DSIN_{np.asarray(npz['si']).shape[1]}")
  if "chi" in npz and config["model"].get("use_correction", True):
    out["chi"] = chi_stats(npz["chi"])
    plot_chi(out["chi"], os.path.join(plots, "chi.png"))
    md += ["## Correction factors chi per SI iteration (test set, Fig. 5)", "",
           "| t | " + " | ".join(str(t) for t in out["chi"]["iteration"]) + " |",
           "|" + "---|" * (len(out["chi"]["iteration"]) + 1),
           "| mean | " + " | ".join(f"{v:.3f}" for v in out["chi"]["mean"]) + " |",
           "| std | " + " | ".join(f"{v:.3f}" for v in out["chi"]["std"]) + " |", ""]
  if "patches_clamped" in npz:
    clamped = np.asarray(npz["patches_clamped"])
    out["patches_clamped"] = {"windows": int(clamped.sum()), "examples": int((clamped > 0).sum()),
                              "of_examples": len(clamped)}
    md += [f"Patch windows clamped inside the registered face on test: "
           f"{out['patches_clamped']['windows']} in {out['patches_clamped']['examples']} of "
           f"{len(clamped)} examples.", ""]
  anchors = fitted_anchors(workdir)
  out["anchors"] = {"reference": anchors["reference"].tolist(),
                    "neutral_frames": int(anchors["neutral_frames"])}
  if faces:
    try:
      imgs, windows = sample_faces(config, transform, anchors["reference"])
      plot_patches(imgs, windows, transform.patch_size, names[:-1],
                   os.path.join(plots, "patches.png"), anchors["reference"])
    except Exception as e:  # the dataset may not be readable where the report is made
      print(f"[dsin_report] no plots/patches.png: {e!r}", flush=True)
  atomic_write(os.path.join(workdir, "dsin_report.json"), json.dumps(out, indent=1))
  atomic_write(os.path.join(workdir, "dsin_report.md"), "\n".join(md))
  return out


if __name__ == "__main__":
  if len(sys.argv) != 2:
    sys.exit("usage: python -m au_jax.models.dsin.report WORKDIR")
  dsin_outputs(sys.argv[1])
