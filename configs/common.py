"""Config blocks shared by experiment configs (plain functions, no inheritance)."""
from __future__ import annotations

import os

import ml_collections


def parse_arg(arg: str | None, **defaults) -> ml_collections.ConfigDict:
  """'fold=2,variant=ocnn,runlocal' -> ConfigDict; unknown keys fail naming them.

  A bare word sets a boolean flag (`runlocal` == `runlocal=True`). Values are
  converted to the type of their default.
  """
  out = ml_collections.ConfigDict(defaults)
  if not arg:
    return out
  for item in arg.split(","):
    item = item.strip()
    if not item:
      continue
    key, _, value = item.partition("=")
    key = key.strip()
    if key not in defaults:
      raise KeyError(f"unknown config arg {key!r}; this config takes {sorted(defaults)}")
    default = defaults[key]
    if not _:
      value = "true"
    if isinstance(default, bool):
      if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
        raise ValueError(f"config arg {key}={value!r} is not a boolean")
      out[key] = value.lower() in ("1", "true", "yes")
    elif isinstance(default, int):
      out[key] = int(value)
    elif isinstance(default, float):
      out[key] = float(value)
    else:
      out[key] = value
  return out


def data_dir() -> str:
  return os.path.expanduser(os.environ.get("AU_JAX_DATA_DIR", "~/tensorflow_datasets"))


def data_config(sources, **kwargs) -> ml_collections.ConfigDict:
  """config.data: datasets (name/config + protocol [+ manual_dir]) and pipeline knobs."""
  return ml_collections.ConfigDict(dict(
      sources=[dict(s) for s in sources],
      # Cross-dataset protocol: test on these datasets (name [, protocol="all",
      # as_dataset]) instead of the test split of `sources`, on the shared AUs.
      test_sources=(),
      data_dir=data_dir(),
      aus=(),                         # () = union of the datasets' AU lists
      occurrence_threshold=2,         # occurrence = intensity >= 2 where only intensity is coded
      num_threads=2,                  # grain read/transform threads
      **kwargs))


def train_config(**kwargs) -> ml_collections.ConfigDict:
  """config.train: the experiment's keys over the engine's defaults for every
  optional key (au_jax.train.validate.TRAIN_DEFAULTS: selection, patience,
  init_from, divergence checks, ...), so each can be set from the command line."""
  from au_jax.train.validate import TRAIN_DEFAULTS
  import copy
  return ml_collections.ConfigDict({**copy.deepcopy(TRAIN_DEFAULTS), **kwargs})


def eval_config(batch_size=256, **kwargs) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      batch_size=batch_size, threshold_metric="f1", save_predictions=True, **kwargs))
