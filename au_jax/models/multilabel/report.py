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

Figs. 2-3, on request (a t-SNE takes seconds to minutes, so not after every run):

  python -m au_jax.models.multilabel.report runs/ml_bp4d_disfa --tsne AU12

t-SNE of the features h_i (the QDA's input, `predict`'s "features": the last
FC layer) of one AU, (a) on the training domain -- the validation split, the
paper's "development set" -- and (b) on the test domain -- the test split
(another dataset under a cross-dataset protocol), points red where the AU is
present and blue where absent (uncoded frames left out). Each panel embeds
its own sample: at most `TSNE_SAMPLE` = 500 frames per domain, drawn at
random (seed 0) among the coded ones; features come from the workdir's model
through TrainedModel, each subject's mean face from that subject's frames
in the split (as in evaluation). Written to plots/tsne_AU12.png and
multilabel_tsne_AU12.npz (the embeddings, labels and sample indices).
scikit-learn is not a runtime dependency: without it the figure is skipped
with a one-line note. After `retrain_on_validation`, WORKDIR/retrain holds
the retrained model, whose validation frames were training frames; the
selection run (WORKDIR) shows the paper's held-out development set.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from au_jax import metrics as M
from au_jax import aus as au_lib
from au_jax import viz
from au_jax.data import sources, transforms as T
from au_jax.inference.model import TrainedModel
from au_jax.io import atomic_write
from au_jax.train.fitted import evenly_spaced


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
  labels = [str(a) for a in aus]
  fig = viz.figure(figsize=(9, 4))
  axes = fig.subplots(1, 2)
  for ax, m, title in zip(axes, (pt, pp), ("(a) ground truth", "(b) predictions")):
    im = ax.imshow(np.nan_to_num(m), cmap="bwr", vmin=-1, vmax=1)
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_title(f"phi, {title}")
  fig.colorbar(im, ax=axes, shrink=0.8)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fig.savefig(path, dpi=100)


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


TSNE_SAMPLE = 500   # frames per domain (Figs. 2-3)


def domain_features(predictor, data_cfg, split: str, au_col: int, cap: int = TSNE_SAMPLE,
                    seed: int = 0) -> dict:
  """{'features' [n, D], 'present' [n] 0/1, 'rows' [n], 'coded' int}: at most
  `cap` random coded frames of `split`, features through the TrainedModel with
  each subject's mean face fitted on that subject's frames of the split."""
  data = sources.load_split(data_cfg, split)
  occ = np.asarray(data.index.occurrence)[:, au_col]
  coded = np.flatnonzero(occ >= 0)
  rows = np.sort(np.random.default_rng(seed).choice(coded, min(cap, len(coded)), replace=False))
  subject = np.asarray(data.index.subject)

  def faces(idx):
    recs = [data.source[int(i)] for i in idx]
    return (np.stack([T.decode(r["image"]) for r in recs]),
            np.stack([r["landmarks"] for r in recs]))

  feats = {}
  for s in np.unique(subject[rows]):
    mine = rows[subject[rows] == s]
    session = None
    if predictor.session_sample:
      every = np.flatnonzero(subject == s)
      session = predictor.fit_session(*faces(evenly_spaced(every, predictor.session_sample)))
    pred = predictor.predict(*faces(mine), session=session)
    feats.update(zip(mine.tolist(), np.asarray(pred["features"], np.float32)))
  return {"features": np.stack([feats[int(i)] for i in rows]) if len(rows) else
          np.zeros((0, 0), np.float32),
          "present": occ[rows].astype(int), "rows": rows, "coded": int(len(coded))}


def tsne_figure(workdir: str, au: str, cap: int = TSNE_SAMPLE, seed: int = 0) -> dict | None:
  """Figs. 2-3 for one AU ("AU12" or "12"); None (with a note) without scikit-learn."""
  try:
    from sklearn.manifold import TSNE  # optional: scikit-learn is not a dependency
  except ImportError:
    print("[multilabel] t-SNE figure skipped: scikit-learn is not installed "
          "(pip install scikit-learn)")
    return None
  predictor = TrainedModel.from_workdir(workdir)
  number = int(str(au).upper().removeprefix("AU"))
  if number not in predictor.info.aus:
    raise ValueError(f"AU {au} is not among this model's AUs {list(predictor.info.aus)}")
  col = list(predictor.info.aus).index(number)
  label = au_lib.au_label(number)
  cfg = predictor.config
  train_on = ", ".join(src["name"] for src in cfg.data.sources)
  test_on = ", ".join(src["name"] for src in cfg.data.get("test_sources") or []) or train_on
  out = {}
  for name, split in (("train_domain", "validation"), ("test_domain", "test")):
    d = domain_features(predictor, cfg.data, split, col, cap, seed)
    n = len(d["rows"])
    emb = np.zeros((n, 2))
    if n >= 3:
      emb = TSNE(n_components=2, perplexity=float(min(30.0, (n - 1) / 3.0)), init="pca",
                 random_state=seed).fit_transform(d["features"].astype(np.float64))
    out[name] = dict(d, embedding=emb, split=split)
  np.savez(os.path.join(workdir, f"multilabel_tsne_{label}.npz"),
           **{f"{k}_{f}": v[f] for k, v in out.items()
              for f in ("embedding", "present", "rows", "features")})
  try:
    fig = viz.figure(figsize=(10, 4.5))
    axes = fig.subplots(1, 2)
    titles = {"train_domain": f"(a) {train_on} validation", "test_domain": f"(b) {test_on} test"}
    for ax, name in zip(axes, ("train_domain", "test_domain")):
      d = out[name]
      for v, colour, what in ((0, "tab:blue", "absent"), (1, "tab:red", "present")):
        m = d["present"] == v
        ax.scatter(d["embedding"][m, 0], d["embedding"][m, 1], s=6, c=colour,
                   label=f"{label} {what} ({int(m.sum())})")
      ax.set_title(f"{titles[name]}: {len(d['rows'])} of {d['coded']} frames", fontsize=9)
      ax.set_xticks([])
      ax.set_yticks([])
      ax.legend(fontsize=7, loc="best")
    os.makedirs(os.path.join(workdir, "plots"), exist_ok=True)
    out["png"] = os.path.join(workdir, "plots", f"tsne_{label}.png")
    fig.savefig(out["png"], dpi=100)
  except ImportError:   # matplotlib is optional
    pass
  return out


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description="Multi-label CNN report (Tables I-III, Figs. 2-4)")
  ap.add_argument("workdirs", nargs="+")
  ap.add_argument("--tsne", default="", help="an AU (e.g. AU12): Figs. 2-3 t-SNE scatter plots")
  ap.add_argument("--tsne_sample", type=int, default=TSNE_SAMPLE, help="frames per domain")
  args = ap.parse_args(argv)
  for w in args.workdirs:
    write_report(w)
    print(open(os.path.join(w, "multilabel_report.md")).read())
    fig = tsne_figure(w, args.tsne, args.tsne_sample) if args.tsne else None
    if fig is not None:
      print(f"t-SNE of {args.tsne}: {fig.get('png', 'multilabel_tsne_*.npz')}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
