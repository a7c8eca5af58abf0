"""Config blocks shared by experiment configs (plain functions, no inheritance).

Every experiment config (configs/<method>_<dataset>.py) imports this module,
`ml_collections` and `au_jax` only, never another experiment config: what two
configs of a method share is a function here, called with keyword arguments.
The engine's defaults are not restated: `train_config` writes them in from
au_jax.train.validate.TRAIN_DEFAULTS (so that each can be set from the
command line), and a config names only the values it chooses.
"""
from __future__ import annotations

import json
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
      if key == "steps" and out[key] < 0:
        raise ValueError(f"config arg steps={value}: give a positive number of steps "
                         f"(0: the config's default)")
    elif isinstance(default, float):
      out[key] = float(value)
    else:
      out[key] = value
  return out


def data_dir() -> str:
  return os.path.expanduser(os.environ.get("AU_JAX_DATA_DIR", "~/tensorflow_datasets"))


def synthetic_name(dataset: str, runlocal: bool = False) -> str:
  """"synthetic_au/<dataset>", or its `_tiny` twin for a runlocal smoke run
  (the twin of a `_large` config is the default's)."""
  if runlocal:
    dataset = dataset.removesuffix("_large") + "_tiny"
  return f"synthetic_au/{dataset}"


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
      batch_size=batch_size, threshold_metric="f1", save_predictions=True, plots=True,
      **kwargs))


def base_config(seed: int = 0) -> ml_collections.ConfigDict:
  """The top level of an experiment config: seed, and every local device."""
  return ml_collections.ConfigDict(dict(seed=seed, num_devices=0))   # 0 = all local devices


# ---- CCNN (Walecki et al., CVPR 2017) -------------------------------------------------------

# lambda of Eq. 11 tuned per AU on validation: the grid (the paper gives none), and the smoke
# run's (still a per-AU choice).
CCNN_LAMBDA_GRID = (0.0, 1e-5, 1e-4, 1e-3, 1e-2)
CCNN_RUNLOCAL_GRID = (1e-4, 1e-2)
# The synthetic config's network for 2 CPU cores (ccnn_synthetic.py's docstring), and the
# smoke run's.
CCNN_CPU_NETWORK = dict(input_size=48, kernel=5)
CCNN_SMOKE_NETWORK = dict(input_size=24, kernel=5, features=(4, 8, 8), fc_units=16)


