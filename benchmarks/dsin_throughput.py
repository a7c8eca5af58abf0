r"""DSIN throughput: DSIN against the FERA 2015 CNN, and the
six-input nn.vmap patch network against six single-patch networks.

  python -m benchmarks.dsin_throughput --out=benchmarks/results/dsin_throughput.json

Measures, at one batch size (default 64, the paper's):
  dsin, gudi_fera2015   jitted train step and jitted predict, images/s, on a
                        real batch of each config's data (DSIN: Alg. 1 step 5,
                        every group trained, registration + patch cropping
                        inside the step as in training; Gudi: its first stage)
  patch_networks        the P = 6 patch CNNs of the DSIN config as ONE
                        nn.vmap module (dsin.model.DSIN's `patch`, with the
                        convolution lowering DSIN uses on this backend,
                        `patch_conv`; JAX's grouped-conv batching is measured
                        too, for reference) against six
                        separate single-patch networks (same PatchCNN, own
                        parameters), each jitted on its own and run one after
                        the other; forward+backward ("train": gradients of a
                        BCE on the sigmoid outputs, batch norm in training
                        mode) and forward ("predict"). The bound checked:
                        vmap time <= 1.3 x the six networks' summed time.
Timings exclude compilation (one warm-up call), block on results, and take
the median of `--rounds` rounds (the vmap and sequential variants
interleaved, so a change in machine load hits both alike). The machine's load
(`uptime`) at start and end is recorded: other processes competing for the
cores make every number smaller. On a shared machine the wall-clock ratios
swing with the load (the same code measured vmap/six train 2.73x at load
11-13 and 0.88x at load 22-30), so patch_networks also gives the ratios in
process CPU time (`cpu_seconds_ratios`), which the load does not inflate.
The six networks are dispatched one after the other without waiting (JAX's
async dispatch may overlap them on the two cores), the stricter reference.
"""
from __future__ import annotations

import json
import os
import subprocess

from absl import app, flags

from benchmarks import common

_DSIN = flags.DEFINE_string("dsin_config", "configs/dsin_synthetic.py", "DSIN config file.")
_GUDI = flags.DEFINE_string("gudi_config", "configs/gudi_synthetic.py", "FERA 2015 CNN config.")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Batch size of every measurement.")
_STEPS = flags.DEFINE_integer("steps", 5, "Timed calls per round.")
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Rounds (median taken).")
_OUT = flags.DEFINE_string("out", "", "Also write the JSON here.")
_PARTS = flags.DEFINE_list("parts", ["dsin", "gudi", "patch_networks"], "What to measure.")


def _load(path: str):
  return common.load_config(path)


def _uptime() -> str:
  try:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
  except OSError:
    return f"load average {os.getloadavg()}"


def _median_rounds(fns: dict, steps: int, rounds: int, cpu: dict | None = None) -> dict:
  """{name: median wall seconds per call} with the variants interleaved per
  round; `cpu`, when given, receives {name: median CPU seconds per call}."""
  t = common.time_calls({k: common.steps_of(f) for k, f in fns.items()}, steps, rounds)
  if cpu is not None:
    cpu.update({k: v["cpu_s"] for k, v in t.items()})
  return {k: v["s"] for k, v in t.items()}


def method_throughput(config, bs: int, steps: int, rounds: int) -> dict:
  """Train step and predict images/s of a config's method on one real batch."""
  import jax
  import numpy as np

  from au_jax.data import sharding
  from au_jax.train import schedule
  from au_jax.train import steps as steps_lib
  e = common.engine(config, bs)
  method, mesh, txs, labels = e.method, e.mesh, e.txs, e.labels
  state = sharding.replicate(e.state, mesh)
  batch = sharding.shard_batch(e.first, mesh)
  grad_segs = [s for s in schedule.build_schedule(config.train, method.groups,
                                                  tuple(method.heads)) if s.fit is None]
  seg = grad_segs[-1] if method.name == "dsin" else grad_segs[0]
  step = steps_lib.make_train_step(method, txs, labels, seg.trainable, seg.loss_weights)
  predict = steps_lib.make_predict_step(method)
  key = jax.random.PRNGKey(1)
  holder = [state]

  def train():
    holder[0], m = step(holder[0], batch, key)
    return m["loss"]

  def pred():
    return predict(holder[0].params, holder[0].model_state, holder[0].fitted,
                   batch)["occurrence"]
  fns = {"train_step": train, "predict": pred}
  if method.name == "dsin":   # the registration + cropping alone (DSINTransform.inputs)
    from au_jax.models.dsin import registration
    template = registration.template_reference(method.transform.face_size)
    reg = jax.jit(lambda b, ref: method.transform.inputs(b["face"], b["landmarks"], ref)[0])
    # the reference read from the current state (the train step donates the old one)
    fns["registration"] = lambda: reg(batch, holder[0].fitted.get("anchors", {}).get(
        "reference", template))
  t = _median_rounds(fns, steps, rounds)
  out = {"stage": seg.name, "trainable": list(seg.trainable),
         "num_params": int(sum(np.prod(v.shape) for v in jax.tree.leaves(state.params))),
         "train_step_images_per_s": bs / t["train_step"],
         "predict_images_per_s": bs / t["predict"]}
  if "registration" in t:
    out["registration_images_per_s"] = bs / t["registration"]
    out["registration_over_predict_time"] = t["registration"] / t["predict"]
  return out


