"""The engine's defaults, all of them, and the one function that fills them in.

A config names what it sets; every optional key it leaves out (or sets to
None) takes its default from the tables below: TOP_DEFAULTS for the top
level, DATA_DEFAULTS / TRAIN_DEFAULTS / EVAL_DEFAULTS for config.data /
.train / .eval (the dicts init_from and divergence are merged key by key).

`resolve(config)` returns a copy of a config with every default filled in.
The engine resolves each config once, when it checks it before training
(au_jax.train.loop.train), and reads keys directly from then on; inference
resolves the config saved in a workdir (au_jax.predict), so a workdir whose
config.json predates a key still resumes and predicts (au_jax.train.workdir
compares configs with the defaults filled in). Helpers that take one section
of a config (a schedule, a data config) read a missing key's default with
`value`, from these same tables.

configs/common.py writes TRAIN_DEFAULTS into each experiment config, so that
every key can be overridden from the command line.
"""
from __future__ import annotations

import copy
from typing import Any

import ml_collections

from au_jax.aus import DEFAULT_OCCURRENCE_THRESHOLD

TOP_DEFAULTS = dict(
    seed=0,                   # parameter init, sampling and dropout
    num_devices=0,            # devices of the data-parallel mesh; 0 = all
)

DATA_DEFAULTS = dict(
    data_dir="",              # "" = $AU_JAX_DATA_DIR, else ~/tensorflow_datasets
    test_sources=(),          # cross-dataset protocols: the test split's datasets
    aus=(),                   # () = the union of the datasets' AUs
    train_splits=("train",),  # protocol splits the training split unites (retrain: + validation)
    occurrence_threshold=DEFAULT_OCCURRENCE_THRESHOLD,   # intensity >= this = occurrence
    num_threads=2,            # grain read / transform threads
)

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

EVAL_DEFAULTS = dict(
    batch_size=256,           # evaluation batch (any size: the last batch is padded)
    threshold_metric="f1",    # per-AU thresholds tuned on validation for it; "" = 0.5
    save_predictions=True,    # workdir/{validation,test}_predictions.npz
    plots=True,               # the engine's figures: plots/learning_curves.png, strata.png
)

SECTIONS = {"data": DATA_DEFAULTS, "train": TRAIN_DEFAULTS, "eval": EVAL_DEFAULTS}


def all_defaults() -> dict[str, Any]:
  """Every default as one nested dict shaped like a config."""
  return copy.deepcopy({**TOP_DEFAULTS, **SECTIONS})


def value(section_cfg, section: str, key: str):
  """config.<section>.<key> of a config section (a dict or ConfigDict), or its default."""
  default = SECTIONS[section][key]
  got = section_cfg.get(key) if hasattr(section_cfg, "get") else None
  if got is None:
    return copy.deepcopy(default)
  if isinstance(default, dict) and hasattr(got, "items"):
    return {**default, **dict(got)}
  return got


def _filled(cfg: dict, defaults: dict) -> dict:
  out = dict(cfg)
  for key, default in defaults.items():
    got = out.get(key)
    if got is None:
      out[key] = copy.deepcopy(default)
    elif isinstance(default, dict) and isinstance(got, dict):
      out[key] = {**default, **got}
  return out


def resolve(config) -> ml_collections.ConfigDict:
  """A copy of `config` with every default filled in (the module docstring).
  Idempotent; keys it does not know are kept (the config check names them)."""
  d = config.to_dict() if hasattr(config, "to_dict") else copy.deepcopy(dict(config))
  d = _filled(d, TOP_DEFAULTS)
  for section, defaults in SECTIONS.items():
    if isinstance(d.get(section), dict):
      d[section] = _filled(d[section], defaults)
  return ml_collections.ConfigDict(d)
