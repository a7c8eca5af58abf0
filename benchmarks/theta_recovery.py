"""CCNN-IT's learned copula theta against the label model's dependence, and
against the dependence that remains once the image evidence is read.

The copula's theta couples the AUs' CONDITIONAL marginals (given the image,
Eq. 6), while the label model's Frank theta / Kendall tau is the
UNCONDITIONAL dependence of the labels: features that see both AUs explain
part of it away. What remains given the evidence is estimated here from an
image-only model of the same seed: the independent OCNN-IT's expected
intensities E[y | x] on the test frames, and per AU pair Kendall's tau-b of
the residuals y - E[y | x] (over the frames that code both AUs). Beside it,
tau-b of the labels themselves on the same frames.

Per seed where both runs exist (the claims' arms `ccnn_it` and `ocnn_it`,
`runs/claims/<arm>_s<seed>`, trained at the equal budget on
synthetic_au/disfa_like), over the AU pairs:

  spearman_theta_true      Spearman(learned theta, true Kendall tau)
  spearman_theta_residual  Spearman(learned theta, residual tau)
  spearman_true_residual   Spearman(true tau, residual tau)
  residual_share           mean |residual tau| / mean |label tau| over the
                           pairs with |true tau| >= STRONG (how much of the
                           strong pairs' dependence is left given the image)

then the mean and 95 % t-interval over seeds. Reported, not decided: no
claim of docs/benchmark.md rests on these figures.

  python -m benchmarks.theta_recovery                     # runs/claims -> benchmarks/results/
  python -m benchmarks.theta_recovery --workroot=DIR --out=FILE.json

It trains nothing and reads only files: each CCNN-IT run's ccnn_report.json
(`theta_vs_truth`) and each OCNN-IT run's test_predictions.npz.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys

import numpy as np
from scipy import stats

from benchmarks import common

STRONG = 0.2     # |true Kendall tau| from which a pair counts as strongly dependent


def kendall_tau_b(x, y) -> float:
  """Kendall's tau-b of paired samples (NaN pairs dropped); NaN with < 2 pairs
  or a constant sample."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  ok = np.isfinite(x) & np.isfinite(y)
  if ok.sum() < 2 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
    return float("nan")
  return float(stats.kendalltau(x[ok], y[ok], variant="b")[0])


def pair_dependence(intensity_true: np.ndarray, intensity_expected: np.ndarray,
                    i: int, j: int) -> tuple[float, float]:
  """(tau-b of the labels, tau-b of the residuals y - E[y | x]) of AUs i and j
  over the frames that code both (intensity >= 0)."""
  y = np.asarray(intensity_true, np.float64)
  e = np.asarray(intensity_expected, np.float64)
  ok = (y[:, i] >= 0) & (y[:, j] >= 0)
  return (kendall_tau_b(y[ok, i], y[ok, j]),
          kendall_tau_b(y[ok, i] - e[ok, i], y[ok, j] - e[ok, j]))


def _spearman(a, b) -> float:
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  ok = np.isfinite(a) & np.isfinite(b)
  if ok.sum() < 3:
    return float("nan")
  return float(stats.spearmanr(a[ok], b[ok])[0])


def seed_row(theta_rows: list[dict], npz: dict, aus: list[int]) -> dict:
  """One seed's figures (module docstring) from the CCNN-IT run's
  `theta_vs_truth` rows (pair "a-b", theta, kendall_tau) and the OCNN-IT run's
  test predictions (`intensity_true`, `intensity_expected` [N, A] over `aus`)."""
  pos = {int(a): k for k, a in enumerate(aus)}
  pairs = []
  for r in theta_rows:
    a, b = (int(v) for v in r["pair"].split("-"))
    if a in pos and b in pos:
      label, resid = pair_dependence(npz["intensity_true"], npz["intensity_expected"],
                                     pos[a], pos[b])
      pairs.append({"pair": r["pair"], "theta": r["theta"], "true_tau": r["kendall_tau"],
                    "label_tau": label, "residual_tau": resid})
  col = lambda k: np.array([p[k] for p in pairs], np.float64)
  strong = np.abs(col("true_tau")) >= STRONG
  num = np.nanmean(np.abs(col("residual_tau")[strong])) if strong.any() else np.nan
  den = np.nanmean(np.abs(col("label_tau")[strong])) if strong.any() else np.nan
  return {"n_pairs": len(pairs), "n_strong": int(strong.sum()),
          "spearman_theta_true": _spearman(col("theta"), col("true_tau")),
          "spearman_theta_residual": _spearman(col("theta"), col("residual_tau")),
          "spearman_true_residual": _spearman(col("true_tau"), col("residual_tau")),
          "residual_share": float(num / den) if den and np.isfinite(den) else float("nan"),
          "pairs": pairs}


