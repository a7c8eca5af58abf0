"""XLA:CPU options au-jax's entry points set before JAX starts (`apply()`).

Convolutions. jaxlib 0.10's XLA:CPU hands every convolution to a YNNPACK
fusion by default. On the 2-core AVX-512 development machine those take
1.1-4.3x the time of XLA:CPU's other convolution path (Eigen) on 16 of the
18 forward / input-gradient / weight-gradient convolutions of the FERA 2015
CNN and the CCNN trunk (the FERA 2015 CNN's 22x22x64 -> 64 5x5 layer,
batch 100: forward 118 ms against 55, weight gradient 270 against 62); the
exceptions are CCNN's one-channel first layer (forward 0.43x, weight
gradient 0.94x).
(docs/performance.md, "XLA:CPU's Eigen convolutions"). With the YNNPACK *convolution*
fusion removed from the list
(`--xla_cpu_experimental_ynn_fusion_type=-individual_convolution`; YNNPACK
keeps the dots and the other fusions it is given) the train steps run
1.04-1.56x and the predict steps 1.02-1.99x faster, depending on the method
(same page). The
two paths differ only in float rounding (tests/test_xla_options.py: a
network's outputs and gradients agree to 1e-5).

So launch.py, `python -m au_jax.sweep` and `python -m au_jax.predict` call
`apply()` first thing (importing au_jax changes nothing; in a notebook, call
`au_jax.xla_options.apply()` yourself before any JAX computation). It adds
that flag to XLA_FLAGS unless
  * AU_JAX_CPU_CONV=xla (the environment variable; default `eigen`): keep
    XLA's own choice;
  * XLA_FLAGS already says something about `xla_cpu_experimental_ynn_fusion_type`
    (yours wins);
  * AU_JAX_CPU_CONV has any other value (a warning names it);
  * the installed jaxlib is not one this was measured on (`SUPPORTED_JAXLIB`):
    an XLA flag a jaxlib does not know aborts the process, and a newer XLA may
    have changed the default anyway.
XLA reads XLA_FLAGS once, when JAX starts its first backend: call `apply()`
before running any JAX computation, or set the flag yourself (`apply()` warns
when it is called too late for the flag to act). The flag is part of the
compilation-cache key, and it only concerns the CPU backend (GPU and TPU
programs are unchanged).
"""
from __future__ import annotations

import os
import sys
import warnings

ENV_VAR = "AU_JAX_CPU_CONV"
CHOICES = ("eigen", "xla")
YNN_FLAG = "xla_cpu_experimental_ynn_fusion_type"
EIGEN_CONV_FLAG = f"--{YNN_FLAG}=-individual_convolution"
# jaxlib (major, minor) versions whose XLA:CPU knows the flag and was measured.
SUPPORTED_JAXLIB = ((0, 10),)


def _major_minor(version: str) -> tuple[int, int] | None:
  try:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)
  except ValueError:
    return None


def xla_flags_with_cpu_conv(xla_flags: str, choice: str, jaxlib_version: str) -> str:
  """XLA_FLAGS with the convolution choice applied (a pure function of its inputs)."""
  if choice not in CHOICES:
    raise ValueError(f"{ENV_VAR}={choice!r}: must be one of {', '.join(CHOICES)}")
  if (choice == "xla" or YNN_FLAG in xla_flags
      or _major_minor(jaxlib_version) not in SUPPORTED_JAXLIB):
    return xla_flags
  return f"{xla_flags} {EIGEN_CONV_FLAG}".strip()


def apply(environ=None) -> bool:
  """Sets XLA_FLAGS in `environ` (default os.environ); True if the flag was added."""
  environ = os.environ if environ is None else environ
  try:
    import jaxlib   # here, not at the top: this module is used before JAX is imported
    jaxlib_version = jaxlib.__version__
  except (ImportError, AttributeError):
    return False
  before = environ.get("XLA_FLAGS", "")
  try:
    after = xla_flags_with_cpu_conv(before, environ.get(ENV_VAR, "eigen").strip().lower(),
                                    jaxlib_version)
  except ValueError as e:
    warnings.warn(f"{e}; XLA_FLAGS left as it is", stacklevel=2)
    return False
  if after == before:
    return False
  environ["XLA_FLAGS"] = after
  if environ is os.environ and _backend_started():
    warnings.warn("au_jax.xla_options.apply(): JAX's backend started before it was called, so "
                  "XLA:CPU keeps its default (slower) convolutions in this process; call it "
                  "before any JAX computation, or set "
                  f"XLA_FLAGS={EIGEN_CONV_FLAG} (AU_JAX_CPU_CONV=xla silences this)", stacklevel=2)
  return True


def _backend_started() -> bool:
  """Whether this process's JAX has started a backend (XLA_FLAGS already read)."""
  if "jax" not in sys.modules:
    return False
  try:
    from jax._src import xla_bridge   # only once JAX is imported (checked above)
    return bool(xla_bridge.backends_are_initialized())
  except (ImportError, AttributeError):
    return False
