"""au_jax.models.looped: nn.Conv's parameters and numbers, and the looped
(XLA:CPU) lowering of vmapped convolutions in the single-heatmap baseline."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from au_jax.models import get_spec
from au_jax.models.heatmaps.network import SingleHeatmaps
from au_jax.models.looped import Conv, looped_conv_fn, plain_conv_fn
from tests.models.test_heatmaps import _info


@pytest.mark.parametrize("kernel,strides,padding,use_bias", [
    ((3, 3), 1, "SAME", True), ((7, 7), (2, 2), 3, False), ((3, 2), (2, 1), ((1, 0), (0, 1)), True)])
def test_conv_has_nn_convs_parameters_and_outputs(kernel, strides, padding, use_bias):
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 9, 8, 3))
  ref = nn.Conv(4, kernel, strides=strides, padding=padding, use_bias=use_bias)
  want = ref.init(jax.random.PRNGKey(1), x)
  for looped in (False, True):
    conv = Conv(4, kernel, strides=strides, padding=padding, use_bias=use_bias, looped=looped)
    got = conv.init(jax.random.PRNGKey(1), x)
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      np.testing.assert_array_equal(a, b)        # same names, shapes, initial values
    v = jax.tree.map(lambda p: p + 0.1, want)    # a non-zero bias
    np.testing.assert_allclose(conv.apply(v, x), ref.apply(v, x), atol=1e-5)


def test_looped_conv_under_vmap_is_ordinary_convolutions_with_the_same_gradients():
  """Mapped kernel with a mapped input and with a shared (unmapped) input (the
  heatmaps' image): outputs and both gradients as the plain convolution's
  (float64: the two differ by rounding only)."""
  plain, loop = plain_conv_fn((2, 1), ((2, 1), (0, 1))), looped_conv_fn((2, 1), ((2, 1), (0, 1)))

  def loss(conv, in_axes):
    return lambda x, k: jnp.sum(jnp.sin(jax.vmap(conv, in_axes)(x, k)))
  with jax.enable_x64(True):
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 2, 9, 9, 2), jnp.float64)   # [N, B, H, W, C]
    k = jax.random.normal(jax.random.PRNGKey(1), (3, 3, 3, 2, 4), jnp.float64)   # [N, kh, kw, C, F]
    for in_axes, xs in (((0, 0), x), ((None, 0), x[0])):
      np.testing.assert_allclose(jax.vmap(loop, in_axes)(xs, k), jax.vmap(plain, in_axes)(xs, k),
                                 rtol=1e-10, atol=1e-10)
      got = jax.grad(loss(loop, in_axes), (0, 1))(xs, k)
      want = jax.grad(loss(plain, in_axes), (0, 1))(xs, k)
      for a, b in zip(got, want):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
    grads = {c: str(jax.make_jaxpr(jax.grad(loss(c, (0, 0)), (0, 1)))(x, k)) for c in (loop, plain)}
  assert "feature_group_count=3" not in grads[loop] and "feature_group_count=3" in grads[plain]


@pytest.mark.slow
def test_single_heatmaps_looped_equals_grouped_with_the_same_parameter_tree():
  """Outputs, parameter (and image) gradients and batch statistics of a
  training step, looped vs JAX's grouped convolutions: equal within 1e-8 in
  float64 (float32 rounding alone moves some by ~2e-5 through the tiny
  batch's batch norm); the same parameter tree."""
  img = np.random.default_rng(0).random((2, 16, 16, 3))
  nets = {c: SingleHeatmaps(2, features=8, depth=1, conv=c) for c in ("looped", "grouped")}
  shapes = {c: jax.eval_shape(lambda n=n: n.init(jax.random.key(1), img, train=False))
            for c, n in nets.items()}
  assert shapes["looped"] == shapes["grouped"]
  assert shapes["looped"]["params"]["hourglasses"]["stem_conv"]["kernel"].shape == (2, 7, 7, 3, 2)
  # random values of that tree (an init would cost seconds of compiling)
  rng = np.random.default_rng(1)
  v = jax.tree.map(lambda s: rng.normal(0.0, 0.5, s.shape) + (s.shape[-1] == 1), shapes["grouped"])
  v["batch_stats"] = jax.tree.map(np.abs, v["batch_stats"])   # variances
  with jax.enable_x64(True):
    results = {}
    for conv, net in nets.items():
      def f(params, img, net=net):
        out, state = net.apply(dict(v, params=params), img, train=True, mutable=["batch_stats"])
        return jnp.sum(jnp.sin(3.0 * out)), (out, state)
      lowered = jax.jit(jax.grad(f, (0, 1), has_aux=True)).lower(v["params"], img)
      assert ("feature_group_count = 2" in lowered.as_text()) == (conv == "grouped")
      results[conv] = jax.tree.map(np.asarray, lowered.compile()(v["params"], img))
  (gp_l, gi_l), (out_l, st_l) = results["looped"]
  (gp_g, gi_g), (out_g, st_g) = results["grouped"]
  assert out_g.dtype == np.float64 and np.abs(out_g).max() > 0.1
  assert jax.tree.structure(gp_l) == jax.tree.structure(v["params"])
  for a, b in zip(jax.tree.leaves((out_l, gp_l, gi_l, st_l)),
                  jax.tree.leaves((out_g, gp_g, gi_g, st_g))):
    np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-8)


def test_conv_option_defaults_to_looped_on_cpu_and_is_single_only():
  build = get_spec("heatmaps").build
  cfg = {"name": "heatmaps", "arch": "single", "input_size": 16, "features": 8, "depth": 1}
  assert build(cfg, _info()).module.conv == "auto"
  assert SingleHeatmaps(2, conv="auto")._looped() == (jax.default_backend() == "cpu")
  assert build(dict(cfg, conv="grouped"), _info()).module._looped() is False
  with pytest.raises(ValueError, match="config.model.conv"):
    SingleHeatmaps(2, conv="fast")._looped()
  with pytest.raises(KeyError, match="conv"):
    build(dict(cfg, arch="hourglass", conv="looped"), _info())
  with pytest.raises(KeyError, match="looped_conv"):
    build(dict(cfg, looped_conv=True), _info())
