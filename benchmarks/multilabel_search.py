r"""Random hyper-parameter search for the multi-label CNN (Ghosh et al., ACII 2015, Sec. V).

  python -m benchmarks.multilabel_search \
      --config=configs/multilabel_disfa.py:protocol=loso75:SN001 \
      --n=20 --seed=0 --workroot=runs/ml_search
  python -m benchmarks.multilabel_search --config=configs/multilabel_synthetic.py \
      --n=8 --iterations=500,1500 --workroot=runs/ml_search_synthetic

"We have resorted to a random search over the hyper-parameter space in place
of a grid search" (Sec. V), over the paper's ranges (`SPACE`):
  iterations      5000 to 10000   uniform integer   (--iterations overrides)
  learning rate   1e-4 to 1e-2    log-uniform       config.train.optimizer
  weight decay    5e-6 to 5e-3    log-uniform       config.train.optimizer
  conv kernels    5 to 15         uniform integer, one per mega layer
  pool kernels    2 to 4          uniform integer, one per mega layer
  momentum        0.5 to 0.9      uniform           config.train.optimizer
A draw whose mega layers do not fit the input (a feature map below 1x1,
VALID convolutions) is redrawn; the draws are a function of --seed only, so
trial i of a seed is always the same configuration.

Each trial runs the config with its draw through the engine
(au_jax.experiment.train_and_evaluate) in `<workroot>/s<seed>_t<i>/`, one
after the other, with the config's own model selection on validation (early
stopping included) and without the retraining on train + validation (the
search compares validation scores; retrain the chosen configuration with the
config's default). A trial whose report.json exists is reused, so the search
resumes; a workdir holding another draw fails rather than being mixed up.
After every trial `<workroot>/search.{json,md}` rank the trials by the
config's selection metric on validation (best first). Test scores are not in
the table: choosing on them would leak the test split.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

import numpy as np

from benchmarks import common

# Sec. V, "Hyper-parameter Validation": name -> (low, high, kind)
SPACE = {
    "iterations": (5000, 10000, "int"),
    "learning_rate": (1e-4, 1e-2, "log"),
    "weight_decay": (5e-6, 5e-3, "log"),
    "conv_kernel": (5, 15, "int"),
    "pool_kernel": (2, 4, "int"),
    "momentum": (0.5, 0.9, "uniform"),
}


def fits(input_size: int, kernels, pools) -> bool:
  """The mega layers' feature maps stay >= 1x1 (VALID conv, stride-p pooling)."""
  s = int(input_size)
  for k, p in zip(kernels, pools):
    s = (s - k + 1) // p
    if s < 1:
      return False
  return True


def sample(n: int, seed: int, input_size: int, layers: int = 2,
           iterations: tuple[int, int] | None = None) -> list[dict]:
  """n draws from SPACE (iterations from `iterations` if given), each fitting the input."""
  rng = np.random.default_rng(seed)
  lo_it, hi_it = iterations or SPACE["iterations"][:2]

  def draw(name, size=None):
    lo, hi, kind = SPACE[name]
    if kind == "int":
      return rng.integers(lo, hi + 1, size=size)
    if kind == "log":
      return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    return float(rng.uniform(lo, hi))

  out = []
  while len(out) < n:
    d = dict(iterations=int(rng.integers(lo_it, hi_it + 1)),
             learning_rate=draw("learning_rate"), weight_decay=draw("weight_decay"),
             kernels=tuple(int(k) for k in draw("conv_kernel", layers)),
             pools=tuple(int(p) for p in draw("pool_kernel", layers)),
             momentum=draw("momentum"))
    if fits(input_size, d["kernels"], d["pools"]):
      out.append(d)
  return out


def apply(config, draw: dict) -> None:
  """Override the config's keys with one draw (in place)."""
  from configs import multilabel_synthetic as ml
  config.train.stages = ml.stages(draw["iterations"])
  config.train.optimizer.update(learning_rate=draw["learning_rate"],
                                weight_decay=draw["weight_decay"], momentum=draw["momentum"])
  config.model.kernels, config.model.pools = tuple(draw["kernels"]), tuple(draw["pools"])
  config.train.retrain_on_validation = False


def load_config(spec: str):
  path, _, arg = spec.partition(":")
  module = path[:-3].replace(os.sep, ".") if path.endswith(".py") else path
  return importlib.import_module(module).get_config(arg or None)


