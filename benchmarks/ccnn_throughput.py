r"""Cost of CCNN's pairwise part and of its decoding, against OCNN (same network).

  AU_JAX_DATA_DIR=/tmp/audata python -m benchmarks.ccnn_throughput \
      --out=benchmarks/results/ccnn_throughput.json

1. `python -m benchmarks.throughput` (a child process each) on configs/ccnn_synthetic.py
   with variant=ocnn and
   variant=ccnn (it=false: the joint step that updates every parameter group;
   predict = forward + decoding, MAP by loopy BP + ICM over the 12 AUs plus
   sum-product marginals for the expected intensity / occurrence), one after
   the other.
2. The decoders alone on CCNN-shaped potentials (batch 256): exact_map for 5 and
   6 AUs, bp_map for 6, 12 and 16 AUs, bp_marginals for 12, and the energy gap
   of bp_map to exact decoding on 6-AU problems (`decode.decoder_gap`).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

from benchmarks import common


def model_throughput(variant: str, steps: int, batch: int) -> dict:
  out = subprocess.run(
      [sys.executable, "-m", "benchmarks.throughput",
       f"--config={common.ROOT}/configs/ccnn_synthetic.py:variant={variant},it=false",
       f"--steps={steps}", f"--batch_size={batch}"],
      capture_output=True, text=True, check=True, cwd=common.ROOT)
  text = out.stdout
  return json.loads(text[text.index("{"):])


def ccnn_problem(seed: int, batch: int, num_aus: int):
  """Potentials of a CCNN output layer: random ordinal unaries, Frank copulas."""
  import jax.numpy as jnp
  import numpy as np

  from au_jax import decode
  from au_jax.models import copula, ordinal
  rng = np.random.default_rng(seed)
  pairs = copula.all_pairs(num_aus)
  f = jnp.asarray(rng.normal(0, 1.5, (batch, num_aus)), jnp.float32)
  psi = jnp.asarray(np.sort(rng.normal(0, 1, (num_aus, 5)), -1) + np.arange(5) * 0.3, jnp.float32)
  sigma = jnp.ones((num_aus,), jnp.float32)
  u = ordinal.cumulative(f, psi, sigma)
  theta = jnp.asarray(rng.uniform(-5, 15, (len(pairs),)), jnp.float32)
  tables = copula.pairwise_tables(u, theta, np.asarray(pairs))
  unary, pairwise = decode.ccnn_potentials(ordinal.level_log_probs(f, psi, sigma), tables, pairs)
  return unary, pairwise, pairs


def timed(fn, reps=5):
  """Seconds per call of `fn` (`reps` calls after one warm-up)."""
  return common.time_calls({"f": common.steps_of(fn)}, reps, repeats=1)["f"]["s"]


def decoders(batch: int) -> dict:
  from au_jax import decode
  res = {}
  for a in (5, 6):
    u, v, p = ccnn_problem(0, batch, a)
    res[f"exact_map_{a}aus_images_per_s"] = batch / timed(lambda: decode.exact_map(u, v, p)[1])
  for a in (6, 12, 16):
    u, v, p = ccnn_problem(0, batch, a)
    res[f"bp_map_{a}aus_images_per_s"] = batch / timed(lambda: decode.bp_map(u, v, p)[1])
  u, v, p = ccnn_problem(0, batch, 12)
  res["bp_marginals_12aus_images_per_s"] = batch / timed(lambda: decode.bp_marginals(u, v, p))
  u, v, p = ccnn_problem(1, 1000, 6)
  res["bp_map_gap_to_exact_6aus_ccnn_shaped_1000"] = decode.decoder_gap(u, v, p)
  return res


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--steps", type=int, default=10)
  ap.add_argument("--batch_size", type=int, default=64)
  ap.add_argument("--out", default="benchmarks/results/ccnn_throughput.json")
  args = ap.parse_args()
  result = {"what": __doc__.split("\n")[0], **common.environment(),
            "batch_size": args.batch_size}
  for v in ("ocnn", "ccnn"):
    r = model_throughput(v, args.steps, args.batch_size)
    result[v] = {k: r[k] for k in r if k.endswith("_per_s") or k in ("num_params", "peak_rss_mib")}
    print(v, result[v], flush=True)
  o, c = result["ocnn"], result["ccnn"]
  result["ccnn_over_ocnn_time"] = {
      k: o[k] / c[k] for k in ("train_step_images_per_s", "predict_images_per_s") if k in o}
  result["decoders_batch256"] = decoders(256)
  print(json.dumps(result, indent=1))
  common.write_json(args.out, result)


if __name__ == "__main__":
  common.host_tuning()
  main()