def ccnn_stages(variant: str, it: bool, steps: int, cycles: int, multi: bool = False) -> list:
  """The training schedule of a CCNN variant: Alg. 1's three balanced stages, or one stage.

  Args:
    variant: "cnn" | "ocnn" | "scnn" | "ccnn" (CNN / OCNN have no pairwise stage).
    it: iterative balanced batches (Alg. 1) or plain joint training.
    steps: total optimiser steps (split evenly over the cycles).
    cycles: number of Alg. 1 iterations (config.train.repeat).
    multi: several datasets (Eq. 12): each balanced sampler is applied within
      every dataset and the datasets get equal shares of each batch.

  Returns:
    list of stage dicts for config.train.stages (repeat = cycles if it, else 1).
  """
  def sampler(name):
    if not multi:
      return dict(sampler=name)
    return dict(sampler="dataset_balanced", sampler_kwargs=dict(within=name))

  if not it:
    return [dict(name="joint", trainable="all", steps=steps, **sampler("uniform"))]
  per = max(steps // cycles, 4)
  cnn, unary = per // 2, per // 4
  pair = per - cnn - unary
  stages = [dict(name="cnn", trainable="cnn", steps=cnn, **sampler("subject_balanced"))]
  if variant in ("scnn", "ccnn"):
    stages += [
        dict(name="unary", trainable="unary", steps=unary, loss_weights=dict(pair=0.0),
             **sampler("level_balanced")),
        dict(name="pairwise", trainable="pairwise", steps=pair, loss_weights=dict(unary=0.0),
             **sampler("cooccurrence_balanced"))]
  else:
    stages += [dict(name="unary", trainable="unary", steps=unary + pair,
                    **sampler("level_balanced"))]
  return stages


def ccnn_unary_l2(lam: float, lambda_file: str = ""):
  """lambda of Eq. 11: the per-AU list of a lambda file (the `lambda` list of
  a lambdas.json or of benchmarks/ccnn_tune_lambda.py; the paper's procedure:
  "we tune the validation parameter lambda_r separately for each AU", Sec.
  3.3), else the scalar `lam`."""
  if not lambda_file:
    return float(lam)
  with open(os.path.expanduser(lambda_file)) as f:
    return tuple(float(v) for v in json.load(f)["lambda"])


def ccnn_lambda(lam: str, lambda_file: str, runlocal: bool = False):
  """(unary_l2, lambda_tuning) of the config args `lam` and `lambda_file`.

  `lam` = "tune": lambda per AU tuned on validation (lambda_tuning set; the
  scalar is a placeholder each grid run replaces); a number: that lambda for
  every AU; `lambda_file`: the file's per-AU list (lam must stay "tune").
  """
  if lambda_file:
    if str(lam) != "tune":
      raise ValueError(f"config args lam={lam} and lambda_file={lambda_file}: give one of them")
    return ccnn_unary_l2(0.0, lambda_file), None
  if str(lam) == "tune":
    grid = CCNN_RUNLOCAL_GRID if runlocal else CCNN_LAMBDA_GRID
    return float(grid[0]), dict(grid=grid, metric="icc")
  try:
    return float(lam), None
  except ValueError:
    raise ValueError(f"config arg lam={lam!r}: 'tune' (per AU, on validation) or a number") \
        from None


def ccnn_model(variant: str = "ccnn", decode: str = "map", lam=1e-4, **overrides
               ) -> ml_collections.ConfigDict:
  """config.model of the paper's CCNN.

  The defaults of `CCNN`, `CCNNTransform` and `CCNNOptions` (au_jax/models/
  ccnn/model.py) are the paper's network and preprocessing: 3 conv layers of
  32 / 64 / 128 9x9 filters with 2x2 max-pooling, FC 128, L = 6 levels,
  Frank copulas over all AU pairs, two-eye registration, random 85% crops,
  MAP decoding (exact for <= 6 AUs, else loopy BP + ICM where the paper uses
  AD3). Set here: the variant, the paper's 128x128 input (the transform's
  default is 64), lambda of Eq. 11 (`lam`: a scalar or one per AU; the
  paper tunes one per AU on validation but gives no values) and the face's
  margin in the registered frame (the paper gives none; see CCNNTransform).
  """
  return ml_collections.ConfigDict({**dict(
      name="ccnn", variant=variant,
      input_size=128,
      face_margin=0.1,          # the 68 template points stay inside every 85% crop
      unary_l2=lam,             # lambda of Eq. 11 (lambda_q per AU, Alg. 1 step 2)
      decode=decode,            # "map" (Sec. 3.3.1) or "expected" for `intensity`
  ), **overrides})


def ccnn_train(*, variant: str, it: bool, steps: int, cycles: int, multi: bool = False,
               batch_size: int = 128, learning_rate: float = 1e-3, clip_norm: float = 0.0,
               **kwargs) -> ml_collections.ConfigDict:
  """config.train of CCNN: SGD with momentum 0.9 (the paper's batch 128 and
  learning rate 0.001 by default; `clip_norm` > 0 clips the gradient's norm),
  Alg. 1's stages cycled `cycles` times with IT (`ccnn_stages`), the last
  checkpoint kept."""
  optimizer = dict(name="sgd", learning_rate=learning_rate, momentum=0.9)
  if clip_norm:
    optimizer["clip_norm"] = clip_norm
  return train_config(batch_size=batch_size, optimizer=optimizer, group_optimizer={},
                      stages=ccnn_stages(variant, it, steps, cycles, multi),
                      repeat=cycles if it else 1, keep_checkpoints=1, **kwargs)


def ccnn_smoke(config, *, variant: str, it: bool, steps: int = 0, multi: bool = False,
               scnn_table: str = "full") -> None:
  """A CCNN smoke run in place (seconds): the tiny network, batch 8, `steps`
  (default 12) in 2 Alg. 1 cycles at the synthetic config's optimiser."""
  config.model.update(CCNN_SMOKE_NETWORK)
  if variant == "scnn":
    config.model.scnn_table = scnn_table
  config.train = ccnn_train(variant=variant, it=it, steps=steps or 12, cycles=2, multi=multi,
                            batch_size=8, learning_rate=0.01, clip_norm=10.0,
                            log_every=2, eval_every=6, checkpoint_every=6)
  config.eval = eval_config(batch_size=16)


# ---- DSIN (Corneanu et al., ECCV 2018) ------------------------------------------------------

def dsin_model(*, T: int, ncf: bool, balance: bool, **kwargs) -> ml_collections.ConfigDict:
  """config.model of DSIN: `T` SI iterations (0 = PP+F), `ncf` no correction
  factors, `balance` class-balanced L_Pi; the rest (sizes) from `kwargs`, the
  module's paper-sized defaults otherwise (au_jax/models/dsin/model.py)."""
  return ml_collections.ConfigDict(dict(
      name="dsin", **kwargs,
      iterations=T, use_correction=not ncf, balance=balance, chi_reg=5e-3))


def dsin_train(stages: list, **kwargs) -> ml_collections.ConfigDict:
  """config.train of DSIN: Adam lr 1e-3 and batch 64 (Sec. 4.1), Alg. 1's
  `stages` (au_jax.models.dsin.stages.alg1_stages) run once, model selection
  ("early stopping") on validation F1."""
  return train_config(batch_size=64, optimizer=dict(name="adam", learning_rate=1e-3),
                      group_optimizer={}, stages=stages, select_metric="f1", **kwargs)


def dsin_smoke(config, stages: list) -> None:
  """A DSIN smoke run in place (seconds): a tiny network, batch 8, `stages`."""
  config.model.update(face_size=64, patch_size=16, features=(4, 8), kernels=(3, 3),
                      fc_units=(16,), fusion_units=8,
                      # tiny nets are compile-bound: JAX's grouped convolutions compile
                      # faster than the looped CPU lowering (model.DSIN.patch_conv), and
                      # run as fast here
                      patch_conv="grouped")
  config.train.update(batch_size=8, log_every=3, eval_every=6, checkpoint_every=6, patience=0)
  config.train.stages = stages
  config.eval.batch_size = 16


# ---- Gudi et al. (FG 2015) ------------------------------------------------------------------

def gudi_model(**overrides) -> ml_collections.ConfigDict:
  """config.model of the FERA 2015 CNN. The paper's network and preprocessing
  are the defaults of GudiCNN and GudiTransform (au_jax/models/gudi/model.py);
  named here: the FC width (the knob the throughput runs vary), the mirroring
  (`train_copies`: 1 = random mirror, 2 = image + mirrored copy) and how the
  LCN's Gaussian blur is lowered (`lcn_impl`: "banded" matrix products, or
  "conv", one-channel convolutions; same numbers)."""
  return ml_collections.ConfigDict({**dict(name="gudi_fera2015", fc_units=3072, train_copies=1,
                                           lcn_impl="banded"), **overrides})


def gudi_train(steps: int, **kwargs) -> ml_collections.ConfigDict:
  """config.train of the FERA 2015 CNN: SGD with momentum 0.9 and batch 100
  (as published), learning rate 0.01 (the paper gives none), `steps` steps."""
  return train_config(
      batch_size=100, optimizer=dict(name="sgd", learning_rate=0.01, momentum=0.9),
      group_optimizer={}, stages=gudi_stages(steps), **kwargs)


def gudi_stages(steps: int) -> list:
  return [dict(name="sgd", trainable="all", sampler="uniform", steps=steps)]


def gudi_smoke(config, steps: int = 0) -> None:
  """A smoke run in place (seconds): a narrow network, `steps` (default 6) of batch 8."""
  config.model.update(fc_units=64, features=(8, 8, 16))
  config.train.update(batch_size=8, log_every=2, eval_every=4, checkpoint_every=3)
  config.train.stages = gudi_stages(steps or 6)
  config.eval.batch_size = 16


# ---- AU heatmaps (Sanchez et al., BMVC 2018) ------------------------------------------------

def heatmaps_model(aus, *, centres, input_size: int, features: int, arch: str, runlocal: bool,
                   **overrides) -> ml_collections.ConfigDict:
  """config.model: the method as published at `input_size` and `features`
  (runlocal: a tiny network), the `centres` rows of `aus` as data
  (au_jax.models.heatmaps.targets: AU_CENTRES_68 for licensed data,
  SYNTHETIC_CENTRES_68 for the synthetic faces)."""
  model = ml_collections.ConfigDict(dict(
      name="heatmaps", input_size=input_size, features=features, depth=4,
      # AU centres as data: JAA-Net's rule (+ AUs 5, 20; on synthetic faces
      # AU17/26 at the chin midpoints): rows (au, iBUG-68 points averaged,
      # dx, dy in inner-eye-corner distances); targets.py.
      au_centres=tuple(r for r in centres if r[0] in aus),
      sigma=3.0, support=6.0, huber_delta=1.0, missing_centre="skip", min_au_weight=0.1,
      arch=arch, landmark_noise=3.0, registration="similarity", colour_noise=0.2,
      label_noise=0.2, **overrides))
  if arch == "resnet18":   # its own widths (torchvision's), no hourglass keys
    del model.features, model.depth
    model.widths = (8, 16, 32, 64) if runlocal else (64, 128, 256, 512)
  elif runlocal:
    model.features = 16
  return model


def heatmaps_stages(steps: int) -> list:
  return [dict(name="heatmaps", trainable="all", sampler="uniform", steps=steps)]


def heatmaps_optimizer(schedule: str = "constant", steps: int = 0) -> dict:
  """RMSprop from 1e-3 (Sec. 4; PyTorch's RMSprop defaults): `schedule` =
  "constant", or "step": x0.1 after half of the `steps` (optax staircase)."""
  if schedule not in ("step", "constant"):
    raise ValueError(f"schedule={schedule!r}: choose 'step' or 'constant'")
  opt = dict(name="rmsprop", learning_rate=1e-3)
  if schedule == "step":
    opt.update(schedule="step", decay_steps=max(steps // 2, 1))
  return opt


def heatmaps_train(steps: int, *, batch_size: int, optimizer: dict, **kwargs
                   ) -> ml_collections.ConfigDict:
  """config.train of the heatmap regression: one stage of `steps`, model
  selection by validation ICC (as published)."""
  return train_config(batch_size=batch_size, optimizer=optimizer, group_optimizer={},
                      stages=heatmaps_stages(steps), select_metric="icc", **kwargs)


def heatmaps_smoke(config, steps: int = 0) -> None:
  """A smoke run in place (seconds): `steps` (default 6) of batch 8."""
  config.train.update(batch_size=8, log_every=2, eval_every=3, checkpoint_every=3)
  config.train.stages = heatmaps_stages(steps or 6)
  config.eval.batch_size = 16


# ---- Multi-label CNN + QDA (Ghosh et al., ACII 2015) ----------------------------------------

# The 10 AUs all three of the paper's datasets share (Sec. III): its cross-dataset AU list.
MULTILABEL_SHARED_AUS = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20)
# Sec. V: "the optimal model being selected 1000 iterations after the validation error starts
# increasing" (multilabel_select_as_published).
MULTILABEL_EARLY_STOP_ITERATIONS = 1000


def multilabel_model(**overrides) -> ml_collections.ConfigDict:
  """config.model: the paper's choices (module / transform defaults) named."""
  return ml_collections.ConfigDict({**dict(
      name="multilabel", input_size=48, colour="grey", registration=None, neutral=True,
      kernels=(7, 5), pools=(3, 2), qda_reg=0.05), **overrides})


def multilabel_stages(steps: int) -> list[dict]:
  """SGD on the multi-label softmax loss, then the QDA fit (Sec. V)."""
  return [dict(name="sgd", trainable="all", sampler="uniform", steps=steps),
          dict(name="qda", fit="qda")]


def multilabel_train(steps: int, **kwargs) -> ml_collections.ConfigDict:
  """config.train: SGD (learning rate, momentum and weight decay inside the
  paper's random-search ranges), `steps` steps then the QDA fit, model
  selection on validation 2AFC ("auc")."""
  kwargs = dict(dict(eval_every=250, checkpoint_every=250), **kwargs)
  return train_config(
      batch_size=64,
      optimizer=dict(name="sgd", learning_rate=0.01, momentum=0.9, weight_decay=5e-4),
      group_optimizer={}, stages=multilabel_stages(steps), select_metric="auc", **kwargs)


def multilabel_select_as_published(train_cfg, eval_every: int = 250, retrain: bool = True
                                   ) -> None:
  """Early stopping 1000 iterations after the validation 2AFC stops rising,
  then (`retrain`) training again on train + validation for the selected
  number of steps, the QDA refitted, test with the first run's thresholds
  ("we retrain the network with a combination of training and validation
  data prior to leave-one-out testing", Sec. V; au_jax.train.retrain).

  The engine stops after `patience` evaluations without a better validation
  metric and keeps the best one, so patience x eval_every = 1000 iterations.
  The validation error is 1 - mean 2AFC ("auc", the paper's threshold-free
  metric; the engine computes no validation loss, and accuracy would depend
  on the tuned thresholds)."""
  if MULTILABEL_EARLY_STOP_ITERATIONS % eval_every:
    raise ValueError(f"eval_every {eval_every} must divide {MULTILABEL_EARLY_STOP_ITERATIONS}")
  train_cfg.update(select_metric="auc", eval_every=eval_every,
                   patience=MULTILABEL_EARLY_STOP_ITERATIONS // eval_every, patience_scope="run",
                   retrain_on_validation=retrain)


def multilabel_smoke(config, steps: int = 0) -> None:
  """A smoke run in place (seconds): a narrow network, `steps` (default 6) of batch 8."""
  config.model.update(kernels=(5, 3), features=(4, 8), fc_units=16)
  config.train.update(batch_size=8, log_every=2, eval_every=3, checkpoint_every=3,
                      patience=min(config.train.get("patience", 0), 2))
  config.train.stages = multilabel_stages(steps or 6)
  config.eval.batch_size = 16
