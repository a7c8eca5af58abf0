"""benchmarks/accelerator.py counts FLOPs on the lowered step (the same on every backend)."""
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import accelerator


def test_flops_of_a_lowered_matmul_and_conv_match_the_arithmetic():
  a = jnp.ones((64, 96), jnp.float32)
  b = jnp.ones((96, 32), jnp.float32)
  assert accelerator._flops(jax.jit(jnp.matmul), a, b) == 2 * 64 * 96 * 32
  x = jnp.ones((2, 10, 10, 3), jnp.float32)        # NHWC
  k = jnp.ones((3, 3, 3, 8), jnp.float32)          # HWIO, 'VALID': 8 x 8 outputs
  conv = jax.jit(lambda x, k: jax.lax.conv_general_dilated(
      x, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")))
  assert accelerator._flops(conv, x, k) == 2 * 2 * 8 * 8 * 8 * 3 * 3 * 3


def test_rates_give_mfu_against_the_dtype_peak():
  peaks = dict(bf16=100.0, fp32=10.0, tf32=50.0)
  r = accelerator._rates(images=10, seconds=0.5, flops=2e12, prec="float32", peaks=peaks,
                         tpu=False)
  np.testing.assert_allclose([r["achieved_tflop_per_s"], r["mfu"], r["mfu_vs_tf32"]],
                             [4.0, 0.4, 0.08])
  r = accelerator._rates(10, 0.5, 2e12, "bfloat16", peaks, False)
  np.testing.assert_allclose(r["mfu"], 0.04)
  assert "mfu_vs_tf32" not in r
