r"""Side by side: au-jax's jitted steps against the SAME networks in PyTorch (issue 14).

  python benchmarks/versus_torch.py --out=benchmarks/results/versus_torch.json
  python benchmarks/versus_torch.py --nets=gudi --variants=xla:xla,im2col+xla+xla:mask
  python benchmarks/versus_torch.py --xla_flag_sets='default=;ynn_conv=--xla_cpu_...'  # one child per set

PyTorch is only used here, never by the package: without `import torch` the
script says so and stops. One process measures, INTERLEAVED (each repeat runs
every contestant once, the order rotated per repeat; the medians are
reported), so that a background load on the machine hits both sides alike and
the ratios stay meaningful when the absolute numbers do not:

  networks   gudi  FERA 2015 CNN (au_jax.models.gudi.GudiCNN), batch 100 x 48x48x1,
                   sigmoid cross-entropy on A outputs (the method's loss);
             ccnn  CCNN trunk (au_jax.models.ccnn.model.CCNN, variant "cnn":
                   CCNNBackbone + the per-AU softmax output), the ccnn_synthetic
                   config's network (5x5 kernels, 32/64/128 filters, FC 128) at its
                   batch 64 x 41x41x1 (48x48 input, 85% crop), NLL of the levels.
  train      forward + backward + SGD with momentum 0.9 (the configs' optimiser).
             jax: au_jax.train.steps.make_train_step (the engine's jitted step,
             state donated); torch: eager, zero_grad / backward / SGD.step.
  predict    jax: jitted apply + the output non-linearity; torch: eager under
             inference_mode.
  matmul     2048 x 2048 float32 product on each side, as the machine's peak.

FLOPs are counted analytically (2 * multiply-adds of the convolutions and
dense layers; a train step = forward + weight gradients + input gradients of
every layer but the first; LCN, pooling, activations and the update are left
out), the same count for both sides; XLA's own count of the compiled step
(`compiled.cost_analysis()["flops"]`) is reported beside it.

Both sides are float32 and use the same thread count (`--threads`, default
all cores): torch.set_num_threads(n); XLA:CPU's intra-op pool has one thread
per core. The torch network gets the jax network's initial parameters
(parameter counts asserted equal, predictions compared) so the two compute the
same function. The load average before and after is written with the numbers.

`--variants` runs several jax lowerings of the same network side by side
(au_jax.models.layers_fast: "CONV:POOL", e.g. xla:xla = nn.Conv + nn.max_pool,
im2col:mask); `--no_donate` jits the step without donating the state;
`--xla_flag_sets` runs one child process per XLA_FLAGS setting (each against
its own torch baseline, since the flags are read when the backend starts);
`--batch_size` overrides the net's batch.

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
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HERE = os.path.dirname(os.path.abspath(__file__))


# --------------------------------------------------------------------------- FLOPs

def conv_flops(h_out, w_out, k, c_in, c_out):
  return 2 * h_out * w_out * k * k * c_in * c_out


def net_flops(net: str, num_outputs: int) -> dict:
  """Analytic FLOPs per image: forward, and train (fwd + dW + dX but the first layer's dX)."""
  if net == "gudi":   # 48 -> conv5 44 -> pool 22 -> conv5 18 -> conv4 15; FC 28800 -> 3072
    layers = [conv_flops(44, 44, 5, 1, 64), conv_flops(18, 18, 5, 64, 64),
              conv_flops(15, 15, 4, 64, 128), 2 * 15 * 15 * 128 * 3072, 2 * 3072 * num_outputs]
  elif net == "ccnn":  # 41 -> 41 pool 20 -> 20 pool 10 -> 10 pool 5; FC 3200 -> 128
    layers = [conv_flops(41, 41, 5, 1, 32), conv_flops(20, 20, 5, 32, 64),
              conv_flops(10, 10, 5, 64, 128), 2 * 5 * 5 * 128 * 128, 2 * 128 * num_outputs]
  else:
    raise ValueError(net)
  fwd = sum(layers)
  return {"forward": fwd, "train": 3 * fwd - layers[0]}


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
  txs = {"all": optax.sgd(lr, momentum=0.9)}
  flat = flatten(variables["params"])
  labels = {k: "all" for k in flat}
  state = init_state({"params": variables["params"]}, txs, labels)
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
  except Exception as e:  # noqa: BLE001 - a count is a nicety, the timing is the point
    print(f"[versus_torch] cost_analysis failed: {e}", file=sys.stderr)
  holder = [state]

  def train(n):
    for _ in range(n):
      holder[0], m = step(holder[0], batch, key)
    jax.block_until_ready(m["loss"])

  pred = jax.jit(lambda p, b: predict({"params": p}, b))
  p0 = holder[0].params

  def infer(n):
    from au_jax.train.state import nest
    p = nest(holder[0].params)
    for _ in range(n):
      out = pred(p, batch)
    jax.block_until_ready(out)
  train(1)
  infer(1)     # compile
  n_params = int(sum(np.prod(v.shape) for v in p0.values()))
  return {"train": train, "predict": infer, "params": params, "n_params": n_params,
              "xla_flops_train_per_image": xla_flops,
              "predict_fn": lambda b: np.asarray(pred(jax.tree.map(jax.numpy.asarray, params), b))}


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


def load_flax_params(model, net: str, params) -> None:
  """Copy the jax network's parameters in (HWIO -> OIHW; the first FC's rows from
  NHWC-flatten to NCHW-flatten order) so both sides compute the same function."""
  import numpy as np
  import torch
  sd = {}
  conv = (lambda i: f"conv{i + 1}") if net == "gudi" else (lambda i: f"convs.{i}")
  tree = params if net == "gudi" else params["backbone"]
  for i in range(3):
    p = tree[f"conv{i + 1}"]
    sd[f"{conv(i)}.weight"] = np.transpose(p["kernel"], (3, 2, 0, 1))
    sd[f"{conv(i)}.bias"] = p["bias"]
  h, c = (15, 128) if net == "gudi" else (5, 128)
  fc = tree["fc"]["kernel"]                                  # [(h, w, c), out]
  fc = fc.reshape(h, h, c, -1).transpose(2, 0, 1, 3).reshape(h * h * c, -1)
  sd["fc.weight"], sd["fc.bias"] = fc.T, tree["fc"]["bias"]
  head = "out" if net == "gudi" else "unary"
  sd[f"{head}.weight"], sd[f"{head}.bias"] = params[head]["kernel"].T, params[head]["bias"]
  state = {k: torch.from_numpy(np.array(v, np.float32)) for k, v in sd.items()}
  for k in model.state_dict():
    if k not in state and not k.startswith("lcn."):
      raise KeyError(k)
  model.load_state_dict({**model.state_dict(), **state})


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
        out = model(x)
        out = torch.sigmoid(out) if net == "gudi" else out.exp()

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

def interleaved(fns: dict, steps: int, repeats: int) -> dict:
  """Median seconds per call of each fn(steps), the calls interleaved, order rotated."""
  import numpy as np
  names = list(fns)
  times = {k: [] for k in names}
  for r in range(repeats):
    order = names[r % len(names):] + names[:r % len(names)]
    for k in order:
      t = time.perf_counter()
      fns[k](steps)
      times[k].append((time.perf_counter() - t) / steps)
  return {k: float(np.median(v)) for k, v in times.items()}, times


def jax_matmul_fn(a, dtype=None):
  """run(k): k jitted a @ a products in `dtype` (a's own when None), then a
  block on the last; compiled before it is returned."""
  import jax
  ja = jax.numpy.asarray(a, dtype)
  mm = jax.jit(lambda u, v: u @ v)
  jax.block_until_ready(mm(ja, ja))

  def run(k):
    for _ in range(k):
      out = mm(ja, ja)
    jax.block_until_ready(out)
  return run


def matmul_fns(n=2048):
  import numpy as np
  import torch
  a = np.random.default_rng(0).standard_normal((n, n), np.float32)
  ta = torch.from_numpy(a)
  jx = jax_matmul_fn(a)

  def tt(k):
    for _ in range(k):
      torch.mm(ta, ta)
  return {"jax": jx, "torch": tt}, 2 * n ** 3


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
  for part, steps in (("train", args.steps), ("predict", args.steps * 3)):
    med, raw = interleaved({k: c[part] for k, c in contestants.items()}, steps, args.repeats)
    f = flops["train" if part == "train" else "forward"]
    out[part] = {k: {"images_per_s": bs / s, "gflop_per_s": f * bs / s / 1e9,
                     "seconds_per_step_all_repeats": [round(x, 5) for x in raw[k]]}
                 for k, s in med.items()}
    for k in med:
      if k != "torch":
        out[part][k]["ratio_vs_torch"] = med["torch"] / med[k]
  return out


def child(args) -> dict:
  import au_jax  # noqa: F401  (its XLA:CPU options: before JAX starts its backend)
  import jax
  import numpy as np
  import torch
  torch.set_num_threads(args.threads)
  load0 = os.getloadavg()
  res = {"jax_version": jax.__version__, "torch_version": torch.__version__,
         "xla_flags": os.environ.get("XLA_FLAGS", ""),
         "au_jax_cpu_conv": os.environ.get("AU_JAX_CPU_CONV", "eigen"), "threads": args.threads,
         "torch_threads": torch.get_num_threads(), "load_average_before": load0}
  fns, fl = matmul_fns()
  med, _ = interleaved(fns, 3, args.repeats)
  res["matmul_2048_gflop_per_s"] = {k: fl / s / 1e9 for k, s in med.items()}
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
  p.add_argument("--nets", default="gudi,ccnn")
  p.add_argument("--variants", default="xla:xla,xla:mask,im2col:mask",
                 help="jax lowerings CONV:POOL, comma-separated (see variant_kwargs); the first "
                      "is the reference the others are compared with")
  p.add_argument("--num_aus", type=int, default=12)
  p.add_argument("--levels", type=int, default=6)
  p.add_argument("--batch_size", type=int, default=0, help="0 = the net's (100 / 64)")
  p.add_argument("--steps", type=int, default=3, help="train steps per timed call (predict: 3x)")
  p.add_argument("--repeats", type=int, default=5)
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
      proc = subprocess.run([sys.executable, __file__, "--child", *passthrough, "--out=-"],
                            env=env, capture_output=True, text=True, check=False)
      if proc.returncode:
        result[name] = {"error": proc.stderr[-2000:]}
      else:
        result[name] = json.loads(proc.stdout.split("=== JSON ===")[-1])
  result.update(host=platform.node(), cpu_count=os.cpu_count(),
                command="python " + " ".join(sys.argv))
  text = json.dumps(result, indent=1)
  print("=== JSON ===\n" + text if args.child else text)
  if args.out and args.out != "-":
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
      f.write(text + "\n")


if __name__ == "__main__":
  main()
