"""au_jax.xla_options: the XLA:CPU convolution path set on import, and its numbers."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from au_jax import xla_options as X
from tests.conftest import subprocess_xla_flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAG = X.EIGEN_CONV_FLAG


@pytest.mark.parametrize("flags,choice,version,want", [
    ("", "eigen", "0.10.2", FLAG),
    ("--xla_force_host_platform_device_count=4", "eigen", "0.10.0",
     "--xla_force_host_platform_device_count=4 " + FLAG),
    ("--xla_force_host_platform_device_count=4", "xla", "0.10.2",
     "--xla_force_host_platform_device_count=4"),
    # the user's own YNN setting wins, whatever it is
    ("--xla_cpu_experimental_ynn_fusion_type=", "eigen", "0.10.2",
     "--xla_cpu_experimental_ynn_fusion_type="),
    # a jaxlib this was not measured on (an unknown flag would abort the process)
    ("", "eigen", "0.9.1", ""),
    ("", "eigen", "0.11.0", ""),
    ("", "eigen", "dev", ""),
])
def test_flags_for_each_choice_and_jaxlib(flags, choice, version, want):
  assert X.xla_flags_with_cpu_conv(flags, choice, version) == want


def test_apply_sets_the_given_environment_once_and_warns_on_a_bad_choice(monkeypatch):
  monkeypatch.setattr("jaxlib.__version__", "0.10.2")
  env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
  assert X.apply(env) and env["XLA_FLAGS"].endswith(FLAG)
  assert not X.apply(env) and env["XLA_FLAGS"].count(FLAG) == 1     # idempotent
  env = {"AU_JAX_CPU_CONV": "fast"}
  with pytest.warns(UserWarning, match="AU_JAX_CPU_CONV='fast'.*eigen, xla"):
    assert not X.apply(env)
  assert "XLA_FLAGS" not in env
  with pytest.raises(ValueError, match="AU_JAX_CPU_CONV"):
    X.xla_flags_with_cpu_conv("", "fast", "0.10.2")


@pytest.mark.slow
def test_a_late_apply_says_the_flag_cannot_act():
  code = ("import jax, jax.numpy as jnp; jnp.ones(2).block_until_ready(); "
          "import warnings; warnings.simplefilter('error'); "
          "from au_jax import xla_options; xla_options.apply()")
  env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", X.ENV_VAR)}
  late = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                        text=True, timeout=120, check=False)
  early = subprocess.run([sys.executable, "-W", "error", "-c",
                          "from au_jax import xla_options; xla_options.apply(); "
                          "import jax.numpy as jnp; jnp.ones(2).block_until_ready()"],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
                         check=False)
  assert early.returncode == 0, early.stderr[-1000:]
  if X._major_minor(__import__("jaxlib").__version__) in X.SUPPORTED_JAXLIB:
    assert late.returncode != 0 and "started before it was called" in late.stderr
    assert "AU_JAX_CPU_CONV=xla" in late.stderr


# Every module a user or an entry point imports; none may change the environment.
_IMPORTS = ("au_jax", "au_jax.predict", "au_jax.experiment", "au_jax.train.loop",
            "au_jax.train.retrain", "au_jax.models", "au_jax.reports", "au_jax.sweep",
            "au_jax.data.sources", "au_jax.evaluate", "au_jax.host_memory", "au_jax.xla_options")


def _changed_by_imports(first: tuple[str, ...], then: tuple[str, ...], run: str = "",
                        pre: str = "") -> list[str]:
  """Environment variables that importing `then` (and running `run`) changes,
  after `first` was imported (and `pre` run)."""
  code = ("import importlib, os; "
          f"[importlib.import_module(m) for m in {first!r}]; {pre or 'pass'}; e = dict(os.environ); "
          f"[importlib.import_module(m) for m in {then!r}]; {run or 'pass'}; "
          "print(sorted(k for k in set(e) | set(os.environ) if e.get(k) != os.environ.get(k)))")
  env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", X.ENV_VAR)}
  proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                        text=True, timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr[-2000:]
  return json.loads(proc.stdout.strip().splitlines()[-1].replace("'", '"'))


def test_importing_au_jax_changes_no_environment_variable():
  assert _changed_by_imports((), ("au_jax",)) == []
  # Some libraries au_jax uses set variables of their own when imported (jax:
  # TF_CPP_MIN_LOG_LEVEL, TPU_SKIP_MDS_QUERY; cv2 and TFDS: LD_LIBRARY_PATH):
  # imported first, au_jax's own modules must change nothing more.
  third_party = ("jax", "cv2", "tensorflow_datasets", "grain", "orbax.checkpoint", "flax",
                 "optax", "matplotlib")
  # ... nor matplotlib's backend: the run's figures are bare Figures (au_jax.viz),
  # drawn here too; pyplot is never imported, the backend never chosen.
  backend = "dict.__getitem__(importlib.import_module('matplotlib').rcParams, 'backend')"
  draw = ("import sys, tempfile; v = importlib.import_module('au_jax.viz'); f = v.figure(); "
          "f.subplots().plot([0, 1]); v._save(f, os.path.join(tempfile.mkdtemp(), 'f.png')); "
          f"assert {backend} is b0, {backend}; "
          "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'")
  assert _changed_by_imports(third_party, _IMPORTS, draw, pre=f"b0 = {backend}") == []
  # the check can fail: apply() (what importing au_jax used to do) changes XLA_FLAGS
  if X._major_minor(__import__("jaxlib").__version__) in X.SUPPORTED_JAXLIB:
    assert _changed_by_imports((), ("au_jax.xla_options",),
                               "importlib.import_module('au_jax.xla_options').apply()") == [
                                   "XLA_FLAGS"]


# A small network with every kind of convolution the methods use (stride 1 and 2,
# SAME and VALID, grouped), run in a fresh process so that XLA_FLAGS is read anew.
_NET = r"""
import json, os, sys
import numpy as np
from au_jax import xla_options
xla_options.apply()
import flax.linen as nn, jax, jax.numpy as jnp

