"""au-jax: facial action unit models in JAX/Flax.

Importing au_jax (or any module of it) changes no environment variable and no
process setting. Machine tuning is applied by the command-line entry points
(launch.py, `python -m au_jax.sweep`, `python -m au_jax.predict`) before JAX
starts its backend. In a notebook or your own script, make the one call

  import au_jax.xla_options
  au_jax.xla_options.apply()    # before any JAX computation

first: XLA:CPU then runs convolutions on its Eigen path instead of YNNPACK
(faster on CPU, same numbers to float rounding; AU_JAX_CPU_CONV=xla keeps
XLA's default; see au_jax/xla_options.py). Huge pages for XLA:CPU's buffers
(au_jax/host_memory.py) must be set when Python starts: start it with
GLIBC_TUNABLES=glibc.malloc.hugetlb=1.
"""
