r"""Where a jitted step's time goes: every convolution and matrix product in it, timed alone (issue 14).

  python benchmarks/step_parts.py --out=benchmarks/results/step_parts.json
  GLIBC_TUNABLES=glibc.malloc.hugetlb=1 python benchmarks/step_parts.py --nets=gudi

For each network of benchmarks/versus_torch.py (gudi: the FERA 2015 CNN,
batch 100; ccnn: the CCNN trunk, batch 64, by default with the `xla:mask`
layers, i.e. the package's defaults, `--variant` as in versus_torch; dsin,
hourglass: the configs' networks and batches, as versus_torch builds them)
this builds the engine's jitted train step (SGD with momentum, state
donated) and the jitted prediction, then:

  * walks the step's jaxpr (`jax.make_jaxpr`, nested jaxprs included) and
    lists every `conv_general_dilated` and `dot_general` equation: the
    forward products and the input and weight gradients that autodiff wrote;
    one inside a `scan` (DSIN's SI iterations) counts `length` times
    (`times_per_call`, `ms_per_call`);
  * jits each equation ALONE (`primitive.bind` with its own parameters, on
    random inputs of its shapes) and times it: median of --calls calls after
    --warmup untimed ones, milliseconds, and GFLOP/s (2 x multiply-adds);
  * times the optimiser update alone (optax SGD momentum 0.9 over all the
    parameters, params and momentum donated), and the whole step and the
    whole prediction the same way;
  * reports `rest_ms` = whole step - (products + update): pooling, LCN, the
    activations, biases, the loss, copies, and whatever XLA does differently
    inside the whole program.

A product jitted alone is not exactly the product inside the step: XLA may
fuse a transpose into it there, choose other layouts, or overlap it with
other work, so the parts need not add up to the whole (`rest_ms` can even be
negative). The 2048 x 2048 float32 matmul rate is measured in the same
process as the machine's reference. The process's huge-page setting is
recorded (au_jax.host_memory.status(); this script does not re-execute
itself: set GLIBC_TUNABLES yourself to measure with huge pages). No torch.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import au_jax  # noqa: F401  (its XLA:CPU options, before JAX starts a backend)

HEAVY = ("conv_general_dilated", "dot_general")


def heavy_equations(closed_jaxpr, with_counts: bool = False) -> list:
  """Every convolution and dot_general equation of a jaxpr, nested ones included.

  with_counts: (equation, times it runs per call) pairs; an equation inside a
  `scan` runs `length` times (nested scans multiply); inside a `while` loop
  the count is unknown: None."""
  from jax.extend import core as jex_core
  found = []

  def walk(jaxpr, times):
    for eqn in jaxpr.eqns:
      if eqn.primitive.name in HEAVY:
        found.append((eqn, times))
      inner = times
      if eqn.primitive.name == "scan":
        inner = None if times is None else times * eqn.params["length"]
      elif eqn.primitive.name == "while":
        inner = None
      for p in eqn.params.values():
        for sub in (p if isinstance(p, (tuple, list)) else (p,)):
          if isinstance(sub, jex_core.ClosedJaxpr):
            walk(sub.jaxpr, inner)
          elif isinstance(sub, jex_core.Jaxpr):
            walk(sub, inner)
  walk(closed_jaxpr.jaxpr, 1)
  return found if with_counts else [e for e, _ in found]


def equation_flops(eqn) -> int:
  """2 x multiply-adds of a convolution or dot_general equation."""
  import numpy as np
  out = int(np.prod(eqn.outvars[0].aval.shape))
  if eqn.primitive.name == "conv_general_dilated":
    rhs = eqn.invars[1].aval.shape
    spec = eqn.params["dimension_numbers"].rhs_spec     # (out, in, *spatial)
    per_output = rhs[spec[1]] * int(np.prod([rhs[d] for d in spec[2:]]))
    return 2 * out * per_output        # rhs's input dimension is already per group
  (contract, _), _ = eqn.params["dimension_numbers"]
  lhs = eqn.invars[0].aval.shape
  return 2 * out * int(np.prod([lhs[d] for d in contract]))


def describe(eqn) -> str:
  ins = " x ".join(str(tuple(v.aval.shape)) for v in eqn.invars)
  return f"{eqn.primitive.name} {ins} -> {tuple(eqn.outvars[0].aval.shape)}"


def timed_ms(fn, calls: int, warmup: int) -> dict:
  """fn() returns something to block on; median and all timed calls in ms
  (host_memory._timed, the timer of the huge-page benchmark)."""
  import jax

  from benchmarks.host_memory import _timed
  m = _timed(lambda: jax.block_until_ready(fn()), calls, warmup)
  return {"ms": m["ms"], "ms_each_call": m["all_ms"]}


def time_equation(eqn, calls: int, warmup: int, seed: int) -> dict:
  import jax
  import numpy as np
  rng = np.random.default_rng(seed)
  args = [jax.numpy.asarray(rng.standard_normal(v.aval.shape).astype(v.aval.dtype))
          for v in eqn.invars]
  fn = jax.jit(lambda *xs: eqn.primitive.bind(*xs, **eqn.params))
  m = timed_ms(lambda: fn(*args), calls, warmup)
  flops = equation_flops(eqn)
  return {"op": describe(eqn), "flops": flops, "ms": m["ms"],
          "gflop_per_s": flops / m["ms"] / 1e6, "ms_each_call": m["ms_each_call"]}


def time_update(tx, state_params: dict, calls: int, warmup: int) -> dict:
  """The optimiser update of every parameter alone (params and state donated;
  copies of `state_params`)."""
  import jax
  import optax
  params = {k: jax.numpy.array(v, copy=True) for k, v in state_params.items()}
  holder = [params, tx.init(params)]
  grads = jax.tree.map(lambda p: jax.numpy.full_like(p, 1e-3), params)

  def update(p, s, g):
    u, s = tx.update(g, s, p)
    return optax.apply_updates(p, u), s
  update = jax.jit(update, donate_argnums=(0, 1))

  def run():
    holder[0], holder[1] = update(holder[0], holder[1], grads)
    return holder[0]
  return timed_ms(run, calls, warmup)


def measure(net: str, args) -> dict:
  import jax
  import versus_torch as vt
  if net in vt.CONFIG_NETS:     # dsin, hourglass: the config's network, no variants
    module, _, _, shape, bs0 = vt.config_net(net)
    bs = args.batch_size or bs0
    num_aus = module.num_aus if net == "dsin" else module.num_maps
    data = vt.make_config_data(net, shape, num_aus, bs)
    c = vt.jax_contestants(net, num_aus, 0, "", bs, data)
  else:
    bs = args.batch_size or (100 if net == "gudi" else 64)
    data = vt.make_data(net, 12, 6, bs)
    c = vt.jax_contestants(net, 12, 6, args.variant, bs, data)
  step = c["step"]
  holder = [c["step_args"]()]

  def run_step():
    state, batch, key = holder[0]
    state, m = step(state, batch, key)
    holder[0] = (state, batch, key)
    return m["loss"]
  whole = timed_ms(run_step, args.calls, args.warmup)
  state, batch, key = holder[0]
  step_eqns = heavy_equations(jax.make_jaxpr(step)(state, batch, key), with_counts=True)
  from au_jax.train.state import nest
  p, ms = nest(state.params), state.model_state
  pred = c["predict_jit"]
  whole_pred = timed_ms(lambda: pred(p, ms, batch), args.calls, args.warmup)
  pred_eqns = heavy_equations(jax.make_jaxpr(pred)(p, ms, batch), with_counts=True)
  update = time_update(c["txs"]["all"], state.params, args.calls, args.warmup)
  out = {"batch_size": bs, "variant": "the config's" if net in vt.CONFIG_NETS else args.variant}
  for part, eqns, total, extra in (("train", step_eqns, whole, update["ms"]),
                                   ("predict", pred_eqns, whole_pred, 0.0)):
    if any(n is None for _, n in eqns):
      print(f"{net} {part}: products inside a while loop are counted once", file=sys.stderr)
    ops = []
    for i, (e, n) in enumerate(eqns):
      o = time_equation(e, args.calls, args.warmup, i)
      o["times_per_call"] = n       # > 1 inside a scan; None inside a while loop
      o["ms_per_call"] = o["ms"] * (n or 1)
      ops.append(o)
    products = sum(o["ms_per_call"] for o in ops)
    flops = sum(o["flops"] * (o["times_per_call"] or 1) for o in ops)
    out[part] = {"whole_ms": total["ms"], "whole_ms_each_call": total["ms_each_call"],
                 "products": ops, "products_ms": products,
                 "conv_ms": sum(o["ms_per_call"] for o in ops if o["op"].startswith("conv")),
                 "dot_ms": sum(o["ms_per_call"] for o in ops if o["op"].startswith("dot")),
                 "products_gflop": flops / 1e9,
                 "whole_gflop_per_s": flops / total["ms"] / 1e6,
                 "products_alone_gflop_per_s": flops / products / 1e6}
    if part == "train":
      out[part]["update_ms"] = update["ms"]
      out[part]["update_ms_each_call"] = update["ms_each_call"]
    out[part]["rest_ms"] = total["ms"] - products - extra
    print(f"{net} {part}: whole {total['ms']:.1f} ms, products {products:.1f} "
          f"(conv {out[part]['conv_ms']:.1f}, dot {out[part]['dot_ms']:.1f}), "
          f"update {extra:.1f}, rest {out[part]['rest_ms']:.1f}", file=sys.stderr, flush=True)
  return out


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--nets", default="gudi,ccnn",
                 help="comma-separated: gudi, ccnn, dsin, hourglass (versus_torch's networks)")
  p.add_argument("--batch_size", type=int, default=0, help="0 = the net's (gudi 100, ccnn 64)")
  p.add_argument("--variant", default="xla:mask",
                 help="the layers' lowering CONV:POOL (versus_torch.variant_kwargs; default: "
                      "the package's)")
  p.add_argument("--calls", type=int, default=7)
  p.add_argument("--warmup", type=int, default=3)
  p.add_argument("--out", default="")
  args = p.parse_args()
  for net in args.nets.split(","):
    if net not in ("gudi", "ccnn", "dsin", "hourglass"):
      sys.exit(f"step_parts: --nets: unknown network {net!r} (gudi, ccnn, dsin, hourglass)")
  import jax
  import versus_torch as vt

  from au_jax import host_memory
  result = {"command": "python " + " ".join(sys.argv), "jax_version": jax.__version__,
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "au_jax_cpu_conv": os.environ.get("AU_JAX_CPU_CONV", "eigen"),
            "host_memory": host_memory.status(), "load_average_before": os.getloadavg()}
  import numpy as np
  mm = vt.jax_matmul_fn(np.random.default_rng(0).standard_normal((2048, 2048), np.float32))
  result["matmul_2048_gflop_per_s"] = 2 * 2048 ** 3 / timed_ms(
      lambda: mm(1), args.calls, args.warmup)["ms"] / 1e6
  for net in args.nets.split(","):
    result[net] = measure(net, args)
  result["load_average_after"] = os.getloadavg()
  text = json.dumps(result, indent=1) + "\n"
  if args.out:
    from au_jax.io import atomic_write
    atomic_write(args.out, text)
  else:
    print(text)


if __name__ == "__main__":
  main()