class Net(nn.Module):
  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Conv(32, (5, 5), padding="SAME")(x))
    x = nn.relu(nn.Conv(64, (5, 5), padding="SAME")(x))
    x = nn.relu(nn.Conv(64, (3, 3), strides=2, padding="SAME")(x))
    x = nn.relu(nn.Conv(64, (3, 3), padding="VALID", feature_group_count=2)(x))
    x = nn.Conv(16, (4, 4), strides=2, padding="VALID")(x)
    return nn.Dense(3)(x.reshape(x.shape[0], -1))

x = jnp.asarray(np.random.default_rng(0).standard_normal((4, 24, 24, 2)), jnp.float32)
net = Net()
params = net.init(jax.random.PRNGKey(0), x)
loss, grads = jax.jit(jax.value_and_grad(
    lambda p, x: jnp.sum(jnp.sin(net.apply(p, x))), argnums=(0, 1)))(params, x)
out = {"xla_flags": os.environ.get("XLA_FLAGS", ""), "loss": float(loss),
       "y": np.asarray(jax.jit(net.apply)(params, x)).tolist(),
       "grads": [np.asarray(g).ravel().tolist() for g in jax.tree.leaves(grads)]}
print(json.dumps(out))
"""


def _start_net(**env):
  env = {**{k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", X.ENV_VAR)},
         "XLA_FLAGS": subprocess_xla_flags(1), **env}
  return subprocess.Popen([sys.executable, "-c", _NET], env=env, cwd=ROOT, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _result(proc):
  out, err = proc.communicate(timeout=300)
  assert proc.returncode == 0, err[-2000:]
  return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(X._major_minor(__import__("jaxlib").__version__) not in X.SUPPORTED_JAXLIB,
                    reason="this jaxlib is left with XLA's default convolutions")
def test_eigen_convolutions_give_xla_defaults_numbers():
  procs = _start_net(), _start_net(AU_JAX_CPU_CONV="xla")   # side by side: two cores
  eigen, plain = map(_result, procs)
  assert FLAG in eigen["xla_flags"].split()
  assert FLAG not in plain["xla_flags"]
  tol = {"rtol": 1e-5, "atol": 1e-5}
  np.testing.assert_allclose(eigen["loss"], plain["loss"], **tol)
  np.testing.assert_allclose(eigen["y"], plain["y"], **tol)
  diffs = []
  for g_eigen, g_plain in zip(eigen["grads"], plain["grads"], strict=True):
    np.testing.assert_allclose(g_eigen, g_plain, **tol)
    diffs.append(np.abs(np.subtract(g_eigen, g_plain)).max())
  # the two runs took different convolution code (float rounding differs somewhere)
  assert max(diffs) > 0 or np.abs(np.subtract(eigen["y"], plain["y"])).max() > 0
