r"""CCNN ablation on synthetic disfa_like: CNN / OCNN / SCNN / CCNN, with and without IT.

  python -m benchmarks.ccnn_ablation                     # main job's budget: 600 steps, seeds 0-4
  python -m benchmarks.ccnn_ablation --multi --equal_updates   # + Eq. 12, + IT at equal W updates

Runs every variant of configs/ccnn_synthetic.py (`variant` x `it`) for each
seed, one after the other (never two trainings at once), each in its own
workdir under --workroot (a finished run is reused, so an interrupted
ablation resumes), and writes --out (JSON): per run the test metrics of both
decodings (MAP and expected intensity; per-AU ICC and MAE), theta's Spearman
correlation with the generator's dependence (CCNN), wall time; and a summary
of mean and sd over seeds, printed as markdown tables (Table 1 layout).

--multi adds CCNN-IT on disfa_like + bp4d_like (Eq. 12) and compares it with
CCNN-IT on disfa_like alone on the disfa_like test subjects, per AU (the
AUs whose intensity both datasets code are the "shared" ones).

--equal_updates adds each variant without IT at HALF the steps: IT spends
half of its steps on the CNN weights W (configs/common.ccnn_stages),
so "X-IT vs X (half steps)" compares IT and joint training at equal W
updates, besides "X-IT vs X" at equal optimiser steps.

Each claim is a paired difference over seeds (same seed = same init and data
order) with a 95% t-interval; it "holds" when the interval excludes 0 in the
paper's direction, is "reversed" when it excludes 0 the other way, and is
"not shown" otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from benchmarks import common

VARIANTS = [(v, it) for it in (False, True) for v in ("cnn", "ocnn", "scnn", "ccnn")]
STRONG_PAIRS = ((1, 2), (6, 12), (25, 26))


def run_name(variant, it, multi=False, half=False, table="full"):
  return (variant.upper() + ("-IT" if it else "") + (" (*)" if multi else "")
          + (" (half steps)" if half else "") + (" [interaction]" if table != "full" else ""))


def one_run(workroot, variant, it, seed, steps, multi=False, cycles=5, half=False,
            table="full"):
  from au_jax.models.ccnn import report as ccnn_report
  from au_jax import experiment
  from configs import ccnn_synthetic
  name = (f"{variant}{'_it' if it else ''}{'_multi' if multi else ''}{'_half' if half else ''}"
          f"{'_' + table if table != 'full' else ''}_s{seed}")
  wd = os.path.join(workroot, name)
  run_steps = steps // 2 if half else steps
  if not os.path.exists(os.path.join(wd, "ccnn_report.json")):
    t = time.time()
    arg = (f"variant={variant},it={it},seed={seed},steps={run_steps},multi={multi},"
           f"cycles={cycles}" + (f",scnn_table={table}" if table != "full" else ""))
    experiment.train_and_evaluate(ccnn_synthetic.get_config(arg), wd)
    ccnn_report.ccnn_outputs(wd)
    with open(os.path.join(wd, "wall_s.txt"), "w") as f:
      f.write(f"{time.time() - t:.1f}\n")
  report = json.load(open(os.path.join(wd, "report.json")))
  out = json.load(open(os.path.join(wd, "ccnn_report.json")))
  dec = out["decodings"].get("synthetic_au/disfa_like", out["decodings"]["all"])
  res = {"name": run_name(variant, it, multi, half, table), "variant": variant, "it": it,
         "multi": multi, "half": half, "table": table, "seed": seed, "steps": run_steps, "workdir": wd,
         "selected_step": report.get("selection", {}).get("step"),
         "wall_s": float(open(os.path.join(wd, "wall_s.txt")).read()),
         "map": dec["map"], "expected": dec["expected"],
         "f1": report["test"]["mean"].get("f1"),
         "base_rate": {k: r.get("base_rate") for k, r in report["test"]["per_au"].items()}}
  tvt = out.get("theta_vs_truth", {}).get("synthetic_au/disfa_like")
  if tvt:
    res["spearman_theta"] = tvt["spearman_theta"]
    res["strong_pairs_theta"] = {r["pair"]: (r["theta"], r["true_theta"]) for r in tvt["rows"]
                                 if tuple(map(int, r["pair"].split("-"))) in STRONG_PAIRS}
  return res


def summarise(runs):
  """{name: {decoding: {"mean": {..}, "sd": {..}, "per_au_mean", "per_au_sd"}}} over seeds."""
  out = {}
  for name in dict.fromkeys(r["name"] for r in runs):
    rs = [r for r in runs if r["name"] == name]
    entry = {"seeds": [r["seed"] for r in rs], "wall_s": float(np.mean([r["wall_s"] for r in rs]))}
    for dec in ("map", "expected"):
      aus = list(rs[0][dec]["per_au"])
      arr = {m: np.array([[r[dec]["per_au"][a][m] for a in aus] for r in rs]) for m in ("icc", "mae")}
      mean = {m: np.array([r[dec]["mean"][m] for r in rs]) for m in ("icc", "mae")}
      sd = lambda x: float(np.std(x, ddof=1)) if len(x) > 1 else float("nan")
      entry[dec] = {
          "mean": {m: float(mean[m].mean()) for m in mean},
          "sd": {m: sd(mean[m]) for m in mean},
          "per_au_mean": {a: {m: float(arr[m][:, i].mean()) for m in arr} for i, a in enumerate(aus)},
          "per_au_sd": {a: {m: sd(arr[m][:, i]) for m in arr} for i, a in enumerate(aus)}}
    if "spearman_theta" in rs[0]:
      s = [r["spearman_theta"] for r in rs]
      entry["spearman_theta"] = {**common.t_interval(s), "per_seed": s}
    out[name] = entry
  return out


def paired_diff(runs, a: str, b: str, dec="map", aus=None, dataset_key=None) -> dict:
  """ICC of run-name a minus b, paired by seed (mean over `aus`, default all), with
  its 95% interval and verdict (the paper claims a > b)."""
  by = {(r["name"], r["seed"]): r for r in runs}
  diffs = []
  for seed in sorted({r["seed"] for r in runs}):
    if (a, seed) in by and (b, seed) in by:
      ra, rb = by[(a, seed)][dec]["per_au"], by[(b, seed)][dec]["per_au"]
      keys = [k for k in ra if k in rb and (aus is None or k in aus)]
      diffs.append(float(np.mean([ra[k]["icc"] - rb[k]["icc"] for k in keys])))
  return {"a": a, "b": b, "decoding": dec, "aus": aus or "all", "diffs": diffs,
          **common.t_interval(diffs)}


def claims(runs) -> list:
  """The paper's claims as paired ICC differences (see docs/ccnn.md)."""
  strong = [f"AU{a:02d}" for p in STRONG_PAIRS for a in p]
  base = {}
  for r in runs:
    if r["multi"]:
      continue
    for k, v in r["base_rate"].items():
      base.setdefault(k, []).append(v)
  rare = sorted(base, key=lambda k: np.mean(base[k]))[:4]     # the 4 rarest AUs of the test set
  shared = ["AU06", "AU12", "AU17"]                          # intensity-coded in both presets
  out = []
  for dec in ("map", "expected"):
    for it in ("", "-IT"):
      out.append(dict(claim="ordinal beats softmax", **paired_diff(runs, f"OCNN{it}", f"CNN{it}", dec)))
      out.append(dict(claim="copula beats independent", **paired_diff(runs, f"CCNN{it}", f"OCNN{it}", dec)))
      out.append(dict(claim="copula gain on strong pairs (1-2, 6-12, 25-26)",
                      **paired_diff(runs, f"CCNN{it}", f"OCNN{it}", dec, strong)))
      out.append(dict(claim="copula beats linear pairwise", **paired_diff(runs, f"CCNN{it}", f"SCNN{it}", dec)))
    for au in strong:
      out.append(dict(claim=f"copula gain on {au} (a strongly dependent pair)",
                      **paired_diff(runs, "CCNN-IT", "OCNN-IT", dec, [au])))
    for v in ("CNN", "OCNN", "SCNN", "CCNN"):
      out.append(dict(claim="IT helps (all AUs), equal steps", **paired_diff(runs, f"{v}-IT", v, dec)))
      out.append(dict(claim=f"IT helps rare AUs {rare}, equal steps",
                      **paired_diff(runs, f"{v}-IT", v, dec, rare)))
      if any(r["name"] == f"{v} (half steps)" for r in runs):
        out.append(dict(claim="IT helps (all AUs), equal W updates",
                        **paired_diff(runs, f"{v}-IT", f"{v} (half steps)", dec)))
        out.append(dict(claim=f"IT helps rare AUs {rare}, equal W updates",
                        **paired_diff(runs, f"{v}-IT", f"{v} (half steps)", dec, rare)))
    out.append(dict(claim="multi-dataset helps shared AUs (6, 12, 17)",
                    **paired_diff(runs, "CCNN-IT (*)", "CCNN-IT", dec, shared)))
    out.append(dict(claim="multi-dataset, all disfa_like AUs",
                    **paired_diff(runs, "CCNN-IT (*)", "CCNN-IT", dec)))
    for it in ("", "-IT"):
      if any(r["name"] == f"SCNN{it} [interaction]" for r in runs):
        out.append(dict(claim="SCNN's table without row/column offsets is better (not a paper claim)",
                        **paired_diff(runs, f"SCNN{it} [interaction]", f"SCNN{it}", dec)))
        out.append(dict(claim="copula beats linear pairwise (interaction table)",
                        **paired_diff(runs, f"CCNN{it}", f"SCNN{it} [interaction]", dec)))
  return out