def run(config_spec: str, n: int, seed: int, workroot: str,
        iterations: tuple[int, int] | None = None, data_dir: str | None = None) -> list[dict]:
  """Run (or reuse) the n trials; returns the ranked rows (also in search.{json,md})."""
  from au_jax.models.multilabel.model import MultiLabelTransform
  from au_jax import experiment
  base = load_config(config_spec)
  transform = MultiLabelTransform(size=base.model.get("input_size", 48),
                                  crop_fraction=base.model.get("crop_fraction", 0.875))
  draws = sample(n, seed, transform.input_size, len(base.model.get("features", (16, 32))),
                 iterations)
  os.makedirs(workroot, exist_ok=True)
  rows = []
  for i, d in enumerate(draws):
    wd = os.path.join(workroot, f"s{seed}_t{i}")
    trial = os.path.join(wd, "trial.json")
    if os.path.exists(trial) and json.load(open(trial))["draw"] != json.loads(json.dumps(d)):
      raise SystemExit(f"{wd} holds another draw ({trial}); use another --workroot")
    config = load_config(config_spec)
    if data_dir:
      config.data.data_dir = data_dir
    apply(config, d)
    done = os.path.join(wd, "report.json")
    if not os.path.exists(done):
      os.makedirs(wd, exist_ok=True)
      common.write_json(trial, {"config": config_spec, "seed": seed, "trial": i, "draw": d})
      print(f"[search] trial {i}: {d} -> {wd}", flush=True)
      experiment.train_and_evaluate(config, wd)
    report = json.load(open(done))
    sel = report.get("selection") or {}
    metric = sel.get("metric") or "auc"
    rows.append(dict(trial=i, workdir=wd, draw=d, metric=metric,
                     validation=report["validation"]["mean"].get(metric),
                     selected_step=sel.get("step")))
    ranked = rank(rows)
    common.write_json(os.path.join(workroot, "search.json"), json.loads(json.dumps(
        {"config": config_spec, "seed": seed, "n": n, "space": SPACE,
         "iterations": list(iterations or SPACE["iterations"][:2]), "ranked": ranked},
        default=float)))
    common.write_text(os.path.join(workroot, "search.md"), markdown(config_spec, seed, ranked))
  return rank(rows)


def rank(rows: list[dict]) -> list[dict]:
  """Best validation first (a trial without a finite value last)."""
  from au_jax.train.selection import Selection

  def key(r):
    v = r["validation"]
    if v is None or not np.isfinite(v):
      return (1, 0.0)
    return (0, v if Selection(r["metric"]).mode == "min" else -v)
  return [dict(r, rank=k + 1) for k, r in enumerate(sorted(rows, key=key))]


def markdown(config_spec: str, seed: int, ranked: list[dict]) -> str:
  metric = ranked[0]["metric"] if ranked else ""
  lines = [f"# Random search of {config_spec} (seed {seed}), ranked by validation {metric}", "",
           f"| rank | trial | validation {metric} | selected step | iterations | learning rate "
           "| weight decay | momentum | conv kernels | pool kernels |",
           "|---" * 10 + "|"]
  for r in ranked:
    d, v = r["draw"], r["validation"]
    lines.append(f"| {r['rank']} | {r['trial']} | "
                 f"{'n/a' if v is None or not np.isfinite(v) else f'{v:.4f}'} | "
                 f"{r['selected_step']} | {d['iterations']} | {d['learning_rate']:.2e} | "
                 f"{d['weight_decay']:.2e} | {d['momentum']:.3f} | {list(d['kernels'])} | "
                 f"{list(d['pools'])} |")
  return "\n".join(lines) + "\n"


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--config", default="configs/multilabel_synthetic.py",
                  help="configs/x.py, optionally :args")
  ap.add_argument("--n", type=int, default=20, help="number of trials")
  ap.add_argument("--seed", type=int, default=0, help="seed of the draws")
  ap.add_argument("--iterations", default="", help="lo,hi (default: the paper's 5000,10000)")
  ap.add_argument("--workroot", required=True)
  args = ap.parse_args(argv)
  its = tuple(int(x) for x in args.iterations.split(",")) if args.iterations else None
  run(args.config, args.n, args.seed, args.workroot, its)
  print(open(os.path.join(args.workroot, "search.md")).read())
  return 0


if __name__ == "__main__":
  sys.exit(main())
