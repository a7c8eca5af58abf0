"""CCNN outputs after training: Table 1 layout, Fig. 3 dependency graph, theta vs truth.

  python -m au_jax.models.ccnn.report runs/ccnn        # writes runs/ccnn/ccnn_report.{md,json}
                                                       # and runs/ccnn/plots/dependency_graph*.png

From a finished workdir (config.json, report.json, test_predictions.npz,
checkpoints/) this writes:
  - per-AU ICC(3,1) and MAE on the test split for BOTH decodings (MAP of the
    CRF and expected intensity), in the layout of the paper's Table 1 (one
    row per method/decoding, one column per AU, then the average);
  - the dependency graph (Fig. 3): AUs on a circle, one edge per pair with
    |theta| >= `min_abs_theta`, width proportional to |theta|, red for
    positive and blue for negative dependence, with a legend; one plot per
    dataset (Eq. 12). Where the dataset states its true dependence
    (synthetic_au: builder metadata `dependence`, the label model's Frank
    theta and Kendall tau per pair) the TRUE graph (its Frank theta) is drawn
    beside the learned one on the same scale; otherwise (licensed data) the
    learned graph alone, with one line saying there is no truth to draw;
  - theta recovery, where there is a truth: the Spearman rank correlation of
    the learned theta with the true Frank theta (and with Kendall tau) over
    the pairs, and per pair the learned and true theta, their ranks among
    the pairs and whether their signs agree.

Paper symbol -> code name: theta_rs -> `theta` [D, P] (D datasets, P pairs);
E -> `pairs` [P, 2]; Fig. 3's edge threshold -> `min_abs_theta`.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np

from au_jax import viz
from au_jax import metrics as M
from au_jax import aus as au_lib
from au_jax.data import sources
from au_jax.io import atomic_write
from au_jax.models import copula
from au_jax.train.checkpoint import restore_workdir_raw


def decoding_metrics(npz: dict, aus, intensity_coded=None, dataset: int | None = None) -> dict:
  """Per-AU ICC(3,1) and MAE of each decoding in a test_predictions.npz.

  Args:
    npz: mapping with `intensity_true` [N, A] (-1 = not coded) and
      `intensity_map` / `intensity_expected` (or just `intensity`) [N, A].
    aus: the A AU ids.
    intensity_coded: bool [A]; AUs never coded for intensity are skipped.
    dataset: keep only the rows of this dataset code (`dataset` key of npz).

  Returns:
    {decoding: {"per_au": {"AU01": {"icc", "mae"}}, "mean": {"icc", "mae"}}}.
  """
  true = np.asarray(npz["intensity_true"])
  keep = np.ones(len(true), bool)
  if dataset is not None:
    keep = np.asarray(npz["dataset"]).reshape(-1) == dataset
  true = true[keep]
  if intensity_coded is not None:
    true = np.where(np.asarray(intensity_coded, bool)[None], true, -1)
  out = {}
  keys = [k for k in ("intensity_map", "intensity_expected") if k in npz] or ["intensity"]
  for key in keys:
    m = M.intensity_metrics(true, np.asarray(npz[key])[keep])
    per_au = {}
    for a, au in enumerate(aus):
      if (true[:, a] >= 0).sum() >= 2:
        per_au[au_lib.au_label(au)] = {"icc": float(m["icc"][a]), "mae": float(m["mae"][a])}
    mean = {k: float(np.nanmean([r[k] for r in per_au.values()])) if per_au else float("nan")
            for k in ("icc", "mae")}
    out[key.replace("intensity_", "") if key != "intensity" else "chosen"] = {
        "per_au": per_au, "mean": mean}
  return out


def table1(rows: dict, metrics=("icc", "mae"), spreads: dict | None = None) -> str:
  """Markdown in the layout of Table 1: per metric, one row per method, AUs as columns.

  Args:
    rows: {method name: {"per_au": {"AU01": {"icc": .., "mae": ..}}, "mean": {...}}}.
    metrics: which blocks to print.
    spreads: optional {method: {"per_au": ..., "mean": ...}} of standard
      deviations, printed as `mean±sd`.

  Returns:
    markdown text.
  """
  aus = []
  for r in rows.values():
    aus += [a for a in r["per_au"] if a not in aus]
  names = {"icc": "ICC(3,1)", "mae": "MAE"}
  fmt = lambda v: "–" if v is None or not np.isfinite(v) else f"{v:.2f}".replace("0.", ".", 1)
  lines = []
  for metric in metrics:
    lines += [f"**{names[metric]}**", "",
              "| method | " + " | ".join(a.replace("AU0", "").replace("AU", "") for a in aus)
              + " | avr. |", "|---" * (len(aus) + 2) + "|"]
    for name, r in rows.items():
      sd = (spreads or {}).get(name)
      cell = lambda v, s: fmt(v) + (f"±{fmt(s)}" if s is not None and np.isfinite(s) else "")
      vals = [cell(r["per_au"].get(a, {}).get(metric),
                   sd["per_au"].get(a, {}).get(metric) if sd else None) for a in aus]
      vals.append(cell(r["mean"].get(metric), sd["mean"].get(metric) if sd else None))
      lines.append(f"| {name} | " + " | ".join(vals) + " |")
    lines.append("")
  return "\n".join(lines)


def learned_theta(workdir: str) -> tuple[np.ndarray | None, np.ndarray | None]:
  """(theta [D, P], pairs [P, 2]) of the selected checkpoint of a CCNN workdir
  (the one its test report was computed with).

  theta = theta_max tanh(theta_raw) (copula.FrankPairwise); (None, None) if
  the model has no copula (CNN / OCNN / SCNN).
  """
  config = json.load(open(os.path.join(workdir, "config.json")))
  model = config["model"]
  if model.get("variant") != "ccnn":
    return None, None
  _, _, state = restore_workdir_raw(workdir, "best")
  params = state["params"]
  raw = np.asarray(params["pairwise.theta_raw"] if "pairwise.theta_raw" in params
                   else params["pairwise"]["theta_raw"])
  num_aus = len(json.load(open(os.path.join(workdir, "report.json")))["aus"])
  pairs = (np.asarray(copula.all_pairs(num_aus)) if model.get("pairs") is None
           else np.asarray(model["pairs"])).reshape(-1, 2)
  return float(model.get("theta_max", 20.0)) * np.tanh(raw), pairs


def _spearman(a, b) -> float:
  a, b = np.asarray(a, float), np.asarray(b, float)
  ok = np.isfinite(a) & np.isfinite(b)
  if ok.sum() < 3:
    return float("nan")
  ra, rb = M._average_ranks(a[ok]), M._average_ranks(b[ok])
  return float(np.corrcoef(ra, rb)[0, 1])


def theta_vs_truth(theta: np.ndarray, pairs: np.ndarray, aus, dependence: dict,
                   dataset_aus) -> dict:
  """Learned theta of each pair beside the generator's Frank theta and Kendall tau.

  Args:
    theta: [P] learned theta of one dataset.
    pairs: [P, 2] indices into `aus`.
    aus: the model's AU list (union over datasets).
    dependence: builder metadata `dependence` (`frank_theta`, `kendall_tau`
      [A_d][A_d] over `dataset_aus`).
    dataset_aus: the dataset's AU list.

  Returns:
    {"rows": [{"pair", "theta", "true_theta", "kendall_tau", "rank_theta",
     "rank_true_theta", "sign_agrees"}], "spearman_theta", "spearman_tau",
     "sign_agreement", "n_pairs"} over the pairs the dataset codes. Ranks are
    1 = the most positive theta among the pairs (ties averaged); `sign_agrees`
    is None where the true theta is 0; `sign_agreement` is the share of the
    pairs with a nonzero true theta whose learned theta has its sign.
  """
  pos = {int(a): i for i, a in enumerate(dataset_aus)}
  ft, kt = np.asarray(dependence["frank_theta"], float), np.asarray(dependence["kendall_tau"], float)
  rows = []
  for p, (r, s) in enumerate(pairs):
    ar, as_ = int(aus[r]), int(aus[s])
    if ar in pos and as_ in pos:
      i, j = pos[ar], pos[as_]
      rows.append({"pair": f"{ar}-{as_}", "theta": float(theta[p]),
                   "true_theta": float(ft[i, j]), "kendall_tau": float(kt[i, j])})
  learned = [r["theta"] for r in rows]
  true = [r["true_theta"] for r in rows]
  if rows:
    for r, a, b in zip(rows, M._average_ranks(-np.asarray(learned)),
                       M._average_ranks(-np.asarray(true))):
      r.update(rank_theta=float(a), rank_true_theta=float(b),
               sign_agrees=None if r["true_theta"] == 0 else bool(
                   np.sign(r["theta"]) == np.sign(r["true_theta"])))
  signed = [r["sign_agrees"] for r in rows if r["sign_agrees"] is not None]
  return {"rows": rows, "n_pairs": len(rows),
          "spearman_theta": _spearman(learned, true),
          "spearman_tau": _spearman(learned, [r["kendall_tau"] for r in rows]),
          "sign_agreement": float(np.mean(signed)) if signed else float("nan")}


def true_theta_of_pairs(pairs: np.ndarray, aus, dependence: dict, dataset_aus) -> np.ndarray:
  """[P] true Frank theta of each model pair (NaN where the dataset does not code both AUs)."""
  pos = {int(a): i for i, a in enumerate(dataset_aus)}
  ft = np.asarray(dependence["frank_theta"], float)
  out = np.full(len(pairs), np.nan)
  for p, (r, s) in enumerate(pairs):
    if int(aus[r]) in pos and int(aus[s]) in pos:
      out[p] = ft[pos[int(aus[r])], pos[int(aus[s])]]
  return out


def plot_dependency_graph(theta: np.ndarray, pairs: np.ndarray, aus, path: str,
                          min_abs_theta: float = 2.0, title: str = "",
                          true_theta: np.ndarray | None = None, note: str = "") -> None:
  """Fig. 3: AUs on a circle, edges with width ~ |theta|, red > 0, blue < 0,
  with a legend; `true_theta` ([P], NaN for a pair without truth): the true
  graph on the left, on the same scale; without it, `note` says why."""
  panels = [(title or "learned theta", theta)]
  if true_theta is not None:
    panels.insert(0, ("true Frank theta (the label model's)", true_theta))
  viz.dependency_graphs(panels, pairs, aus, path, min_abs_theta, note=note)


def ccnn_outputs(workdir: str, min_abs_theta: float = 2.0) -> dict:
  """Write ccnn_report.{json,md} and the dependency graphs of a finished CCNN workdir."""
  report = json.load(open(os.path.join(workdir, "report.json")))
  config = json.load(open(os.path.join(workdir, "config.json")))
  aus = report["aus"]
  npz = dict(np.load(os.path.join(workdir, "test_predictions.npz")))
  out = {"decodings": {"all": decoding_metrics(npz, aus)}}
  datasets = report["datasets"]
  # Per training dataset (Eq. 12); a cross-dataset test set is one other dataset.
  if len(datasets) > 1 and "dataset" in npz and not report.get("test_datasets"):
    for d, name in enumerate(datasets):
      out["decodings"][name] = decoding_metrics(npz, aus, dataset=d)
  md = [f"# CCNN outputs: {config['model'].get('variant')} on {', '.join(datasets)}", ""]
  for scope, dec in out["decodings"].items():
    md += [f"## Test, {scope}: ICC(3,1) and MAE per AU (Table 1 layout)", "",
           table1({f"{config['model'].get('variant', '').upper()} ({k})": v
                   for k, v in dec.items()})]
  theta, pairs = learned_theta(workdir)
  if theta is not None:
    out["theta"] = {"pairs": [[int(aus[r]), int(aus[s])] for r, s in pairs],
                    "theta": theta.tolist()}
    data_dir = config["data"].get("data_dir")
    for d, src in enumerate(config["data"]["sources"]):
      name = datasets[d] if d < len(datasets) else src["name"]
      graph = os.path.join(workdir, "plots", f"dependency_graph_{d}.png")
      dependence, why = true_dependence(src["name"], data_dir)
      if dependence is None:
        line = f"{name}: no true dependence to compare with ({why}); the learned graph only."
        out.setdefault("no_true_dependence", {})[name] = line
        plot_dependency_graph(theta[d], pairs, aus, graph, min_abs_theta,
                              title=f"learned theta, {name}", note=line)
        md += [f"## Learned theta, {name}", "", line + f" Graph: plots/dependency_graph_{d}.png",
               ""]
        continue
      cmp = theta_vs_truth(theta[d], pairs, aus, dependence, dependence["aus"])
      out.setdefault("theta_vs_truth", {})[name] = cmp
      plot_dependency_graph(theta[d], pairs, aus, graph, min_abs_theta,
                            title=f"learned theta, {name}",
                            true_theta=true_theta_of_pairs(pairs, aus, dependence,
                                                           dependence["aus"]))
      md += theta_recovery_md(cmp, name, f"plots/dependency_graph_{d}.png")
  atomic_write(os.path.join(workdir, "ccnn_report.json"), json.dumps(out, indent=1))
  atomic_write(os.path.join(workdir, "ccnn_report.md"), "\n".join(md))
  return out


def true_dependence(source: str, data_dir) -> tuple[dict | None, str]:
  """(the builder metadata `dependence` with its `aus`, "") of a dataset, or
  (None, why) where it states none (licensed data) or cannot be read here."""
  try:   # never builds a dataset to read its metadata
    meta = sources.get_builder(source, data_dir, build=False).info.metadata
  except Exception as e:  # licensed data not present here: no truth to compare
    return None, f"its metadata cannot be read here: {type(e).__name__}"
  if not meta or "dependence" not in meta:
    return None, "the dataset states no true dependence"
  dep = dict(meta["dependence"])
  dep.setdefault("aus", meta.get("aus"))
  return dep, ""


def theta_recovery_md(cmp: dict, name: str, graph: str) -> list[str]:
  """The theta-recovery section of ccnn_report.md (rows by decreasing |true theta|)."""
  rows = sorted(cmp["rows"], key=lambda r: -abs(r["true_theta"]))
  md = [f"## Theta recovery: learned theta vs the label model's true dependence, {name}", "",
        (f"Spearman(learned theta, true Frank theta) = {cmp['spearman_theta']:.3f}; "
         f"Spearman(learned theta, Kendall tau) = {cmp['spearman_tau']:.3f}; signs agree on "
         f"{cmp['sign_agreement']:.0%} of the pairs with a nonzero true theta; "
         f"{cmp['n_pairs']} pairs. Graph (true left, learned right): {graph}"), "",
        ("| pair | learned theta | true theta | Kendall tau | rank learned | rank true "
         "| sign agrees |"), "|---|---|---|---|---|---|---|"]
  md += [f"| {r['pair']} | {r['theta']:.2f} | {r['true_theta']:.2f} | {r['kendall_tau']:.2f} "
         f"| {r['rank_theta']:g} | {r['rank_true_theta']:g} | "
         f"{'–' if r['sign_agrees'] is None else ('yes' if r['sign_agrees'] else 'no')} |"
         for r in rows]
  return md + [""]


if __name__ == "__main__":
  for wd in sys.argv[1:]:
    ccnn_outputs(wd)
    print(open(os.path.join(wd, "ccnn_report.md")).read())