def tables(summary, dec="map"):
  from au_jax.models.ccnn.report import table1
  rows = {n: {"per_au": e[dec]["per_au_mean"], "mean": e[dec]["mean"]} for n, e in summary.items()}
  sds = {n: {"per_au": e[dec]["per_au_sd"], "mean": e[dec]["sd"]} for n, e in summary.items()}
  return table1(rows), table1(rows, ("icc",), sds)


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--steps", type=int, default=600)
  ap.add_argument("--seeds", default="0,1,2,3,4")
  ap.add_argument("--equal_updates", action="store_true")
  ap.add_argument("--summarise_only", action="store_true",
                  help="print the tables and claims of the runs already in --out; run nothing")
  ap.add_argument("--variants", default="", help="e.g. ccnn_it,ocnn (default: all 8)")
  ap.add_argument("--multi", action="store_true")
  ap.add_argument("--scnn_interaction", action="store_true",
                  help="add SCNN and SCNN-IT with scnn_table=interaction (issue 9 item 5)")
  ap.add_argument("--workroot", default="/tmp/ccnn_ablation")
  ap.add_argument("--out", default="benchmarks/results/ccnn_ablation_600.json")
  args = ap.parse_args()
  seeds = [int(s) for s in args.seeds.split(",")]
  todo = VARIANTS
  if args.variants:
    want = set(args.variants.split(","))
    todo = [(v, it) for v, it in VARIANTS if f"{v}{'_it' if it else ''}" in want]
  # Seed-major order: an interrupted ablation has every variant for its first seeds.
  jobs = []
  for s in seeds:
    jobs += [(v, it, s, False, False, "full") for v, it in todo]
    if args.equal_updates:
      jobs += [(v, False, s, False, True, "full") for v, it in todo if it]
    if args.multi:
      jobs += [("ccnn", True, s, True, False, "full")]
    if args.scnn_interaction:
      jobs += [("scnn", it, s, False, False, "interaction") for it in (False, True)]
  # Resumable twice over: a finished workdir under --workroot is reused, and so
  # is a run already recorded in --out (e.g. committed by an earlier session on
  # another machine), when it was measured at the same budget.
  done = {}
  prev = common.read_json(args.out, {})
  if prev:
    if prev.get("steps") == args.steps:
      done = {(r["name"], r["seed"]): r for r in prev.get("runs", [])}
  runs, all_jobs = [], list(jobs)
  if args.summarise_only:
    jobs = [j for j in jobs if (run_name(j[0], j[1], j[3], j[4], j[5]), j[2]) in done]
  for v, it, s, multi, half, table in jobs:
    t = time.time()
    key = (run_name(v, it, multi, half, table), s)
    runs.append(done[key] if key in done else
                one_run(args.workroot, v, it, s, args.steps, multi, half=half, table=table))
    r = runs[-1]
    print(f"[ablation] {r['name']} seed {s}: ICC map {r['map']['mean']['icc']:.3f} "
          f"expected {r['expected']['mean']['icc']:.3f}, MAE map {r['map']['mean']['mae']:.3f} "
          f"({time.time() - t:.0f} s)", flush=True)
    # Runs recorded in --out that this invocation does not (re)visit are kept.
    seen = {(x["name"], x["seed"]) for x in runs}
    kept = runs + [x for k, x in done.items() if k not in seen]
    summary = summarise(kept)
    have = {(x["name"], x["seed"]) for x in kept}
    complete = [sd for sd in seeds
                if all((run_name(*j[:2], *j[3:]), sd) in have for j in all_jobs if j[2] == sd)]
    common.write_json(args.out, (
        {"steps": args.steps, "seeds": seeds, "seeds_complete": complete,
         "dataset": "synthetic_au/disfa_like", "test": "disfa_like test subjects (protocol default)",
         "runs": kept, "summary": summary, "claims": claims(kept)}))
  if not runs:
    print(f"no runs at {args.steps} steps in {args.out}: nothing to summarise")
    return
  runs = kept
  print("\n| claim | A − B | decoding | ΔICC mean [95% CI] (n seeds) | verdict |\n"
        "|---|---|---|---|---|")
  for c in claims(runs):
    print(f"| {c['claim']} | {c['a']} − {c['b']} | {c['decoding']} | {c['mean']:+.3f} "
          f"[{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}] ({c['n']}) | {c['verdict']} |")
  for name, e in summary.items():
    if "spearman_theta" in e:
      t = e["spearman_theta"]
      print(f"\nlearned theta vs the generator's Frank theta, {name}: Spearman {t['mean']:.3f} "
            f"[{t['ci95'][0]:.3f}, {t['ci95'][1]:.3f}] over {t['n']} seeds")
  for dec in ("map", "expected"):
    full, icc_sd = tables(summary, dec)
    print(f"\n## Decoding: {dec} (mean over seeds {seeds})\n\n{full}\n"
          f"ICC mean±sd over seeds:\n\n{icc_sd}")


if __name__ == "__main__":
  main()
