r"""Training and inference throughput (images/s) and peak memory of a model.

  python -m benchmarks.throughput --config=configs/gudi_synthetic.py \
      --batch_size=100 --steps=10 --out=benchmarks/results/throughput_gudi.json

Runs as `launch.py` trains: XLA:CPU options applied, and re-executed with huge
pages for XLA:CPU's buffers where au_jax.host_memory's conditions hold
(`AU_JAX_HUGEPAGES=0` measures without; the JSON's `host_memory` says which).

Measures, on the config's data and model:
  train_step   jitted train step only (batch already on device), images/s:
               every distinct gradient stage of config.train.stages
               (trainable groups + loss weights) timed on its own
               (`train_segments`), and `train_step_images_per_s` the
               schedule's rate: total images / total time, each stage
               weighted by its steps in the schedule (one stage: its rate).
               Fit stages (`dict(fit=...)`, e.g. DSIN's anchors, the
               multi-label CNN's QDA) take no gradient step and are not timed
               (`fit_stages`); the fitted heads keep their init() values,
               which have the fitted shapes, so every step computes what it
               computes after a fit. --train_segments=first times the first
               gradient stage only.
  predict      jitted predict only, images/s
  pipeline     the grain input pipeline alone (read, decode, transform, batch), images/s
  end_to_end   pipeline + host->device + train step (first gradient stage), images/s
and the number of parameters (`num_params`, the trainable params of the
model's init), the peak resident memory of the process (and the device's
peak bytes where the backend reports them). Timings exclude compilation
(one warm-up step per compiled function) and block on results; the load
average at start and end is recorded (other processes competing for the
cores make every number smaller; the process CPU seconds per train step /
predict batch, `cpu_s_per_step` / `predict_cpu_s_per_batch`, say what the
work costs whatever the load). Output: one JSON object (stdout and --out).
`measure(config, ...)` is the same measurement as a function
(benchmarks/compare_methods.py).
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time

from absl import app, flags
from ml_collections import config_flags

from benchmarks import common

PARTS = ("pipeline", "train_step", "predict", "end_to_end")


def _define_flags() -> dict:
  """The command line's flags (defined only when run as a script, so that
  importing `measure` defines no global absl flags)."""
  return dict(
      config=config_flags.DEFINE_config_file("config", None, "Experiment config.",
                                             lock_config=False),
      batch_size=flags.DEFINE_integer("batch_size", 0, "Batch size (0 = the config's)."),
      steps=flags.DEFINE_integer("steps", 10, "Timed steps per measurement."),
      out=flags.DEFINE_string("out", "", "Also write the JSON here."),
      parts=flags.DEFINE_list("parts", list(PARTS), "Which measurements to run."),
      train_segments=flags.DEFINE_enum("train_segments", "all", ["all", "first"],
                                       "Time every distinct gradient stage, or the first only."))


_F: dict = {}


def _timed(fn, steps: int) -> dict:
  """{"s": seconds per call, "cpu_s": process CPU seconds per call} of `steps` calls
  after one warm-up call (compilation)."""
  return common.time_calls({"f": common.steps_of(fn)}, steps, repeats=1)["f"]


def gradient_stages(config, method, first_only: bool = False):
  """[(representative segment, steps in the schedule)] of the distinct gradient
  stages (trainable groups, loss weights) in schedule order, and the names of
  the fit stages. Raises the schedule's own error on a bad config."""
  from au_jax.train import schedule
  segments = schedule.build_schedule(config.train, method.groups, tuple(method.heads))
  grad = {}
  for seg in segments:
    if seg.fit is not None:
      continue
    key = (seg.trainable, seg.loss_weights)
    rep, n = grad.get(key, (seg, 0))
    grad[key] = (rep, n + seg.steps)
  if not grad:
    raise ValueError("config.train.stages has no gradient stage: nothing to time")
  stages = list(grad.values())
  fits = list(dict.fromkeys(s.name for s in segments if s.fit is not None))
  return (stages[:1] if first_only else stages), fits


def schedule_rate(stages: list[dict]) -> float:
  """Images/s of the whole schedule: sum of steps / sum of steps / rate (the
  batch size cancels), each entry {"schedule_steps", "images_per_s"}."""
  steps = sum(s["schedule_steps"] for s in stages)
  return steps / sum(s["schedule_steps"] / s["images_per_s"] for s in stages)


