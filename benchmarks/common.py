"""What the benchmark scripts share: tuning, intervals, one timer, the engine set-up, JSON.

Importing this module applies au-jax's XLA:CPU options (`au_jax.xla_options.apply()`,
what `launch.py` does) before anything imports JAX, so every benchmark measures the
configuration the product trains with. `host_tuning()` (called first by the scripts
that time jitted steps) re-executes the process with huge pages for XLA:CPU's buffers
exactly as `launch.py` does (`au_jax.host_memory`; `AU_JAX_HUGEPAGES=0` measures
without them). Nothing here imports JAX at module level.

  intervals   `t_interval` (mean, sd and 95% t-interval of paired differences, with
              the verdict on a signed claim), `mean_interval` (mean and 95%
              t-interval of per-seed values, NaNs dropped), `seed_spread`, `by_seed`
  timer       `time_calls`: median seconds per step of several callables after warm-up
              calls, interleaved or in blocks; `steps_of` adapts a one-call function;
              `run_timed`: wall and CPU seconds of one call (a whole pass over a clip)
  engine      `engine(config)`: the method, mesh, the training pipeline's iterator, its
              first batch and the initial state, built as `au_jax.train.loop` builds them
  JSON        `write_json` (atomic: a temporary file, then os.replace), `read_json`
  context     `environment()`: host, CPUs (count, model, SIMD), versions, XLA_FLAGS, load average, huge pages
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import statistics
import sys
import time

from au_jax import xla_options

xla_options.apply()

# Registers the dataset builders with TFDS, as launch.py does, so that a benchmark
# builds a dataset that is not built yet.
from tfds_builders import (bp4d, ckplus, disfa, semaine, synthetic_au,  # noqa: E402, F401
                           unbc_mcmaster)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")


def host_tuning() -> None:
  """Re-executes this process with huge pages, as `launch.py` does (a no-op where
  au_jax.host_memory's conditions do not hold or AU_JAX_HUGEPAGES=0)."""
  from au_jax import host_memory
  host_memory.reexec_with_hugepages()


# --------------------------------------------------------------------------- intervals

def _t975(n: int) -> float:
  from scipy import stats
  return float(stats.t.ppf(0.975, n - 1))


def t_interval(diffs, direction: int = +1) -> dict:
  """Mean, sd and 95% t-interval of paired differences (one per seed), and the
  verdict on the claim that the difference has the sign of `direction`:
  "holds" (the interval excludes 0 on that side), "reversed" (on the other side),
  "not shown" (it contains 0, or fewer than 2 differences)."""
  d = [float(x) for x in diffs]
  n = len(d)
  mean = sum(d) / n if n else float("nan")
  sd = statistics.stdev(d) if n > 1 else float("nan")
  half = _t975(n) * sd / math.sqrt(n) if n > 1 else float("nan")
  lo, hi = mean - half, mean + half
  if n < 2 or not math.isfinite(half):
    verdict = "not shown"
  elif (lo > 0 and direction > 0) or (hi < 0 and direction < 0):
    verdict = "holds"
  elif (hi < 0 and direction > 0) or (lo > 0 and direction < 0):
    verdict = "reversed"
  else:
    verdict = "not shown"
  return {"mean": mean, "sd": sd, "ci95": [lo, hi], "n": n, "verdict": verdict}


def mean_interval(values) -> dict:
  """Mean and 95% t-interval over seeds of a quantity, non-finite values dropped
  (NaN half-width below 2 values); no verdict."""
  v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
  n = len(v)
  mean = sum(v) / n if n else float("nan")
  half = _t975(n) * statistics.stdev(v) / math.sqrt(n) if n > 1 else float("nan")
  return {"mean": mean, "ci95": [mean - half, mean + half], "half": half, "n": n,
          "per_seed": v}


def seed_spread(values) -> dict:
  """{"mean", "sd" (None for one value), "per_seed"} of per-seed values."""
  v = [float(x) for x in values]
  return {"mean": sum(v) / len(v) if v else float("nan"),
          "sd": statistics.stdev(v) if len(v) > 1 else None, "per_seed": v}


def by_seed(runs) -> dict[int, dict[str, dict]]:
  """{seed: {run name: run}} of run dicts with "seed" and "name"."""
  out: dict[int, dict] = {}
  for r in runs:
    out.setdefault(r["seed"], {})[r["name"]] = r
  return out


# --------------------------------------------------------------------------- timer

def steps_of(fn):
  """fn(steps) from a zero-argument `fn` returning JAX values: `steps` calls, then
  a block on the last output (dispatch of the next call overlaps the previous one,
  as in the training loop)."""
  def run(steps: int):
    import jax
    out = None
    for _ in range(steps):
      out = fn()
    jax.block_until_ready(out)
  return run


def run_timed(fn):
  """(fn(), wall seconds, process CPU seconds) of one call (the CPU seconds count
  every thread of this process)."""
  t, c = time.perf_counter(), time.process_time()
  out = fn()
  return out, time.perf_counter() - t, time.process_time() - c


def time_calls(fns: dict, steps: int = 1, repeats: int = 3, warmup: int = 1,
               order: str = "interleaved") -> dict:
  """Median seconds per step of each `fns[name](steps)` (which must block on its own
  result; see `steps_of`), compilation excluded.

  interleaved: `warmup` untimed calls of each fn, then `repeats` rounds that call
    every fn once, the order rotated by one each round.
  blocks: two rounds, the given order and then the reverse; in each, one fn's
    `warmup` untimed calls and then its `repeats` timed ones back to back, so no
    timed call directly follows another fn's.

  Returns {name: {"s": median wall seconds per step, "cpu_s": median process CPU
  seconds per step (every thread of this process; it grows much less than the wall
  time when other processes take the cores), "each_s": every timed value}}.
  """
  names = list(fns)
  wall = {k: [] for k in names}
  cpu = {k: [] for k in names}

  def timed(k):
    _, w, c = run_timed(lambda: fns[k](steps))
    wall[k].append(w / steps)
    cpu[k].append(c / steps)

  if order == "interleaved":
    for k in names:
      for _ in range(warmup):
        fns[k](steps)
    for r in range(repeats):
      for k in names[r % len(names):] + names[:r % len(names)]:
        timed(k)
  elif order == "blocks":
    for round_names in (names, names[::-1]):
      for k in round_names:
        for _ in range(warmup):
          fns[k](steps)
        for _ in range(repeats):
          timed(k)
  else:
    raise ValueError(f"order {order!r}: 'interleaved' or 'blocks'")
  return {k: {"s": statistics.median(wall[k]), "cpu_s": statistics.median(cpu[k]),
              "each_s": wall[k]} for k in names}


def matmul_rate(n: int = 2048, dtype: str = "float32", steps: int = 3, repeats: int = 3) -> float:
  """FLOP/s of a jitted n x n matmul in `dtype` (the machine's attainable rate)."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  a = jnp.asarray(np.random.default_rng(0).standard_normal((n, n)), dtype)
  mm = jax.jit(lambda u, v: u @ v)
  t = time_calls({"mm": steps_of(lambda: mm(a, a))}, steps, repeats)["mm"]["s"]
  return 2 * n ** 3 / t


# --------------------------------------------------------------------------- engine

@dataclasses.dataclass
class Engine:
  """What a benchmark of the engine's steps needs (see `engine`)."""
  config: object
  method: object
  mesh: object
  batch_size: int
  batches: object       # the training pipeline's iterator, `first` already taken
  first: dict           # its first batch (host arrays)
  state: object         # the initial TrainState
  txs: object
  labels: object

  @property
  def num_params(self) -> int:
    import jax
    import numpy as np
    return int(sum(np.prod(v.shape) for v in jax.tree.leaves(self.state.params)))


def engine(config, batch_size: int = 0, num_steps: int = 1, seed: int = 0) -> Engine:
  """The config's method, mesh, training pipeline (uniform sampler, `num_steps`
  batches of `batch_size`, default the config's), its first batch and the initial
  state, built as au_jax.train.loop builds them."""
  from au_jax.data import pipeline, samplers, sources
  from au_jax.train import fitted
  from au_jax.train.loop import setup
  from au_jax.train.state import initial_state
  bs = int(batch_size or config.train.batch_size)
  config.train.batch_size = bs
  info_parts, method, mesh = setup(config)
  split = sources.load_split(config.data, "train", info_parts)
  threads = int(config.data.get("num_threads", 2))
  sampler = samplers.make_sampler("uniform", split.index,
                                  pipeline.records_per_step(bs, method.train_copies), seed)
  ds = pipeline.train_dataset(split.source, sampler, fitted.bind(method, split, threads),
                              num_steps=num_steps, seed=seed, segment=0,
                              copies=method.train_copies)
  batches = pipeline.iterate(ds, num_threads=threads)
  first = next(batches)
  state, txs, labels = initial_state(method, config.train, first, seed)
  return Engine(config, method, mesh, bs, batches, first, state, txs, labels)


def load_config(spec: str):
  """A config from "configs/x.py", "configs.x" or "x" (in configs/), optionally ":arg"."""
  import importlib
  name, _, arg = spec.partition(":")
  name = os.path.splitext(os.path.basename(name))[0] if name.endswith(".py") else name
  module = importlib.import_module(name if "." in name else f"configs.{name}")
  return module.get_config(arg) if arg else module.get_config()


# --------------------------------------------------------------------------- JSON

def write_text(path: str, text: str) -> None:
  """Writes `text` atomically (a temporary file, then os.replace), so a killed run
  leaves the previous file or the new one, never half of one."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}"
  try:
    with open(tmp, "w") as f:
      f.write(text)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def write_json(path: str, obj) -> None:
  """Writes `obj` as indented JSON, atomically (`write_text`)."""
  write_text(path, json.dumps(obj, indent=1) + "\n")


def read_json(path: str, default=None):
  """The JSON at `path`, or `default` when there is no such file (for --resume)."""
  if not path or not os.path.exists(path):
    return default
  with open(path) as f:
    return json.load(f)


def command() -> str:
  """This process's command line, as run."""
  argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
  return " ".join(["python", *argv[1:]])


def environment() -> dict:
  """Where a measurement ran (written into every result)."""
  import jax

  from au_jax import host_memory
  from au_jax.evaluate import cpu_model, cpu_simd
  return dict(host=platform.node(), cpu_count=os.cpu_count(), cpu=cpu_model(),
              cpu_simd=cpu_simd(), backend=jax.default_backend(),
              jax_version=jax.__version__, xla_flags=os.environ.get("XLA_FLAGS", ""),
              host_memory=host_memory.status(), load_average=list(os.getloadavg()),
              command=command())
