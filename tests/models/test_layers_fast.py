"""layers_fast: every lowering gives the plain layer's outputs and gradients (1e-5)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from au_jax.models import layers_fast as L
from au_jax.models.ccnn.model import CCNNBackbone
from au_jax.models.gudi.model import GudiCNN

TOL = {"rtol": 1e-5, "atol": 1e-5}


def _assert_close(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), **TOL)


@pytest.mark.parametrize("impl", ["im2col", "nchw", "patches"])
@pytest.mark.parametrize("k,padding", [(3, "VALID"), (4, "SAME")])
def test_conv2d_matches_lax_conv_and_its_gradients(impl, k, padding):
  rng = np.random.default_rng(k)
  x = jnp.asarray(rng.standard_normal((2, 9, 8, 3)), jnp.float32)
  w = jnp.asarray(rng.standard_normal((k, k, 3, 4)) * 0.3, jnp.float32)
  g = jnp.asarray(rng.standard_normal((2, 9 - k + 1, 8 - k + 1, 4) if padding == "VALID"
                                      else (2, 9, 8, 4)), jnp.float32)

  @jax.jit
  def out_and_grads(x, w):
    return [jax.value_and_grad(lambda x, w, i=i: jnp.sum(L.conv2d(x, w, padding, i) * g), (0, 1))(x, w)
            + (L.conv2d(x, w, padding, i),) for i in (impl, "xla")]
  fast, plain = out_and_grads(x, w)
  _assert_close(fast, plain)


@pytest.mark.parametrize("window,strides,padding,size", [((3, 3), (2, 2), "SAME", 9),
                                                         ((2, 2), (2, 2), "VALID", 9),
                                                         ((3, 3), (1, 1), "SAME", 6),
                                                         ((3, 3), (2, 2), "SAME", 10),
                                                         ((3, 2), (2, 3), "VALID", 10)])
def test_max_pool_gradient_matches_nn_max_pool_with_ties(window, strides, padding, size):
  rng = np.random.default_rng(0)
  x = rng.standard_normal((2, size, size, 3)).astype(np.float32)
  x = np.maximum(x, 0.0)            # after a ReLU: windows of tied zeros
  x[0, :3, :3, 0] = 1.5             # a tie of positive maxima
  x = jnp.asarray(x)
  y = nn.max_pool(x, window, strides=strides, padding=padding)
  g = jnp.asarray(rng.standard_normal(y.shape), jnp.float32)

  @jax.jit
  def out_and_grad(x):
    plain = lambda x: nn.max_pool(x, window, strides=strides, padding=padding)
    mask = lambda x: L.max_pool(x, window, strides, padding)
    return [(f(x), jax.grad(lambda x, f=f: jnp.sum(f(x) * g))(x)) for f in (mask, plain)]
  (y_mask, g_mask), (y_plain, g_plain) = out_and_grad(x)
  np.testing.assert_array_equal(y_mask, y_plain)
  np.testing.assert_allclose(g_mask, g_plain, **TOL)   # the same element of a tie gets it


def _assert_same_network(plain, fast, x, **kw):
  """Fast and plain modules: same parameter tree; same outputs and gradients at plain's init."""
  assert jax.tree.structure(jax.eval_shape(lambda: plain.init(jax.random.PRNGKey(0), x, **kw))) \
      == jax.tree.structure(jax.eval_shape(lambda: fast.init(jax.random.PRNGKey(0), x, **kw)))

  @jax.jit   # one compilation: XLA:CPU compiles are the cost of this test
  def out_and_grads(x):
    p = plain.init(jax.random.PRNGKey(0), x, **kw)["params"]
    return [jax.value_and_grad(lambda p, m=m: jnp.sum(jnp.sin(m.apply({"params": p}, x, **kw))))(p)
            + (m.apply({"params": p}, x, **kw),) for m in (fast, plain)]
  got, want = out_and_grads(x)
  _assert_close(got, want)


