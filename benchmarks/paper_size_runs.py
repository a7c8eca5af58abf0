"""The paper-sized networks trained on synthetic_au, beside the shrunk synthetic
networks of the recipe table (Table 2 of docs/results.md) with the same seed.

Each method's `paper` arg (`configs/<method>_synthetic.py:paper`) is the
paper's network at the paper's input resolution with everything else the
synthetic config's (data, protocol, batch, schedule, selection), so the only
difference from Table 2's run of the same seed is the network. The FERA 2015
CNN and the multi-label CNN are paper-sized in their synthetic configs
already: their Table 2 runs are their paper-sized runs, and they are not
trained again here.

  python -m benchmarks.paper_size_runs                          # CCNN-IT, DSIN, heat maps, seed 0
  python -m benchmarks.paper_size_runs --methods=dsin --seed=0
  python -m benchmarks.paper_size_runs --summarise_only

Each run trains through launch.py in `<workroot>/<method>_paper_s<seed>`
(default workroot runs/paper_size); a finished run (its report.json) is
reused, an interrupted one resumes from its checkpoint, a run that fails is
named and the others go on. After every run the summary is written to
`benchmarks/results/paper_size_runs.json` and `.md`: per method, the paper
run's and the Table 2 run's test F1, 2AFC and ICC (mean over the AUs defined
in both), their selected step, and the paper run's validation curve of its
selection metric with `still_rising` (the best validation value is the last
evaluation's and is above every earlier one by more than RISING, so the
budget ended before the curve levelled off).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

from benchmarks import common
from benchmarks import compare_equal_budget as ceb

# The methods whose synthetic config shrinks the network; their paper arg.
PAPER = {"ccnn": "paper", "dsin": "paper", "heatmaps": "paper"}
SAME_AS_SYNTHETIC = ("gudi", "multilabel")
RISING = 0.01           # validation gain at the last evaluation that counts as still rising
TABLE2 = os.path.join(common.RESULTS, "compare_paper_recipe.json")


def command(method: str, seed: int, workdir: str) -> list[str]:
  path, arg, _ = ceb.METHODS[method]
  return ceb.launch_command(path, ",".join(a for a in (arg, PAPER[method]) if a), seed,
                            workdir, {}, runlocal=False)


def validation_curve(workdir: str, metric: str) -> list[tuple[int, float]]:
  """(step, validation `metric`) of every evaluation in metrics.jsonl."""
  out = []
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return out
  with open(path) as f:
    for line in f:
      rec = json.loads(line)
      if rec.get("split") == "validation" and metric in rec:
        out.append((int(rec["step"]), float(rec[metric])))
  return out


def still_rising(curve: list[tuple[int, float]], margin: float = RISING) -> bool | None:
  """True when the last evaluation is the best and beats every earlier one by
  more than `margin`; None with fewer than two evaluations."""
  vals = [v for _, v in curve if math.isfinite(v)]
  if len(vals) < 2:
    return None
  return vals[-1] - max(vals[:-1]) > margin


def paired_means(a: dict, b: dict, metrics) -> dict:
  """{metric: (mean of a, mean of b)} over the AUs with a finite value in both
  per-AU tables ({AU: {metric: value}})."""
  out = {}
  for m in metrics:
    aus = [au for au in a if au in b and ceb._finite(a[au].get(m)) and ceb._finite(b[au].get(m))]
    if aus:
      out[m] = (sum(a[au][m] for au in aus) / len(aus), sum(b[au][m] for au in aus) / len(aus),
                len(aus))
  return out


def summarise(method: str, seed: int, workdir: str, report: dict, wall: dict,
              table2_runs: list[dict]) -> dict:
  task = ceb.METHODS[method][2]
  metric = ceb.SELECT[task]
  per_au = {au: {k: r[k] for k in ceb.METRICS[task] if k in r}
            for au, r in report["test"]["per_au"].items()}
  synth = next((r for r in table2_runs if r["method"] == method and r["seed"] == seed), None)
  curve = validation_curve(workdir, (report.get("selection") or {}).get("metric", metric))
  out = {"method": method, "seed": seed, "workdir": workdir, "task": task,
         "selection": report.get("selection"), "steps": report.get("steps"),
         "wall_s": wall.get("wall_s"), "validation_curve": curve,
         "still_rising": still_rising(curve), "per_au": per_au}
  if synth is not None:
    out["table2"] = {"workdir": synth["workdir"], "selection": synth.get("selection")}
    out["paper_vs_table2"] = {m: {"paper": p, "synthetic": s, "aus": n}
                              for m, (p, s, n) in paired_means(per_au, synth["per_au"],
                                                               ceb.METRICS[task]).items()}
  return out


def markdown(rows: list[dict]) -> str:
  lines = ["### Paper-sized networks against the synthetic ones (Table 2's run, same seed)", "",
           "| method | seed | metric | paper-sized | synthetic | AUs | paper run's selected step "
           "| still rising at the end |", "|---|---|---|---|---|---|---|---|"]
  for r in rows:
    for m, v in (r.get("paper_vs_table2") or {}).items():
      lines.append(f"| {ceb.TITLES[r['method']]} | {r['seed']} | {ceb.NAMES[m]} | "
                   f"{v['paper']:.3f} | {v['synthetic']:.3f} | {v['aus']} | "
                   f"{(r.get('selection') or {}).get('step', '–')} | "
                   f"{ {True: 'yes', False: 'no', None: '–'}[r['still_rising']]} |")
  lines += ["", "Validation curves of the paper-sized runs (step: selection metric):", ""]
  for r in rows:
    pts = ", ".join(f"{s}: {v:.3f}" for s, v in r["validation_curve"])
    lines.append(f"- {ceb.TITLES[r['method']]}, seed {r['seed']}: {pts or '–'}")
  return "\n".join(lines)


def main(argv=None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--methods", default=",".join(PAPER))
  ap.add_argument("--seed", type=int, default=0)
  ap.add_argument("--workroot", default="runs/paper_size")
  ap.add_argument("--out", default=os.path.join(common.RESULTS, "paper_size_runs.json"))
  ap.add_argument("--summarise_only", action="store_true")
  args = ap.parse_args(argv)
  methods = [m.strip() for m in args.methods.split(",") if m.strip()]
  bad = [m for m in methods if m not in PAPER]
  if bad:
    sys.exit(f"--methods: {bad} unknown or not shrunk in their synthetic config "
             f"({', '.join(SAME_AS_SYNTHETIC)} are paper-sized there already); choose from "
             f"{list(PAPER)}")
  md_path = os.path.splitext(args.out)[0] + ".md"
  if args.summarise_only:
    prev = common.read_json(args.out)
    if not prev:
      sys.exit(f"--summarise_only: no summary at {args.out}")
    print(markdown(prev["runs"]))
    return
  table2 = (common.read_json(TABLE2) or {}).get("runs", [])
  prev = common.read_json(args.out, {}) if os.path.exists(args.out) else {}
  rows = [r for r in prev.get("runs", []) if not (r["method"] in methods
                                                  and r["seed"] == args.seed)]
  failed = []
  for method in methods:
    wd = os.path.abspath(os.path.join(args.workroot, f"{method}_paper_s{args.seed}"))
    try:
      report, wall = ceb.train(wd, command(method, args.seed, wd), args.seed, {},
                               tag="paper_size")
    except ceb.TableError as e:
      sys.exit(f"refused: {e}")
    except ceb.RunFailed as e:
      failed.append(str(e))
      print(f"[paper_size] failed, going on: {e}", file=sys.stderr, flush=True)
      continue
    rows.append(summarise(method, args.seed, wd, report, wall, table2))
    rows.sort(key=lambda r: (list(PAPER).index(r["method"]), r["seed"]))
    common.write_json(args.out, {"runs": rows, "table2": os.path.relpath(TABLE2, common.ROOT),
                                 "rising_margin": RISING})
    common.write_text(md_path, markdown(rows) + "\n")
  if rows:
    print(markdown(rows))
  if failed:
    sys.exit(f"{len(failed)} run(s) failed:\n  " + "\n  ".join(failed))


if __name__ == "__main__":
  main()
