"""The workdir is the unit of truth: its saved config, and one process at a time.

`open_workdir(config, path)` runs before training touches any file:

- a lock (`workdir/.lock`, fcntl.flock; released by the kernel even on
  kill -9) makes a second process on the same workdir refuse at once, so two
  runs never write one metrics.jsonl;
- when the workdir already holds a `config.json`, the new config is compared
  with it. Identical: the run resumes. A difference in anything that can
  change results is refused before any file is written, naming the keys and
  both values and the two ways on: another --workdir, or
  `--config.train.allow_config_change=True`, which resumes and appends the
  change to `config_changes.jsonl`. Keys that cannot change results
  (logging, checkpoint frequency, threads, devices, the data directory,
  evaluation batch size) may differ freely.
"""
from __future__ import annotations

import fcntl
import json
import os
import time

from au_jax.defaults import all_defaults, value
from au_jax.errors import WorkdirError
from au_jax.io import atomic_write

# Dotted config keys whose value cannot change a run's results.
NEUTRAL_KEYS = ("train.log_every", "train.checkpoint_every", "train.keep_checkpoints",
                "train.allow_config_change", "data.num_threads", "data.data_dir", "num_devices",
                "eval.batch_size", "eval.plots")


def _flatten(d, prefix="") -> dict:
  out = {}
  if isinstance(d, dict):
    for k, v in d.items():
      out.update(_flatten(v, f"{prefix}{k}."))
    if d:
      return out
  out[prefix[:-1]] = d
  return out


def _normal(v):
  """JSON round trip: tuples and lists compare equal, as they are saved."""
  return json.loads(json.dumps(v, default=str))


def config_differences(saved: dict, new: dict) -> list[tuple[str, object, object]]:
  """(key, saved value, new value) for every result-changing key that differs."""
  a, b = _flatten(_normal(saved)), _flatten(_normal(new))
  missing = object()
  # A key absent on one side means the engine's default for it
  # (au_jax.defaults; a workdir saved before the key existed resumes as long
  # as the other side keeps that default).
  defaults = _flatten(_normal(all_defaults()))
  diffs = []
  for k in sorted(set(a) | set(b)):
    if any(k == n or k.startswith(n + ".") for n in NEUTRAL_KEYS):
      continue
    va, vb = a.get(k, defaults.get(k, missing)), b.get(k, defaults.get(k, missing))
    if va != vb:
      diffs.append((k, None if va is missing else va, None if vb is missing else vb))
  return diffs


class WorkdirLock:
  """An exclusive lock on a workdir for the lifetime of one process's run."""

  def __init__(self, workdir: str, process_index: int = 0):
    # Each process of a multi-process run holds its own lock on the shared workdir.
    suffix = f".process{process_index}" if process_index else ""
    self.path = os.path.join(workdir, ".lock" + suffix)
    self._f = None

  def acquire(self) -> None:
    self._f = open(self.path, "a+")
    try:
      fcntl.flock(self._f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      self._f.seek(0)
      holder = self._f.read().strip() or "another process"
      self._f.close()
      self._f = None
      raise WorkdirError(f"{os.path.dirname(self.path)} is in use by {holder}: wait for it to "
                         f"finish, or train in another --workdir") from None
    self._f.seek(0)
    self._f.truncate()
    self._f.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
    self._f.flush()

  def release(self) -> None:
    if self._f is not None:
      fcntl.flock(self._f.fileno(), fcntl.LOCK_UN)
      self._f.close()
      self._f = None


def open_workdir(config, workdir: str, process_index: int = 0) -> WorkdirLock:
  """Check `workdir` against `config`, lock it and save the config (see module doc).

  process_index: this process of a multi-process run; each holds its own lock
  and process 0 alone saves the config.
  """
  if not workdir or not str(workdir).strip():
    raise WorkdirError("--workdir is empty: name the run directory (it is created)")
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise WorkdirError(f"--workdir {workdir} is a file, not a directory")
  new = json.loads(config.to_json_best_effort())
  saved_path = os.path.join(workdir, "config.json")
  diffs = []
  if os.path.exists(saved_path):
    try:
      saved = json.load(open(saved_path))
    except (OSError, json.JSONDecodeError) as e:
      raise WorkdirError(f"{saved_path} is unreadable ({e}); the workdir is damaged: train in "
                         f"another --workdir") from None
    diffs = config_differences(saved, new)
    if diffs and not value(config.train, "train", "allow_config_change"):
      shown = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in diffs[:6])
      more = f" (+{len(diffs) - 6} more)" if len(diffs) > 6 else ""
      raise WorkdirError(
          f"{workdir} was trained with another config ({shown}{more}).\n"
          f"Use another --workdir, or resume anyway with "
          f"--config.train.allow_config_change=True (the change is recorded).")
  try:
    os.makedirs(workdir, exist_ok=True)
    lock = WorkdirLock(workdir, process_index)
  except OSError as e:
    raise WorkdirError(f"cannot create --workdir {workdir}: {e.strerror}") from None
  lock.acquire()
  if process_index:
    return lock
  if diffs:
    with open(os.path.join(workdir, "config_changes.jsonl"), "a") as f:
      f.write(json.dumps(dict(time=time.strftime("%Y-%m-%d %H:%M:%S"),
                              changes=[dict(key=k, before=a, after=b) for k, a, b in diffs]),
                         default=str) + "\n")
  atomic_write(saved_path, config.to_json_best_effort(indent=1))
  return lock
