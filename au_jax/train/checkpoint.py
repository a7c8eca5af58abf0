"""Checkpoints of a workdir (orbax): the unit of resume.

`workdir/checkpoints/<step>/` holds the TrainState and, as JSON, the data
iterator state and schedule position. orbax writes each checkpoint to a
temporary directory and renames it when complete, so a run killed mid-save
leaves nothing that a rerun would restore; the rerun resumes from the last
complete checkpoint.
"""
from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp


class Checkpointer:

  def __init__(self, directory: str, max_to_keep: int = 2):
    self.directory = os.path.abspath(directory)
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
        item_names=("state", "data"))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state, data: dict) -> None:
    self.manager.save(int(step), args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), data=ocp.args.JsonSave(data)))

  def restore(self, state_like):
    """(state, data) of the latest checkpoint, shaped/sharded like `state_like`."""
    step = self.manager.latest_step()
    if step is None:
      return None, None
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state_like)
    out = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore()))
    return out["state"], dict(out["data"])

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
