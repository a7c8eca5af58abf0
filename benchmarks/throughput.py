r"""Training and inference throughput (images/s) and peak memory of a model.

  python benchmarks/throughput.py --config=configs/gudi_synthetic.py \
      --batch_size=100 --steps=10 --out=benchmarks/results/gudi_cpu.json

Measures, on the config's data and model:
  train_step   jitted train step only (batch already on device), images/s
  predict      jitted predict only, images/s
  pipeline     the grain input pipeline alone (read, decode, transform, batch), images/s
  end_to_end   pipeline + host->device + train step, images/s
and the peak resident memory of the process (and the device's peak bytes
where the backend reports them). Timings exclude compilation (one warm-up
step) and block on results. Output: one JSON object (stdout and --out).
"""
from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config.", lock_config=False)
_BATCH = flags.DEFINE_integer("batch_size", 0, "Batch size (0 = the config's).")
_STEPS = flags.DEFINE_integer("steps", 10, "Timed steps per measurement.")
_OUT = flags.DEFINE_string("out", "", "Also write the JSON here.")
_PARTS = flags.DEFINE_list("parts", ["pipeline", "train_step", "predict", "end_to_end"],
                           "Which measurements to run.")


def _timed(fn, steps):
  import jax
  jax.block_until_ready(fn())          # warm-up (compilation)
  t = time.perf_counter()
  for _ in range(steps):
    out = fn()
  jax.block_until_ready(out)
  return time.perf_counter() - t


def main(argv):
  del argv
  import jax
  import numpy as np

  from au_jax.data import pipeline, samplers, sharding, sources
  from au_jax.train import schedule
  from au_jax.train import steps as steps_lib
  from au_jax.train.loop import initial_state, setup

  config = _CONFIG.value
  bs = _BATCH.value or int(config.train.batch_size)
  info_parts, method, mesh = setup(config)
  split = sources.load_split(config.data, "train", info_parts)
  from au_jax.train import fitted
  transform = fitted.bind(method, split, int(config.data.get("num_threads", 2)))
  n = _STEPS.value
  sampler = samplers.make_sampler("uniform", split.index, bs, 0)
  ds = pipeline.train_dataset(split.source, sampler, transform, num_steps=2 * n + 2,
                              seed=0, segment=0)
  threads = int(config.data.get("num_threads", 2))
  result = dict(config=sys.argv[1] if len(sys.argv) > 1 else "", model=config.model.name,
                batch_size=bs, steps=n, backend=jax.default_backend(),
                devices=[str(d) for d in mesh.devices.flat], host=platform.node(),
                cpu_count=os.cpu_count(), jax_version=jax.__version__,
                load_average_at_start=os.getloadavg()[0])

  it = pipeline.iterate(ds, num_threads=threads)
  first = next(it)
  if "pipeline" in _PARTS.value:
    t = time.perf_counter()
    for _ in range(n):
      next(it)
    result["pipeline_images_per_s"] = n * bs / (time.perf_counter() - t)

  state, txs, labels = initial_state(method, config.train, first)
  state = sharding.replicate(state, mesh)
  result["num_params"] = int(sum(np.prod(v.shape) for v in jax.tree.leaves(state.params)))
  batch = sharding.shard_batch(first, mesh)
  key = jax.random.PRNGKey(1)

  if "train_step" in _PARTS.value:
    seg = schedule.build_schedule(config.train, method.groups)[0]
    step = steps_lib.make_train_step(method, txs, labels, seg.trainable, seg.loss_weights)
    holder = [state]

    def one():
      holder[0], m = step(holder[0], batch, key)
      return m["loss"]
    result["train_step_images_per_s"] = n * bs / _timed(one, n)
    state = holder[0]

  if "predict" in _PARTS.value:
    predict = steps_lib.make_predict_step(method)
    result["predict_images_per_s"] = n * bs / _timed(
        lambda: predict(state.params, state.model_state, state.fitted, batch)["occurrence"], n)

  if "end_to_end" in _PARTS.value and "train_step" in _PARTS.value:
    holder = [state]

    def e2e():
      holder[0], m = step(holder[0], sharding.shard_batch(next(it), mesh), key)
      return m["loss"]
    result["end_to_end_images_per_s"] = (n - 1) * bs / _timed(e2e, n - 1)

  # Other processes competing for the cores make every number here smaller.
  result["load_average_at_end"] = os.getloadavg()[0]
  result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  stats = getattr(jax.devices()[0], "memory_stats", lambda: None)()
  if stats and "peak_bytes_in_use" in stats:
    result["device_peak_mib"] = stats["peak_bytes_in_use"] / 2**20
  text = json.dumps(result, indent=1)
  print(text)
  if _OUT.value:
    os.makedirs(os.path.dirname(_OUT.value) or ".", exist_ok=True)
    with open(_OUT.value, "w") as f:
      f.write(text + "\n")


if __name__ == "__main__":
  flags.mark_flags_as_required(["config"])
  app.run(main)
