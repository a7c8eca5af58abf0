"""au-jax: facial action unit models in JAX/Flax.

Importing au_jax (or any module of it) sets one XLA:CPU option before JAX
starts its backend: convolutions on XLA:CPU's Eigen path instead of YNNPACK
(faster on CPU, same numbers to float rounding). AU_JAX_CPU_CONV=xla keeps
XLA's default; see au_jax/xla_options.py.
"""
from au_jax import xla_options as _xla_options

_xla_options.apply()
