"""Checkpoints of a workdir (orbax): the unit of resume.

`workdir/checkpoints/<step>/` holds the TrainState and, as JSON, the data
iterator state and schedule position. orbax writes each checkpoint to a
temporary directory and renames it when complete, so a run killed mid-save
leaves nothing that a rerun would restore; the rerun resumes from the last
complete checkpoint.
"""
from __future__ import annotations

import contextlib
import errno
import os

import jax
import numpy as np
import orbax.checkpoint as ocp

from au_jax.errors import WorkdirError

LATEST_DIR = "checkpoints"        # every checkpoint_every steps: the unit of resume
BEST_DIR = "best_checkpoint"      # the step selected on validation (au_jax.train.selection)


class Checkpointer:

  def __init__(self, directory: str, max_to_keep: int | None = 2):
    self.directory = os.path.abspath(directory)
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
        item_names=("state", "data"))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state, data: dict) -> None:
    with self._disk_errors(step):
      self.manager.save(int(step), args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), data=ocp.args.JsonSave(data)))

  @contextlib.contextmanager
  def _disk_errors(self, step=None):
    """A full or read-only disk while writing a checkpoint as a WorkdirError.

    tensorstore reports a full disk as ValueError('... RESOURCE_EXHAUSTED
    ...'), not OSError; orbax may raise it from the save or, the save being
    asynchronous, from the next wait. The checkpoint being written is
    incomplete and never restored (see the module doc).
    """
    try:
      yield
    except (ValueError, OSError) as e:
      reason = _disk_reason(e)
      if reason is None:
        raise
      where = os.path.join(self.directory, str(step)) if step is not None else self.directory
      raise WorkdirError(f"cannot write the checkpoint {where}: {reason}. Free space (or make "
                         f"the workdir writable) and rerun the same command: it resumes from "
                         f"the last complete checkpoint") from None

  def all_steps(self) -> list[int]:
    return list(self.manager.all_steps())

  def delete(self, step: int) -> None:
    self.manager.delete(int(step))

  def restore(self, state_like, step: int | None = None):
    """(state, data) of checkpoint `step` (default: the latest), shaped/sharded like
    `state_like`; (None, None) when there is none."""
    step = self.manager.latest_step() if step is None else int(step)
    if step is None:
      return None, None
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state_like)
    out = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore()))
    return out["state"], dict(out["data"])

  def wait(self) -> None:
    with self._disk_errors():
      self.manager.wait_until_finished()

  def close(self) -> None:
    with self._disk_errors():
      self.manager.wait_until_finished()
    self.manager.close()


_DISK_ERRNOS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
                errno.EROFS: "the file system is read-only"}


def _disk_reason(e: BaseException) -> str | None:
  """What a checkpoint write error says about the disk, or None (then a bug)."""
  if isinstance(e, OSError):
    return _DISK_ERRNOS.get(e.errno)
  text = str(e)
  if "RESOURCE_EXHAUSTED" in text or "No space left on device" in text:
    return "the disk is full (RESOURCE_EXHAUSTED)"
  if "Read-only file system" in text:
    return "the file system is read-only"
  return None


def restore_raw(directory: str, step: int | None = None):
  """(step, state as saved: nested dicts of numpy arrays) without a template, or
  (None, None) when `directory` holds no complete checkpoint. For reading another
  run's parameters (init_from), whose model need not be rebuilt."""
  if not os.path.isdir(directory):
    return None, None
  with ocp.CheckpointManager(os.path.abspath(directory), item_names=("state", "data")) as mgr:
    step = mgr.latest_step() if step is None else int(step)
    if step is None:
      return None, None
    out = mgr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))
    return step, jax.tree.map(np.asarray, dict(out["state"]))


def restore_workdir_raw(workdir: str, which: str = "best"):
  """(directory, step, raw state) of a workdir's selected checkpoint (`which="best"`;
  the latest when it has none) or its latest one (`which="latest"`).
  Raises FileNotFoundError naming the workdir when it holds none."""
  workdir = os.path.abspath(os.path.expanduser(workdir))
  dirs = ([BEST_DIR] if which == "best" else []) + [LATEST_DIR]
  for d in dirs:
    step, raw = restore_raw(os.path.join(workdir, d))
    if raw is not None:
      return os.path.join(workdir, d), step, raw
  raise FileNotFoundError(f"{workdir} holds no complete checkpoint (looked in {', '.join(dirs)})")
