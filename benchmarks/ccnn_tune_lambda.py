r"""lambda of Eq. 11 per AU, tuned on validation, as the CCNN paper does.

  python benchmarks/ccnn_tune_lambda.py --config=configs/ccnn_disfa.py --config_arg=fold=1 \
      --workroot=runs/ccnn_disfa_lambda                # -> benchmarks/results/ccnn_lambda_disfa.json
  python launch.py --config=configs/ccnn_disfa.py:fold=1,lambda_file=benchmarks/results/ccnn_lambda_disfa.json \
      --workdir=runs/ccnn_disfa_tuned
  python benchmarks/ccnn_tune_lambda.py --config=configs/ccnn_synthetic.py --workroot=runs/lam_syn

Walecki et al. (CVPR 2017, Sec. 3.3): "we tune the validation parameter
lambda_r separately for each AU" (Alg. 1 step 2: lambda_q ||phi_q||^2). One
training per lambda of --grid (the config arg `lam=`, the same lambda for
every AU), each in its own workdir under --workroot; a run with a
report.json is reused and an interrupted one resumes from its checkpoint
(the workdir is the unit of resume), so the script itself is resumable. Per
AU the lambda with the best VALIDATION ICC(3,1) (report.json "validation"
section) is chosen; test metrics are never read. Writes --out (default
benchmarks/results/ccnn_lambda_<config name without "ccnn_">.json) and prints
how to use it (config arg `lambda_file=`).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DEFAULT_GRID = (0.0, 1e-5, 1e-4, 1e-3, 1e-2)


def run_dir(workroot: str, lam: float) -> str:
  return os.path.join(workroot, f"lam_{lam:g}")


def select_lambdas(reports: dict[float, dict], metric: str = "icc") -> dict:
  """Per AU, the lambda whose run has the best validation `metric`.

  Args:
    reports: lambda -> report.json dict (reads `aus` and
      `validation.per_au[AU][metric]` only; never `test`).
    metric: a per-AU validation metric where higher is better.

  Returns:
    dict: `aus` (report order), `lambda` [A] chosen per AU, `validation`
    {AU label: {lambda: value}}. Ties go to the smaller lambda; an AU with
    no finite value takes the lambda with the best mean validation value.
  """
  grid = sorted(reports)
  first = reports[grid[0]]
  labels = list(first["validation"]["per_au"])

  def value(lam, label):
    v = reports[lam]["validation"]["per_au"].get(label, {}).get(metric, math.nan)
    return v if v is not None and math.isfinite(v) else math.nan

  def mean(lam):
    vals = [value(lam, a) for a in labels if math.isfinite(value(lam, a))]
    return sum(vals) / len(vals) if vals else -math.inf

  fallback = max(grid, key=lambda lam: (mean(lam), -lam))
  chosen, table = [], {}
  for label in labels:
    table[label] = {lam: value(lam, label) for lam in grid}
    finite = [lam for lam in grid if math.isfinite(table[label][lam])]
    chosen.append(max(finite, key=lambda lam: (table[label][lam], -lam)) if finite else fallback)
  return {"aus": list(first["aus"]), "lambda": chosen, "validation": table}


def _load_config_module(path: str):
  spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--config", default="configs/ccnn_synthetic.py", help="a configs/ccnn_*.py file")
  p.add_argument("--config_arg", default="", help="its arg string, without lam / lambda_file")
  p.add_argument("--grid", default=",".join(f"{x:g}" for x in DEFAULT_GRID),
                 help="comma-separated lambdas")
  p.add_argument("--workroot", required=True, help="one workdir per lambda under it")
  p.add_argument("--out", default=None, help="the per-AU lambda JSON")
  args = p.parse_args(argv)
  if {kv.split("=")[0].strip() for kv in args.config_arg.split(",")} & {"lam", "lambda_file"}:
    p.error("--config_arg must not set lam or lambda_file (the script sets lam per run)")
  grid = sorted({float(x) for x in args.grid.split(",") if x.strip()})
  name = os.path.splitext(os.path.basename(args.config))[0].removeprefix("ccnn_")
  out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                 f"ccnn_lambda_{name}.json")

  from au_jax.train import loop
  module = _load_config_module(args.config)
  reports = {}
  for lam in grid:
    wd = run_dir(args.workroot, lam)
    path = os.path.join(wd, "report.json")
    if not os.path.exists(path):
      print(f"[tune] lambda={lam:g}: training in {wd}", flush=True)
      arg = ",".join(x for x in (args.config_arg, f"lam={lam!r}") if x)
      loop.train_and_evaluate(module.get_config(arg), wd)
    else:
      print(f"[tune] lambda={lam:g}: reusing {path}", flush=True)
    with open(path) as f:
      reports[lam] = json.load(f)
  sel = select_lambdas(reports)
  result = {"config": args.config, "config_arg": args.config_arg, "grid": grid,
            "selection": "per AU, the best validation ICC(3,1) (Walecki et al. Sec. 3.3)",
            "workroot": os.path.abspath(args.workroot), **sel}
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  with open(out, "w") as f:
    json.dump(result, f, indent=1)
  for label, lam in zip(sel["validation"], sel["lambda"]):
    print(f"  {label}: lambda={lam:g} (validation ICC {sel['validation'][label][lam]:.3f})")
  arg = ",".join(x for x in (args.config_arg, f"lambda_file={out}") if x)
  print(f"wrote {out}\nuse it: python launch.py --config={args.config}:{arg} --workdir=...\n"
        f"(or config.model.unary_l2 = {tuple(sel['lambda'])}, in the AU order {sel['aus']})")
  return result


if __name__ == "__main__":
  main()
