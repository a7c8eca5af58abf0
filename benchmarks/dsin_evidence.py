r"""DSIN's claims on the embedded default (issue 10, item 10): paired over seeds.

  python -m benchmarks.dsin_evidence                      # seeds 0,1,2: 3 runs per seed
  python -m benchmarks.dsin_evidence --summarise_only     # markdown from the JSON; runs nothing
  python -m benchmarks.dsin_evidence --runlocal --steps=2 --seeds=0,1 \
      --workroot=/tmp/dsin_ev_dry --out=/tmp/dsin_ev_dry.json   # a seconds-long dry run

Runs configs/dsin_synthetic.py for each seed, one run after the other (never
two trainings at once), each in its own workdir under --workroot (a finished
run, one with dsin_report.json, is reused; an unfinished one resumes from its
checkpoint), and rewrites --out atomically after every run, so an interrupted
evidence run resumes with the same command. Per seed:

  dsin        the default (T = 10, correction factors, class balancing). Its
              dsin_report.json gives the Table 2-3 rows of ONE trained model:
              PP(<input>) for each of the six inputs, PP+F, DSIN_2, DSIN_5,
              DSIN_10 (the SI prediction after t iterations of this model) at
              tau = 0.5, and DSIN^tt (per-AU thresholds tuned on validation)
  dsin_ncf    retrained without correction factors (`ncf`, DSIN^ncf)
  dsin_ncb    retrained without class balancing (`balance=false`, ^ncb)
  --retrain_T adds dsin_T2, dsin_T5: separately trained T = 2 and T = 5
              models, as in Table 2 (by default the T rows are the
              iterations of the one T = 10 model)

Claims (the paper's direction: A > B), each a paired difference of mean test
F1 (x 100) over AUs, A - B per seed, with its 95% t-interval over seeds:
  fusion beats the best single patch   PP+F - max_i PP(i) (best on test: the
                                       baseline's most favourable choice)
  SI beats fusion                      DSIN_10 - PP+F
  more SI iterations help              DSIN_5 - DSIN_2, DSIN_10 - DSIN_5
  correction factors help              DSIN_10 - DSIN^ncf_10 (retrained)
  class balancing helps rare AUs       PP(face) - PP(face)^ncb on the 4 AUs
                                       rarest in training (Table 2's rows),
                                       and the final DSIN on them
  threshold tuning raises F1           DSIN^tt - DSIN_10
A claim "holds" when the interval excludes 0 in the paper's direction, is
"reversed" when it excludes 0 the other way, and is "not shown" otherwise
(benchmarks.common.t_interval).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from benchmarks import common

# name -> configs/dsin_synthetic.py arg (seed and steps are added)
VARIANTS = {"dsin": "", "dsin_ncf": "ncf=true", "dsin_ncb": "balance=false"}
RETRAIN_T = {"dsin_T2": "T=2", "dsin_T5": "T=5"}
RARE = 4


def config_arg(variant_arg: str, seed: int, steps: int, runlocal: bool) -> str:
  parts = [p for p in (variant_arg, f"seed={seed}", f"steps={steps}" if steps else "",
                       "runlocal" if runlocal else "") if p]
  return ",".join(parts)


def one_run(workroot: str, name: str, variant_arg: str, seed: int, steps: int,
            runlocal: bool) -> dict:
  """Train (or reuse) one run; its F1 rows, per-AU base rates and wall time."""
  from au_jax.models.dsin import report as dsin_report
  from au_jax import experiment
  from configs import dsin_synthetic
  wd = os.path.join(workroot, f"{name}_s{seed}")
  arg = config_arg(variant_arg, seed, steps, runlocal)
  if not os.path.exists(os.path.join(wd, "dsin_report.json")):
    t = time.time()
    experiment.train_and_evaluate(dsin_synthetic.get_config(arg), wd)
    if not os.path.exists(os.path.join(wd, "dsin_report.json")):   # the hook failed: retry
      dsin_report.dsin_outputs(wd)
    with open(os.path.join(wd, "wall_s.txt"), "w") as f:
      f.write(f"{time.time() - t:.1f}\n")
  report = json.load(open(os.path.join(wd, "report.json")))
  out = json.load(open(os.path.join(wd, "dsin_report.json")))
  wall = os.path.join(wd, "wall_s.txt")
  return {"name": name, "seed": seed, "config_arg": arg, "workdir": wd,
          "wall_s": float(open(wall).read()) if os.path.exists(wall) else None,
          "selected_step": report.get("selection", {}).get("step"),
          "aus": out["aus"], "f1": out["f1"], "f1_mean": out["f1_mean"],
          "train_rate": _train_rates(report, out["aus"]),
          "test_base_rate": {k: r.get("base_rate") for k, r in report["test"]["per_au"].items()},
          "anchors": out.get("anchors"), "patches_clamped": out.get("patches_clamped")}


def _train_rates(report: dict, aus) -> list | None:
  """Per-AU positive rate of the training split when report.json records it."""
  tr = report.get("train", {}).get("per_au") if isinstance(report.get("train"), dict) else None
  if not tr:
    return None
  from au_jax import aus as au_lib
  return [tr.get(au_lib.au_label(a), {}).get("base_rate") for a in aus]


def _mean(row, idx=None) -> float:
  v = np.array([np.nan if x is None else x for x in row], float)
  if idx is not None:
    v = v[idx]
  return float(np.nanmean(v)) * 100 if np.isfinite(v).any() else float("nan")


def rare_aus(runs) -> list[int]:
  """Indices of the RARE AUs with the lowest positive rate (training split
  when recorded, else the test split's base rate; the same for every seed)."""
  r = next(r for r in runs if r["name"] == "dsin")
  rates = r["train_rate"]
  if rates is None or any(x is None for x in rates):
    from au_jax import aus as au_lib
    rates = [r["test_base_rate"].get(au_lib.au_label(a)) for a in r["aus"]]
  rates = np.array([np.inf if x is None else x for x in rates], float)
  return [int(i) for i in np.argsort(rates)[:RARE]]


def paired(runs, claim: str, a, b, idx=None) -> dict:
  """Claim A > B: per seed, mean F1 over AUs (idx) of A minus B; `a`, `b` are
  (run name, row name) or callables run-dict-by-name -> value."""
  by_seed = common.by_seed(runs)

  def value(spec, rs):
    if callable(spec):
      return spec(rs)
    name, row = spec
    if name not in rs or row not in rs[name]["f1"]:
      return None
    return _mean(rs[name]["f1"][row], idx)
  diffs = []
  for seed in sorted(by_seed):
    va, vb = value(a, by_seed[seed]), value(b, by_seed[seed])
    if va is not None and vb is not None and np.isfinite(va) and np.isfinite(vb):
      diffs.append(va - vb)
  label = lambda s: getattr(s, "label", None) or f"{s[1]} [{s[0]}]"
  return {"claim": claim, "a": label(a), "b": label(b), "diffs": diffs, **common.t_interval(diffs)}


def _best_patch(rs):
  r = rs.get("dsin")
  if r is None:
    return None
  return max(_mean(v) for k, v in r["f1"].items() if k.startswith("PP("))


_best_patch.label = "max_i PP(i) [dsin]"


def final_row(run) -> str:
  """The row of a run's final SI prediction at tau 0.5 (DSIN_T)."""
  rows = [k for k in run["f1"] if k.startswith("DSIN_")]
  return max(rows, key=lambda k: int(k.split("_")[1]))


def claims(runs) -> list[dict]:
  if not any(r["name"] == "dsin" for r in runs):
    return []
  main = next(r for r in runs if r["name"] == "dsin")
  t_rows = [k for k in ("DSIN_2", "DSIN_5", "DSIN_10") if k in main["f1"]]
  fin = final_row(main)
  rare = rare_aus(runs)
  rare_names = [main["aus"][i] for i in rare]
  out = [paired(runs, "fusion beats the best single patch", ("dsin", "PP+F"), _best_patch),
         paired(runs, "SI beats fusion", ("dsin", fin), ("dsin", "PP+F"))]
  for lo, hi in zip(t_rows, t_rows[1:]):
    out.append(paired(runs, f"more SI iterations help ({lo} -> {hi}, one model)",
                      ("dsin", hi), ("dsin", lo)))
  for name, t in (("dsin_T2", "DSIN_2"), ("dsin_T5", "DSIN_5")):
    if any(r["name"] == name for r in runs):
      out.append(paired(runs, f"more SI iterations help (T=10 vs retrained {t})",
                        ("dsin", fin), (name, t)))
  if any(r["name"] == "dsin_ncf" for r in runs):
    out.append(paired(runs, "correction factors help (DSIN vs retrained DSIN^ncf)",
                      ("dsin", fin), ("dsin_ncf", final_row(
                          next(r for r in runs if r["name"] == "dsin_ncf")))))
  if any(r["name"] == "dsin_ncb" for r in runs):
    ncb = next(r for r in runs if r["name"] == "dsin_ncb")
    out += [paired(runs, f"class balancing helps rare AUs {rare_names}: PP(face) vs PP(face)^ncb",
                   ("dsin", "PP(face)"), ("dsin_ncb", "PP(face)"), rare),
            paired(runs, f"class balancing helps rare AUs {rare_names}: DSIN vs DSIN^ncb",
                   ("dsin", fin), ("dsin_ncb", final_row(ncb)), rare),
            paired(runs, "class balancing, all AUs: PP(face) vs PP(face)^ncb",
                   ("dsin", "PP(face)"), ("dsin_ncb", "PP(face)"))]
  if "DSIN^tt" in main["f1"]:
    out.append(paired(runs, "threshold tuning raises F1", ("dsin", "DSIN^tt"), ("dsin", fin)))
  return out


def summary(runs) -> dict:
  """{run name: {row: {"mean", "sd", "per_seed"}}} of mean F1 x 100 over seeds."""
  out = {}
  for name in dict.fromkeys(r["name"] for r in runs):
    rs = [r for r in runs if r["name"] == name]
    rows = {}
    for row in rs[0]["f1"]:
      v = [_mean(r["f1"][row]) for r in rs if row in r["f1"]]
      rows[row] = common.seed_spread(v)
    out[name] = {"seeds": [r["seed"] for r in rs], "rows": rows,
                 "wall_s": [r["wall_s"] for r in rs]}
  return out


def markdown(doc: dict) -> str:
  lines = [f"DSIN evidence: configs/dsin_synthetic.py, seeds {doc['seeds']} "
           f"(complete: {doc['seeds_complete']}), steps per stage "
           f"{doc['steps'] or 'the config'}{' (runlocal)' if doc['runlocal'] else ''}.", "",
           "| claim | A − B | ΔF1 mean [95% CI] (n seeds) | verdict |", "|---|---|---|---|"]
  for c in doc["claims"]:
    lines.append(f"| {c['claim']} | {c['a']} − {c['b']} | {c['mean']:+.1f} "
                 f"[{c['ci95'][0]:+.1f}, {c['ci95'][1]:+.1f}] ({c['n']}) | {c['verdict']} |")
  lines += ["", "Mean F1 (x100) over AUs, mean ± sd over seeds:", "",
            "| run | row | F1 |", "|---|---|---|"]
  for name, e in doc["summary"].items():
    for row, v in e["rows"].items():
      sd = f" ± {v['sd']:.1f}" if v["sd"] is not None else ""
      lines.append(f"| {name} | {row} | {v['mean']:.1f}{sd} |")
  return "\n".join(lines)


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--seeds", default="0,1,2")
  ap.add_argument("--steps", type=int, default=0, help="steps per stage (0 = the config's)")
  ap.add_argument("--runlocal", action="store_true", help="the config's tiny smoke variant")
  ap.add_argument("--retrain_T", action="store_true", help="also train T=2 and T=5 models")
  ap.add_argument("--summarise_only", action="store_true",
                  help="print the markdown of the runs already in --out; run nothing")
  ap.add_argument("--workroot", default="/tmp/dsin_evidence")
  ap.add_argument("--out", default="benchmarks/results/dsin_evidence.json")
  args = ap.parse_args()
  if args.summarise_only:
    if not os.path.exists(args.out):
      sys.exit(f"{args.out} does not exist: nothing to summarise")
    print(markdown(json.load(open(args.out))))
    return
  seeds = [int(s) for s in args.seeds.split(",")]
  variants = dict(VARIANTS, **(RETRAIN_T if args.retrain_T else {}))
  jobs = [(name, a, s) for s in seeds for name, a in variants.items()]   # seed-major
  runs = []
  for name, a, s in jobs:
    t = time.time()
    runs.append(one_run(args.workroot, name, a, s, args.steps, args.runlocal))
    r = runs[-1]
    print(f"[dsin_evidence] {name} seed {s}: mean F1 {_mean(r['f1'][final_row(r)]):.1f} "
          f"({time.time() - t:.0f} s)", flush=True)
    have = {(r["name"], r["seed"]) for r in runs}
    doc = {"config": "configs/dsin_synthetic.py", "steps": args.steps, "runlocal": args.runlocal,
           "seeds": seeds, "seeds_complete": [sd for sd in seeds
                                               if all((n, sd) in have for n in variants)],
           "runs": runs, "summary": summary(runs), "claims": claims(runs)}
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    common.write_json(args.out, doc)
  print(markdown(doc))


if __name__ == "__main__":
  main()
