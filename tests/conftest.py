"""Shared test set-up: 4 fake CPU devices, repo importable, a tiny dataset.

XLA_FLAGS must be set before JAX initialises its backend, so it is set here,
at collection time. Tests that want one device build a 1-device mesh.

Two tiers: `python -m pytest -q -m "not slow"` is the edit-test loop (every
module's unit tests); `python -m pytest -q` runs everything. A test is marked
`slow` when it trains through the engine, starts a subprocess (launch.py, a
notebook, a fresh interpreter), or compiles a whole network or train step.
"""
import os
import sys

# XLA:CPU compiles fast for the tests: they run tiny programs a few steps
# each, so the suite is compile-bound. Backend optimisation level 0 compiles
# about 1.6x faster (a jitted initialiser ~10x), and XLA:CPU's older elemental
# fusion emitters (xla_cpu_use_fusion_emitters=false) compile a CCNN train step
# about 2.5x faster than the MLIR fusion emitters; numbers differ from XLA's
# defaults only in float rounding. AU_JAX_TEST_XLA_OPT=default keeps XLA's
# defaults for both.
_TEST_XLA_FLAGS = "--xla_force_host_platform_device_count=4"
if os.environ.get("AU_JAX_TEST_XLA_OPT", "0") != "default":
  _TEST_XLA_FLAGS += " --xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"
os.environ.setdefault("XLA_FLAGS", _TEST_XLA_FLAGS)


def subprocess_xla_flags(devices: int = 1) -> str:
  """XLA_FLAGS for a test's subprocess (launch.py, a fresh interpreter): the
  tests' optimisation level with `devices` host devices."""
  return _TEST_XLA_FLAGS.replace("device_count=4", f"device_count={devices}")
os.environ.setdefault("AU_JAX_NO_PROGRESS", "1")

# One persistent XLA compilation cache for the session (a fresh temporary
# folder, removed at exit): the suite compiles the same tiny programs many
# times (a new jit per test, and every launch.py subprocess compiles from
# scratch); a cache hit loads the executable XLA compiled for the same program
# and options, so numerics are unchanged. Set as environment variables so the
# subprocesses that inherit os.environ share it. AU_JAX_TEST_XLA_CACHE=0 turns it off.
# Under pytest-xdist the controller process creates the folder and each worker
# (with the subprocesses it starts) uses its own subfolder: with no cache size
# limit JAX reads and writes entries without a file lock, so a worker could
# read another's half-written entry. The controller removes it all at exit.
if (os.environ.get("AU_JAX_TEST_XLA_CACHE", "1") != "0"
    and "JAX_COMPILATION_CACHE_DIR" not in os.environ):
  import atexit
  import shutil
  import tempfile
  _xla_cache = tempfile.mkdtemp(prefix="au_jax_test_xla_cache_")
  atexit.register(shutil.rmtree, _xla_cache, ignore_errors=True)
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _xla_cache
  os.environ["AU_JAX_TEST_XLA_CACHE_ROOT"] = _xla_cache
  os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER")   # "gw0", "gw1", ... in a worker
if (_xdist_worker and os.environ.get("AU_JAX_TEST_XLA_CACHE_ROOT")
    and os.environ.get("JAX_COMPILATION_CACHE_DIR") == os.environ["AU_JAX_TEST_XLA_CACHE_ROOT"]):
  os.environ["JAX_COMPILATION_CACHE_DIR"] = os.path.join(
      os.environ["AU_JAX_TEST_XLA_CACHE_ROOT"], _xdist_worker)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

import pytest  # noqa: E402

from au_jax import xla_options  # noqa: E402

xla_options.apply()   # XLA:CPU's Eigen convolutions as launch.py, before any test starts JAX
# The dataset builders, registered with TFDS as launch.py does: fixtures build on first use.
from tfds_builders import (bp4d, ckplus, disfa, semaine, synthetic_au,  # noqa: E402,F401,I001
                           unbc_mcmaster)

# The default command (setup.cfg: -n auto --dist loadfile) runs the tests on
# two pytest-xdist worker processes, each test file whole on one worker (its
# module-scoped fixtures are built once). "auto" is decided here: 2 workers
# when the run spans more than one test file and the machine has two cores,
# else none (one file runs on one worker anyway, so a second would only add
# its start-up and collection). -n 0 runs everything in this process; -n N
# or PYTEST_XDIST_AUTO_NUM_WORKERS=N chooses N.
SUITE_WORKERS = 2


def _spans_several_files(args):
  files = set()
  for arg in args:
    path = os.path.abspath(arg.split("::")[0])
    if os.path.isdir(path):
      return True
    files.add(path)
  return len(files) > 1


def pytest_addoption(parser, pluginmanager):
  """Without pytest-xdist (not installed, or -p no:xdist) setup.cfg's -n and
  --dist are accepted and ignored: the tests run in this one process."""
  if not pluginmanager.has_plugin("xdist"):
    group = parser.getgroup("xdist", "pytest-xdist absent or disabled: -n/--dist ignored")
    group._addoption("-n", "--numprocesses", dest="numprocesses", default=None,  # noqa: SLF001
                     help="ignored: pytest-xdist is not installed or disabled")
    group.addoption("--dist", dest="dist", default="no",
                    help="ignored: pytest-xdist is not installed or disabled")


def pytest_report_header(config):
  if not config.pluginmanager.has_plugin("xdist"):
    return "pytest-xdist absent or disabled: all tests run in this process"
  return None


@pytest.hookimpl(optionalhook=True)     # a pytest-xdist hook: unknown without it
def pytest_xdist_auto_num_workers(config):
  if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
    return None                       # xdist's own hook reads it
  cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
  if (cores or 1) < 2 or not _spans_several_files(config.args):
    return 0
  return SUITE_WORKERS


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
  """A data dir holding synthetic_au/disfa_like_tiny and bp4d_like_tiny (built once)."""
  from au_jax.data import sources
  d = str(tmp_path_factory.mktemp("tfds"))
  for name in ("synthetic_au/disfa_like_tiny", "synthetic_au/bp4d_like_tiny"):
    sources.get_builder(name, d)
  return d


def tiny_config(config_module, data_dir, arg="runlocal", plots=False):
  """A config's runlocal variant pointed at the test data dir; without the
  engine's figures unless `plots` (over a CPU-second a run; the tests that
  check them ask for them)."""
  import importlib
  config = importlib.import_module(config_module).get_config(arg)
  config.data.data_dir = data_dir
  config.eval.plots = plots
  return config
