r"""CCNN ablation on synthetic disfa_like: CNN / OCNN / SCNN / CCNN, with and without IT.

  AU_JAX_DATA_DIR=/tmp/audata python benchmarks/ccnn_ablation.py --steps=300 --seeds=0,1,2
  python benchmarks/ccnn_ablation.py --multi --steps=300 --seeds=0,1,2   # + Eq. 12 comparison

Runs every variant of configs/ccnn_synthetic.py (`variant` x `it`) for each
seed, one after the other (never two trainings at once), each in its own
workdir under --workroot (a finished run is reused, so an interrupted
ablation resumes), and writes --out (JSON): per run the test metrics of both
decodings (MAP and expected intensity; per-AU ICC and MAE), theta's Spearman
correlation with the generator's dependence (CCNN), wall time; and a summary
of mean and sd over seeds, printed as markdown tables (Table 1 layout).

--multi adds CCNN-IT on disfa_like + fera_like (Eq. 12) and compares it with
CCNN-IT on disfa_like alone on the disfa_like test subjects, per AU (the
AUs whose intensity both datasets code are the "shared" ones).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

VARIANTS = [(v, it) for it in (False, True) for v in ("cnn", "ocnn", "scnn", "ccnn")]
STRONG_PAIRS = ((1, 2), (6, 12), (25, 26))


def run_name(variant, it, multi=False):
  return variant.upper() + ("-IT" if it else "") + (" (*)" if multi else "")


def one_run(workroot, variant, it, seed, steps, multi=False, cycles=5):
  from au_jax.models.ccnn import report as ccnn_report
  from au_jax.train import loop
  from configs import ccnn_synthetic
  name = f"{variant}{'_it' if it else ''}{'_multi' if multi else ''}_s{seed}"
  wd = os.path.join(workroot, name)
  if not os.path.exists(os.path.join(wd, "ccnn_report.json")):
    t = time.time()
    arg = f"variant={variant},it={it},seed={seed},steps={steps},multi={multi},cycles={cycles}"
    loop.train_and_evaluate(ccnn_synthetic.get_config(arg), wd)
    ccnn_report.ccnn_outputs(wd)
    with open(os.path.join(wd, "wall_s.txt"), "w") as f:
      f.write(f"{time.time() - t:.1f}\n")
  report = json.load(open(os.path.join(wd, "report.json")))
  out = json.load(open(os.path.join(wd, "ccnn_report.json")))
  dec = out["decodings"].get("synthetic_au/disfa_like", out["decodings"]["all"])
  res = {"name": run_name(variant, it, multi), "variant": variant, "it": it, "multi": multi,
         "seed": seed, "steps": steps, "workdir": wd,
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
      entry["spearman_theta"] = {"mean": float(np.mean(s)), "sd": float(np.std(s, ddof=1))
                                 if len(s) > 1 else float("nan")}
    out[name] = entry
  return out


def paired_diff(runs, a: str, b: str, dec="map", aus=None, dataset_key=None) -> dict:
  """ICC of run-name a minus b, paired by seed (mean over `aus`, default all)."""
  by = {(r["name"], r["seed"]): r for r in runs}
  diffs = []
  for seed in sorted({r["seed"] for r in runs}):
    if (a, seed) in by and (b, seed) in by:
      ra, rb = by[(a, seed)][dec]["per_au"], by[(b, seed)][dec]["per_au"]
      keys = [k for k in ra if k in rb and (aus is None or k in aus)]
      diffs.append(float(np.mean([ra[k]["icc"] - rb[k]["icc"] for k in keys])))
  return {"a": a, "b": b, "decoding": dec, "aus": aus or "all", "diffs": diffs,
          "mean": float(np.mean(diffs)) if diffs else float("nan"),
          "sd": float(np.std(diffs, ddof=1)) if len(diffs) > 1 else float("nan")}


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
    for v in ("CNN", "OCNN", "SCNN", "CCNN"):
      out.append(dict(claim="IT helps (all AUs)", **paired_diff(runs, f"{v}-IT", v, dec)))
      out.append(dict(claim=f"IT helps rare AUs {rare}", **paired_diff(runs, f"{v}-IT", v, dec, rare)))
    out.append(dict(claim="multi-dataset helps shared AUs (6, 12, 17)",
                    **paired_diff(runs, "CCNN-IT (*)", "CCNN-IT", dec, shared)))
    out.append(dict(claim="multi-dataset, all disfa_like AUs",
                    **paired_diff(runs, "CCNN-IT (*)", "CCNN-IT", dec)))
  return out


def tables(summary, dec="map"):
  from au_jax.models.ccnn.report import table1
  rows = {n: {"per_au": e[dec]["per_au_mean"], "mean": e[dec]["mean"]} for n, e in summary.items()}
  sds = {n: {"per_au": e[dec]["per_au_sd"], "mean": e[dec]["sd"]} for n, e in summary.items()}
  return table1(rows), table1(rows, ("icc",), sds)


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--steps", type=int, default=300)
  ap.add_argument("--seeds", default="0,1,2")
  ap.add_argument("--variants", default="", help="e.g. ccnn_it,ocnn (default: all 8)")
  ap.add_argument("--multi", action="store_true")
  ap.add_argument("--workroot", default="/tmp/ccnn_ablation")
  ap.add_argument("--out", default="benchmarks/results/ccnn_ablation.json")
  args = ap.parse_args()
  seeds = [int(s) for s in args.seeds.split(",")]
  todo = VARIANTS
  if args.variants:
    want = set(args.variants.split(","))
    todo = [(v, it) for v, it in VARIANTS if f"{v}{'_it' if it else ''}" in want]
  jobs = [(v, it, s, False) for s in seeds for v, it in todo]
  if args.multi:
    jobs += [("ccnn", True, s, True) for s in seeds]
  runs = []
  for v, it, s, multi in jobs:
    t = time.time()
    runs.append(one_run(args.workroot, v, it, s, args.steps, multi))
    r = runs[-1]
    print(f"[ablation] {r['name']} seed {s}: ICC map {r['map']['mean']['icc']:.3f} "
          f"expected {r['expected']['mean']['icc']:.3f}, MAE map {r['map']['mean']['mae']:.3f} "
          f"({time.time() - t:.0f} s)", flush=True)
    summary = summarise(runs)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
      json.dump({"steps": args.steps, "seeds": seeds, "dataset": "synthetic_au/disfa_like",
                 "test": "disfa_like test subjects (protocol default)",
                 "runs": runs, "summary": summary, "claims": claims(runs)}, f, indent=1)
  print("\n| claim | A − B | decoding | ΔICC mean ± sd (per seed) |\n|---|---|---|---|")
  for c in claims(runs):
    print(f"| {c['claim']} | {c['a']} − {c['b']} | {c['decoding']} | {c['mean']:+.3f} ± "
          f"{c['sd']:.3f} ({', '.join(f'{d:+.3f}' for d in c['diffs'])}) |")
  for dec in ("map", "expected"):
    full, icc_sd = tables(summary, dec)
    print(f"\n## Decoding: {dec} (mean over seeds {seeds})\n\n{full}\n"
          f"ICC mean±sd over seeds:\n\n{icc_sd}")


if __name__ == "__main__":
  main()
