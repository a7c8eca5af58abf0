r"""AU heatmaps' claims on the embedded default (issue 12, item 9): paired over seeds.

  python -m benchmarks.heatmaps_evidence                  # seeds 0,1,2: 3 trainings per seed
  python -m benchmarks.heatmaps_evidence --summarise_only # markdown from the JSON; runs nothing
  python -m benchmarks.heatmaps_evidence --train=heatmaps,heatmaps_single   # no new ResNet-18
      # runs (reported where already trained): on 2 CPU cores XLA trains it at ~2 s/step idle
  python -m benchmarks.heatmaps_evidence --runlocal --steps=2 --seeds=0,1 \
      --workroot=/tmp/hm_ev_dry --out=/tmp/hm_ev_dry.json   # a dry run of the plumbing

Trains configs/heatmaps_synthetic.py (synthetic `bp4d_like`, the paper's
BP4D AUs 6, 10, 12, 14, 17) for each seed, one run after the other (never
two trainings at once), each through launch.py in its own workdir under
--workroot (a finished run, one with report.json, is reused; an unfinished
one resumes from its checkpoint), and rewrites --out atomically after every
run, so an interrupted evidence run resumes with the same command. Per seed:

  heatmaps            the joint heatmap model (the default config), then its
                      robustness curve: au_jax.models.heatmaps.robustness
                      with sigma = 0, 5, ..., 55 px at the 256 px scale (as
                      Fig. 4; scaled to the 96 px records), noise seed = the
                      run's seed (so the interval over seeds covers the noise
                      draw as well as the training)
  heatmaps_resnet18   `arch=resnet18` (Table 1's ResNet-18 baseline)
  heatmaps_single     `arch=single` (Table 1's "Single Heatmap": one hourglass
                      per AU)

Shared with benchmarks/compare_methods.py: the joint model's workdir is
`<workroot>/heatmaps_s<seed>`, the name compare_methods.py gives its
`heatmaps` run, trained by the same command (`launch.py
--config=configs/heatmaps_synthetic.py --workdir=... --config.seed=S`; the
config's `seed=` arg sets the same `config.seed`, nothing else). Run both
scripts with one --workroot (the default here is compare_methods.py's,
runs/compare_methods) and whichever runs second reuses the other's trained
joint models instead of retraining them. Before reusing or resuming any
workdir its config.json is compared with the config this script would run
(au_jax.train.workdir.config_differences, the rule launch.py applies); a
difference is refused with the keys named. With --steps=N the workdirs are
named `<name>_steps<N>_s<seed>`, so a shortened run never takes the place
of a full one.

Claims (the paper's direction), each a paired difference of test metrics
averaged over the 5 AUs (those with a finite value in every run compared),
A - B per seed, with its 95% t-interval over seeds
(benchmarks.common.t_interval): "holds" when the interval excludes 0 in
the paper's direction, "reversed" when it excludes 0 the other way, "not
shown" otherwise:
  heatmaps beat ResNet-18       ICC: heatmaps - resnet18 > 0 (paper +0.04);
                                MSE: heatmaps - resnet18 < 0 (paper -0.14)
  joint maps beat single maps   ICC: heatmaps - single > 0 (paper +0.03);
                                MSE: heatmaps - single < 0 (paper -0.21)
  holds under landmark noise up to a threshold, then degrades (Fig. 4):
      per sigma, the paired drop ICC(sigma) - ICC(0) of each seed's joint
      model (mean ICC over AUs, same test frames) with its 95% interval; a
      drop is "significant" when the interval lies below 0. The claim holds
      when the smallest sigma > 0 shows no significant drop (a plateau) AND
      the largest sigma does (it degrades); the threshold is then
      `sigma_drop`, the first sigma with a significant drop (the last one
      without: `sigma_hold`); "not shown" otherwise (no significant drop by
      the largest sigma, or one already at the smallest: no plateau),
      "reversed" if ICC at the largest sigma is significantly ABOVE sigma 0.
      Alongside, the practical threshold of the robustness module:
      `icc_drop_sigma`, the sigma at which the mean ICC falls 10% below its
      sigma = 0 value, mean and 95% interval over seeds (seeds where it never
      falls 10% by 55 px are counted, not averaged), against the paper's
      "degrading noticeably from >= 13 px".
Wall time of each training and robustness run (the whole subprocess) is
recorded with the load average at its start; on a shared machine it is an
upper bound.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from au_jax.metrics import finite_mean
from benchmarks import common

CONFIG = "configs/heatmaps_synthetic.py"
# name -> the config's arg (seed via --config.seed; steps / runlocal added)
VARIANTS = {"heatmaps": "", "heatmaps_resnet18": "arch=resnet18",
            "heatmaps_single": "arch=single"}
JOINT = "heatmaps"
SIGMAS = tuple(range(0, 60, 5))          # Fig. 4: 0..55 px at 256
PAPER_DROP_PX = 13.0
# Table 1 (BP4D, FERA 2015 test), mean over the 5 AUs
PAPER = {"heatmaps": {"icc": 0.68, "mse": 0.94}, "heatmaps_resnet18": {"icc": 0.64, "mse": 1.08},
         "heatmaps_single": {"icc": 0.65, "mse": 1.15}}
WALL_FILE = "compare_wall.json"          # the name compare_methods.py reads
ROBUST_WALL_FILE = "robustness_wall.json"


def config_arg(variant_arg: str, steps: int, runlocal: bool) -> str:
  return ",".join(p for p in (variant_arg, f"steps={steps}" if steps else "",
                              "runlocal" if runlocal else "") if p)


def workdir_name(name: str, seed: int, steps: int) -> str:
  """`heatmaps_s<seed>` for the full joint run: compare_methods.workdir_name."""
  return f"{name}{f'_steps{steps}' if steps else ''}_s{seed}"


def command(variant_arg: str, seed: int, workdir: str, steps: int, runlocal: bool) -> list[str]:
  arg = config_arg(variant_arg, steps, runlocal)
  return [sys.executable, os.path.join(common.ROOT, "launch.py"),
          f"--config={CONFIG}" + (f":{arg}" if arg else ""), f"--workdir={workdir}",
          f"--config.seed={seed}"]


def expected_config(variant_arg: str, seed: int, steps: int, runlocal: bool) -> dict:
  """The config launch.py saves for `command(...)` (config.json)."""
  from configs import heatmaps_synthetic
  config = heatmaps_synthetic.get_config(config_arg(variant_arg, steps, runlocal))
  config.seed = seed
  return json.loads(config.to_json_best_effort())


def check_workdir(wd: str, expected: dict) -> None:
  """Refuse to reuse or resume `wd` if it was trained with another config."""
  from au_jax.train.workdir import config_differences
  path = os.path.join(wd, "config.json")
  if not os.path.exists(path):
    return
  diffs = config_differences(json.load(open(path)), expected)
  if diffs:
    shown = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in diffs[:4])
    sys.exit(f"heatmaps_evidence: {path} differs from the config this run needs ({shown}"
             f"{' ...' if len(diffs) > 4 else ''}); use another --workroot")


def _timed_subprocess(cmd: list[str], wall_path: str, resumed: bool) -> None:
  load = os.getloadavg()[0]
  t = time.time()
  print("[heatmaps_evidence] " + " ".join(cmd), flush=True)
  rc = subprocess.run(cmd, cwd=common.ROOT).returncode
  if rc:
    sys.exit(f"heatmaps_evidence: exit status {rc} from {' '.join(cmd[1:])} (its message is "
             "above); the same heatmaps_evidence command resumes")
  wall = {"wall_s": round(time.time() - t, 1), "load_at_start": round(load, 2)}
  if resumed:   # the wall time is the last attempt's only
    wall["resumed"] = True
  common.write_json(wall_path, wall)


def one_run(workroot: str, name: str, seed: int, steps: int, runlocal: bool) -> dict:
  """Train (or reuse) one run; its test ICC / MSE per AU and wall time."""
  variant_arg = VARIANTS[name]
  wd = os.path.join(os.path.abspath(workroot), workdir_name(name, seed, steps))
  check_workdir(wd, expected_config(variant_arg, seed, steps, runlocal))
  cmd = command(variant_arg, seed, wd, steps, runlocal)
  if not os.path.exists(os.path.join(wd, "report.json")):
    _timed_subprocess(cmd, os.path.join(wd, WALL_FILE), resumed=os.path.isdir(wd))
  report = json.load(open(os.path.join(wd, "report.json")))
  wall_path = os.path.join(wd, WALL_FILE)
  per_au = report["test"]["per_au"]
  labels = list(per_au)
  return {"name": name, "seed": seed, "config_arg": config_arg(variant_arg, steps, runlocal),
          "command": " ".join(cmd[1:]), "workdir": wd, "steps": report["steps"],
          "selected_step": (report.get("selection") or {}).get("step"),
          "datasets": report["datasets"], "aus": labels, "n_test": report["test"]["n"],
          "icc": [_num(per_au[a].get("icc")) for a in labels],
          "mse": [_num(per_au[a].get("mse")) for a in labels],
          "environment": report.get("environment"),   # absent in reports before it was recorded
          **(json.load(open(wall_path)) if os.path.exists(wall_path) else {})}


def _num(x) -> float:
  return float("nan") if x is None else float(x)


def robustness(run: dict, sigmas) -> dict:
  """The joint run's noise curve (reused when noise_robustness.json has these
  sigmas and seed), as a dict for the JSON."""
  wd, seed = run["workdir"], run["seed"]
  path = os.path.join(wd, "noise_robustness.json")
  prev = json.load(open(path)) if os.path.exists(path) else None
  if not (prev and prev.get("sigmas_256px") == [float(s) for s in sigmas]
          and prev.get("seed") == seed):
    cmd = [sys.executable, "-m", "au_jax.models.heatmaps.robustness", f"--workdir={wd}",
           "--sigmas=" + ",".join(f"{s:g}" for s in sigmas), f"--seed={seed}"]
    _timed_subprocess(cmd, os.path.join(wd, ROBUST_WALL_FILE), resumed=False)
    prev = json.load(open(path))
  wall_path = os.path.join(wd, ROBUST_WALL_FILE)
  return {"sigmas": prev["sigmas_256px"], "sigma_scale": prev["sigma_scale"],
          "icc": [_num(x) for x in prev["icc"]], "mse": [_num(x) for x in prev["mse"]],
          "icc_drop_sigma": prev["icc_drop_sigma"], "records": prev["records"],
          **(json.load(open(wall_path)) if os.path.exists(wall_path) else {})}


# ---------------------------------------------------------------- summaries

def spread(values) -> dict:
  """Mean and 95% t-interval over seeds of a quantity (not a claim: no verdict)."""
  out = common.t_interval(values)
  del out["verdict"]
  return out


def defined_aus(runs, names, metric) -> list[str]:
  """The AUs whose `metric` is finite in every run of `names` (one AU set for
  every seed and both sides of a claim)."""
  rs = [r for r in runs if r["name"] in names]
  if not rs:
    return []
  return [a for k, a in enumerate(rs[0]["aus"])
          if all(a in r["aus"] and np.isfinite(r[metric][r["aus"].index(a)]) for r in rs)]


def mean_over(run: dict, metric: str, aus) -> float:
  return float(np.mean([run[metric][run["aus"].index(a)] for a in aus])) if aus else float("nan")


def paired(runs, claim: str, a: str, b: str, metric: str, direction: int) -> dict:
  """Claim: metric(a) - metric(b) has sign `direction`, paired by seed."""
  aus = defined_aus(runs, (a, b), metric)
  diffs = []
  for seed, rs in sorted(common.by_seed(runs).items()):
    if a in rs and b in rs:
      diffs.append(mean_over(rs[a], metric, aus) - mean_over(rs[b], metric, aus))
  paper = PAPER[a][metric] - PAPER[b][metric]
  return {"claim": claim, "a": a, "b": b, "metric": metric, "direction": direction,
          "aus": aus, "diffs": diffs, "paper": round(paper, 3),
          **common.t_interval(diffs, direction)}


def claims(runs) -> list[dict]:
  names = {r["name"] for r in runs}
  out = []
  for other, what in (("heatmaps_resnet18", "heatmaps beat ResNet-18"),
                      ("heatmaps_single", "joint maps beat single heatmaps")):
    if JOINT in names and other in names:
      out += [paired(runs, f"{what} (ICC)", JOINT, other, "icc", +1),
              paired(runs, f"{what} (MSE)", JOINT, other, "mse", -1)]
  return out


def robustness_summary(runs) -> dict | None:
  """The noise curve over seeds and the "holds, then degrades" test
  (module docstring)."""
  curves = [r for r in runs if r["name"] == JOINT and r.get("robustness")]
  if not curves:
    return None
  sigmas = curves[0]["robustness"]["sigmas"]
  curves = [r for r in curves if r["robustness"]["sigmas"] == sigmas]
  icc = np.array([r["robustness"]["icc"] for r in curves], float)    # [seeds, sigmas]
  mse = np.array([r["robustness"]["mse"] for r in curves], float)
  rows = []
  for k, s in enumerate(sigmas):
    drop = common.t_interval(icc[:, k] - icc[:, 0], -1)   # "holds" here = a significant drop
    rows.append({"sigma": s, "icc": spread(icc[:, k]), "mse": spread(mse[:, k]),
                 "icc_minus_sigma0": drop,
                 "significant_drop": k > 0 and drop["verdict"] == "holds",
                 "significant_rise": k > 0 and drop["verdict"] == "reversed"})
  rest = rows[1:]
  first = next((r["sigma"] for r in rest if r["significant_drop"]), None)
  hold = ([r["sigma"] for r in rows if first is None or r["sigma"] < first] or [None])[-1]
  if len(curves) < 2 or not rest:
    verdict, why = "not shown", "fewer than 2 seeds or no sigma > 0"
  elif rest[-1]["significant_rise"]:
    verdict, why = "reversed", f"ICC at {rest[-1]['sigma']:g} px significantly above sigma 0"
  elif first is None:
    verdict, why = "not shown", f"no significant drop up to {rest[-1]['sigma']:g} px"
  elif first == rest[0]["sigma"]:
    verdict, why = "not shown", f"significant drop already at {first:g} px: no plateau"
  elif not rest[-1]["significant_drop"]:
    verdict, why = "not shown", (f"significant drop at {first:g} px but not at the largest "
                                 f"sigma {rest[-1]['sigma']:g} px")
  else:
    verdict, why = "holds", (f"no significant drop up to {hold:g} px, significant from "
                             f"{first:g} px to {rest[-1]['sigma']:g} px")
  drops = [r["robustness"]["icc_drop_sigma"] for r in curves]
  finite = [d for d in drops if d is not None]
  d10 = spread(finite)
  lo, hi = d10["ci95"]
  if not np.nanmean(icc[:, 0]) > 0:
    vs = "ICC at sigma 0 is not positive: a 10% drop means nothing"
  elif len(finite) < 2 or not np.isfinite(lo):
    vs = "not enough seeds with a 10% drop for an interval"
  elif lo <= PAPER_DROP_PX <= hi:
    vs = f"the paper's {PAPER_DROP_PX:g} px is inside the interval"
  else:
    vs = (f"above the paper's {PAPER_DROP_PX:g} px" if lo > PAPER_DROP_PX
          else f"below the paper's {PAPER_DROP_PX:g} px")
  return {"sigmas": sigmas, "seeds": [r["seed"] for r in curves], "rows": rows,
          "sigma_drop": first, "sigma_hold": hold, "verdict": verdict, "why": why,
          "icc_drop_sigma": {**d10, "per_seed": drops,
                             "never_dropped": sum(d is None for d in drops)},
          "icc_drop_vs_paper": vs, "paper_drop_px": PAPER_DROP_PX,
          "sigma_scale": curves[0]["robustness"]["sigma_scale"]}


def summary(runs) -> dict:
  """{variant: {"icc"/"mse": mean and interval of the AU mean, "per_au":
  means over seeds, "wall_s"}}."""
  out = {}
  for name in VARIANTS:
    rs = [r for r in runs if r["name"] == name]
    if not rs:
      continue
    entry = {"seeds": [r["seed"] for r in rs], "aus": rs[0]["aus"], "steps": rs[0]["steps"]}
    for m in ("icc", "mse"):
      aus = defined_aus(runs, (name,), m)
      entry[m] = spread([mean_over(r, m, aus) for r in rs])
      entry[m]["aus"] = aus
      entry[m]["per_au"] = [finite_mean([r[m][k] for r in rs]) for k in range(len(rs[0]["aus"]))]
    entry["wall_s"] = [r.get("wall_s") for r in rs]
    entry["load_at_start"] = [r.get("load_at_start") for r in rs]
    entry["robustness_wall_s"] = [r["robustness"].get("wall_s") for r in rs if r.get("robustness")]
    out[name] = entry
  return out


def document(runs, seeds, steps, runlocal) -> dict:
  have = {(r["name"], r["seed"]) for r in runs}
  return {"config": CONFIG, "steps": steps, "runlocal": runlocal, "seeds": seeds,
          "seeds_complete": [s for s in seeds if all((n, s) in have for n in VARIANTS)
                             and any(r["seed"] == s and r.get("robustness") for r in runs)],
          "runs": runs, "summary": summary(runs), "claims": claims(runs),
          "robustness": robustness_summary(runs)}


def _ci(e, digits=3, sign=False) -> str:
  if e is None or not np.isfinite(e["mean"]):
    return "–"
  f = f"{{:{'+' if sign else ''}.{digits}f}}"
  if not np.isfinite(e["ci95"][0]):
    return f.format(e["mean"]) + f" (n={e['n']})"
  return (f.format(e["mean"]) + f" [{f.format(e['ci95'][0])}, {f.format(e['ci95'][1])}]"
          f" (n={e['n']})")


def markdown(doc: dict) -> str:
  lines = [f"AU heatmaps evidence: {doc['config']} (synthetic bp4d_like, AUs 6 10 12 14 17), "
           f"seeds {doc['seeds']} (complete: {doc['seeds_complete']}), steps "
           f"{doc['steps'] or 'the config'}{' (runlocal)' if doc['runlocal'] else ''}.", "",
           "| claim | A − B | mean [95% CI] (n seeds) | paper (BP4D) | verdict |",
           "|---|---|---|---|---|"]
  for c in doc["claims"]:
    lines.append(f"| {c['claim']} | {c['a']} − {c['b']} | {_ci(c, sign=True)} | "
                 f"{c['paper']:+.2f} | {c['verdict']} |")
  s = doc["summary"]
  if s:
    aus = next(iter(s.values()))["aus"]
    lines += ["", "Test ICC(3,1) and MSE per AU (mean over seeds); AU mean: mean [95% CI] "
              "over seeds; the paper's Table 1 mean for reference:", "",
              "| run | metric | " + " | ".join(aus) + " | mean | paper | wall per run (s) |",
              "|---|---|" + "---|" * (len(aus) + 3)]
    for name, e in s.items():
      walls = [w for w in e["wall_s"] if w is not None]
      for m in ("icc", "mse"):
        lines.append(f"| {name} | {m.upper()} | " + " | ".join(
            f"{v:.3f}" for v in e[m]["per_au"]) + f" | {_ci(e[m])} | {PAPER[name][m]:.2f} | "
            + (f"{np.mean(walls):.0f}" if walls and m == "icc" else "") + " |")
  rb = doc.get("robustness")
  if rb:
    lines += ["", f"Robustness to landmark noise (Fig. 4): sigma in px at 256 (x "
              f"{rb['sigma_scale']:.3f} on the records), seeds {rb['seeds']}; "
              "drop = ICC(sigma) − ICC(0) paired by seed, significant when its 95% interval "
              "is below 0.", "",
              "| sigma (px @256) | ICC | ICC − ICC(0) | significant drop | MSE |",
              "|---|---|---|---|---|"]
    for r in rb["rows"]:
      lines.append(f"| {r['sigma']:g} | {_ci(r['icc'])} | {_ci(r['icc_minus_sigma0'], sign=True)}"
                   f" | {'yes' if r['significant_drop'] else 'no'} | {_ci(r['mse'])} |")
    d = rb["icc_drop_sigma"]
    walls = [w for w in s.get(JOINT, {}).get("robustness_wall_s", []) if w is not None]
    lines += ["", f"Holds up to a threshold, then degrades: **{rb['verdict']}** ({rb['why']}).",
              f"ICC 10% below its sigma-0 value at {_ci(d, 1)} px (per seed "
              f"{['never' if x is None else round(x, 1) for x in d['per_seed']]}): "
              f"{rb['icc_drop_vs_paper']} (paper: degrades from >= 13 px)."]
    if walls:
      lines.append(f"Robustness evaluation: {np.mean(walls):.0f} s per seed (wall, whole process).")
  return "\n".join(lines)


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--seeds", default="0,1,2")
  ap.add_argument("--steps", type=int, default=0, help="training steps (0 = the config's)")
  ap.add_argument("--runlocal", action="store_true", help="the config's tiny smoke variant")
  ap.add_argument("--sigmas", default=",".join(map(str, SIGMAS)),
                  help="landmark noise sds, px at 256 (the first must be 0)")
  ap.add_argument("--train", default=",".join(VARIANTS),
                  help="the variants this call may train; the others are reported where a "
                       "finished run exists and never started (e.g. --train=heatmaps,"
                       "heatmaps_single when the ResNet-18 is too slow for the machine)")
  ap.add_argument("--summarise_only", action="store_true",
                  help="print the markdown of the runs already in --out; run nothing")
  ap.add_argument("--workroot", default=os.path.join(common.ROOT, "runs/compare_methods"),
                  help="shared with benchmarks/compare_methods.py: joint runs are reused")
  ap.add_argument("--out", default=os.path.join(common.RESULTS, "heatmaps_evidence.json"))
  args = ap.parse_args()
  if args.summarise_only:
    if not os.path.exists(args.out):
      sys.exit(f"{args.out} does not exist: nothing to summarise")
    prev = json.load(open(args.out))
    print(markdown(document(prev["runs"], prev["seeds"], prev["steps"], prev["runlocal"])))
    return
  try:
    seeds = [int(s) for s in args.seeds.split(",")]
    sigmas = [float(s) for s in args.sigmas.split(",")]
  except ValueError as e:
    sys.exit(f"--seeds / --sigmas: comma-separated numbers ({e})")
  if not sigmas or sigmas[0] != 0 or sorted(sigmas) != sigmas:
    sys.exit(f"--sigmas={args.sigmas}: increasing, starting at 0 (the reference level)")
  train = [v for v in args.train.split(",") if v]
  if not train or set(train) - set(VARIANTS):
    sys.exit(f"--train={args.train}: a comma-separated subset of {list(VARIANTS)}")
  runs = []
  for seed in seeds:                      # seed-major: an interrupted run has whole seeds
    for name in VARIANTS:
      wd = os.path.join(os.path.abspath(args.workroot), workdir_name(name, seed, args.steps))
      if name not in train and not os.path.exists(os.path.join(wd, "report.json")):
        print(f"[heatmaps_evidence] {name} seed {seed}: not trained (not in --train)", flush=True)
        continue
      t = time.time()
      r = one_run(args.workroot, name, seed, args.steps, args.runlocal)
      if name == JOINT:
        r["robustness"] = robustness(r, sigmas)
      runs.append(r)
      print(f"[heatmaps_evidence] {name} seed {seed}: test ICC {finite_mean(r['icc']):.3f} "
            f"MSE {finite_mean(r['mse']):.3f} ({time.time() - t:.0f} s)", flush=True)
      doc = document(runs, seeds, args.steps, args.runlocal)
      common.write_json(args.out, doc)
  print(markdown(document(runs, seeds, args.steps, args.runlocal)))


if __name__ == "__main__":
  main()
