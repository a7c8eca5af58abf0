r"""lambda of Eq. 11 per AU, tuned on validation, as the CCNN paper does: the grid and its JSON.

  python -m benchmarks.ccnn_tune_lambda --config=configs/ccnn_disfa.py --config_arg=fold=1 \
      --workroot=runs/ccnn_disfa_lambda                # -> benchmarks/results/ccnn_lambda_disfa.json
  python launch.py --config=configs/ccnn_disfa.py:fold=1,lambda_file=benchmarks/results/ccnn_lambda_disfa.json \
      --workdir=runs/ccnn_disfa_tuned
  python -m benchmarks.ccnn_tune_lambda --config=configs/ccnn_synthetic.py --workroot=runs/lam_syn

The real-data configs (ccnn_disfa, ccnn_fera2015, ccnn_multi) now do all of
this by default in one `launch.py` command (config arg `lam=tune`, see
au_jax/models/ccnn/lambda_tuning.py); this script stays for a grid shared by
several final runs and for configs whose default is one lambda
(ccnn_synthetic). It is a thin CLI over au_jax.models.ccnn.lambda_tuning.

Walecki et al. (CVPR 2017, Sec. 3.3): "we tune the validation parameter
lambda_r separately for each AU" (Alg. 1 step 2: lambda_q ||phi_q||^2). One
training per lambda of --grid (the config arg `lam=`, the same lambda for
every AU), each in its own workdir under --workroot; a run with a
report.json is reused and an interrupted one resumes from its checkpoint
(the workdir is the unit of resume), so the script itself is resumable. Per
AU the lambda with the best VALIDATION ICC(3,1) (report.json "validation"
section) is chosen; test metrics are never read. Writes --out (default
benchmarks/results/ccnn_lambda_<config name without "ccnn_">.json,
atomically) and prints how to use it (config arg `lambda_file=`).
"""
from __future__ import annotations

import argparse
import importlib.util
import os

from au_jax.models.ccnn.lambda_tuning import (  # (the package's, re-exported)
  DEFAULT_GRID,
  grid_runs,
  run_dir,
  select_lambdas,
)
from benchmarks import common

__all__ = ["DEFAULT_GRID", "main", "run_dir", "select_lambdas"]


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
  out = args.out or os.path.join(common.RESULTS, f"ccnn_lambda_{name}.json")

  module = _load_config_module(args.config)
  reports = grid_runs(
      lambda lam: module.get_config(",".join(x for x in (args.config_arg, f"lam={lam!r}") if x)),
      grid, args.workroot, log=lambda m: print(m.replace("[lambda]", "[tune]"), flush=True))
  sel = select_lambdas(reports)
  result = {"config": args.config, "config_arg": args.config_arg, "grid": grid,
            "selection": "per AU, the best validation ICC(3,1) (Walecki et al. Sec. 3.3)",
            "workroot": os.path.abspath(args.workroot), **sel}
  common.write_json(out, result)
  for label, lam in zip(sel["validation"], sel["lambda"]):
    print(f"  {label}: lambda={lam:g} (validation ICC {sel['validation'][label][lam]:.3f})")
  arg = ",".join(x for x in (args.config_arg, f"lambda_file={out}") if x)
  print(f"wrote {out}\nuse it: python launch.py --config={args.config}:{arg} --workdir=...\n"
        f"(or config.model.unary_l2 = {tuple(sel['lambda'])}, in the AU order {sel['aus']})")
  return result


if __name__ == "__main__":
  main()
