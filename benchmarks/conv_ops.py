r"""One convolution at a time: forward, input gradient and weight gradient, jax vs PyTorch (issue 14).

  python benchmarks/conv_ops.py --out=benchmarks/results/conv_ops_eigen.json
  AU_JAX_CPU_CONV=xla python benchmarks/conv_ops.py --out=benchmarks/results/conv_ops_ynn.json

The convolution layers of the FERA 2015 CNN (g1-g3, batch 100) and of the
CCNN trunk (c1-c3, batch 64, the synthetic config's 5x5 kernels), SAME
padding, float32: each of the three parts jitted alone
(lax.conv_general_dilated and its two VJPs) and the same three in PyTorch
(F.conv2d, torch.nn.grad.conv2d_input / conv2d_weight), jax and torch
interleaved per part (versus_torch.interleaved: order rotated per repeat),
median of --repeats timings of --calls calls each, in milliseconds.
XLA:CPU's convolution path is au_jax's (au_jax/xla_options.py: Eigen unless
AU_JAX_CPU_CONV=xla), read when JAX starts. torch is only used here, never
by the package.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import au_jax  # noqa: E402,F401  (its XLA:CPU options, before JAX starts a backend)
from benchmarks.versus_torch import interleaved  # noqa: E402

# name: (batch, height, width, C_in, C_out, kernel side)
LAYERS = {"g1": (100, 48, 48, 1, 64, 5), "g2": (100, 22, 22, 64, 64, 5),
          "g3": (100, 18, 18, 64, 128, 4), "c1": (64, 41, 41, 1, 32, 5),
          "c2": (64, 19, 19, 32, 64, 5), "c3": (64, 8, 8, 64, 128, 5)}


def measure(name: str, calls: int, repeats: int) -> dict:
  import jax
  import numpy as np
  import torch
  b, h, w, cin, cout, k = LAYERS[name]
  rng = np.random.default_rng(0)
  x = jax.numpy.asarray(rng.standard_normal((b, h, w, cin), np.float32))
  kernel = jax.numpy.asarray(rng.standard_normal((k, k, cin, cout), np.float32) * 0.05)
  conv = lambda x, kernel: jax.lax.conv_general_dilated(   # noqa: E731
      x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  g = jax.numpy.ones_like(conv(x, kernel))
  fwd = jax.jit(conv)
  dx = jax.jit(lambda x, kernel, g: jax.vjp(lambda x: conv(x, kernel), x)[1](g)[0])
  dw = jax.jit(lambda x, kernel, g: jax.vjp(lambda kernel: conv(x, kernel), kernel)[1](g)[0])
  xt = torch.from_numpy(np.asarray(x).transpose(0, 3, 1, 2).copy())
  wt = torch.from_numpy(np.asarray(kernel).transpose(3, 2, 0, 1).copy())
  pad = ((k - 1) // 2, k // 2)          # lax's SAME: the extra row/column at the end
  xt_padded = torch.nn.functional.pad(xt, (pad[0], pad[1], pad[0], pad[1]))
  gt = torch.ones_like(torch.nn.functional.conv2d(xt_padded, wt))
  with torch.inference_mode():
    np.testing.assert_allclose(torch.nn.functional.conv2d(xt_padded, wt).numpy().transpose(0, 2, 3, 1),
                               np.asarray(fwd(x, kernel)), rtol=1e-4, atol=1e-4)
  parts = {
      "forward": (lambda: fwd(x, kernel).block_until_ready(),
                  lambda: torch.nn.functional.conv2d(xt_padded, wt)),
      "input_gradient": (lambda: dx(x, kernel, g).block_until_ready(),
                         lambda: torch.nn.grad.conv2d_input(xt_padded.shape, wt, gt)),
      "weight_gradient": (lambda: dw(x, kernel, g).block_until_ready(),
                          lambda: torch.nn.grad.conv2d_weight(xt_padded, wt.shape, gt)),
  }
  out = {"shape_bhwc_cout_k": [b, h, w, cin, cout, k]}
  with torch.no_grad():
    for part, (jax_fn, torch_fn) in parts.items():
      fns = {"jax": jax_fn, "torch": torch_fn}
      for fn in fns.values():
        fn()                                  # compile / warm up
      med, _ = interleaved({name: lambda n, fn=fn: [fn() for _ in range(n)]
                            for name, fn in fns.items()}, calls, repeats)
      out[part] = {"jax_ms": med["jax"] * 1e3, "torch_ms": med["torch"] * 1e3}
      out[part]["jax_over_torch"] = out[part]["jax_ms"] / out[part]["torch_ms"]
  return out


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--layers", default=",".join(LAYERS))
  p.add_argument("--calls", type=int, default=3)
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--threads", type=int, default=os.cpu_count())
  p.add_argument("--out", default="")
  args = p.parse_args()
  try:
    import torch
  except ImportError:
    sys.exit("conv_ops: PyTorch is not installed (it is never a dependency of au-jax); "
             "pip install torch to run this comparison")
  torch.set_num_threads(args.threads)
  import jax
  result = {"command": "python " + " ".join(sys.argv),
            "au_jax_cpu_conv": os.environ.get("AU_JAX_CPU_CONV", "eigen"),
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "jax_version": jax.__version__,
            "torch_version": torch.__version__, "threads": args.threads,
            "load_average_before": os.getloadavg(), "layers": {}}
  for name in args.layers.split(","):
    result["layers"][name] = measure(name, args.calls, args.repeats)
    print(name, json.dumps(result["layers"][name]), flush=True)
  result["load_average_after"] = os.getloadavg()
  if args.out:
    from au_jax.io import atomic_write
    atomic_write(args.out, json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
  main()
