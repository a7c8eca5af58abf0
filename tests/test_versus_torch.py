"""benchmarks/versus_torch.py's torch copies of DSIN's patch network and the
hourglass compute the flax modules' function (tiny widths); its analytic FLOPs
equal the convolutions and dots in the modules' jaxprs. The torch test is skipped
without torch (never a dependency of au-jax)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from au_jax.models.dsin.model import DSIN
from au_jax.models.heatmaps.network import HeatmapHourglass
from benchmarks import versus_torch as vt


def _nets():
  # patch side 8: the 'SAME' stride-2 convolutions pad unevenly (8 -> 4: (1, 2); 4 -> 2: (0, 1))
  dsin = DSIN(num_aus=3, num_inputs=6, features=(4, 8), kernels=(5, 3), fc_units=(8,),
              fusion_units=4, iterations=0, patch_conv="grouped")
  hourglass = HeatmapHourglass(num_maps=2, features=8, depth=2)
  return [("dsin", dsin, (6, 8, 8, 3), lambda out: out["fusion_logits"]),
          ("hourglass", hourglass, (16, 16, 3), lambda out: out)]


@pytest.mark.parametrize("name", ["dsin", "hourglass"])
def test_torch_copy_computes_the_flax_network(name):
  torch = pytest.importorskip("torch")
  net, module, shape, logits = {n: (n, m, s, f) for n, m, s, f in _nets()}[name]
  x = np.random.default_rng(0).uniform(-1, 1, (4, *shape)).astype(np.float32)
  # random values in the variables' shapes (flax's initialisers take seconds to compile)
  shapes = jax.eval_shape(lambda x: module.init({"params": jax.random.PRNGKey(0)}, x,
                                                train=False), x)
  rng = np.random.default_rng(1)
  params = jax.tree.map(lambda s: rng.normal(0, 0.2, s.shape).astype(np.float32),
                        shapes["params"])
  state = vt.perturbed_statistics({k: jax.tree.map(lambda s: np.full(s.shape, 0.5, np.float32), c)
                                   for k, c in shapes.items() if k != "params"})
  side = shape[-2]
  model = vt.torch_config_net(net, module, side)
  vt.load_config_net(model, net, module, side, params, state)
  assert sum(p.numel() for p in model.parameters()) == sum(a.size for a in jax.tree.leaves(params))
  xt = torch.from_numpy(np.ascontiguousarray(
      np.transpose(x, (1, 0, 4, 2, 3)) if net == "dsin" else np.transpose(x, (0, 3, 1, 2))))

  def torch_logits(train):
    model.train(train)
    with torch.no_grad():
      out = model(xt)
    return (out[1] if net == "dsin" else out.permute(0, 2, 3, 1)).numpy()
  apply = jax.jit(lambda v, x: logits(module.apply(v, x, train=False)))
  apply_train = jax.jit(lambda v, x: logits(module.apply(v, x, train=True,
                                                         mutable=["batch_stats"])[0]))
  # running statistics (the perturbed ones), then batch statistics (the hourglass's
  # deepest level normalises 1 x 1 maps over 4 examples: rounding grows there)
  for train, f in ((False, apply), (True, apply_train)):
    got = np.asarray(f({"params": params, **state}, x))
    np.testing.assert_allclose(torch_logits(train), got, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ["dsin", "hourglass"])
def test_analytic_flops_are_the_modules_convolutions_and_dots(name):
  net, module, shape, _ = {n: (n, m, s, f) for n, m, s, f in _nets()}[name]
  x = jnp.zeros((1, *shape), jnp.float32)
  v = jax.eval_shape(lambda x: module.init({"params": jax.random.PRNGKey(0)}, x, train=False), x)
  jaxpr = jax.make_jaxpr(lambda v, x: module.apply(v, x, train=False))(v, x)
  assert vt.net_flops(net, 0, module, shape[-2])["forward"] == vt.jaxpr_flops(jaxpr)
