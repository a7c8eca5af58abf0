"""Initialise a run from another run's checkpoint (transfer, fine-tuning).

  config.train.init_from = dict(workdir="runs/dsin_bp4d", groups=["patch_conv"],
                                checkpoint="best")

copies, at the start of a fresh run (never on resume), the parameters of the
named groups (this model's `param_group` labels; "all" or empty = every
group) from the other workdir's selected checkpoint (`best_checkpoint/`, or
the latest when it has none or `checkpoint="latest"`). Non-parameter
collections (e.g. batch-norm statistics) of the copied modules come along.
Every copied parameter must exist in the source with the same shape: a
mismatch fails naming the parameter and both shapes.
"""
from __future__ import annotations

import os

import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from au_jax import defaults
from au_jax.errors import ConfigKeyError, ConfigValueError
from au_jax.train import checkpoint

_KEYS = {"workdir", "groups", "checkpoint"}


class InitFromError(ConfigValueError):
  pass


def check_source(workdir: str) -> None:
  """Refuses a source workdir that does not exist."""
  if not os.path.isdir(os.path.expanduser(workdir)):
    raise InitFromError(f"config.train.init_from.workdir {workdir}: no such directory")


def source_checkpoint(workdir: str, which: str = "best"):
  """(path, step, raw state) of a workdir's selected or latest checkpoint."""
  if which not in ("best", "latest"):
    raise InitFromError(f"config.train.init_from.checkpoint must be 'best' or 'latest', "
                        f"got {which!r}")
  check_source(workdir)
  try:
    return checkpoint.restore_workdir_raw(workdir, which)
  except FileNotFoundError as e:
    raise InitFromError(f"config.train.init_from: {e}") from None
  except Exception as e:  # a corrupt or foreign directory: name it
    raise InitFromError(f"config.train.init_from: cannot read the checkpoint of {workdir}: "
                        f"{e}") from None


def apply(state, init_cfg, labels: dict[str, str], groups: tuple[str, ...]):
  """`state` with the named groups' parameters taken from another run."""
  cfg = dict(init_cfg)
  extra = set(cfg) - _KEYS
  if extra:
    raise ConfigKeyError(f"config.train.init_from has unknown keys {sorted(extra)}; "
                   f"allowed {sorted(_KEYS)}")
  cfg = defaults.value({"init_from": cfg}, "train", "init_from")
  if not cfg["workdir"]:
    raise InitFromError("config.train.init_from.workdir is empty")
  want = cfg["groups"] or "all"
  want = tuple(g.strip() for g in want.split(",")) if isinstance(want, str) else tuple(want)
  if want == ("all",):
    want = tuple(groups)
  unknown = [g for g in want if g not in groups]
  if unknown:
    raise ConfigKeyError(f"config.train.init_from.groups {unknown} unknown; this model has "
                   f"{list(groups)}")
  path, step, raw = source_checkpoint(cfg["workdir"], cfg["checkpoint"])
  src = {k: np.asarray(v) for k, v in dict(raw.get("params") or {}).items()}
  keys = [k for k, g in labels.items() if g in want]
  params = dict(state.params)
  for k in keys:
    if k not in src:
      raise InitFromError(f"init_from {path} (step {step}): parameter {k!r} (group "
                          f"{labels[k]!r}) is not in that checkpoint")
    if src[k].shape != tuple(state.params[k].shape):
      raise InitFromError(f"init_from {path} (step {step}): parameter {k!r} has shape "
                          f"{src[k].shape} there, {tuple(state.params[k].shape)} here")
    params[k] = jnp.asarray(src[k], state.params[k].dtype)
  # Collections such as batch_stats of the modules whose parameters were copied.
  modules = {tuple(k.split("."))[:-1] for k in keys}
  model_state = dict(state.model_state)
  raw_ms = dict(raw.get("model_state") or {})
  for coll, tree in state.model_state.items():
    if coll not in raw_ms:
      continue
    flat = traverse_util.flatten_dict(dict(tree))
    src_flat = traverse_util.flatten_dict(dict(raw_ms[coll]))
    for p, v in flat.items():
      if p[:-1] in modules and p in src_flat and np.shape(src_flat[p]) == np.shape(v):
        flat[p] = jnp.asarray(src_flat[p], v.dtype)
    model_state[coll] = traverse_util.unflatten_dict(flat)
  print(f"[au_jax] initialised {len(keys)} parameters of groups {list(want)} from {path} "
        f"(step {step})", flush=True)
  return state.replace(params=params, model_state=model_state)
