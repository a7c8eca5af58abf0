r"""Paper-sized networks against the synthetic configs' shrunk ones: cost per step on this machine.

  nice -n 15 python -m benchmarks.paper_size --out=benchmarks/results/paper_size_cpu.json
  nice -n 15 python -m benchmarks.paper_size --resume --out=...   # the cells not yet measured
  nice -n 15 python -m benchmarks.paper_size --methods=dsin --sizes=paper --steps=3 --out=...

For each method's synthetic config (configs/<method>_synthetic.py) as shipped
("synthetic") and with its `paper` arg ("paper": the paper's network at the
paper's input resolution and width; data, batch, optimiser and schedule
unchanged), one child process per cell, so that the peak resident memory is
that cell's own, measures

  num_params       trainable parameters of the model's init
  flops_per_step   XLA's cost analysis of the lowered train step
                   (`benchmarks.accelerator._flops`: the step's HLO before backend
                   optimisation, the optimiser update included)
  compile_s        lowering + compiling the step (wall seconds)
  step_s, cpu_s    median wall / process CPU seconds of one train step over
                   --repeats timed steps after one warm-up step
                   (`benchmarks.common.time_calls`)
  gflop_per_s      flops_per_step / step_s, and its share of the machine's
                   float32 matmul rate (a 2048 x 2048 jitted matmul measured at
                   the start of the run, `common.matmul_rate`: the attainable peak
                   of this CPU, as benchmarks/accelerator.py uses it on CPU)
  peak_rss_mib     the child's peak resident memory (ru_maxrss: JAX, the
                   compiled step, its buffers and the input pipeline)
  xla_temp_mib     the compiled step's temporary buffers (XLA's memory analysis)
  device_peak_mib  on an accelerator: its peak bytes in use (memory_stats), and
                   share_of_{bf16,fp32,tf32}_peak against the vendor's dense
                   peak where benchmarks/accelerator.py's table knows the device

at the config's batch size, in float32. The step timed is the whole model's
(every parameter group trainable, the config's loss: `steps.make_train_step`
with all groups, as benchmarks/accelerator.py times it). The schedules of CCNN
(Alg. 1) and DSIN have stages that freeze part of the model; such a stage's
step costs at most the whole model's, so the times below bound theirs from
above. Then two EXTRAPOLATIONS from the measured step time (no training is run):

  synthetic_budget   the synthetic config's gradient steps x step_s
  real_data_schedule the real-data config's schedule (steps x batch images:
                     configs/ccnn_disfa.py, gudi_fera2015.py, dsin_disfa.py,
                     multilabel_disfa.py, heatmaps_fera2015.py; one training
                     run, no lambda grid and no retraining) x the measured
                     seconds per image at this config's batch size

The batches come from the synthetic `*_tiny` datasets (the same 96-px
images and AU lists as the full ones, built in seconds; the speed does not
depend on the pixels); `--full_data` reads the full datasets (built on first
use). The gudi and multilabel synthetic configs are paper-sized already (their
`paper` arg changes nothing): their "paper" cell is not measured again
(`same_as`). The machine's load average is recorded at the start and end of
every cell and of the run: on a shared machine other processes take the cores,
so every time here is an upper bound for this CPU. Written after every cell
(atomic); --resume keeps the cells already measured without an error.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import subprocess
import sys
import time

from benchmarks import common

METHODS = ("ccnn", "gudi", "dsin", "multilabel", "heatmaps")
SIZES = ("synthetic", "paper")
# The real-data config whose schedule is the paper's (or our reading of it, where the
# paper gives none: see each config's docstring).
REAL_DATA_CONFIG = {"ccnn": "ccnn_disfa", "gudi": "gudi_fera2015", "dsin": "dsin_disfa",
                    "multilabel": "multilabel_disfa", "heatmaps": "heatmaps_fera2015"}
MARK = "PAPER_SIZE_RESULT "


def config_of(method: str, size: str, full_data: bool = False):
  """configs/<method>_synthetic.py (size "paper": with its `paper` arg), its data
  read from the `_tiny` datasets unless `full_data`."""
  module = importlib.import_module(f"configs.{method}_synthetic")
  config = module.get_config("paper" if size == "paper" else None)
  if not full_data:
    config.data.sources = [dict(s, name=s["name"] if s["name"].endswith("_tiny")
                                else s["name"] + "_tiny") for s in config.data.sources]
  return config


def paper_is_synthetic(method: str) -> bool:
  """The `paper` arg changes nothing (the synthetic network is the paper's already)."""
  return config_of(method, "paper").to_dict() == config_of(method, "synthetic").to_dict()


def gradient_steps(train_cfg) -> int:
  """Optimiser steps of a schedule: the gradient stages' steps, times `repeat`."""
  per = sum(int(s["steps"]) for s in train_cfg.stages if not s.get("fit"))
  return per * int(train_cfg.get("repeat", 1) or 1)


def schedules(method: str) -> dict:
  """The synthetic config's and the real-data config's schedules (steps, batch)."""
  syn = config_of(method, "synthetic").train
  name = REAL_DATA_CONFIG[method]
  real = importlib.import_module(f"configs.{name}").get_config().train
  return dict(synthetic=dict(config=f"configs/{method}_synthetic.py",
                             steps=gradient_steps(syn), batch_size=int(syn.batch_size)),
              real_data=dict(config=f"configs/{name}.py", steps=gradient_steps(real),
                             batch_size=int(real.batch_size)))


def measure_cell(method: str, size: str, steps: int, repeats: int, full_data: bool) -> dict:
  """One cell, in this process (the child's work)."""
  import resource

  import jax

  from au_jax.data import sharding
  from au_jax.train import steps as steps_lib
  from benchmarks import accelerator

  load0 = list(os.getloadavg())
  config = config_of(method, size, full_data)
  config.num_devices = 1
  t = time.perf_counter()
  e = common.engine(config)
  setup_s = time.perf_counter() - t
  state = sharding.replicate(e.state, e.mesh)
  batch = sharding.shard_batch(e.first, e.mesh)
  key = jax.random.PRNGKey(1)
  step = steps_lib.make_train_step(e.method, e.txs, e.labels, e.method.groups)
  flops = accelerator._flops(step, state, batch, key)
  t = time.perf_counter()
  compiled = step.lower(state, batch, key).compile()
  compile_s = time.perf_counter() - t
  mem = compiled.memory_analysis()
  holder = [state, None]

  def train():
    holder[0], m = compiled(holder[0], batch, key)
    holder[1] = m["loss"]
    return m["loss"]

  t = common.time_calls({"train": common.steps_of(train)}, steps, repeats)["train"]
  loss = float(holder[1])
  out = dict(config=f"configs/{method}_synthetic.py" + (":paper" if size == "paper" else ""),
             model=config.model.name, batch_size=e.batch_size, num_params=e.num_params,
             input_shapes={k: list(v.shape[1:]) for k, v in e.first.items()
                           if getattr(v, "ndim", 0) >= 3},
             flops_per_step=flops, setup_s=setup_s, compile_s=compile_s,
             step_s=t["s"], cpu_s=t["cpu_s"], each_step_s=t["each_s"],
             seconds_per_image=t["s"] / e.batch_size,
             gflop_per_s=flops / t["s"] / 1e9 if flops else None,
             xla_temp_mib=getattr(mem, "temp_size_in_bytes", 0) / 2**20 if mem else None,
             loss=loss, loss_finite=math.isfinite(loss),
             load_average_at_start=load0, load_average_at_end=list(os.getloadavg()))
  out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  stats = getattr(jax.devices()[0], "memory_stats", lambda: None)()
  if stats and "peak_bytes_in_use" in stats:   # an accelerator's own memory
    out["device_peak_mib"] = stats["peak_bytes_in_use"] / 2**20
  return out


def run_child(method: str, size: str, args) -> dict:
  """measure_cell in a fresh process (its own peak RSS); an error or a timeout recorded."""
  cmd = [sys.executable, "-m", "benchmarks.paper_size", f"--child={method}:{size}",
         f"--steps={args.steps}", f"--repeats={args.repeats}"] + (
             ["--full_data"] if args.full_data else [])
  t = time.perf_counter()
  try:
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout,
                       cwd=common.ROOT, check=False)
  except subprocess.TimeoutExpired:
    return {"error": f"timed out after {args.timeout} s", "wall_s": time.perf_counter() - t}
  lines = [ln for ln in p.stdout.splitlines() if ln.startswith(MARK)]
  if p.returncode or not lines:
    tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
    return {"error": f"exit {p.returncode}: " + " | ".join(tail)[-600:],
            "wall_s": time.perf_counter() - t}
  out = json.loads(lines[-1][len(MARK):])
  out["wall_s"] = time.perf_counter() - t
  return out