def patch_networks(model_cfg, num_aus: int, bs: int, steps: int, rounds: int) -> dict:
  """The vmapped six-input patch network against six single-patch networks."""
  import flax.linen as nn
  import jax
  import jax.numpy as jnp
  import optax

  from au_jax.models.dsin.model import DSIN, PatchCNN
  from au_jax.models.dsin.transform import DSINTransform
  p = len(DSINTransform().input_names)
  s = int(model_cfg.patch_size)
  kw = dict(num_aus=num_aus, features=tuple(model_cfg.features), kernels=tuple(model_cfg.kernels),
            fc_units=tuple(model_cfg.fc_units))
  x = jax.random.uniform(jax.random.PRNGKey(0), (bs, p, s, s, 3)) - 0.5
  y = (jax.random.uniform(jax.random.PRNGKey(1), (bs, num_aus)) > 0.7).astype(jnp.float32)

  def jitted(module, xs, axis_labels):
    v = module.init(jax.random.PRNGKey(2), xs)
    train_mod = module.clone(train=True)

    def loss(params, stats):
      out, upd = train_mod.apply({"params": params, "batch_stats": stats}, xs,
                                 mutable=["batch_stats"])
      target = y[:, None] if axis_labels else y
      return jnp.mean(optax.sigmoid_binary_cross_entropy(out, jnp.broadcast_to(target, out.shape))
                      ), upd
    grad = jax.jit(jax.grad(loss, has_aux=True))
    fwd = jax.jit(lambda v: module.apply(v, xs))
    return (lambda: grad(v["params"], v["batch_stats"])[0]), (lambda: fwd(v))

  def vmapped(looped):
    return nn.vmap(PatchCNN, in_axes=1, out_axes=1,
                   variable_axes={"params": 0, "batch_stats": 0},
                   split_rngs={"params": True}, axis_size=p)(**kw, looped_conv=looped)
  looped = DSIN(num_aus=num_aus, patch_conv=str(model_cfg.get("patch_conv", "auto")))._looped()
  v_train, v_pred = jitted(vmapped(looped), x, True)
  g_train, g_pred = jitted(vmapped(False), x, True)
  singles = [jitted(PatchCNN(**kw), x[:, i], False) for i in range(p)]

  def seq(which):
    def run():
      return [fns[which]() for fns in singles]
    return run
  cpu = {}
  t = _median_rounds({"vmap_train": v_train, "six_train": seq(0), "grouped_train": g_train,
                      "vmap_predict": v_pred, "six_predict": seq(1), "grouped_predict": g_pred},
                     steps, rounds, cpu)
  return {"inputs": p, "patch_size": s, **kw,
          "vmap_conv": "looped" if looped else "grouped",
          "vmap_train_images_per_s": bs / t["vmap_train"],
          "six_in_sequence_train_images_per_s": bs / t["six_train"],
          "vmap_over_six_train_time": t["vmap_train"] / t["six_train"],
          "vmap_predict_images_per_s": bs / t["vmap_predict"],
          "six_in_sequence_predict_images_per_s": bs / t["six_predict"],
          "vmap_over_six_predict_time": t["vmap_predict"] / t["six_predict"],
          "cpu_seconds_ratios": {
              "what": ("the same ratios in process CPU time (all threads), which other "
                       "processes' load does not inflate: the load-robust figure"),
              "vmap_over_six_train": cpu["vmap_train"] / cpu["six_train"],
              "vmap_over_six_predict": cpu["vmap_predict"] / cpu["six_predict"],
              "grouped_over_six_train": cpu["grouped_train"] / cpu["six_train"],
              "grouped_over_six_predict": cpu["grouped_predict"] / cpu["six_predict"]},
          "bound": 1.3,
          "within_bound": bool(t["vmap_train"] <= 1.3 * t["six_train"]
                               and t["vmap_predict"] <= 1.3 * t["six_predict"]),
          "for_reference_grouped_conv_vmap": {
              "what": "the same vmap with JAX's own batching rule (grouped convolutions)",
              "train_images_per_s": bs / t["grouped_train"],
              "predict_images_per_s": bs / t["grouped_predict"],
              "over_six_train_time": t["grouped_train"] / t["six_train"],
              "over_six_predict_time": t["grouped_predict"] / t["six_predict"]}}


def main(argv):
  del argv
  bs, n, r = _BATCH.value, _STEPS.value, _ROUNDS.value
  result = dict(what="DSIN throughput", batch_size=bs, steps=n, rounds=r,
                **common.environment(), uptime_at_start=_uptime(),
                load_note=("other processes on the machine compete for the cores: see "
                           "uptime_at_start / uptime_at_end; every images/s figure is a lower "
                           "bound of the idle machine's"))
  parts = set(_PARTS.value)
  dsin_cfg = _load(_DSIN.value)
  result["dsin_config"] = _DSIN.value
  if "dsin" in parts:
    result["dsin"] = method_throughput(dsin_cfg, bs, n, r)
  if "gudi" in parts:
    result["gudi_config"] = _GUDI.value
    result["gudi_fera2015"] = method_throughput(_load(_GUDI.value), bs, n, r)
  if {"dsin", "gudi"} <= parts:
    result["dsin_over_gudi_time"] = {
        k: result["gudi_fera2015"][k] / result["dsin"][k]
        for k in ("train_step_images_per_s", "predict_images_per_s")}
  if "patch_networks" in parts:
    from au_jax.data import sources
    num_aus = len(sources.load_data_info(dsin_cfg.data)[0].aus)
    result["patch_networks"] = patch_networks(dsin_cfg.model, num_aus, bs, n, r)
  result["uptime_at_end"] = _uptime()
  print(json.dumps(result, indent=1))
  if _OUT.value:
    common.write_json(_OUT.value, result)


if __name__ == "__main__":
  common.host_tuning()
  app.run(main)
