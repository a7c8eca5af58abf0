"""JAX's persistent compilation cache: compile a model's predict step, or a
config's training step, once per machine, not once per run.

`python -m au_jax.predict`, `Predictor.from_workdir` and `python launch.py`
call `enable()` before anything is compiled (importing au_jax changes
nothing). Where the cache lives, first match wins:

  --compilation_cache=PATH (CLI, launch.py) / compilation_cache="PATH" (Predictor)
  JAX's own setting, when the user made one (JAX_COMPILATION_CACHE_DIR, or
    jax.config.update("jax_compilation_cache_dir", ...)): left as it is
  $AU_JAX_CACHE_DIR
  $XDG_CACHE_HOME/au-jax/jax, else ~/.cache/au-jax/jax

"off" (flag or AU_JAX_CACHE_DIR=off) or compilation_cache=False switches it off.
The folder holds only compiled programs, keyed by the program, the XLA flags
and the jax/jaxlib version: deleting it is always safe (the next run compiles
again). A folder that cannot be written leaves the cache off with one line on
stderr; a damaged entry is recompiled (JAX reads it, fails, compiles) and
`report_cache_errors` turns JAX's warning about it into one line.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings

import jax
from jax.experimental.compilation_cache import compilation_cache as cc

ENV_VAR = "AU_JAX_CACHE_DIR"
OFF = ("off", "0", "none", "false")
# JAX's warnings when an entry cannot be read (damaged) or written.
_CACHE_WARNINGS = ("Error reading persistent compilation cache entry",
                   "Error writing persistent compilation cache entry")


def default_dir() -> str:
  """$XDG_CACHE_HOME/au-jax/jax, or ~/.cache/au-jax/jax."""
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "au-jax", "jax")


def _writable(folder: str) -> str | None:
  """None when `folder` can be created and written, else why not."""
  try:
    os.makedirs(folder, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".au_jax_probe_"):
      pass
  except OSError as e:
    return e.strerror or str(e)
  return None


def enable(setting: str | bool | None = None, *, quiet: bool = False) -> str | None:
  """Switches JAX's persistent compilation cache on; returns its folder (None: off).

  Args:
    setting: a folder, "off", False (off), or None / True (the user's JAX
      setting, else $AU_JAX_CACHE_DIR, else `default_dir()`).
    quiet: no line on stderr when the folder cannot be written.
  """
  if setting is False or (isinstance(setting, str) and setting.strip().lower() in OFF):
    return None
  if setting is None or setting is True:
    current = jax.config.jax_compilation_cache_dir
    if current:                    # the user's own JAX setting wins
      return current
    env = os.environ.get(ENV_VAR, "").strip()
    if env.lower() in OFF:
      return None
    setting = env or default_dir()
  folder = os.path.abspath(os.path.expanduser(setting))
  why = _writable(folder)
  if why is not None:
    if not quiet:
      print(f"[au_jax] compilation cache off: cannot write {folder} ({why}); every run "
            f"compiles (pass --compilation_cache=PATH or set {ENV_VAR})", file=sys.stderr)
    return None
  if jax.config.jax_compilation_cache_dir != folder:
    jax.config.update("jax_compilation_cache_dir", folder)
    # Every program of a predict run is worth keeping: the default keeps only
    # those that took >= 1 s to compile.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    cc.reset_cache()               # a process that compiled before sees the new folder
  return folder


@contextlib.contextmanager
def report_cache_errors():
  """JAX's warnings about a cache entry it could not read or write, as one line
  on stderr (the program is compiled instead); other warnings pass through."""
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    yield
  bad = 0
  for w in caught:
    if str(w.message).startswith(_CACHE_WARNINGS):
      bad += 1
    else:
      warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
  if bad:
    print(f"[au_jax] compilation cache: {bad} entr{'y' if bad == 1 else 'ies'} in "
          f"{jax.config.jax_compilation_cache_dir} could not be used (recompiled); deleting the "
          f"folder is safe", file=sys.stderr)
