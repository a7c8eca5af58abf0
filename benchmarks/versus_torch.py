r"""Side by side: au-jax's jitted steps against the SAME networks in PyTorch (issue 14).

  python -m benchmarks.versus_torch --out=benchmarks/results/versus_torch.json
  python -m benchmarks.versus_torch --nets=gudi --variants=xla:xla,im2col+xla+xla:mask
  python -m benchmarks.versus_torch --xla_flag_sets='default=;ynn_conv=--xla_cpu_...'  # a child each

PyTorch is only used here, never by the package: without `import torch` the
script says so and stops. One process measures, INTERLEAVED (each repeat runs
every contestant once, the order rotated per repeat; the medians are
reported), so that a background load on the machine hits both sides alike and
the ratios stay meaningful when the absolute numbers do not. `--timing=blocks`
runs each contestant's repeats back to back instead (two rounds, the second in
reverse order, one untimed call at the start of each block): with huge pages
(GLIBC_TUNABLES=glibc.malloc.hugetlb=1) a step that directly follows the other
framework's is slower on both sides (docs/performance.md, "Against
PyTorch"), so on an idle machine blocks measure each framework as it runs on
its own:

  networks   gudi  FERA 2015 CNN (au_jax.models.gudi.GudiCNN), batch 100 x 48x48x1,
                   sigmoid cross-entropy on A outputs (the method's loss);
             ccnn  CCNN trunk (au_jax.models.ccnn.model.CCNN, variant "cnn":
                   CCNNBackbone + the per-AU softmax output), the ccnn_synthetic
                   config's network (5x5 kernels, 32/64/128 filters, FC 128) at its
                   batch 64 x 41x41x1 (48x48 input, 85% crop), NLL of the levels.
             dsin  DSIN's six-patch network (au_jax.models.dsin.model.DSIN as
                   `configs/dsin_synthetic.py:T=0` builds it: six patch CNNs, each
                   3 stride-2 conv blocks 16/32/64 + batch norm, FC 128 -> 64, 12
                   AU outputs, nn.vmap-ed over the patches with the looped CPU
                   convolutions (patch_conv "auto"); then the 12 per-AU fusion
                   units, P -> 64 -> 1), batch 64 x 6 x 24x24x3 registered patches
                   (the registration and cropping before them are left out on
                   both sides); loss Alg. 1 step 3's L_Pi (class-balanced L2 on
                   the patch outputs) + L_Phi (cross-entropy of the fusion).
                   The SI RNN is OUT (T=0, the paper's PP+F): the issue names the
                   six-patch network; the SI is a few scalar weights per AU
                   (~10^4 FLOPs per image over T=10 iterations, against PP+F's
                   7 MFLOPs) iterated in sequence: tens of tiny element-wise ops
                   per iteration that in PyTorch eager would time the Python
                   dispatch, not the network.
             hourglass  the heatmap hourglass (au_jax.models.heatmaps.network.
                   HeatmapHourglass as configs/heatmaps_synthetic.py builds it:
                   FAN stem, depth-4 hourglass of bottlenecks, width 64, batch
                   norm, 5 maps of 16x16), batch 32 x 64x64x3; loss Eq. 2 (per-AU
                   Huber, delta 1) weighted by the adaptive AU weights, their
                   update included; the Eq. 1 target maps are given (the method
                   draws them from the landmarks inside its loss) and the label
                   noise is off. Predict: intensity = max of each map.
             dsin and hourglass run in training mode with batch statistics on
             both sides (the running averages updated: flax with the biased
             batch variance, torch with the unbiased one, a difference that
             changes neither the work nor the compared predictions).
  train      forward + backward + SGD with momentum 0.9 (the configs' optimiser for
             gudi and ccnn; dsin's config uses Adam, the hourglass's RMSprop: an
             element-wise update of 0.65M / 0.22M parameters, a small part of a step).
             jax: au_jax.train.steps.make_train_step (the engine's jitted step,
             state donated); torch: eager, zero_grad / backward / SGD.step.
  predict    jax: jitted apply + the output non-linearity; torch: eager under
             inference_mode.
  matmul     2048 x 2048 float32 product on each side, as the machine's peak.

FLOPs are counted analytically (2 * multiply-adds of the convolutions and
dense layers; a train step = forward + weight gradients + input gradients of
every layer but the first; LCN, batch norm, pooling, upsampling, residual
additions, activations, the losses and the update are left out), the same
count for both sides; XLA's own count of the compiled step
(`compiled.cost_analysis()["flops"]`) is reported beside it. dsin: P x (the
convolutions and FC layers of a patch CNN) + the fusion units' dense layers
(the first layer = the P first convolutions); hourglass: every convolution
(`hourglass_layer_flops`).

Both sides are float32 and use the same thread count (`--threads`, default
all cores): torch.set_num_threads(n); XLA:CPU's intra-op pool has one thread
per core. The torch network gets the jax network's initial parameters
(parameter counts asserted equal, predictions compared) so the two compute the
same function. The load average before and after is written with the numbers,
and `host_memory` (au_jax.host_memory.status(): whether the process runs with
GLIBC_TUNABLES=glibc.malloc.hugetlb=1; this script does not re-execute itself).

dsin and hourglass: the torch networks are written here (`torch_config_net`,
NCHW, submodules named as the flax tree) from the jax module's hyper-parameters,
and every flax variable is copied in (`flax_to_torch_state`: parameters AND
running statistics). Checked before timing: parameter counts equal; every
prediction output (dsin: fusion and patch outputs; hourglass: intensities and
maps) within 1e-4 in eval mode, with the initial AND with random running
statistics (so the statistics are copied right); the initial loss in training
mode (batch statistics) within 1e-4 relative. Where the torch side differs
in form: the six patch CNNs are six torch modules called one after another
(flax: one vmapped module; its convolutions looped, its dense layers and batch
norm batched over the patches); 'SAME' stride-2 convolutions pad explicitly
(F.pad: lax puts the odd pixel at the end); the fusion units' per-AU weights
are one einsum per layer on both sides.

`--variants` runs several jax lowerings of the same network side by side
(au_jax.models.layers_fast: "CONV:POOL", e.g. xla:xla = nn.Conv + nn.max_pool,
im2col:mask); `--no_donate` jits the step without donating the state;
`--xla_flag_sets` runs one child process per XLA_FLAGS setting (each against
its own torch baseline, since the flags are read when the backend starts);
`--batch_size` overrides the net's batch. dsin and hourglass have no conv_impl /
pool_impl switch: `--variants` does not apply to them (said on stderr and in
the JSON, "variants_ignored"; their config's network is timed as the one jax
contestant "jax"), nor do `--num_aus` / `--levels` (their AUs are the configs'
datasets': 12 DISFA AUs, 5 FERA 2015 intensity AUs).

What the profiles showed (jax 0.10.2, XLA:CPU thunk runtime; jax.profiler
trace of the Gudi train step, per-op events, and the optimised HLO):
  * forward convolutions and the weight-gradient convolutions are YNNPACK
    fusions (`__ynn_fusion`); the input-gradient convolutions are Eigen
    convolutions; per op, conv2 / conv3 forward and weight gradient ran at
    0.3-0.4x oneDNN's speed, conv1 (one input channel) at 1.4x;
  * nn.max_pool's gradient became a reduce-window carrying four s32 index
    arrays of the padded input (four iota fusions every step), a concatenate
    and a scatter: ~16% of the traced op time of the Gudi step;
  * the donated state makes XLA copy every kernel that the backward pass
    reads (the 88M-parameter FC kernel included: a 354 MB copy per step);
    without donation there is no copy.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

from benchmarks import common

# --------------------------------------------------------------------------- FLOPs

def jaxpr_flops(closed_jaxpr) -> int:
  """2 x multiply-adds of every convolution and dot_general in a jaxpr, nested
  jaxprs included once each (the check of the analytic counts below)."""
  import numpy as np
  from jax.extend import core as jex_core
  total = 0

  def walk(jaxpr):
    nonlocal total
    for eqn in jaxpr.eqns:
      out = int(np.prod(eqn.outvars[0].aval.shape))
      if eqn.primitive.name == "conv_general_dilated":
        rhs = eqn.invars[1].aval.shape
        spec = eqn.params["dimension_numbers"].rhs_spec     # (out, in, *spatial)
        total += 2 * out * rhs[spec[1]] * int(np.prod([rhs[d] for d in spec[2:]]))
      elif eqn.primitive.name == "dot_general":
        (contract, _), _ = eqn.params["dimension_numbers"]
        lhs = eqn.invars[0].aval.shape
        total += 2 * out * int(np.prod([lhs[d] for d in contract]))
      for p in eqn.params.values():
        for sub in (p if isinstance(p, (tuple, list)) else (p,)):
          if isinstance(sub, jex_core.ClosedJaxpr):
            walk(sub.jaxpr)
          elif isinstance(sub, jex_core.Jaxpr):
            walk(sub)
  walk(closed_jaxpr.jaxpr)
  return total


def conv_flops(h_out, w_out, k, c_in, c_out):
  return 2 * h_out * w_out * k * k * c_in * c_out


def net_flops(net: str, num_outputs: int, module=None, side: int = 0) -> dict:
  """Analytic FLOPs per image: forward, and train (fwd + dW + dX but the first layer's dX).
  dsin / hourglass: from the jax `module`'s hyper-parameters and the input `side`."""
  if net == "gudi":   # 48 -> conv5 44 -> pool 22 -> conv5 18 -> conv4 15; FC 28800 -> 3072
    layers = [conv_flops(44, 44, 5, 1, 64), conv_flops(18, 18, 5, 64, 64),
              conv_flops(15, 15, 4, 64, 128), 2 * 15 * 15 * 128 * 3072, 2 * 3072 * num_outputs]
  elif net == "ccnn":  # 41 -> 41 pool 20 -> 20 pool 10 -> 10 pool 5; FC 3200 -> 128
    layers = [conv_flops(41, 41, 5, 1, 32), conv_flops(20, 20, 5, 32, 64),
              conv_flops(10, 10, 5, 64, 128), 2 * 5 * 5 * 128 * 128, 2 * 128 * num_outputs]
  elif net == "dsin":
    layers = dsin_layer_flops(module, side)
  elif net == "hourglass":
    layers = hourglass_layer_flops(module, side)
  else:
    raise ValueError(net)
  fwd = sum(layers)
  return {"forward": fwd, "train": 3 * fwd - layers[0]}


def dsin_layer_flops(module, side: int, channels: int = 3) -> list:
  """DSIN's P patch CNNs (stride-2 'SAME' convolutions, FC layers, A outputs)
  and the A fusion units (P -> hidden -> 1); entry 0 = the P first convolutions."""
  n, c, per_patch = side, channels, []
  for f, k in zip(module.features, module.kernels):
    o = -(-n // 2)
    per_patch.append(conv_flops(o, o, k, c, f))
    n, c = o, f
  d = n * n * c
  for units in (*module.fc_units, module.num_aus):
    per_patch.append(2 * d * units)
    d = units
  h = module.fusion_units
  fusion = module.num_aus * 2 * (module.num_inputs * h + h)
  return [module.num_inputs * x for x in per_patch] + [fusion]


def hourglass_layer_flops(module, side: int) -> list:
  """HeatmapHourglass (au_jax.models.heatmaps.network): every convolution of the
  stem, the recursive hourglass and the head; entry 0 = the stem's 7x7 / 2."""
  f = module.features
  n = side // 2
  layers = [conv_flops(n, n, 7, 3, f // 4)]

  def bottleneck(n, c_in, c_out):
    mid = c_out // 2
    layers.extend([conv_flops(n, n, 1, c_in, mid), conv_flops(n, n, 3, mid, mid),
                   conv_flops(n, n, 1, mid, c_out)])
    if c_in != c_out:
      layers.append(conv_flops(n, n, 1, c_in, c_out))

  def level(n, depth):
    bottleneck(n, f, f)                      # skip branch
    bottleneck(n // 2, f, f)                 # after the pool
    if depth > 1:
      level(n // 2, depth - 1)
    else:
      bottleneck(n // 2, f, f)
    bottleneck(n // 2, f, f)                 # before the upsampling
  bottleneck(n, f // 4, f // 2)
  n //= 2
  bottleneck(n, f // 2, f // 2)
  bottleneck(n, f // 2, f)
  level(n, module.depth)
  bottleneck(n, f, f)
  layers.extend([conv_flops(n, n, 1, f, f), conv_flops(n, n, 1, f, module.num_maps)])
  return layers


# --------------------------------------------------------------------------- jax side

def variant_kwargs(variant: str) -> dict:
  """'CONV:POOL' -> module kwargs; CONV is one impl or one per conv layer joined by '+'
  (au_jax.models.layers_fast), e.g. 'xla:xla' (the plain layers), 'im2col+xla+xla:mask'."""
  conv, _, pool = variant.partition(":")
  impls = tuple(conv.split("+"))
  return {"conv_impl": impls[0] if len(impls) == 1 else impls, "pool_impl": pool or "xla"}


def jax_net(net: str, num_aus: int, levels: int, variant: str):
  """(module, loss(variables, batch, rng), predict(variables, batch), input shape, batch)."""
  import jax
  import jax.numpy as jnp
  import optax
  if net in CONFIG_NETS:   # no conv_impl / pool_impl switch: `variant` does not apply
    return config_net(net)
  kw = variant_kwargs(variant)
  if net == "gudi":
    from au_jax.models.gudi.model import GudiCNN
    module = GudiCNN(num_outputs=num_aus, **kw)

    def loss(v, batch, rng, train=True, weights=None):
      logits = module.apply(v, batch["image"], train=train, rngs={"dropout": rng})
      value = optax.sigmoid_binary_cross_entropy(logits, batch["target"]).mean()
      return value, {"metrics": {}}

    def predict(v, batch):
      return jax.nn.sigmoid(module.apply(v, batch["image"], train=False))
    return module, loss, predict, (48, 48, 1), 100
  from au_jax.models.ccnn.model import CCNN
  module = CCNN(num_aus=num_aus, variant="cnn", num_levels=levels, features=(32, 64, 128),
                kernel=5, fc_units=128, **kw)

  def loss(v, batch, rng, train=True, weights=None):
    lp = module.apply(v, batch["image"], train=train)["log_probs"]        # [B, A, L]
    nll = -jnp.take_along_axis(lp, batch["level"][..., None], -1)[..., 0]
    return nll.mean(), {"metrics": {}}

  def predict(v, batch):
    return jnp.exp(module.apply(v, batch["image"], train=False)["log_probs"])
  return module, loss, predict, (41, 41, 1), 64


CONFIG_NETS = {   # net -> (config, config argument, the config dataset's AUs)
    "dsin": ("configs.dsin_synthetic", "T=0", "DISFA_AUS"),
    "hourglass": ("configs.heatmaps_synthetic", None, "FERA2015_INT_AUS"),
}


def config_net(net: str):
  """(module, loss, predict, input shape, batch size) of a network as its config
  builds it: the method's `build` on the config's config.model (the data's AUs
  given as a DataInfo), the config's batch size.

  dsin: `configs/dsin_synthetic.py:T=0`, the PP+F model (the six patch CNNs +
    the per-AU fusion; no SI); input = the registered patches [B, P, S, S, 3]
    (registration and cropping, transform.inputs, left out on both sides);
    loss = Alg. 1 step 3's L_Pi + L_Phi (pp=1, fusion=1; batch norm on batch
    statistics), L_Pi class-balanced with the batch data's positive rates.
  hourglass: `configs/heatmaps_synthetic.py` (arch hourglass); loss = Eq. 2's
    per-AU Huber with the adaptive AU weights (their update included); the
    Eq. 1 target maps are given (the method renders them from landmarks in
    the loss) and label noise is off.
  predict: the method's outputs (dsin: fusion f and patch p; hourglass:
    intensity = max of each map clipped to [0, 5], and the maps).
  """
  import importlib

  import jax.numpy as jnp

  from au_jax import aus as au_lists
  from au_jax.data.sources import DataInfo
  cfg_module, cfg_arg, aus_name = CONFIG_NETS[net]
  config = importlib.import_module(cfg_module).get_config(cfg_arg)
  aus = tuple(getattr(au_lists, aus_name))
  if tuple(config.data.get("aus") or aus) != aus:   # () = the dataset's AUs
    raise ValueError(f"{cfg_module}: config.data.aus {tuple(config.data.aus)} is not {aus}")
  info = DataInfo(aus=aus, intensity_coded=(True,) * len(aus),
                  occurrence_coded=(True,) * len(aus), datasets=("synthetic",), metadata=({},))
  bs = config.train.batch_size
  if net == "dsin":
    from au_jax.models.dsin import loss as L
    from au_jax.models.dsin.model import build
    module = build(config.model, info).module
    s = config.model.patch_size
    shape = (module.num_inputs, s, s, 3)

    def loss(v, batch, rng, train=True, weights=None):
      out, state = module.apply(v, batch["image"], train=True, mutable=["batch_stats"])
      occ = batch["occurrence"]
      mask = jnp.ones(occ.shape[:1], jnp.float32)
      value = (L.patch_l2(out["patch"], occ, mask, L.balance_weights(batch["pos_rates"]))
               + L.masked_bce(out["fusion_logits"], occ, mask))
      return value, {"metrics": {}, "model_state": {"batch_stats": state["batch_stats"]}}

    def predict(v, batch):
      out = module.apply(v, batch["image"], train=False)
      return {"fusion": out["fusion"], "patch": out["patch"]}
    return module, loss, predict, shape, bs
  from au_jax.models.heatmaps import loss as loss_lib
  from au_jax.models.heatmaps.model import build
  module = build(config.model, info).module
  shape = (config.model.input_size, config.model.input_size, 3)

  def loss(v, batch, rng, train=True, weights=None):
    maps, state = module.apply(v, batch["image"], train=True, mutable=["batch_stats"])
    valid = jnp.ones(batch["target"].shape[:1] + batch["target"].shape[-1:], jnp.float32)
    per_au, has_data = loss_lib.per_au_huber(maps, batch["target"], valid, 1.0)
    w = v["au_weights"]["weights"]
    nxt = loss_lib.next_au_weights(per_au, has_data, w, module.min_au_weight)
    return jnp.sum(w * per_au), {"metrics": {}, "model_state": {
        "batch_stats": state["batch_stats"], "au_weights": {"weights": nxt}}}

  def predict(v, batch):
    maps = module.apply(v, batch["image"], train=False)
    return {"intensity": jnp.clip(maps.max(axis=(1, 2)), 0.0, 5.0), "heatmaps": maps}
  return module, loss, predict, shape, bs


class _Method:
  """The part of a `spec.Method` that make_train_step reads."""
  def __init__(self, loss):
    self.loss = loss


def jax_contestants(net, num_aus, levels, conv_impl, batch_size, data, lr=0.01, donate=True):
  import jax
  import numpy as np
  import optax

  from au_jax.train import steps as steps_lib
  from au_jax.train.state import flatten, init_state
  module, loss, predict, _, _ = jax_net(net, num_aus, levels, conv_impl)
  x = jax.numpy.asarray(data["image"])
  variables = module.init({"params": jax.random.PRNGKey(0), "dropout": jax.random.PRNGKey(1)},
                          x[:2], train=False)
  params = jax.tree.map(np.asarray, variables["params"])
  # batch statistics, adaptive AU weights (dsin, hourglass): the train state's model_state
  model_state0 = ({k: jax.tree.map(np.asarray, v) for k, v in variables.items() if k != "params"}
                  if net in CONFIG_NETS else {})
  txs = {"all": optax.sgd(lr, momentum=0.9)}
  flat = flatten(variables["params"])
  labels = {k: "all" for k in flat}
  state = init_state({"params": variables["params"], **model_state0}, txs, labels)
  step = steps_lib.make_train_step(_Method(loss), txs, labels, ("all",))
  if not donate:
    step = jax.jit(step.__wrapped__)
  batch = {k: jax.numpy.asarray(v) for k, v in data.items()}
  key = jax.random.PRNGKey(2)
  xla_flops = None
  try:
    cost = step.lower(state, batch, key).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    xla_flops = float(cost.get("flops", 0.0)) / batch_size or None
  except Exception as e:
    print(f"[versus_torch] cost_analysis failed: {e}", file=sys.stderr)
  holder = [state]

  def train(n):
    for _ in range(n):
      holder[0], m = step(holder[0], batch, key)
    jax.block_until_ready(m["loss"])

  pred = jax.jit(lambda p, ms, b: predict({"params": p, **ms}, b))
  p0 = holder[0].params

  def infer(n):
    from au_jax.train.state import nest
    p, ms = nest(holder[0].params), holder[0].model_state
    for _ in range(n):
      out = pred(p, ms, batch)
    jax.block_until_ready(out)

  def predict_fn(b, model_state=None):
    """The initial parameters' predictions (with `model_state`, e.g. other
    running statistics, instead of the initial one)."""
    ms = model_state0 if model_state is None else model_state
    return jax.tree.map(np.asarray, pred(jax.tree.map(jax.numpy.asarray, params),
                                         jax.tree.map(jax.numpy.asarray, ms), b))

  def initial_loss():
    """The loss of the initial variables on the batch, batch norm in training mode."""
    v = jax.tree.map(jax.numpy.asarray, {"params": params, **model_state0})
    return float(loss(v, batch, key, True)[0])
  train(1)
  infer(1)     # compile
  n_params = int(sum(np.prod(v.shape) for v in p0.values()))
  return {"train": train, "predict": infer, "params": params, "n_params": n_params,
          "model_state": model_state0, "module": module, "initial_loss": initial_loss,
          "xla_flops_train_per_image": xla_flops, "predict_fn": predict_fn,
          # the jitted step and its arguments (the state as it is now: donated by each call)
          "step": step, "step_args": lambda: (holder[0], batch, key), "txs": txs,
          "labels": labels, "predict_jit": pred}


# --------------------------------------------------------------------------- torch side

def torch_net(net: str, num_aus: int, levels: int):
  import torch
  import torch.nn.functional as F
  from torch import nn

  from au_jax.models.layers import gaussian_kernel_1d

  class LCN(nn.Module):
    """au_jax.models.layers.LocalContrastNorm, NCHW."""
    def __init__(self, size=9, sigma=2.0, eps=1e-4):
      super().__init__()
      k = torch.from_numpy(gaussian_kernel_1d(size, sigma))
      self.register_buffer("kh", k.reshape(1, 1, -1, 1))
      self.register_buffer("kw", k.reshape(1, 1, 1, -1))
      self.p, self.eps = size // 2, eps

    def blur(self, x):
      x = F.conv2d(x, self.kh, padding=(self.p, 0))
      return F.conv2d(x, self.kw, padding=(0, self.p))

    def forward(self, x):
      norm = self.blur(torch.ones_like(x[:, :1]))
      v = x - self.blur(x.mean(1, keepdim=True)) / norm
      sigma = torch.sqrt(self.blur((v * v).mean(1, keepdim=True)) / norm + self.eps ** 2)
      c = sigma.mean((1, 2, 3), keepdim=True)
      return v / torch.maximum(c, sigma)

  class Gudi(nn.Module):
    def __init__(self):
      super().__init__()
      self.conv1, self.conv2 = nn.Conv2d(1, 64, 5), nn.Conv2d(64, 64, 5)
      self.conv3 = nn.Conv2d(64, 128, 4)
      self.lcn = LCN()
      self.fc, self.out = nn.Linear(15 * 15 * 128, 3072), nn.Linear(3072, num_aus)
      self.drop = nn.Dropout(0.2)

    def forward(self, x):
      x = self.lcn(F.relu(self.conv1(x)))
      # 'SAME' 3x3 / 2 on 44: pad one -inf row / column at the end -> 22
      x = F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=float("-inf")), 3, 2)
      x = F.relu(self.conv3(F.relu(self.conv2(x))))
      return self.out(self.drop(F.relu(self.fc(x.flatten(1)))))

  class CCNNTrunk(nn.Module):
    def __init__(self):
      super().__init__()
      self.convs = nn.ModuleList([nn.Conv2d(i, o, 5, padding=2)
                                  for i, o in ((1, 32), (32, 64), (64, 128))])
      self.fc, self.unary = nn.Linear(5 * 5 * 128, 128), nn.Linear(128, num_aus * levels)

    def forward(self, x):
      for c in self.convs:
        x = F.max_pool2d(F.relu(c(x)), 2)
      x = F.relu(self.fc(x.flatten(1)))
      return F.log_softmax(self.unary(x).reshape(-1, num_aus, levels), -1)

  return Gudi() if net == "gudi" else CCNNTrunk()


def _ccnn_torch_name(key: str) -> str:
  """backbone.conv2.weight -> convs.1.weight, backbone.fc.bias -> fc.bias, others as they are."""
  parts = key.split(".")
  if parts[0] != "backbone":
    return key
  if parts[1].startswith("conv"):
    return f"convs.{int(parts[1][4:]) - 1}.{parts[2]}"
  return ".".join(parts[1:])


def load_flax_params(model, net: str, params) -> None:
  """Copy the jax network's parameters in (`flax_to_torch_state`: HWIO -> OIHW,
  the first FC's rows from NHWC- to NCHW-flatten order) so both sides compute
  the same function; the CCNN trunk's flax `backbone.convN` / `backbone.fc` are
  the torch `convs.{N-1}` / `fc`."""
  import torch
  h = 15 if net == "gudi" else 5
  sd = flax_to_torch_state(params, None, (), {"fc": (h, h, 128)})
  if net == "ccnn":
    sd = {_ccnn_torch_name(k): v for k, v in sd.items()}
  own = [k for k in model.state_dict() if not k.startswith("lcn.")]   # LCN: fixed buffers
  if set(sd) != set(own):
    raise KeyError(f"{net}: flax -> torch names differ: {sorted(set(sd) ^ set(own))}")
  model.load_state_dict({**model.state_dict(), **{k: torch.from_numpy(v) for k, v in sd.items()}})


def same_pads(n: int, k: int, s: int) -> tuple[int, int]:
  """lax's 'SAME' padding (low, high) of a window k, stride s on a side n."""
  total = max((-(-n // s) - 1) * s + k - n, 0)
  return total // 2, total - total // 2


def torch_config_net(net: str, module, side: int):
  """The jax `module` (dsin: DSIN with iterations=0; hourglass: HeatmapHourglass)
  in torch, NCHW, its submodules named as the flax parameter tree (so that
  `flax_to_torch_state` maps the names one to one). Batch norm: flax's momentum
  m is torch's 1 - m, the same epsilon."""
  import torch
  import torch.nn.functional as F
  from torch import nn

  class PatchCNN(nn.Module):
    """One Pi_i: stride-2 'SAME' conv -> BN -> ReLU blocks, FC + ReLU layers, A logits."""
    def __init__(self, m):
      super().__init__()
      n, c, self.pads = side, 3, []
      for i, (f, k) in enumerate(zip(m.features, m.kernels)):
        lo, hi = same_pads(n, k, 2)
        self.pads.append((lo, hi, lo, hi))
        setattr(self, f"conv{i + 1}", nn.Conv2d(c, f, k, stride=2))
        setattr(self, f"bn{i + 1}", nn.BatchNorm2d(f, eps=1e-5, momentum=1 - m.bn_momentum))
        n, c = -(-n // 2), f
      self.n_conv, d = len(m.features), n * n * c
      for i, u in enumerate(m.fc_units):
        setattr(self, f"fc{i + 1}", nn.Linear(d, u))
        d = u
      self.n_fc, self.out = len(m.fc_units), nn.Linear(d, m.num_aus)

    def forward(self, x):
      for i in range(self.n_conv):
        x = getattr(self, f"conv{i + 1}")(F.pad(x, self.pads[i]))
        x = F.relu(getattr(self, f"bn{i + 1}")(x))
      x = x.flatten(1)
      for i in range(self.n_fc):
        x = F.relu(getattr(self, f"fc{i + 1}")(x))
      return self.out(x)

  class BatchedDense(nn.Module):
    """A Dense per AU (flax's vmapped FusionUnit layer): kernel [A, in, out], bias [A, out]."""
    def __init__(self, a, i, o):
      super().__init__()
      self.kernel = nn.Parameter(torch.zeros(a, i, o))
      self.bias = nn.Parameter(torch.zeros(a, o))

    def forward(self, x):                                  # [B, A, in] -> [B, A, out]
      return torch.einsum("bai,aio->bao", x, self.kernel) + self.bias

  class Fusion(nn.Module):
    def __init__(self, m):
      super().__init__()
      self.fc1 = BatchedDense(m.num_aus, m.num_inputs, m.fusion_units)
      self.fc2 = BatchedDense(m.num_aus, m.fusion_units, 1)

    def forward(self, s):                                  # s_j: [B, A, P] -> logits [B, A]
      return self.fc2(torch.sigmoid(self.fc1(s)))[..., 0]

  class DSIN(nn.Module):
    """Input [P, B, C, S, S] (patch-major, so that each patch is contiguous):
    (patch logits [B, P, A], fusion logits [B, A])."""
    def __init__(self, m):
      super().__init__()
      self.patch = nn.ModuleList([PatchCNN(m) for _ in range(m.num_inputs)])
      self.fusion = Fusion(m)

    def forward(self, x):
      logits = torch.stack([net(x[i]) for i, net in enumerate(self.patch)], 1)
      return logits, self.fusion(torch.sigmoid(logits).transpose(1, 2))

  def bn(c):
    return nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)       # network._bn: flax momentum 0.9

  class Bottleneck(nn.Module):
    def __init__(self, c_in, c_out):
      super().__init__()
      mid = c_out // 2
      self.conv1, self.bn1 = nn.Conv2d(c_in, mid, 1, bias=False), bn(mid)
      self.conv2, self.bn2 = nn.Conv2d(mid, mid, 3, padding=1, bias=False), bn(mid)
      self.conv3, self.bn3 = nn.Conv2d(mid, c_out, 1, bias=False), bn(c_out)
      if c_in != c_out:
        self.down, self.down_bn = nn.Conv2d(c_in, c_out, 1, bias=False), bn(c_out)
      else:
        self.down = None

    def forward(self, x):
      y = F.relu(self.bn1(self.conv1(x)))
      y = F.relu(self.bn2(self.conv2(y)))
      y = self.bn3(self.conv3(y))
      if self.down is not None:
        x = self.down_bn(self.down(x))
      return F.relu(y + x)

  class Hourglass(nn.Module):
    def __init__(self, f, depth):
      super().__init__()
      self.depth = depth
      for level in range(depth, 0, -1):
        for b in ("b1", "b2", "b3"):
          setattr(self, f"{b}_{level}", Bottleneck(f, f))
      self.b2_plus_1 = Bottleneck(f, f)

    def level(self, x, level):
      up = getattr(self, f"b1_{level}")(x)
      low = getattr(self, f"b2_{level}")(F.max_pool2d(x, 2))
      low = self.level(low, level - 1) if level > 1 else self.b2_plus_1(low)
      low = getattr(self, f"b3_{level}")(low)
      return up + F.interpolate(low, scale_factor=2, mode="nearest")

    def forward(self, x):
      return self.level(x, self.depth)

  class HeatmapHourglass(nn.Module):
    """Image [B, 3, S, S] -> maps [B, A, S/4, S/4]."""
    def __init__(self, m):
      super().__init__()
      f = m.features
      self.stem_conv, self.stem_bn = nn.Conv2d(3, f // 4, 7, stride=2, padding=3), bn(f // 4)
      self.stem_block1 = Bottleneck(f // 4, f // 2)
      self.stem_block2, self.stem_block3 = Bottleneck(f // 2, f // 2), Bottleneck(f // 2, f)
      self.hourglass, self.head_block = Hourglass(f, m.depth), Bottleneck(f, f)
      self.head_conv, self.head_bn = nn.Conv2d(f, f, 1), bn(f)
      self.maps = nn.Conv2d(f, m.num_maps, 1)

    def forward(self, x):
      x = F.relu(self.stem_bn(self.stem_conv(x)))
      x = F.max_pool2d(self.stem_block1(x), 2)
      x = self.hourglass(self.stem_block3(self.stem_block2(x)))
      x = F.relu(self.head_bn(self.head_conv(self.head_block(x))))
      return self.maps(x)

  return DSIN(module) if net == "dsin" else HeatmapHourglass(module)


def flax_to_torch_state(params, batch_stats, split=(), nhwc_flatten=None) -> dict:
  """Flax variables -> a torch state dict (numpy) of a module named like the flax
  tree: conv kernel HWIO -> weight OIHW, Dense kernel [in, out] -> weight [out, in]
  (rows from NHWC- to NCHW-flatten order for the layer names in `nhwc_flatten`:
  name -> (h, w, c) of its input), BN scale -> weight, mean / var -> running_mean
  / running_var; a vmapped top-level module in `split` (leading axis P) becomes
  P torch modules `name.0` .. `name.{P-1}`; 3-d kernels (per-AU Dense) stay as they are."""
  import numpy as np

  from au_jax.train.state import flatten
  out = {}
  items = ([(k, v, False) for k, v in flatten(params).items()]
           + [(k, v, True) for k, v in flatten(batch_stats or {}).items()])
  for key, value, is_stat in items:
    *path, leaf = key.split(".")
    value = np.asarray(value, np.float32)
    copies = [(path, value)]
    if path[0] in split:
      copies = [([path[0], str(i), *path[1:]], value[i]) for i in range(value.shape[0])]
    for p, a in copies:
      if is_stat:
        name = {"mean": "running_mean", "var": "running_var"}[leaf]
      elif leaf == "kernel" and a.ndim == 4:
        name, a = "weight", a.transpose(3, 2, 0, 1)
      elif leaf == "kernel" and a.ndim == 2:
        if nhwc_flatten and p[-1] in nhwc_flatten:
          h, w, c = nhwc_flatten[p[-1]]
          a = a.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
        name, a = "weight", a.T
      elif leaf == "scale":
        name = "weight"
      elif leaf in ("kernel", "bias"):
        name = leaf
      else:
        raise KeyError(f"flax variable {key}: no torch counterpart")
      out[".".join([*p, name])] = np.array(a, np.float32)      # a writable copy
  return out


def load_config_net(model, net: str, module, side: int, params, model_state) -> None:
  """Copy the jax variables (parameters and running statistics) into the torch
  network; every torch entry (but num_batches_tracked) must be given, shapes equal."""
  import torch
  split, fl = (), None
  if net == "dsin":
    n = side
    for _ in module.features:
      n = -(-n // 2)
    split, fl = ("patch",), {"fc1": (n, n, module.features[-1])}
  sd = flax_to_torch_state(params, model_state.get("batch_stats"), split, fl)
  own = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
  if set(sd) != set(own):
    raise KeyError(f"{net}: flax -> torch names differ: only flax {sorted(set(sd) - set(own))}, "
                   f"only torch {sorted(set(own) - set(sd))}")
  bad = [k for k in sd if tuple(sd[k].shape) != tuple(own[k].shape)]
  if bad:
    raise ValueError(f"{net}: shapes differ for {bad}")
  model.load_state_dict({**model.state_dict(), **{k: torch.from_numpy(v) for k, v in sd.items()}})


def torch_config_contestants(net, data, module, params, model_state, lr=0.01):
  """dsin / hourglass in torch eager: the losses and predictions of `config_net`."""
  import numpy as np
  import torch
  import torch.nn.functional as F
  side = data["image"].shape[-2]
  to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a))

  def make():
    m = torch_config_net(net, module, side)
    load_config_net(m, net, module, side, params, model_state)
    return m
  model = make()
  if net == "dsin":
    x = to_t(np.transpose(data["image"], (1, 0, 4, 2, 3)))     # [P, B, C, S, S]
    y = to_t(data["occurrence"].astype(np.float32))
    inv = 1.0 / np.clip(data["pos_rates"], 1e-3, 1.0)            # loss.balance_weights
    w = to_t((inv / inv.mean()).astype(np.float32))

    def loss_fn(out, update=True):
      logits, f_logits = out
      l_pi = (w * (torch.sigmoid(logits) - y[:, None, :]) ** 2).mean()
      return l_pi + F.binary_cross_entropy_with_logits(f_logits, y)

    def outputs(out):
      return {"fusion": torch.sigmoid(out[1]), "patch": torch.sigmoid(out[0])}
  else:
    x = to_t(np.transpose(data["image"], (0, 3, 1, 2)))
    target = to_t(np.transpose(data["target"], (0, 3, 1, 2)))
    w0 = to_t(np.asarray(model_state["au_weights"]["weights"], np.float32))
    aw = [w0.clone()]

    def loss_fn(out, update=True):     # Eq. 2 per AU, adaptive weights (loss.next_au_weights)
      per_au = F.smooth_l1_loss(out, target, reduction="none", beta=1.0).mean((0, 2, 3))
      w_now = aw[0] if update else w0
      value = (w_now * per_au).sum()
      if update:
        e = per_au.detach()
        if e.sum() > 0:
          aw[0] = torch.clamp(e / e.sum(), min=module.min_au_weight)
      return value

    def outputs(out):
      return {"intensity": out.amax((2, 3)).clamp(0.0, 5.0), "heatmaps": out}
  opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
  train, infer = torch_loops(model, opt, x, loss_fn, outputs)

  def predict_fn(stats=None):
    """The initial parameters' predictions, with running statistics `stats`
    (the jax model_state's batch_stats) instead of the initial ones; maps NHWC."""
    m = torch_config_net(net, module, side)
    load_config_net(m, net, module, side, params, stats or model_state)
    m.eval()
    with torch.inference_mode():
      out = {k: v.numpy() for k, v in outputs(m(x)).items()}
    if "heatmaps" in out:
      out["heatmaps"] = np.transpose(out["heatmaps"], (0, 2, 3, 1))
    return out

  def initial_loss():
    m = make()
    m.train()
    with torch.no_grad():
      return float(loss_fn(m(x), update=False))
  n_params = int(sum(p.numel() for p in model.parameters()))
  train(1)
  infer(1)
  return {"train": train, "predict": infer, "n_params": n_params, "predict_fn": predict_fn,
          "initial_loss": initial_loss}


def torch_loops(model, opt, x, loss_fn, outputs):
  """train(n), infer(n): n eager steps of `model` on the fixed batch x (train:
  zero_grad / backward / opt.step; infer: under inference_mode, then `outputs`)."""
  import torch

  def train(n):
    model.train()
    for _ in range(n):
      opt.zero_grad(set_to_none=True)
      loss_fn(model(x)).backward()
      opt.step()

  def infer(n):
    model.eval()
    with torch.inference_mode():
      for _ in range(n):
        outputs(model(x))
  return train, infer


def torch_contestants(net, num_aus, levels, data, params, lr=0.01):
  import numpy as np
  import torch
  import torch.nn.functional as F
  model = torch_net(net, num_aus, levels)
  load_flax_params(model, net, params)
  x = torch.from_numpy(np.ascontiguousarray(np.transpose(data["image"], (0, 3, 1, 2))))
  opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
  if net == "gudi":
    target = torch.from_numpy(data["target"])
    loss_fn = lambda out: F.binary_cross_entropy_with_logits(out, target)
  else:
    level = torch.from_numpy(data["level"].astype(np.int64))
    loss_fn = lambda out: -out.gather(-1, level[..., None]).mean()
  state0 = {k: v.clone() for k, v in model.state_dict().items()}
  train, infer = torch_loops(model, opt, x, loss_fn,
                             torch.sigmoid if net == "gudi" else torch.exp)

  def predict_fn():
    m = torch_net(net, num_aus, levels)
    m.load_state_dict(state0)
    m.eval()
    with torch.inference_mode():
      out = m(x)
      return (torch.sigmoid(out) if net == "gudi" else out.exp()).numpy()
  n_params = int(sum(p.numel() for p in model.parameters()))
  train(1)
  infer(1)
  return {"train": train, "predict": infer, "n_params": n_params, "predict_fn": predict_fn}


# --------------------------------------------------------------------------- timing

TIMINGS = ("interleaved", "blocks")


def matmul_fns(n=2048):
  import numpy as np
  import torch
  a = np.random.default_rng(0).standard_normal((n, n), np.float32)
  import jax
  ta = torch.from_numpy(a)
  ja = jax.numpy.asarray(a)
  mm = jax.jit(lambda u, v: u @ v)
  jax.block_until_ready(mm(ja, ja))

  def tt(k):
    for _ in range(k):
      torch.mm(ta, ta)
  return {"jax": common.steps_of(lambda: mm(ja, ja)), "torch": tt}, 2 * n ** 3


def make_data(net, num_aus, levels, batch_size):
  import numpy as np
  rng = np.random.default_rng(0)
  side = 48 if net == "gudi" else 41
  data = {"image": rng.standard_normal((batch_size, side, side, 1)).astype(np.float32)}
  if net == "gudi":
    data["target"] = rng.random((batch_size, num_aus)).astype(np.float32)
  else:
    data["level"] = rng.integers(0, levels, (batch_size, num_aus)).astype(np.int32)
  return data


def run_net(net, args, conv_impls) -> dict:
  import numpy as np
  if net in CONFIG_NETS:
    return run_config_net(net, args, conv_impls)
  flops = net_flops(net, args.num_aus if net == "gudi" else args.num_aus * args.levels)
  bs = args.batch_size or (100 if net == "gudi" else 64)
  data = make_data(net, args.num_aus, args.levels, bs)
  contestants, info = {}, {}
  for impl in conv_impls:
    c = jax_contestants(net, args.num_aus, args.levels, impl, bs, data,
                        donate=not args.no_donate)
    contestants[f"jax_{impl}"] = c
  ref = contestants[f"jax_{conv_impls[0]}"]
  t = torch_contestants(net, args.num_aus, args.levels, data, ref["params"])
  contestants["torch"] = t
  for k, c in contestants.items():
    if c["n_params"] != t["n_params"]:
      raise AssertionError(f"{net}: {k} has {c['n_params']} parameters, torch {t['n_params']}")
  # same function: the predictions of the shared initial parameters agree
  pj = ref["predict_fn"]({k: np.asarray(v) for k, v in data.items()})
  pt = t["predict_fn"]()
  max_diff = float(np.abs(pj - pt).max())
  if max_diff > 1e-4:
    raise AssertionError(f"{net}: jax and torch predictions differ by {max_diff}")
  for impl in conv_impls[1:]:
    d = float(np.abs(contestants[f"jax_{impl}"]["predict_fn"](data) - pj).max())
    info[f"jax_{impl}_vs_jax_{conv_impls[0]}_max_abs_diff"] = d
  out = {"batch_size": bs, "num_params": t["n_params"],
         "flops_per_image_analytic": flops,
         "xla_cost_analysis_train_flops_per_image": ref["xla_flops_train_per_image"],
         "predict_max_abs_diff_jax_torch": max_diff, **info}
  out.update(time_contestants(contestants, flops, bs, args))
  return out


def time_contestants(contestants: dict, flops: dict, bs: int, args) -> dict:
  """{"train": ..., "predict": ...}: img/s, GFLOP/s, every repeat's time and the
  ratio against torch of each contestant, timed as --timing says."""
  out = {}
  for part, steps in (("train", args.steps), ("predict", args.steps * 3)):
    # the contestants ran one call each when they were built (compilation); blocks
    # time each contestant's calls after one more untimed call of its own
    timed = common.time_calls({k: c[part] for k, c in contestants.items()}, steps,
                              args.repeats, warmup=int(args.timing == "blocks"),
                              order=args.timing)
    med = {k: v["s"] for k, v in timed.items()}
    f = flops["train" if part == "train" else "forward"]
    out[part] = {k: {"images_per_s": bs / s, "gflop_per_s": f * bs / s / 1e9,
                     "seconds_per_step": {"median": s, "min": min(timed[k]["each_s"]),
                                          "max": max(timed[k]["each_s"]),
                                          "n": len(timed[k]["each_s"])}}
                 for k, s in med.items()}
    for k in med:
      if k != "torch":
        out[part][k]["ratio_vs_torch"] = med["torch"] / med[k]
  return out


def make_config_data(net, shape, num_aus, batch_size):
  """A fixed synthetic batch. dsin: patches [B, P, S, S, 3] in [-0.5, 0.5]
  (DSINTransform's scale), occurrence {0, 1} [B, A] at per-AU rates in
  [0.05, 0.5] and those rates (L_Pi's balancing); hourglass: images in [0, 1],
  target maps [B, S/4, S/4, A] in [0, 5], mostly small (|d| on both sides of
  Eq. 2's threshold)."""
  import numpy as np
  rng = np.random.default_rng(0)
  if net == "dsin":
    rates = rng.uniform(0.05, 0.5, num_aus)
    occ = (rng.random((batch_size, num_aus)) < rates).astype(np.int32)
    return {"image": rng.uniform(-0.5, 0.5, (batch_size, *shape)).astype(np.float32),
            "occurrence": occ, "pos_rates": occ.mean(0).astype(np.float32)}
  m = shape[0] // 4
  return {"image": rng.random((batch_size, *shape)).astype(np.float32),
          "target": (5.0 * rng.random((batch_size, m, m, num_aus)) ** 4).astype(np.float32)}


def perturbed_statistics(model_state: dict, seed: int = 3) -> dict:
  """model_state with random running statistics (means N(0, 0.5), variances
  U(0.5, 2)): predictions in eval mode then depend on them being copied right."""
  import numpy as np

  from au_jax.train.state import flatten, nest
  rng = np.random.default_rng(seed)
  stats = {k: (rng.normal(0.0, 0.5, v.shape) if k.endswith("mean")
               else rng.uniform(0.5, 2.0, v.shape)).astype(np.float32)
           for k, v in flatten(model_state["batch_stats"]).items()}
  return {**model_state, "batch_stats": nest(stats)}


def run_config_net(net, args, variants) -> dict:
  """dsin / hourglass (CONFIG_NETS): one jax contestant, the config's network."""
  import numpy as np
  module, _, _, shape, bs = config_net(net)
  bs = args.batch_size or bs
  note = (f"--variants ({','.join(variants)}) do not apply to {net}: it has no "
          f"conv_impl / pool_impl switch; the config's network is timed")
  print(f"[versus_torch] {note}", file=sys.stderr)
  num_aus = module.num_aus if net == "dsin" else module.num_maps
  side = shape[-2]
  data = make_config_data(net, shape, num_aus, bs)
  j = jax_contestants(net, num_aus, 0, "", bs, data, donate=not args.no_donate)
  module = j["module"]
  t = torch_config_contestants(net, data, module, j["params"], j["model_state"])
  if j["n_params"] != t["n_params"]:
    raise AssertionError(f"{net}: jax has {j['n_params']} parameters, torch {t['n_params']}")
  # same function: predictions (eval mode) with the initial and with random running
  # statistics, and the initial loss in training mode (batch statistics)
  diffs = {}
  for name, ms in (("initial_stats", None),
                   ("random_stats", perturbed_statistics(j["model_state"]))):
    pj, pt = j["predict_fn"](data, ms), t["predict_fn"](ms)
    for k in pj:
      diffs[f"{name}/{k}"] = float(np.abs(pj[k] - pt[k]).max())
  max_diff = max(diffs.values())
  if max_diff > 1e-4:
    raise AssertionError(f"{net}: jax and torch predictions differ by {max_diff}: {diffs}")
  lj, lt = j["initial_loss"](), t["initial_loss"]()
  if abs(lj - lt) > 1e-4 * max(abs(lj), 1.0):
    raise AssertionError(f"{net}: initial training loss jax {lj} vs torch {lt}")
  flops = net_flops(net, num_aus, module, side)
  out = {"batch_size": bs, "input_shape": list(shape), "num_aus": num_aus,
         "num_params": t["n_params"], "variants_ignored": note,
         "flops_per_image_analytic": flops,
         "xla_cost_analysis_train_flops_per_image": j["xla_flops_train_per_image"],
         "predict_max_abs_diff_jax_torch": max_diff, "predict_max_abs_diff_by_output": diffs,
         "initial_train_loss": {"jax": lj, "torch": lt}}
  if net == "dsin":
    import jax
    looped = module.patch_conv == "looped" or (module.patch_conv == "auto"
                                               and jax.default_backend() == "cpu")
    out["patch_conv"] = f"{module.patch_conv} ({'looped' if looped else 'grouped'})"
  out.update(time_contestants({"jax": j, "torch": t}, flops, bs, args))
  return out


def child(args) -> dict:
  import jax
  import numpy as np
  import torch
  torch.set_num_threads(args.threads)
  load0 = os.getloadavg()
  from au_jax import host_memory
  res = {"jax_version": jax.__version__, "torch_version": torch.__version__,
         "host_memory": host_memory.status(),
         "xla_flags": os.environ.get("XLA_FLAGS", ""),
         "au_jax_cpu_conv": os.environ.get("AU_JAX_CPU_CONV", "eigen"), "threads": args.threads,
         "torch_threads": torch.get_num_threads(), "timing": args.timing,
         "load_average_before": load0}
  fns, fl = matmul_fns()
  med = common.time_calls(fns, 3, args.repeats, warmup=0)
  res["matmul_2048_gflop_per_s"] = {k: fl / v["s"] / 1e9 for k, v in med.items()}
  impls = args.variants.split(",")
  for net in args.nets.split(","):
    res[net] = run_net(net, args, impls)
    peak = res["matmul_2048_gflop_per_s"]["jax"]
    for k, v in res[net]["train"].items():
      if k.startswith("jax"):
        v["fraction_of_jax_matmul_peak"] = v["gflop_per_s"] / peak
  res["load_average_after"] = os.getloadavg()
  del np
  return res


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--nets", default="gudi,ccnn", help="comma-separated: gudi, ccnn, dsin, hourglass")
  p.add_argument("--variants", default="xla:xla,xla:mask,im2col:mask",
                 help="jax lowerings CONV:POOL, comma-separated (see variant_kwargs); the first "
                      "is the reference the others are compared with")
  p.add_argument("--num_aus", type=int, default=12, help="gudi, ccnn (dsin, hourglass: the configs')")
  p.add_argument("--levels", type=int, default=6, help="ccnn")
  p.add_argument("--batch_size", type=int, default=0,
                 help="0 = the net's (gudi 100, ccnn 64; dsin, hourglass: the configs' 64, 32)")
  p.add_argument("--steps", type=int, default=3, help="train steps per timed call (predict: 3x)")
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--timing", choices=TIMINGS, default="interleaved",
                 help="interleaved: each repeat runs every contestant once (order rotated); "
                      "blocks: each contestant's repeats back to back (two rounds, the second "
                      "in reverse order), so no call follows the other framework's")
  p.add_argument("--threads", type=int, default=os.cpu_count())
  p.add_argument("--no_donate", action="store_true", help="jit the train step without donation")
  p.add_argument("--xla_flag_sets", default="",
                 help="'name=FLAGS;name=FLAGS': run one child process per set (XLA_FLAGS is "
                      "read when the backend starts), each with its own torch baseline; a "
                      "token without '--' is an environment variable, e.g. "
                      "'xla_convs=AU_JAX_CPU_CONV=xla;eigen_convs='")
  p.add_argument("--out", default="")
  p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
  args = p.parse_args()
  try:
    import torch  # noqa: F401
  except ImportError:
    sys.exit("versus_torch: PyTorch is not installed (it is never a dependency of au-jax); "
             "pip install torch to run this comparison")
  if args.child or not args.xla_flag_sets:
    result = child(args)
  else:
    result = {}
    passthrough = [a for a in sys.argv[1:] if not a.startswith(("--xla_flag_sets", "--out"))]
    for item in args.xla_flag_sets.split(";"):
      name, _, flags = item.partition("=")
      # tokens without a leading "--" are environment variables (AU_JAX_CPU_CONV=xla)
      env_vars = dict(t.split("=", 1) for t in flags.split() if not t.startswith("--"))
      flags = " ".join(t for t in flags.split() if t.startswith("--"))
      env = {**{k: v for k, v in os.environ.items() if k != "AU_JAX_CPU_CONV"},
             "XLA_FLAGS": flags, **env_vars}
      proc = subprocess.run([sys.executable, "-m", "benchmarks.versus_torch", "--child",
                             *passthrough, "--out=-"], env=env, cwd=common.ROOT,
                            capture_output=True, text=True, check=False)
      if proc.returncode:
        result[name] = {"error": proc.stderr[-2000:]}
      else:
        result[name] = json.loads(proc.stdout.split("=== JSON ===")[-1])
  result.update(host=platform.node(), cpu_count=os.cpu_count(), command=common.command())
  text = json.dumps(result, indent=1)
  print("=== JSON ===\n" + text if args.child else text)
  if args.out and args.out != "-":
    common.write_json(args.out, result)


if __name__ == "__main__":
  main()
