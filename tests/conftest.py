"""Shared test set-up: 4 fake CPU devices, repo importable, a tiny dataset.

XLA_FLAGS must be set before JAX initialises its backend, so it is set here,
at collection time. Tests that want one device build a 1-device mesh.
"""
import os
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("AU_JAX_NO_PROGRESS", "1")

# One persistent XLA compilation cache for the session (a fresh temporary
# folder, removed at exit): the suite compiles the same tiny programs many
# times (a new jit per test, and every launch.py subprocess compiles from
# scratch); a cache hit loads the executable XLA compiled for the same program
# and options, so numerics are unchanged. Set as environment variables so the
# subprocesses that inherit os.environ share it. AU_JAX_TEST_XLA_CACHE=0 turns it off.
if (os.environ.get("AU_JAX_TEST_XLA_CACHE", "1") != "0"
    and "JAX_COMPILATION_CACHE_DIR" not in os.environ):
  import atexit
  import shutil
  import tempfile
  _xla_cache = tempfile.mkdtemp(prefix="au_jax_test_xla_cache_")
  atexit.register(shutil.rmtree, _xla_cache, ignore_errors=True)
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _xla_cache
  os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
  """A data dir holding synthetic_au/disfa_like_tiny and fera_like_tiny (built once)."""
  from au_jax.data import sources
  d = str(tmp_path_factory.mktemp("tfds"))
  for name in ("synthetic_au/disfa_like_tiny", "synthetic_au/fera_like_tiny"):
    sources.get_builder(name, d)
  return d


def tiny_config(config_module, data_dir, arg="runlocal"):
  """A config's runlocal variant pointed at the test data dir."""
  import importlib
  config = importlib.import_module(config_module).get_config(arg)
  config.data.data_dir = data_dir
  return config