def extrapolate(cell: dict, sched: dict) -> dict:
  """Hours to the synthetic budget and the real-data schedule at the measured step time."""
  if "step_s" not in cell:
    return {}
  syn, real = sched["synthetic"], sched["real_data"]
  return dict(
      synthetic_budget_h=syn["steps"] * cell["step_s"] / 3600,
      real_data_schedule_h=real["steps"] * real["batch_size"] * cell["seconds_per_image"] / 3600)


def summary(result: dict) -> list[dict]:
  """One row per method: the table of docs/results.md."""
  rows = []
  for m, r in result["methods"].items():
    syn, pap = r.get("synthetic", {}), r.get("paper", {})
    if pap.get("same_as") == "synthetic":
      pap = syn
    row = dict(method=m)
    for tag, c in (("synthetic", syn), ("paper", pap)):
      for k in ("num_params", "flops_per_step", "step_s", "cpu_s", "peak_rss_mib", "compile_s",
                "share_of_matmul_rate"):
        row[f"{tag}_{k}"] = c.get(k)
      for k, v in c.get("extrapolated", {}).items():
        row[f"{tag}_{k}"] = v
    rows.append(row)
  return rows


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--methods", default=",".join(METHODS))
  p.add_argument("--sizes", default=",".join(SIZES))
  p.add_argument("--steps", type=int, default=1, help="train steps per timing")
  p.add_argument("--repeats", type=int, default=3, help="timings (the median is kept)")
  p.add_argument("--full_data", action="store_true", help="the full synthetic datasets")
  p.add_argument("--timeout", type=int, default=900, help="seconds per cell")
  p.add_argument("--resume", action="store_true", help="keep the cells already in --out")
  p.add_argument("--out", default="")
  p.add_argument("--child", default="", help=argparse.SUPPRESS)
  args = p.parse_args(argv)
  if args.steps < 1 or args.repeats < 1:
    raise SystemExit("paper_size.py: --steps and --repeats must be >= 1")
  if args.child:
    method, size = args.child.split(":")
    cell = measure_cell(method, size, args.steps, args.repeats, args.full_data)
    print(MARK + json.dumps(cell), flush=True)
    return cell
  methods = [m for m in args.methods.split(",") if m]
  sizes = [s for s in args.sizes.split(",") if s]
  bad = [m for m in methods if m not in METHODS] + [s for s in sizes if s not in SIZES]
  if bad:
    raise SystemExit(f"paper_size.py: unknown {bad}; methods {list(METHODS)}, sizes "
                     f"{list(SIZES)}")
  os.environ.setdefault("AU_JAX_NO_PROGRESS", "1")
  import jax

  from benchmarks import accelerator
  result = common.read_json(args.out, {}) if args.resume else {}
  result.setdefault("load_average_at_start", list(os.getloadavg()))
  if "matmul_gflop_per_s" not in result:
    result["matmul_gflop_per_s"] = common.matmul_rate(2048, "float32") / 1e9
  env = common.environment()
  env.pop("load_average")
  command = (common.command() if argv is None
             else "python -m benchmarks.paper_size " + " ".join(argv))
  if result.get("command"):               # --resume: the first command is the run's
    result.setdefault("resumed_by", []).append(command)
    env.pop("command")
  else:
    env["command"] = command
  result.update(env, steps=args.steps, repeats=args.repeats, full_data=args.full_data,
                precision="float32", flops_source=accelerator.FLOPS_SOURCE,
                extrapolation=("hours = steps x measured step_s (synthetic budget), or the "
                               "real-data config's steps x batch images x measured seconds "
                               "per image; an extrapolation, not a training run"))
  result.setdefault("methods", {})
  kind = getattr(jax.devices()[0], "device_kind", "")
  result.update(device_kind=kind, vendor_peak_tflop_per_s=accelerator.device_peaks(kind))
  rate = result["matmul_gflop_per_s"]
  for size in sizes:                      # every synthetic cell first: the cheap ones
    for m in methods:
      r = result["methods"].setdefault(m, {})
      r["schedules"] = schedules(m)
      done = r.get(size, {})
      if args.resume and done and "error" not in done:
        continue
      if size == "paper" and paper_is_synthetic(m):
        r[size] = dict(same_as="synthetic", config=f"configs/{m}_synthetic.py:paper")
      else:
        print(f"[paper_size] {m} {size} ...", flush=True)
        cell = run_child(m, size, args)
        if cell.get("gflop_per_s"):
          cell["share_of_matmul_rate"] = cell["gflop_per_s"] / rate
          for k, peak in (result.get("vendor_peak_tflop_per_s") or {}).items():
            cell[f"share_of_{k}_peak"] = cell["gflop_per_s"] / (peak * 1e3)
        cell["extrapolated"] = extrapolate(cell, r["schedules"])
        r[size] = cell
        print(f"[paper_size] {m} {size}: " + json.dumps(
            {k: cell.get(k) for k in ("num_params", "step_s", "peak_rss_mib", "error")}),
            flush=True)
      result["load_average_at_end"] = list(os.getloadavg())
      result["summary"] = summary(result)
      if args.out:
        common.write_json(args.out, result)
  loads = [c[k][0] for r in result["methods"].values() for c in r.values()
           if isinstance(c, dict) for k in ("load_average_at_start", "load_average_at_end")
           if k in c]
  result["load_average_1min_range"] = [min(loads), max(loads)] if loads else None
  result["summary"] = summary(result)
  if args.out:
    common.write_json(args.out, result)
  print(json.dumps(result["summary"], indent=1))
  return result


if __name__ == "__main__":
  common.host_tuning()
  main()
