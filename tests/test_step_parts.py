"""benchmarks/step_parts.py finds every convolution and matrix product of a
train step's jaxpr (autodiff's input and weight gradients included), its
FLOP count equals a hand count, and each product runs alone."""
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import step_parts


def _conv(x, k):
  return jax.lax.conv_general_dilated(x, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _loss(params, x):
  h = jax.nn.relu(_conv(x, params["k1"]))                 # 2x8x8x3 -> 2x6x6x4
  h = jax.nn.relu(_conv(h, params["k2"]))                 # -> 2x5x5x6
  return jnp.sum(h.reshape(2, -1) @ params["w"])          # 150 -> 7


def _setup():
  r = np.random.default_rng(0)
  params = {"k1": jnp.asarray(r.standard_normal((3, 3, 3, 4)), jnp.float32),
            "k2": jnp.asarray(r.standard_normal((2, 2, 4, 6)), jnp.float32),
            "w": jnp.asarray(r.standard_normal((150, 7)), jnp.float32)}
  return params, jnp.asarray(r.standard_normal((2, 8, 8, 3)), jnp.float32)


def test_finds_forward_and_both_gradients_with_hand_counted_flops():
  params, x = _setup()
  grad_step = jax.jit(jax.grad(_loss))              # nested: the pjit's jaxpr is walked
  eqns = step_parts.heavy_equations(jax.make_jaxpr(grad_step)(params, x))
  names = sorted(e.primitive.name for e in eqns)
  # forward: 2 convs + 1 dot; backward: dW of both convs, dX of the second (the
  # first's input gradient is not needed), dW and dX of the dot
  assert names == ["conv_general_dilated"] * 5 + ["dot_general"] * 3
  c1 = 2 * (2 * 6 * 6 * 4) * (3 * 3 * 3)
  c2 = 2 * (2 * 5 * 5 * 6) * (2 * 2 * 4)
  d = 2 * 2 * 150 * 7
  # each gradient product does the multiply-adds of its forward product (dX of
  # conv 2 counts its padded full convolution: 2x6x6x4 outputs x 2x2x6 taps)
  dx2 = 2 * (2 * 6 * 6 * 4) * (2 * 2 * 6)
  assert sum(step_parts.equation_flops(e) for e in eqns) == 2 * c1 + 2 * c2 + dx2 + 3 * d


def test_time_equation_runs_each_product_alone_and_reports_its_rate():
  params, x = _setup()
  eqns = step_parts.heavy_equations(jax.make_jaxpr(jax.grad(_loss))(params, x))
  for i, eqn in enumerate(eqns):
    r = step_parts.time_equation(eqn, calls=2, warmup=1, seed=i)
    assert r["op"].startswith(eqn.primitive.name)
    assert r["flops"] == step_parts.equation_flops(eqn)
    assert len(r["ms_each_call"]) == 2 and r["ms"] > 0
    np.testing.assert_allclose(r["gflop_per_s"], r["flops"] / r["ms"] / 1e6)


def test_products_inside_a_scan_count_its_length_and_inside_a_while_none():
  w = jnp.ones((4, 4), jnp.float32)

  def f(x):
    def body(c, _):
      return c @ w, jax.lax.scan(lambda d, _: (d @ w, None), c, None, length=3)[0]
    x, _ = jax.lax.scan(body, x, None, length=5)
    x = jax.lax.while_loop(lambda c: c[0, 0] < 0, lambda c: c @ w, x)
    return x @ w
  found = step_parts.heavy_equations(jax.make_jaxpr(f)(jnp.ones((2, 4))), with_counts=True)
  assert sorted((n is None, n or 0) for _, n in found) == [(False, 1), (False, 5), (False, 15),
                                                           (True, 0)]
