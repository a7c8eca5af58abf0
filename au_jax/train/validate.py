"""Up-front checks of an experiment config, and the engine's defaults.

`check_config(config)` runs before any file is touched: unknown keys, wrong
types and impossible values fail as `au_jax.errors.UserError`s naming the
key (launch.py prints them in plain lines). The model's own keys are checked
by its `build` (au_jax.models.hparams); optimiser and stage keys by
au_jax.train.optim / schedule.

The engine's defaults (TRAIN_DEFAULTS and the data / eval / top-level ones)
live in au_jax.defaults; `resolve` fills them into a config.
"""
from __future__ import annotations

import difflib

from au_jax import defaults, models
from au_jax.defaults import TRAIN_DEFAULTS, resolve  # noqa: F401  (this module's API)
from au_jax.errors import ConfigKeyError, ConfigValueError
from au_jax.train.precision import check as check_precision

METRICS = ("f1", "accuracy", "auc", "phi", "icc", "mae", "mse", "pcc")

_TRAIN_REQUIRED = ("batch_size", "stages")
_TRAIN_OTHER = ("optimizer", "group_optimizer")
_DATA_KEYS = ("sources", "test_sources", "data_dir", "aus", "occurrence_threshold", "num_threads",
              "train_splits")
_EVAL_KEYS = ("batch_size", "threshold_metric", "save_predictions", "plots")
_TOP_KEYS = ("seed", "num_devices", "data", "model", "train", "eval")


def _unknown(section: str, keys, allowed) -> None:
  extra = sorted(set(keys) - set(allowed))
  if extra:
    close = difflib.get_close_matches(extra[0], list(allowed), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigKeyError(f"{section} has unknown key {extra[0]!r}{hint}; allowed: "
                         f"{sorted(allowed)}")


def _int(section: str, key: str, value, minimum: int) -> int:
  if isinstance(value, bool) or not isinstance(value, int):
    try:
      if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
      else:
        raise TypeError
    except TypeError:
      raise ConfigValueError(f"{section}.{key} must be an integer, got {value!r}") from None
  if value < minimum:
    raise ConfigValueError(f"{section}.{key} must be >= {minimum}, got {value}")
  return value


def train_value(tcfg, key: str):
  """config.train.<key>, or the engine's default (au_jax.defaults)."""
  return defaults.value(tcfg, "train", key)


def check_config(config) -> None:
  """Raises a UserError naming the first wrong key or value of `config`."""
  for section in ("data", "model", "train", "eval"):
    if section not in config:
      raise ConfigKeyError(f"config has no '{section}' section")
  _unknown("config", config.keys(), _TOP_KEYS)
  if "name" not in config.model:
    raise ConfigKeyError("config.model.name is missing (which registered model to train)")
  _unknown("config.data", config.data.keys(), _DATA_KEYS)
  _unknown("config.train", config.train.keys(),
           set(TRAIN_DEFAULTS) | set(_TRAIN_REQUIRED) | set(_TRAIN_OTHER))
  _unknown("config.eval", config.eval.keys(), _EVAL_KEYS)
  if config.model.name not in models.MODELS:
    raise ConfigKeyError(f"config.model.name {config.model.name!r} is not a model; choose from "
                         f"{sorted(models.MODELS)}")
  config = resolve(config)
  _int("config", "seed", config.seed, 0)
  _int("config", "num_devices", config.num_devices or 0, 0)

  d = config.data
  if not list(d.get("sources") or []):
    raise ConfigValueError("config.data.sources is empty: name at least one dataset")
  _int("config.data", "occurrence_threshold", d.occurrence_threshold, 1)
  _int("config.data", "num_threads", d.num_threads, 1)

  t = config.train
  for key in _TRAIN_REQUIRED:
    if key not in t:
      raise ConfigKeyError(f"config.train.{key} is missing")
  _int("config.train", "batch_size", t.batch_size, 1)
  stages = list(t.stages or [])
  if not stages:
    raise ConfigValueError("config.train.stages is empty")
  for i, st in enumerate(stages):
    if "fit" not in dict(st):
      _int(f"config.train.stages[{i}]", "steps", dict(st).get("steps", 0), 1)
  for key, minimum in (("repeat", 1), ("log_every", 1), ("checkpoint_every", 1),
                       ("keep_checkpoints", 1), ("patience", 0)):
    _int("config.train", key, t[key], minimum)
  every = t.eval_every
  if every != "auto":
    _int("config.train", "eval_every", every, 0)
  metric = str(t.select_metric)
  if metric not in ("auto", "none") + METRICS:
    raise ConfigValueError(f"config.train.select_metric {metric!r} unknown; use 'auto', 'none' "
                           f"or one of {list(METRICS)}")
  if t.patience_scope not in ("run", "stage"):
    raise ConfigValueError(f"config.train.patience_scope must be 'run' or 'stage', got "
                           f"{t.patience_scope!r}")
  check_precision(t.precision, "config.train.precision")
  _unknown("config.train.divergence", dict(t.divergence), TRAIN_DEFAULTS["divergence"])

  e = config.eval
  _int("config.eval", "batch_size", e.batch_size, 1)
  thr = e.threshold_metric
  if thr and thr not in ("f1", "accuracy", "phi"):
    raise ConfigValueError(f"config.eval.threshold_metric must be 'f1', 'accuracy', 'phi' or "
                           f"empty (0.5), got {thr!r}")