def test_conv_layer_has_nn_conv_parameters_and_initial_values():
  x = jnp.ones((1, 6, 6, 2))
  init = jax.jit(lambda x: [m.init(jax.random.PRNGKey(3), x) for m in (
      nn.Conv(4, (3, 3), padding="SAME"), L.Conv(4, (3, 3), padding="SAME", impl="im2col"))])
  plain, fast = init(x)
  assert jax.tree.structure(plain) == jax.tree.structure(fast)
  _assert_close(fast, plain)


@pytest.mark.slow
def test_gudi_cnn_fast_lowering_is_the_same_function():
  x = jnp.asarray(np.random.default_rng(1).standard_normal((2, 16, 16, 1)), jnp.float32)
  kw = {"num_outputs": 3, "features": (4, 4, 8), "kernels": (5, 3, 2), "fc_units": 8, "lcn": False}
  _assert_same_network(GudiCNN(**kw, pool_impl="xla"),
                       GudiCNN(**kw, conv_impl=("im2col", "im2col", "xla"), pool_impl="mask"),
                       x, train=False)


def test_ccnn_backbone_fast_lowering_is_the_same_function():
  x = jnp.asarray(np.random.default_rng(2).standard_normal((2, 13, 13, 1)), jnp.float32)
  kw = {"features": (4, 6, 8), "kernel": 3, "fc_units": 8}
  _assert_same_network(CCNNBackbone(**kw, pool_impl="xla"),
                       CCNNBackbone(**kw, conv_impl="im2col", pool_impl="mask"), x)


def test_unknown_impl_fails_naming_the_choices():
  with pytest.raises(ValueError, match="im2col"):
    L.conv_impls("fast", 3)
  with pytest.raises(ValueError, match="3 of them"):
    L.conv_impls(("xla", "im2col"), 3)
  with pytest.raises(ValueError, match="mask"):
    L.pool_layer(jnp.zeros((1, 4, 4, 1)), (2, 2), (2, 2), "VALID", "argmax")


def _nn_max_pool(x, window, strides, padding):
  return nn.max_pool(x, tuple(window), strides=tuple(strides), padding=padding)


@pytest.mark.parametrize("which", [pytest.param("hourglass", marks=pytest.mark.slow),
                                   "multilabel"])
def test_networks_pooling_with_the_mask_gradient_are_the_nn_max_pool_networks(which, monkeypatch):
  """The hourglass and the multi-label CNN pool with layers_fast.max_pool: with
  nn.max_pool put back, the same outputs and gradients (ties of ReLU zeros included)."""
  from au_jax.models.heatmaps import network as hm_network
  from au_jax.models.multilabel import model as ml_model
  rng = np.random.default_rng(4)
  if which == "hourglass":
    module, owner = hm_network.HeatmapHourglass(num_maps=3, features=8, depth=2), hm_network
    x, kw = jnp.asarray(rng.uniform(size=(2, 32, 32, 3)), jnp.float32), {"train": False}
  else:
    module, owner = ml_model.MultiLabelCNN(num_outputs=3, features=(4, 6), kernels=(5, 3),
                                           pools=(3, 2), fc_units=8), ml_model
    x, kw = jnp.asarray(rng.standard_normal((2, 24, 24, 1)), jnp.float32), {"train": False}
  variables = module.init(jax.random.PRNGKey(0), x, **kw)

  def out_and_grads():   # a new function per call: JAX caches traces per function
    def f(p, x):
      y = module.apply({**variables, "params": p}, x, **kw)
      return jnp.sum(jnp.sin(jnp.concatenate([jnp.ravel(t) for t in jax.tree.leaves(y)])))
    return lambda x: jax.value_and_grad(f)(variables["params"], x)
  fast = jax.jit(out_and_grads())(x)
  assert "select_and_scatter_add" not in str(jax.make_jaxpr(out_and_grads())(x))
  monkeypatch.setattr(owner, "max_pool", _nn_max_pool)
  plain = jax.jit(out_and_grads())(x)
  assert "select_and_scatter_add" in str(jax.make_jaxpr(out_and_grads())(x))   # nn.max_pool's gradient
  _assert_close(fast, plain)
