"""Up-front checks of an experiment config, and the engine's defaults.

`check_config(config)` runs before any file is touched: unknown keys, wrong
types and impossible values fail as `au_jax.errors.UserError`s naming the
key (launch.py prints them in plain lines). The model's own keys are checked
by its `build` (au_jax.models.hparams); optimiser and stage keys by
au_jax.train.optim / schedule.

TRAIN_DEFAULTS holds the engine's default for every optional config.train
key, once: the engine reads them from here and `configs/common.train_config`
writes them into each config (so that each can be overridden from the
command line).
"""
from __future__ import annotations

import difflib

from au_jax import models
from au_jax.errors import ConfigKeyError, ConfigValueError

METRICS = ("f1", "accuracy", "auc", "phi", "icc", "mae", "mse", "pcc")

TRAIN_DEFAULTS = dict(
    repeat=1,                 # cycles of the stage list
    reset_optimizer=True,     # each stage starts its groups' optimiser state afresh (per-stage
                              # override: stages[i].reset_optimizer); see train/schedule.py
    log_every=50,             # steps per logged training window
    eval_every="auto",        # validation every N steps; "auto" = ~10 per run; 0 = never
    checkpoint_every=500,     # steps between checkpoints (the unit of resume)
    keep_checkpoints=2,       # regular checkpoints kept
    select_metric="auto",     # model selection: a validation mean metric, "auto" (ICC when
                              # the data code intensity, else 2AFC) or "none" (last step)
    patience=0,               # stop after N evaluations without improvement (0 = never)
    patience_scope="run",     # "run": skip to the next fit stage / end; "stage": to the stage's end
    init_from=dict(workdir="", groups="all", checkpoint="best"),   # workdir "" = off
    allow_config_change=False,  # resume a workdir whose saved config differs (recorded)
    retrain_on_validation=False,  # then retrain on train + validation (au_jax.train.retrain)
    divergence=dict(max_loss_ratio=1e3, zero_grad_windows=1, constant_eps=1e-6),
    precision="float32",      # "bfloat16": mixed precision (au_jax.train.precision)
)
_TRAIN_REQUIRED = ("batch_size", "stages")
_TRAIN_OTHER = ("optimizer", "group_optimizer")
_DATA_KEYS = ("sources", "test_sources", "data_dir", "aus", "occurrence_threshold", "num_threads",
              "train_splits")
_EVAL_KEYS = ("batch_size", "threshold_metric", "save_predictions")
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
  """config.train.<key>, or the engine's default."""
  value = tcfg.get(key) if hasattr(tcfg, "get") else None
  return TRAIN_DEFAULTS[key] if value is None else value


def check_config(config) -> None:
  for section in ("data", "model", "train", "eval"):
    if section not in config:
      raise ConfigKeyError(f"config has no '{section}' section")
  _unknown("config", config.keys(), _TOP_KEYS)
  if "name" not in config.model:
    raise ConfigKeyError("config.model.name is missing (which registered model to train)")
  if config.model.name not in models.MODELS:
    raise ConfigKeyError(f"config.model.name {config.model.name!r} is not a model; choose from "
                         f"{sorted(models.MODELS)}")
  _int("config", "seed", config.get("seed", 0), 0)
  _int("config", "num_devices", config.get("num_devices", 0) or 0, 0)

  d = config.data
  _unknown("config.data", d.keys(), _DATA_KEYS)
  if not list(d.get("sources") or []):
    raise ConfigValueError("config.data.sources is empty: name at least one dataset")
  _int("config.data", "occurrence_threshold", d.get("occurrence_threshold", 2), 1)
  _int("config.data", "num_threads", d.get("num_threads", 2), 1)

  t = config.train
  _unknown("config.train", t.keys(), set(TRAIN_DEFAULTS) | set(_TRAIN_REQUIRED) | set(_TRAIN_OTHER))
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
    _int("config.train", key, train_value(t, key), minimum)
  every = train_value(t, "eval_every")
  if every != "auto":
    _int("config.train", "eval_every", every, 0)
  metric = str(train_value(t, "select_metric"))
  if metric not in ("auto", "none") + METRICS:
    raise ConfigValueError(f"config.train.select_metric {metric!r} unknown; use 'auto', 'none' "
                           f"or one of {list(METRICS)}")
  if train_value(t, "patience_scope") not in ("run", "stage"):
    raise ConfigValueError(f"config.train.patience_scope must be 'run' or 'stage', got "
                           f"{train_value(t, 'patience_scope')!r}")
  from au_jax.train.precision import check as check_precision
  check_precision(train_value(t, "precision"), "config.train.precision")
  div = dict(train_value(t, "divergence"))
  _unknown("config.train.divergence", div, TRAIN_DEFAULTS["divergence"])

  e = config.eval
  _unknown("config.eval", e.keys(), _EVAL_KEYS)
  _int("config.eval", "batch_size", e.get("batch_size", 256), 1)
  thr = e.get("threshold_metric", "f1")
  if thr and thr not in ("f1", "accuracy", "phi"):
    raise ConfigValueError(f"config.eval.threshold_metric must be 'f1', 'accuracy', 'phi' or "
                           f"empty (0.5), got {thr!r}")
