"""Multi-label CNN outputs after training: Tables I-III layout and Fig. 4.

  python -m au_jax.models.multilabel.report runs/multilabel   # -> multilabel_report.{md,json}

From a finished workdir (report.json, test_predictions.npz) this writes, for
the test split (the test dataset under a cross-dataset protocol):
  - per AU accuracy and 2AFC (= ROC AUC, Sec. V) of the QDA head
    (`occurrence`; accuracy of "the class with the higher likelihood",
    P >= 0.5, as the paper's QDA decides) and 2AFC of the softmax outputs
    (`occurrence_softmax`; 2AFC only: a softmax over the AUs has no natural
    decision threshold);
  - phi coefficients between AUs of the ground truth and of the QDA's 0/1
    predictions (Fig. 4 (a) and (b)), their correlation over AU pairs, and
    the two heatmaps in plots/phi_truth_vs_pred.png.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np

from au_jax import metrics as M
from au_jax.io import atomic_write


def per_au_table(true: np.ndarray, qda_prob: np.ndarray, soft_score: np.ndarray | None) -> dict:
  """{'accuracy', 'auc', 'auc_softmax'}: float [A] each (NaN where undefined)."""
  a = true.shape[1]
  out = {k: np.full(a, np.nan) for k in ("accuracy", "auc", "auc_softmax")}
  for k in range(a):
    ok = true[:, k] >= 0
    if not ok.any():
      continue
    t = true[ok, k]
    out["accuracy"][k] = M.accuracy(t, (qda_prob[ok, k] >= 0.5).astype(int))
    out["auc"][k] = M.roc_auc(t, qda_prob[ok, k])
    if soft_score is not None:
      out["auc_softmax"][k] = M.roc_auc(t, soft_score[ok, k])
  return out


def phi_comparison(true: np.ndarray, pred01: np.ndarray) -> dict:
  """Fig. 4: phi matrices of truth and predictions and their correlation over
  the AU pairs (i < j) where both are defined."""
  pt, pp = M.phi_matrix(true), M.phi_matrix(np.where(true >= 0, pred01, -1))
  iu = np.triu_indices(len(pt), 1)
  a, b = pt[iu], pp[iu]
  ok = np.isfinite(a) & np.isfinite(b)
  r = float(np.corrcoef(a[ok], b[ok])[0, 1]) if ok.sum() >= 3 else float("nan")
  return {"phi_truth": pt, "phi_pred": pp, "pair_correlation": r, "pairs_used": int(ok.sum())}


def _fmt(v, pct=False):
  return "n/a" if not np.isfinite(v) else (f"{100 * v:.1f}" if pct else f"{v:.3f}")


def plot_phi(pt, pp, aus, path):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  labels = [str(a) for a in aus]
  fig, axes = plt.subplots(1, 2, figsize=(9, 4))
  for ax, m, title in zip(axes, (pt, pp), ("(a) ground truth", "(b) predictions")):
    im = ax.imshow(np.nan_to_num(m), cmap="bwr", vmin=-1, vmax=1)
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_title(f"phi, {title}")
  fig.colorbar(im, ax=axes, shrink=0.8)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fig.savefig(path, dpi=100)
  plt.close(fig)


def write_report(workdir: str) -> dict:
  """multilabel_report.{md,json} (and plots/phi_truth_vs_pred.png) of a finished workdir."""
  report = json.load(open(os.path.join(workdir, "report.json")))
  npz = dict(np.load(os.path.join(workdir, "test_predictions.npz")))
  aus = report["aus"]
  true = np.asarray(npz["occurrence_true"])
  qda_prob = np.asarray(npz["occurrence"], np.float64)
  soft = npz.get("occurrence_softmax")
  table = per_au_table(true, qda_prob, soft)
  phi = phi_comparison(true, (qda_prob >= 0.5).astype(int))
  test_on = ", ".join(report.get("test_datasets") or report.get("datasets", []))
  md = [f"# Multi-label CNN + QDA: test on {test_on}", "",
        f"Protocol: {report.get('protocol', '')}. Accuracy: QDA class with the higher "
        "posterior (P >= 0.5). 2AFC = ROC AUC.", "",
        "| AU | accuracy (QDA) | 2AFC (QDA) | 2AFC (softmax) |", "|---|---|---|---|"]
  for k, a in enumerate(aus):
    md.append(f"| {a} | {_fmt(table['accuracy'][k], True)} | {_fmt(table['auc'][k])} | "
              f"{_fmt(table['auc_softmax'][k])} |")
  md.append(f"| Average | {_fmt(np.nanmean(table['accuracy']), True)} | "
            f"{_fmt(np.nanmean(table['auc']))} | {_fmt(np.nanmean(table['auc_softmax']))} |")
  md += ["", f"Fig. 4: correlation over {phi['pairs_used']} AU pairs between the phi of the "
         f"ground truth and of the QDA's predictions: {_fmt(phi['pair_correlation'])} "
         "(plots/phi_truth_vs_pred.png)."]
  out = {"aus": aus, **{k: v.tolist() for k, v in table.items()},
         "phi_truth": phi["phi_truth"].tolist(), "phi_pred": phi["phi_pred"].tolist(),
         "phi_pair_correlation": phi["pair_correlation"]}
  atomic_write(os.path.join(workdir, "multilabel_report.json"),
               json.dumps(out, indent=1, default=float).replace("NaN", "null"))
  atomic_write(os.path.join(workdir, "multilabel_report.md"), "\n".join(md) + "\n")
  try:
    plot_phi(phi["phi_truth"], phi["phi_pred"], aus,
             os.path.join(workdir, "plots", "phi_truth_vs_pred.png"))
  except ImportError:   # matplotlib is optional
    pass
  return out


if __name__ == "__main__":
  for w in sys.argv[1:]:
    write_report(w)
    print(open(os.path.join(w, "multilabel_report.md")).read())
