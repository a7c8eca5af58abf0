r"""The five methods on one protocol, one table (issue 12 item 10).

  python -m benchmarks.compare_methods --workroot=runs/compare            # seeds 0,1,2
  python -m benchmarks.compare_methods --summarise_only                   # print the table
  python -m benchmarks.compare_methods --runlocal --workroot=/tmp/cmp \
      --seeds=0,1                                                         # plumbing only

Trains each method's synthetic config (the embedded defaults, unchanged:
each method's own steps, batch and optimiser) once per seed
(`--config.seed=S` on the command line of launch.py, so the same seed gives
the same initialisation and data order as a user's run), one run at a time,
each in its own workdir `<workroot>/<method>_s<seed>` through `launch.py`
(a finished run -- its report.json exists -- is reused; an interrupted one
resumes from its checkpoint; its wall time is then the last attempt's,
marked "resumed"). After each run, --out (JSON, written atomically) holds
every finished run (those of earlier invocations with other --methods or
--seeds too) and the summary; --summarise_only prints the summary as
markdown from --out without running anything.

After the training runs, one method at a time, each method's throughput and
parameter count: benchmarks/throughput.py in its own process on the
method's synthetic config (the same config arg, at the config's own batch
size; `--throughput_steps` timed steps after a warm-up): `num_params` (the
model's trainable parameters at init: the trained checkpoint has the same
shapes), the jitted train step's images/s over the schedule's gradient
stages (each distinct stage timed, weighted by its steps; fit stages such as
DSIN's anchors and the multi-label CNN's QDA take no gradient step) and the
jitted predict's images/s, with the load average at start and end. Written
to `<workroot>/throughput/<method>.json` (reused when it holds the same
config and steps: delete it to measure again) and to --out's `throughput`. They depend on the config, not
on the seed, so there is one measurement per method, for every method in
--out (those trained by earlier invocations too). `--skip_throughput`
leaves them out; runs recorded before throughput existed still summarise
(their cells read "–").

What is compared, and with what:
- The test split of each config's dataset (protocol `default`: 16 train /
  4 validation / 4 test subjects; the split does not change with the seed:
  seeds vary initialisation, augmentation and batch order only).
  Thresholds are tuned on validation (F1) by the engine, as in every report.
- Metrics are the engine's report.json test metrics, averaged over the AUs
  of a comparison group, then mean and 95% t-interval over seeds:
  occurrence F1 and 2AFC (ROC AUC) for every method; ICC(3,1) and MAE only
  for methods that predict intensity (DSIN and the multi-label CNN predict
  occurrence only: their "intensity" output is a placeholder, 5 x score,
  and is not reported). The heatmap method predicts intensity; its
  occurrence score is that intensity / 5.
- Like with like: rows are grouped by dataset and AU set. The heatmap
  method's paper setting is `bp4d_like` (the paper's BP4D AUs 6, 10, 12,
  14, 17), a different dataset from the others' `disfa_like` (12 DISFA
  AUs): it is a group of its own. `heatmaps (disfa_like)` (its config with
  `dataset=disfa_like`) puts it in the 12-AU group with the four others.
- Wall time per run: launch.py's whole process (build on first use,
  compilation, training, evaluation, reports), with the machine's load
  average at the start; on a shared machine it is an upper bound (and the
  throughputs lower bounds).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from benchmarks import common

ROOT = common.ROOT

# name -> (config file, config arg, dataset, what it predicts)
METHODS = {
    "ccnn": ("configs/ccnn_synthetic.py", "", "disfa_like", "intensity + occurrence"),
    "gudi": ("configs/gudi_synthetic.py", "", "disfa_like", "intensity + occurrence"),
    "dsin": ("configs/dsin_synthetic.py", "", "disfa_like", "occurrence"),
    "multilabel": ("configs/multilabel_synthetic.py", "", "disfa_like", "occurrence"),
    "heatmaps": ("configs/heatmaps_synthetic.py", "", "bp4d_like", "intensity"),
    "heatmaps (disfa_like)": ("configs/heatmaps_synthetic.py", "dataset=disfa_like",
                              "disfa_like", "intensity"),
}
TITLES = {"ccnn": "CCNN-IT (Walecki et al. 2017)", "gudi": "FERA 2015 CNN (Gudi et al. 2015)",
          "dsin": "DSIN (Corneanu et al. 2018)", "multilabel": "Multi-label CNN + QDA (Ghosh et al. 2015)",
          "heatmaps": "AU heatmaps (Sanchez et al. 2018)",
          "heatmaps (disfa_like)": "AU heatmaps (Sanchez et al. 2018)"}
OCC_METRICS = ("f1", "auc")
INT_METRICS = ("icc", "mae")
NAMES = {"f1": "F1", "auc": "2AFC", "icc": "ICC(3,1)", "mae": "MAE"}


def workdir_name(method: str, seed: int) -> str:
  return method.replace(" (", "_").replace(")", "") + f"_s{seed}"


def command(method: str, seed: int, workdir: str, runlocal: bool) -> list[str]:
  path, arg, _, _ = METHODS[method]
  arg = ",".join(a for a in (arg, "runlocal" if runlocal else "") if a)
  return [sys.executable, os.path.join(ROOT, "launch.py"),
          f"--config={path}" + (f":{arg}" if arg else ""), f"--workdir={workdir}",
          f"--config.seed={seed}"]


def one_run(workroot: str, method: str, seed: int, runlocal: bool) -> dict:
  """Train (or reuse) one run; its record for the JSON."""
  wd = os.path.join(os.path.abspath(workroot), workdir_name(method, seed))
  report_path = os.path.join(wd, "report.json")
  timing = os.path.join(wd, "compare_wall.json")
  if not os.path.exists(report_path):
    resumed = os.path.isdir(wd)     # an interrupted run continues from its checkpoint
    load = os.getloadavg()[0]
    t = time.time()
    cmd = command(method, seed, wd, runlocal)
    print("[compare] " + " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)
    wall = {"wall_s": round(time.time() - t, 1), "load_at_start": round(load, 2)}
    if resumed:   # the wall time is the last attempt's only
      wall["resumed"] = True
    common.write_json(timing, wall)
  elif not os.path.exists(timing):
    print(f"[compare] {wd}: finished before this script timed it (no wall time)", flush=True)
  report = json.load(open(report_path))
  wall = json.load(open(timing)) if os.path.exists(timing) else {}
  _, _, dataset, predicts = METHODS[method]
  per_au = {au: {k: r[k] for k in OCC_METRICS + INT_METRICS if k in r}
            for au, r in report["test"]["per_au"].items()}
  return {"method": method, "seed": seed, "workdir": wd, "command": " ".join(command(
      method, seed, wd, runlocal)[1:]), "dataset": dataset, "datasets": report["datasets"],
          "predicts": predicts, "aus": report["aus"], "steps": report["steps"],
          "selection": report.get("selection"), "n_test": report["test"]["n"],
          "per_au": per_au, **wall}


def slug(method: str) -> str:
  return method.replace(" (", "_").replace(")", "")


def throughput_command(method: str, runlocal: bool, steps: int, out: str) -> list[str]:
  path, arg, _, _ = METHODS[method]
  arg = ",".join(a for a in (arg, "runlocal" if runlocal else "") if a)
  return [sys.executable, "-m", "benchmarks.throughput",
          f"--config={path}" + (f":{arg}" if arg else ""), f"--steps={steps}",
          "--parts=train_step,predict", f"--out={out}"]


def measure_throughput(workroot: str, method: str, runlocal: bool, steps: int) -> dict:
  """Parameters and train / predict images/s of `method`'s config (reused
  from <workroot>/throughput/<method>.json when there)."""
  out = os.path.join(os.path.abspath(workroot), "throughput", slug(method) + ".json")
  cmd = throughput_command(method, runlocal, steps, out)
  config = cmd[3].split("=", 1)[1]
  prev = common.read_json(out, {})
  if (prev.get("config"), prev.get("steps")) != (config, steps):   # absent or another setting
    print("[compare] " + " ".join(cmd), flush=True)
    t = time.time()
    subprocess.run(cmd, cwd=ROOT, check=True)
    r = common.read_json(out)
    r["wall_s"] = round(time.time() - t, 1)
    common.write_json(out, r)
  r = json.load(open(out))
  keep = ("config", "batch_size", "steps", "num_params", "train_step_images_per_s",
          "predict_images_per_s", "predict_cpu_s_per_batch", "train_segments", "fit_stages",
          "backend", "cpu_count", "load_average_at_start", "load_average_at_end", "wall_s")
  return {k: r[k] for k in keep if k in r}


def metrics_of(method: str) -> tuple[str, ...]:
  return OCC_METRICS + (INT_METRICS if "intensity" in METHODS[method][3] else ())


def groups(runs) -> dict:
  """{dataset: AU labels every method of that dataset scores}: the like-with-like sets."""
  out = {}
  for r in runs:
    aus = [a for a in r["per_au"] if r["per_au"][a]]
    out[r["dataset"]] = [a for a in out.get(r["dataset"], aus) if a in aus]
  return out


def summarise(runs) -> dict:
  """Per group and method: mean over the group's AUs (per metric, those every
  run defines: `defined_aus`), then mean / 95% CI over seeds; per-AU means
  over seeds; wall time."""
  import warnings
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)   # nanmean of all-NaN -> NaN
    return _summarise(runs)


def defined_aus(runs, aus, metric) -> list:
  """The AUs whose `metric` every run reporting it has finite (F1 / 2AFC are
  undefined for an AU without a positive test frame): one AU set per metric,
  the same for every method of a group."""
  rs = [r for r in runs if metric in metrics_of(r["method"])]
  return [a for a in aus if all(np.isfinite(r["per_au"][a].get(metric, np.nan)) for r in rs)]


def _summarise(runs) -> dict:
  out = {}
  for dataset, aus in groups(runs).items():
    rows = {}
    in_group = [r for r in runs if r["dataset"] == dataset]
    defined = {m: defined_aus(in_group, aus, m) for m in OCC_METRICS + INT_METRICS}
    for method in dict.fromkeys(r["method"] for r in in_group):
      rs = sorted((r for r in runs if r["method"] == method), key=lambda r: r["seed"])
      entry = {"seeds": [r["seed"] for r in rs], "predicts": METHODS[method][3],
               "steps": rs[0]["steps"], "datasets": rs[0]["datasets"]}
      for m in metrics_of(method):
        per_seed = [np.mean([r["per_au"][a][m] for a in defined[m]]) if defined[m] else np.nan
                    for r in rs]
        entry[m] = common.mean_interval(per_seed)
        entry.setdefault("per_au", {})[m] = {
            a: float(np.nanmean([r["per_au"][a].get(m, np.nan) for r in rs])) for a in aus}
      walls = [r["wall_s"] for r in rs if "wall_s" in r]
      entry["wall_s"] = common.mean_interval(walls) if walls else None
      entry["load_at_start"] = [r.get("load_at_start") for r in rs]
      rows[method] = entry
    out[dataset] = {"aus": aus, "aus_in_mean": defined, "methods": rows}
  return out


def _fmt(e, digits=3) -> str:
  if e is None or not np.isfinite(e["mean"]):
    return "–"
  if not np.isfinite(e["half"]):
    return f"{e['mean']:.{digits}f}"
  return f"{e['mean']:.{digits}f} ± {e['half']:.{digits}f}"


def _num(x, fmt) -> str:
  return "–" if x is None else format(x, fmt)


def markdown(summary, seeds, throughput=None) -> str:
  """The tables; `throughput` ({method: measure_throughput's dict}, optional:
  older JSONs have none) fills the parameters and images/s columns."""
  throughput = throughput or {}
  lines = []
  for dataset, g in summary.items():
    methods = g["methods"]
    lines += [f"### synthetic_au/{dataset}: {len(g['aus'])} AUs ({', '.join(g['aus'])})", ""]
    if len(methods) == 1:
      lines += ["(one method on this dataset and AU set: nothing here is comparable with the "
                "other table)", ""]
    lines += ["| method | predicts | F1 | 2AFC | ICC(3,1) | MAE | parameters | train img/s "
              "| predict img/s | steps | wall per run (s) | seeds |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for method, e in methods.items():
      cells = [_fmt(e.get(m)) if m in e else "–" for m in ("f1", "auc", "icc", "mae")]
      tp = throughput.get(method, {})
      cells += [_num(tp.get("num_params"), ","), _num(tp.get("train_step_images_per_s"), ".0f"),
                _num(tp.get("predict_images_per_s"), ".0f")]
      wall = _fmt(e["wall_s"], 0) if e["wall_s"] else "–"
      lines.append(f"| {TITLES[method]}{' [disfa_like]' if method.endswith('(disfa_like)') else ''}"
                   f" | {e['predicts']} | " + " | ".join(cells)
                   + f" | {e['steps']} | {wall} | {','.join(map(str, e['seeds']))} |")
    lines.append("")
    tps = {m: throughput[m] for m in methods if m in throughput}
    if tps:
      lines += ["Throughput (benchmarks/throughput.py, one process per method after the "
                "training runs; jitted steps, compilation excluded; train = the schedule's "
                "gradient stages weighted by their steps): " + "; ".join(
                    f"{m}: batch {t.get('batch_size')}, load {_num(t.get('load_average_at_start'), '.1f')}"
                    f"→{_num(t.get('load_average_at_end'), '.1f')}" for m, t in tps.items())
                + f" on {next(iter(tps.values())).get('cpu_count')} "
                  f"{next(iter(tps.values())).get('backend')} cores; under load, lower bounds.", ""]
    left_out = {NAMES[m]: [a for a in g["aus"] if a not in g["aus_in_mean"][m]]
                for m in ("f1", "auc", "icc", "mae")}
    left_out = {k: v for k, v in left_out.items() if v}
    if left_out:
      lines += ["Left out of the means (undefined for some run, e.g. no positive test frame): "
                + "; ".join(f"{k}: {', '.join(v)}" for k, v in left_out.items()), ""]
    for m in ("f1", "icc"):
      have = [k for k, e in methods.items() if m in e.get("per_au", {})]
      if len(have) < 2:
        continue
      lines += [f"Per AU, {NAMES[m]} (mean over seeds):", "",
                "| method | " + " | ".join(g["aus"]) + " |", "|---" * (len(g["aus"]) + 1) + "|"]
      for k in have:
        lines.append(f"| {k} | " + " | ".join(f"{methods[k]['per_au'][m][a]:.3f}"
                                              for a in g["aus"]) + " |")
      lines.append("")
  lines.append(
      f"Mean over the group's AUs, then mean ± 95% t half-width over seeds {seeds} "
      "(same test subjects for every seed). Occurrence = intensity >= 2 on disfa_like; "
      "bp4d_like codes occurrence itself. ICC / MAE only for methods that predict intensity. "
      "Tables of different datasets are not comparable with each other.")
  return "\n".join(lines)


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--seeds", default="0,1,2")
  ap.add_argument("--methods", default=",".join(METHODS),
                  help=f"comma-separated subset of {list(METHODS)}")
  ap.add_argument("--workroot", default="runs/compare_methods")
  ap.add_argument("--out", default=None,
                  help="JSON (default benchmarks/results/compare_methods.json; with "
                       "--runlocal <workroot>/compare_methods.json)")
  ap.add_argument("--runlocal", action="store_true",
                  help="each config's :runlocal (a dry run of the plumbing; tiny data)")
  ap.add_argument("--summarise_only", action="store_true",
                  help="print the table of the runs already in --out; run nothing")
  ap.add_argument("--skip_throughput", action="store_true",
                  help="do not measure parameters and throughput after the runs")
  ap.add_argument("--throughput_steps", type=int, default=0,
                  help="timed steps per throughput measurement (0: 10, 2 with --runlocal)")
  args = ap.parse_args()
  seeds = [int(s) for s in args.seeds.split(",")]
  if args.out is None:   # a dry run never overwrites the measured results
    args.out = (os.path.join(args.workroot, "compare_methods.json") if args.runlocal
                else os.path.join(ROOT, "benchmarks/results/compare_methods.json"))
  methods = [m.strip() for m in args.methods.split(",") if m.strip()]
  unknown = [m for m in methods if m not in METHODS]
  if unknown:
    sys.exit(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
  if args.summarise_only:
    if not os.path.exists(args.out):
      sys.exit(f"{args.out} does not exist: run without --summarise_only first")
    with open(args.out) as f:
      prev = json.load(f)
    print(markdown(summarise(prev["runs"]), prev["seeds"],      # recomputed from the runs
                   prev.get("throughput")))
    return
  # Runs recorded in --out by an earlier invocation (other methods or seeds)
  # stay in it; this invocation's (method, seed) pairs are re-read from their
  # workdirs.
  kept, throughput = [], {}
  if os.path.exists(args.out):
    with open(args.out) as f:
      prev = json.load(f)
    if prev.get("runlocal") == args.runlocal:
      kept = [r for r in prev.get("runs", [])
              if not (r["method"] in methods and r["seed"] in seeds)]
      throughput = dict(prev.get("throughput") or {})
  runs = []

  def write(every):
    done = {(x["method"], x["seed"]) for x in every}
    all_methods = dict.fromkeys([x["method"] for x in every] + methods)
    complete = [s for s in sorted({x["seed"] for x in every} | set(seeds))
                if all((m, s) in done for m in all_methods)]
    common.write_json(args.out, (
        {"runlocal": args.runlocal, "seeds": sorted({r["seed"] for r in every}),
         "seeds_complete": complete,
         "methods": {m: {"config": METHODS[m][0], "arg": METHODS[m][1],
                         "dataset": METHODS[m][2], "predicts": METHODS[m][3]}
                     for m in dict.fromkeys(r["method"] for r in every)},
         "runs": every, "summary": summarise(every), "throughput": throughput}))
  # Seed-major: an interrupted comparison has every method for its first seeds.
  for seed in seeds:
    for method in methods:
      runs.append(one_run(args.workroot, method, seed, args.runlocal))
      r = runs[-1]
      print(f"[compare] {method} seed {seed}: " + ", ".join(
          f"{NAMES[m]} {np.nanmean([v.get(m, np.nan) for v in r['per_au'].values()]):.3f}"
          for m in metrics_of(method)) + f" ({r.get('wall_s', float('nan')):.0f} s)", flush=True)
      write(kept + runs)
  every = kept + runs
  # After every training run, one method at a time (never beside a training).
  if not args.skip_throughput:
    steps = args.throughput_steps or (2 if args.runlocal else 10)
    for method in dict.fromkeys(r["method"] for r in every):   # earlier invocations' too
      throughput[method] = measure_throughput(args.workroot, method, args.runlocal, steps)
      t = throughput[method]
      print(f"[compare] {method}: {t['num_params']:,} parameters, train "
            f"{t['train_step_images_per_s']:.0f} img/s, predict {t['predict_images_per_s']:.0f} "
            f"img/s (batch {t['batch_size']}, load {t['load_average_at_start']:.1f})", flush=True)
      write(every)
  print(markdown(summarise(every), sorted({r["seed"] for r in every}), throughput))


if __name__ == "__main__":
  main()