def measure(config, *, batch_size: int = 0, steps: int = 10, parts=PARTS,
            first_segment_only: bool = False, config_name: str = "") -> dict:
  """The module docstring's measurements of `config` (a loaded ConfigDict)."""
  import jax
  import numpy as np

  from au_jax.data import sharding
  from au_jax.train import steps as steps_lib

  unknown = [p for p in parts if p not in PARTS]
  if unknown:
    raise ValueError(f"--parts {unknown} unknown; choose from {list(PARTS)}")
  if steps < 2:
    raise ValueError(f"--steps={steps}: at least 2 timed steps")
  load_start = os.getloadavg()[0]
  n = steps
  e = common.engine(config, batch_size, num_steps=2 * n + 2)
  bs, method, mesh, it, first = e.batch_size, e.method, e.mesh, e.batches, e.first
  stages, fits = gradient_stages(config, method, first_segment_only)
  result = dict(config=config_name, model=config.model.name, batch_size=bs, steps=n,
                devices=[str(d) for d in mesh.devices.flat], **common.environment(),
                load_average_at_start=load_start, fit_stages=fits)

  if "pipeline" in parts:
    t = time.perf_counter()
    for _ in range(n):
      next(it)
    result["pipeline_images_per_s"] = n * bs / (time.perf_counter() - t)

  state = sharding.replicate(e.state, mesh)
  txs, labels = e.txs, e.labels
  result["num_params"] = int(sum(np.prod(v.shape) for v in jax.tree.leaves(state.params)))
  batch = sharding.shard_batch(first, mesh)
  key = jax.random.PRNGKey(1)
  holder = [state]

  def train_fn(step, b=None):
    def one():
      holder[0], m = step(holder[0], b() if b else batch, key)
      return m["loss"]
    return one

  make = lambda seg: steps_lib.make_train_step(method, txs, labels, seg.trainable,
                                               seg.loss_weights)
  if "train_step" in parts:
    timed = []
    for seg, sched_steps in stages:
      t = _timed(train_fn(make(seg)), n)
      timed.append({"name": seg.name, "trainable": list(seg.trainable),
                    "loss_weights": dict(seg.loss_weights), "schedule_steps": sched_steps,
                    "images_per_s": bs / t["s"], "cpu_s_per_step": t["cpu_s"]})
    result["train_segments"] = timed
    result["train_step_images_per_s"] = schedule_rate(timed)

  if "predict" in parts:
    predict = steps_lib.make_predict_step(method)
    st = holder[0]
    t = _timed(lambda: predict(st.params, st.model_state, st.fitted, batch)["occurrence"], n)
    result["predict_images_per_s"] = bs / t["s"]
    result["predict_cpu_s_per_batch"] = t["cpu_s"]

  if "end_to_end" in parts:
    step = make(stages[0][0])
    result["end_to_end_images_per_s"] = bs / _timed(
        train_fn(step, lambda: sharding.shard_batch(next(it), mesh)), n - 1)["s"]

  result["load_average_at_end"] = os.getloadavg()[0]
  result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  stats = getattr(jax.devices()[0], "memory_stats", lambda: None)()
  if stats and "peak_bytes_in_use" in stats:
    result["device_peak_mib"] = stats["peak_bytes_in_use"] / 2**20
  return result


def main(argv):
  del argv
  try:
    result = measure(_F["config"].value, batch_size=_F["batch_size"].value,
                     steps=_F["steps"].value, parts=tuple(_F["parts"].value),
                     first_segment_only=_F["train_segments"].value == "first",
                     config_name=_config_arg())
  except ValueError as e:
    sys.exit(f"throughput.py: {e}")
  text = json.dumps(result, indent=1)
  print(text)
  if _F["out"].value:
    common.write_json(_F["out"].value, result)


def _config_arg() -> str:
  """The --config value as given (path[:arg])."""
  for a in sys.argv[1:]:
    if a.startswith("--config="):
      return a.split("=", 1)[1]
  return ""


if __name__ == "__main__":
  common.host_tuning()
  _F.update(_define_flags())
  flags.mark_flags_as_required(["config"])
  app.run(main)