KEYS = ("spearman_theta_true", "spearman_theta_residual", "spearman_true_residual",
        "residual_share")


def summarise(rows: dict[int, dict]) -> dict:
  """Mean and 95 % t-interval over seeds of each figure; per pair, the mean over seeds."""
  out = {k: common.mean_interval([r[k] for r in rows.values() if np.isfinite(r[k])])
         for k in KEYS}
  per_pair = {}
  for r in rows.values():
    for p in r["pairs"]:
      per_pair.setdefault(p["pair"], []).append(p)
  out["pairs"] = [{"pair": k, "true_tau": v[0]["true_tau"],
                   **{f: float(np.nanmean([p[f] for p in v]))
                      for f in ("theta", "label_tau", "residual_tau")}}
                  for k, v in per_pair.items()]
  out["pairs"].sort(key=lambda p: -abs(p["true_tau"]))
  return out


def markdown(summary: dict, seeds: list[int], workroot: str) -> str:
  ci = lambda e: (f"{e['mean']:.2f} [{e['ci95'][0]:.2f}, {e['ci95'][1]:.2f}]"
                  if e.get("n", 0) > 1 else (f"{e['mean']:.2f}" if e.get("n") else "–"))
  lines = [f"### CCNN-IT's learned theta against the true and the residual dependence "
           f"({workroot}, seeds {', '.join(map(str, seeds))})", "",
           "| figure | mean [95 % CI] over seeds |", "|---|---|"]
  lines += [f"| {k} | {ci(summary[k])} |" for k in KEYS]
  lines += ["", "Pairs by |true Kendall tau| (mean over seeds; the 12 strongest):", "",
            "| pair | true tau | label tau (test) | residual tau | learned theta |",
            "|---|---|---|---|---|"]
  lines += [f"| {p['pair']} | {p['true_tau']:.2f} | {p['label_tau']:.2f} | "
            f"{p['residual_tau']:.2f} | {p['theta']:.2f} |" for p in summary["pairs"][:12]]
  return "\n".join(lines)


def collect(workroot: str, ccnn_arm: str, ocnn_arm: str) -> dict[int, dict]:
  """{seed: seed_row} for every seed with both finished runs under `workroot`."""
  rows = {}
  pattern = re.compile(rf"{re.escape(ccnn_arm)}_s(\d+)")
  for name in sorted(os.listdir(workroot)) if os.path.isdir(workroot) else []:
    m = pattern.fullmatch(name)
    if not m:
      continue
    seed = int(m.group(1))
    rep = os.path.join(workroot, name, "ccnn_report.json")
    npz = os.path.join(workroot, f"{ocnn_arm}_s{seed}", "test_predictions.npz")
    report = os.path.join(workroot, f"{ocnn_arm}_s{seed}", "report.json")
    if not (os.path.exists(rep) and os.path.exists(npz) and os.path.exists(report)):
      continue
    with open(rep) as f:
      truth = json.load(f).get("theta_vs_truth") or {}
    if not truth:
      continue
    with open(report) as f:
      aus = json.load(f)["aus"]
    with np.load(npz) as z:
      rows[seed] = seed_row(next(iter(truth.values()))["rows"], dict(z), aus)
  return rows


def main(argv=None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--workroot", default="runs/claims")
  ap.add_argument("--ccnn_arm", default="ccnn_it")
  ap.add_argument("--ocnn_arm", default="ocnn_it")
  ap.add_argument("--out", default=os.path.join(common.RESULTS, "theta_recovery.json"))
  args = ap.parse_args(argv)
  rows = collect(args.workroot, args.ccnn_arm, args.ocnn_arm)
  if not rows:
    sys.exit(f"no seed with both {args.ccnn_arm}_s<seed>/ccnn_report.json and "
             f"{args.ocnn_arm}_s<seed>/test_predictions.npz under {args.workroot}")
  seeds = sorted(rows)
  summary = summarise(rows)
  common.write_json(args.out, {"workroot": args.workroot, "arms": [args.ccnn_arm, args.ocnn_arm],
                               "strong": STRONG, "seeds": seeds,
                               "per_seed": {str(s): rows[s] for s in seeds},
                               "summary": summary})
  md = markdown(summary, seeds, args.workroot)
  common.write_text(os.path.splitext(args.out)[0] + ".md", md + "\n")
  print(md)


if __name__ == "__main__":
  main()
