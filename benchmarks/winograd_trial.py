r"""Winograd convolutions written in JAX against XLA:CPU's own (issue 14, a trial).

  python benchmarks/winograd_trial.py --out=benchmarks/results/winograd_trial.json

The CCNN trunk's 1.5x-PyTorch targets need more FLOP/s than this machine's
matmul rate (README, "Speed"), so only a convolution that does fewer
multiplications could meet them. This tries Winograd's minimal filtering
F(m x m, 5 x 5) (Lavin & Gray 2016) for the trunk's second and third layers
(5x5, SAME, stride 1), m = 2 (points 0, +-1, +-2, inf: 36 products per 4
outputs instead of 100) and m = 4 (also +-1/2: 64 per 16 instead of 400):
A^T and G from the Cook-Toom construction, B^T solved exactly from
A^T diag(G g) B^T d = the correlation; input tiles from strided slices, the
transforms unrolled without their zero terms (XLA fuses them), the products as
one batched dot over the a x a tile positions; gradients by jax.grad through
all of it. It reports, per layer and m, the jitted forward and forward +
backward times (median of 7) beside XLA:CPU's convolution and the relative
errors of output and gradients against it. Not used by any model.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import au_jax  # noqa: E402,F401  (its XLA:CPU options, before JAX starts)
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

def matrices(m, r, pts):
  """A^T [m, a], G [a, r], B^T [a, a] of F(m, r) with the finite points `pts` and inf."""
  a = m + r - 1
  AT, G = np.zeros((m, a)), np.zeros((a, r))
  for j, p in enumerate(pts):
    AT[:, j] = [p ** i for i in range(m)]
    f = np.prod([p - q for q in pts if q != p])
    G[j] = [p ** k / f for k in range(r)]
  AT[m - 1, a - 1] = G[a - 1, r - 1] = 1
  # B^T solves sum_j AT[i, j] G[j, k] BT[j, l] = [l == i + k] exactly
  rows, rhs = [], []
  for i in range(m):
    for k in range(r):
      for l in range(a):
        row = np.zeros((a, a))
        row[:, l] = AT[i] * G[:, k]
        rows.append(row.ravel())
        rhs.append(float(l == i + k))
  BT = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]
  assert np.abs(np.array(rows) @ BT - rhs).max() < 1e-9, "no exact B^T"
  return AT, G, BT.reshape(a, a)


def lin(mat, xs):
  """[sum_u mat[i, u] xs[u] for each row i], the zero terms left out (unrolled)."""
  out = []
  for row in mat:
    acc = None
    for c, x in zip(row, xs):
      if abs(c) < 1e-12:
        continue
      t = x if c == 1 else (-x if c == -1 else x * np.float32(c))
      acc = t if acc is None else acc + t
    out.append(acc)
  return out


def transform(mat, grid):
  """out[i][j] = sum_uv mat[i, u] mat[j, v] grid[u][v] (mat . grid . mat^T), unrolled."""
  cols = [lin(mat, [row[v] for row in grid]) for v in range(len(grid[0]))]   # cols[v][i]
  return [lin(mat, [col[i] for col in cols]) for i in range(len(mat))]


def wino_conv(x, w, m, mats):
  """SAME, stride-1 correlation of x [N, H, W, C] with w [r, r, C, O] by F(m x m, r x r)."""
  AT, G, BT = mats
  r, o = w.shape[0], w.shape[-1]
  a = m + r - 1
  n, h, wd, c = x.shape
  th, tw = -(-h // m), -(-wd // m)
  p = r // 2
  xp = jnp.pad(x, ((0, 0), (p, th * m + r - 1 - h - p), (p, tw * m + r - 1 - wd - p), (0, 0)))
  tiles = [[xp[:, u:u + m * th:m, v:v + m * tw:m, :] for v in range(a)] for u in range(a)]
  V = jnp.stack([v for row in transform(BT, tiles) for v in row]).reshape(a * a, -1, c)
  g = jnp.asarray(G, jnp.float32)
  U = jnp.einsum("au,uvio,bv->abio", g, w, g).reshape(a * a, c, o)
  M = jax.lax.dot_general(V, U, (((2,), (1,)), ((0,), (0,))))   # [a*a, N*T*T, O]
  Y = transform(AT, [[M[i * a + j] for j in range(a)] for i in range(a)])
  Y = jnp.stack([jnp.stack(row) for row in Y])                    # [m, m, N*T*T, O]
  Y = Y.reshape(m, m, n, th, tw, o).transpose(2, 3, 0, 4, 1, 5).reshape(n, th * m, tw * m, o)
  return Y[:, :h, :wd, :]


def ref_conv(x, w):
  return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

def timeit(fn, *args, n=7):
  jax.block_until_ready(fn(*args)); ts = []
  for _ in range(n):
    t = time.perf_counter(); jax.block_until_ready(fn(*args)); ts.append(time.perf_counter() - t)
  return 1e3 * float(np.median(ts))

def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--out", default="")
  args = ap.parse_args()
  cfgs = {2: [0, 1, -1, 2, -2], 4: [0, 1, -1, 2, -2, 0.5, -0.5]}
  rng = np.random.default_rng(0)
  result = {"command": "python " + " ".join(sys.argv), "load_average_before": os.getloadavg(),
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "layers": {}}
  for name, shape, cout in (("ccnn_conv2", (64, 20, 20, 32), 64),
                            ("ccnn_conv3", (64, 10, 10, 64), 128)):
    x = rng.standard_normal(shape).astype(np.float32)
    w = (rng.standard_normal((5, 5, shape[-1], cout)) * 0.05).astype(np.float32)
    xj, wj = jnp.asarray(x), jnp.asarray(w)
    f_ref = jax.jit(ref_conv)
    g_ref = jax.jit(jax.grad(lambda x, w: jnp.sum(ref_conv(x, w) ** 2), argnums=(0, 1)))
    ref = np.asarray(f_ref(xj, wj))
    entry = {"input": list(shape), "out_channels": cout,
             "xla": {"forward_ms": timeit(f_ref, xj, wj), "forward_backward_ms": timeit(g_ref, xj, wj)}}
    for m, pts in cfgs.items():
      mats = matrices(m, 5, pts)
      f = jax.jit(lambda x, w, m=m, mats=mats: wino_conv(x, w, m, mats))
      g = jax.jit(jax.grad(lambda x, w, m=m, mats=mats: jnp.sum(wino_conv(x, w, m, mats) ** 2),
                           argnums=(0, 1)))
      err = float(np.abs(np.asarray(f(xj, wj)) - ref).max() / np.abs(ref).max())
      gerr = max(float(np.abs(np.asarray(u) - np.asarray(v)).max() / np.abs(np.asarray(v)).max())
                 for u, v in zip(g(xj, wj), g_ref(xj, wj)))
      entry[f"winograd_F{m}x{m}"] = {
          "forward_ms": timeit(f, xj, wj), "forward_backward_ms": timeit(g, xj, wj),
          "output_max_rel_error_vs_xla": err, "gradient_max_rel_error_vs_xla": gerr}
    result["layers"][name] = entry
    print(name, json.dumps(entry), flush=True)
  result["load_average_after"] = os.getloadavg()
  if args.out:
    from au_jax.io import atomic_write
    atomic_write(args.out, json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
  main()
