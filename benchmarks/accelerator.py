r"""Images/s and model FLOP utilisation (MFU) per method, float32 vs bfloat16 (issue 14, item 4).

  # a GPU / TPU (the real models at their configs' batch sizes and at 256):
  python -m benchmarks.accelerator --large_batch=256 --steps=20 \
      --out=benchmarks/results/accelerator_h200.json
  # FLOPs of an older run's JSON counted again here (its step times kept):
  python -m benchmarks.accelerator --tiny_data --recount_from=OLD.json --out=NEW.json
  # the CPU proof run (tiny models, 2 steps):
  python -m benchmarks.accelerator --tiny --large_batch=16 --steps=2 \
      --out=benchmarks/results/accelerator_cpu.json

On whatever backend JAX finds, for each method's synthetic config
(configs/{ccnn,dsin,gudi,heatmaps,multilabel}_synthetic.py; `--tiny` = their
runlocal variants: tiny networks, seconds to compile on a CPU), at the
config's batch size and at --large_batch, in float32 and in bfloat16 (the
engine's mixed precision, au_jax.train.precision: bfloat16 compute, float32
weights / optimiser / losses), it times

  train    the engine's jitted train step (au_jax.train.steps.make_train_step,
           every parameter group trainable, no loss weights: the whole model's
           step), images/s = batch images / median step time
  predict  the jitted predict step (make_predict_step), images/s

and reports FLOPs per step from XLA's cost analysis of the lowered step
(`jitted.lower(...).cost_analysis()["flops"]`: the step's HLO before backend
optimisation, the optimiser update included; not the compiled program's,
in which GPU convolutions and dots are cuDNN / cuBLAS calls counted as 0),
achieved FLOP/s, and

  MFU = FLOPs per step / step time / peak FLOP/s of the device.

Peak: --peak_tflops (one number, or "bf16,fp32"), else the device table
below by `jax.devices()[0].device_kind`, else (CPU) the rate this run
measures for a 2048 x 2048 matmul in each dtype (as benchmarks/versus_torch.py
measures the machine's peak). Dense (no sparsity) vendor figures, TFLOP/s:

  device                      bf16     fp32    tf32   source
  NVIDIA H100 SXM / H200 SXM  989.4    66.9    494.7  NVIDIA H100 Tensor Core GPU datasheet
                                                      (1,979 / 989 with sparsity, halved);
                                                      NVIDIA H200 datasheet (same SM array)
  NVIDIA H100 PCIe            756      51      378    NVIDIA H100 datasheet (PCIe column)
  NVIDIA A100 (SXM / PCIe)    312      19.5    156    NVIDIA A100 Tensor Core GPU datasheet
  TPU v4 (per chip)           275      -       -      Google Cloud TPU v4 documentation
  TPU v5e (per chip)          197      -       -      Google Cloud TPU v5e documentation
  TPU v5p (per chip)          459      -       -      Google Cloud TPU v5p documentation

float32 MFU is reported against the fp32 peak; on A100/H100/H200 JAX's
default matmul precision lets XLA run float32 dots and convolutions on TF32
tensor cores, so `mfu_vs_tf32` is given too (float32 MFU above 1 means
TF32 was used). TPUs have no float32 matmul peak (their float32 dots are
bfloat16 passes): float32 MFU is against the bfloat16 peak there.

The batch is one real batch of the config's input pipeline (built from the
synthetic data, `--tiny_data`: from the *_tiny datasets, built in seconds,
same image size and AU lists), repeated to the larger batch size: the speed
does not depend on the pixels. Timings exclude compilation (one warm-up
call) and block on the results; the median of --repeats timings of --steps
calls each. The load average at start and end is recorded. Written after
every method (atomic), so a killed run keeps what it measured; --resume
skips the methods already in --out. Not a correctness check: the loss of
each step is recorded and must be finite.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import traceback

from benchmarks import common

METHODS = {"ccnn": "configs.ccnn_synthetic", "dsin": "configs.dsin_synthetic",
           "gudi": "configs.gudi_synthetic", "heatmaps": "configs.heatmaps_synthetic",
           "multilabel": "configs.multilabel_synthetic"}
PRECISIONS = ("float32", "bfloat16")

# device_kind substring (lower case) -> dense peak TFLOP/s {bf16, fp32, tf32}
PEAKS = (
    ("h200", dict(bf16=989.4, fp32=66.9, tf32=494.7)),
    ("h100 pcie", dict(bf16=756.0, fp32=51.0, tf32=378.0)),
    ("h100", dict(bf16=989.4, fp32=66.9, tf32=494.7)),
    ("a100", dict(bf16=312.0, fp32=19.5, tf32=156.0)),
    ("tpu v4", dict(bf16=275.0)),
    ("tpu v5 lite", dict(bf16=197.0)),
    ("tpu v5e", dict(bf16=197.0)),
    ("tpu v5p", dict(bf16=459.0)),
    ("tpu v5", dict(bf16=459.0)),
)


def device_peaks(kind: str) -> dict | None:
  k = kind.lower()
  for sub, peaks in PEAKS:
    if sub in k:
      return dict(peaks)
  return None


def matmul_tflops(dtype: str, n: int = 2048, steps: int = 3, repeats: int = 3) -> float:
  """Measured n x n matmul rate in `dtype` (the machine's attainable peak on CPU)."""
  return common.matmul_rate(n, dtype, steps, repeats) / 1e12


def peaks_for(args, backend: str, kind: str) -> tuple[dict, str]:
  if args.peak_tflops:
    v = [float(x) for x in args.peak_tflops.split(",")]
    return dict(bf16=v[0], fp32=v[-1]), "--peak_tflops"
  table = device_peaks(kind)
  if table:
    return table, f"vendor table ({kind})"
  if backend == "cpu":
    return (dict(bf16=matmul_tflops("bfloat16"), fp32=matmul_tflops("float32")),
            "measured 2048x2048 matmul in this run (jax.jit, each dtype)")
  raise SystemExit(f"accelerator.py: no peak known for device {kind!r}: give --peak_tflops")


FLOPS_SOURCE = ("XLA's cost analysis of the lowered step (HloCostAnalysis before backend "
                "optimisation: `jitted.lower(...).cost_analysis()`)")


def _flops(jitted, *args) -> float | None:
  """The step's FLOPs from its lowered HLO, the same on every backend.

  Not the compiled program's cost analysis: on GPU the optimised HLO holds
  convolutions and dots as cuDNN / cuBLAS custom calls, which XLA counts as
  0 FLOPs (the first H200 run reported 0.012 GFLOP per image for a train
  step of ~0.93), and compiling separately also doubled the compile time.
  On CPU the two agree within 1 % (CCNN train step: 0.2127 vs 0.2141 GFLOP
  per image).
  """
  cost = jitted.lower(*args).cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else None
  return float(cost["flops"]) if cost and "flops" in cost else None


def load_config(name: str, tiny: bool, tiny_data: bool):
  import importlib
  config = importlib.import_module(METHODS[name]).get_config("runlocal" if tiny else None)
  if tiny_data:
    for src in config.data.sources:
      if not src["name"].endswith("_tiny"):
        src["name"] = src["name"] + "_tiny"
  return config


def _median_time(fn, steps: int, repeats: int) -> float:
  """Median seconds per call of `fn` over `repeats` timings of `steps` calls."""
  return common.time_calls({"f": common.steps_of(fn)}, steps, repeats)["f"]["s"]


def grow(batch: dict, size: int) -> dict:
  """The batch repeated along axis 0 to `size` examples."""
  import numpy as np
  n = len(next(iter(batch.values())))
  idx = np.arange(size) % n
  return {k: np.asarray(v)[idx] for k, v in batch.items()}


def prepare(name: str, tiny: bool, tiny_data: bool):
  """The method's config, model, mesh, first batch, initial state and optimisers."""
  config = load_config(name, tiny, tiny_data)
  config.num_devices = 1
  e = common.engine(config)
  return config, e.method, e.mesh, e.first, e.state, e.txs, e.labels


def recount(src: str, out: str) -> dict:
  """A finished run's JSON with its FLOPs counted again here (same step times).

  For runs made before FLOPs came from the lowered step (the compiled GPU
  program counts cuDNN / cuBLAS calls as 0 FLOPs): the measured step times
  are kept; FLOPs per step, achieved FLOP/s and MFU are recomputed from
  this machine's lowering of the same configs, batch sizes and precisions
  (the FLOP count does not depend on the backend).
  """
  import jax

  from au_jax.data import sharding
  from au_jax.train import steps as steps_lib
  with open(src) as f:
    result = json.load(f)
  peaks, tpu = result["peak_tflop_per_s"], result.get("backend") == "tpu"
  key = jax.random.PRNGKey(1)
  for name, m in result["methods"].items():
    if "batches" not in m:
      continue
    _, method, mesh, batch0, state0, txs, labels = prepare(
        name, result.get("tiny", False), result.get("tiny_data", False))
    for bs, row in m["batches"].items():
      batch = sharding.shard_batch(grow(batch0, int(bs)), mesh)
      for prec, res in row.items():
        if "train" in res:
          step = steps_lib.make_train_step(method, txs, labels, method.groups, precision=prec)
          res["train"].update(_rates(int(bs), res["train"]["step_s"],
                                     _flops(step, state0, batch, key), prec, peaks, tpu))
        if "predict" in res:
          predict = steps_lib.make_predict_step(method, precision=prec)
          res["predict"].update(_rates(
              int(bs), res["predict"]["step_s"],
              _flops(predict, state0.params, state0.model_state, state0.fitted, batch),
              prec, peaks, tpu))
  result["flops_source"] = (FLOPS_SOURCE + f"; recounted on {platform.node()} "
                            f"(backend {jax.default_backend()}, jax {jax.__version__}) by "
                            f"--recount_from={os.path.basename(src)}; step times as measured")
  if out:
    common.write_json(out, result)
  return result


def measure_method(name: str, args, peaks: dict, tpu: bool) -> dict:
  import jax
  import numpy as np

  from au_jax.data import sharding
  from au_jax.train import precision as precision_lib
  from au_jax.train import steps as steps_lib

  config, method, mesh, batch0, state0, txs, labels = prepare(name, args.tiny, args.tiny_data)
  base_bs = int(config.train.batch_size)
  out = dict(config=METHODS[name] + (":runlocal" if args.tiny else ""),
             model=config.model.name, config_batch_size=base_bs,
             num_params=int(sum(np.prod(v.shape) for v in jax.tree.leaves(state0.params))),
             float32_groups=list(precision_lib.float32_groups(method)), batches={})
  sizes = [base_bs] + ([args.large_batch] if args.large_batch and args.large_batch != base_bs
                       else [])
  key = jax.random.PRNGKey(1)
  for bs in sizes:
    host = grow(batch0, bs)
    images = len(next(iter(host.values())))
    row = out["batches"][str(bs)] = {}
    for prec in args.precisions:
      res = row[prec] = {}
      try:
        batch = sharding.shard_batch(host, mesh)
        state = sharding.replicate(jax.tree.map(np.array, state0), mesh)
        step = steps_lib.make_train_step(method, txs, labels, method.groups, precision=prec)
        flops = _flops(step, state, batch, key)
        holder = [state, None]

        def train():
          holder[0], m = step(holder[0], batch, key)
          holder[1] = m["loss"]
          return m["loss"]
        t = _median_time(train, args.steps, args.repeats)
        res["train"] = _rates(images, t, flops, prec, peaks, tpu)
        res["train"]["loss"] = float(holder[1])
        res["train"]["loss_finite"] = bool(np.isfinite(float(holder[1])))
        st = holder[0]
        predict = steps_lib.make_predict_step(method, precision=prec)
        pflops = _flops(predict, st.params, st.model_state, st.fitted, batch)
        t = _median_time(lambda: predict(st.params, st.model_state, st.fitted, batch),
                         args.steps, args.repeats)
        res["predict"] = _rates(images, t, pflops, prec, peaks, tpu)
      except Exception as e:  # e.g. out of memory at the large batch: recorded, run goes on
        res["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
        traceback.print_exc()
      print(f"[accelerator] {name} batch {bs} {prec}: "
            + json.dumps({k: {kk: v.get(kk) for kk in ("images_per_s", "mfu")}
                          if isinstance(v, dict) else v for k, v in res.items()}), flush=True)
  return out


def _rates(images: int, seconds: float, flops, prec: str, peaks: dict, tpu: bool) -> dict:
  r = dict(images_per_s=round(images / seconds, 2), step_s=seconds,
           flops_per_step=flops, flops_per_image=flops / images if flops else None)
  if flops:
    achieved = flops / seconds / 1e12
    r["achieved_tflop_per_s"] = achieved
    peak = peaks.get("bf16") if (prec == "bfloat16" or tpu) else peaks.get("fp32")
    r["peak_tflop_per_s"] = peak
    r["mfu"] = achieved / peak if peak else None
    if prec == "float32" and peaks.get("tf32"):
      r["mfu_vs_tf32"] = achieved / peaks["tf32"]
  return r


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--methods", default=",".join(METHODS))
  p.add_argument("--precisions", default=",".join(PRECISIONS))
  p.add_argument("--large_batch", type=int, default=256,
                 help="a second, larger batch size (0 = the config's only)")
  p.add_argument("--steps", type=int, default=10, help="calls per timing")
  p.add_argument("--repeats", type=int, default=3, help="timings (the median is kept)")
  p.add_argument("--tiny", action="store_true", help="the configs' runlocal variants")
  p.add_argument("--tiny_data", action="store_true",
                 help="batches from the *_tiny datasets (implied by --tiny)")
  p.add_argument("--peak_tflops", default="", help="peak TFLOP/s: one number or 'bf16,fp32'")
  p.add_argument("--resume", action="store_true", help="keep the methods already in --out")
  p.add_argument("--out", default="")
  p.add_argument("--recount_from", default="",
                 help="recount the FLOPs of this JSON's runs here (keeps its step times)")
  args = p.parse_args(argv)
  if args.recount_from:
    return recount(args.recount_from, args.out)
  args.tiny_data = args.tiny_data or args.tiny
  args.precisions = [x for x in args.precisions.split(",") if x]
  methods = [m for m in args.methods.split(",") if m]
  bad = [m for m in methods if m not in METHODS] + [
      x for x in args.precisions if x not in PRECISIONS]
  if bad:
    raise SystemExit(f"accelerator.py: unknown {bad}; methods {list(METHODS)}, "
                     f"precisions {list(PRECISIONS)}")
  if args.steps < 1 or args.repeats < 1:
    raise SystemExit("accelerator.py: --steps and --repeats must be >= 1")
  os.environ.setdefault("AU_JAX_NO_PROGRESS", "1")
  import jax
  dev = jax.devices()[0]
  backend, kind = jax.default_backend(), getattr(dev, "device_kind", str(dev))
  result = common.read_json(args.out, {}) if args.resume else {}
  load0 = os.getloadavg()
  if "peak_tflop_per_s" not in result:
    peaks, source = peaks_for(args, backend, kind)
    result.update(peak_tflop_per_s=peaks, peak_source=source)
  peaks = result["peak_tflop_per_s"]
  result.update(backend=backend, device_kind=kind, device_count=jax.device_count(),
                jax_version=jax.__version__, host=platform.node(), cpu_count=os.cpu_count(),
                steps=args.steps, repeats=args.repeats, tiny=args.tiny,
                tiny_data=args.tiny_data, flops_source=FLOPS_SOURCE,
                command=(common.command() if argv is None
                         else "python -m benchmarks.accelerator " + " ".join(argv)))
  result.setdefault("load_average_at_start", list(load0))
  result.setdefault("methods", {})
  for m in methods:
    if m in result["methods"] and "error" not in result["methods"][m]:
      continue
    try:
      result["methods"][m] = measure_method(m, args, peaks, backend == "tpu")
    except Exception as e:
      traceback.print_exc()
      result["methods"][m] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
    result["load_average_at_end"] = list(os.getloadavg())
    if args.out:
      common.write_json(args.out, result)
  print(json.dumps(result, indent=1))
  return result


if __name__ == "__main__":
  common.host_tuning()
  main()
