r"""Copula CNN (CCNN-IT, Walecki et al., CVPR 2017) on the synthetic `disfa_like` dataset.

  python launch.py --config=configs/ccnn_synthetic.py --workdir=runs/ccnn
  python launch.py --config=configs/ccnn_synthetic.py:variant=ocnn,it=false --workdir=runs/ocnn
  python launch.py --config=configs/ccnn_synthetic.py:multi --workdir=runs/ccnn_multi
  python launch.py --config=configs/ccnn_synthetic.py:runlocal --workdir=/tmp/ccnn_smoke
  python -m au_jax.models.ccnn.report runs/ccnn     # Table 1 layout, Fig. 3 graph, theta vs truth

The embedded default: no licence, no download (disfa_like is built on first
use, ~80 s). Args: `variant` = cnn | ocnn | scnn | ccnn (Table 1's baselines),
`it` = true | false (iterative balanced batches, Alg. 1), `multi` (Eq. 12:
disfa_like + fera_like, dataset-specific pairwise parameters, dataset-balanced
batches), `steps` (total optimiser steps), `seed`, `decode` = map | expected,
`lam` (lambda of Eq. 11, one for all AUs; default 1e-4) or `lambda_file` (one
lambda per AU, tuned on validation by benchmarks/ccnn_tune_lambda.py, as the
paper does: "we tune the validation parameter lambda_r separately for each
AU", Sec. 3.3), `scnn_table` = full (the paper's linear pairwise table) |
interaction (SCNN's table without its row / column offsets; not in the
paper, see `au_jax.models.ccnn.loss.interaction_part`).

As published: 3 conv layers with 32 / 64 / 128 filters, each followed by 2x2
max-pooling, FC to 128 features, two-eye registration, per-image contrast
normalisation, random 85% crops, ordinal probit unaries, Frank-copula
pairwise potentials, composite likelihood with l2 on the unaries, SGD with
momentum 0.9. Not given by the paper: lambda's values and the face's margin
in the registered frame (face_margin = 0.1 keeps the whole face, chin
included, inside every crop). CPU-friendly departures of THIS config (the 2-core default must
train and evaluate in under 10 minutes; configs/ccnn_disfa.py keeps the
paper's values): 5x5 kernels instead of 9x9, 48x48 input (40x40 crops)
instead of the paper's ~128x96, batch 64 instead of 128, learning rate 0.01
instead of 0.001 (the short schedule), 600 steps (10k images), gradient
clipping at norm 10 (the pair terms of 66 pairs make early gradients large).

Alg. 1 as a stage schedule (`ibb_stages`), cycled `cycles` times: W with
subject-balanced batches on the whole objective (50% of the steps), phi with
intensity-level-balanced batches on the unary terms (25%), theta with
AU-co-occurrence-balanced batches on the pair terms (25%). CNN / OCNN have no
theta: their unary stage takes the pairwise stage's steps, so every variant
gets the same number of optimiser steps (and the same W updates). Without IT:
one stage, all parameters, uniform batches.

Paper (DISFA, Table 1): ICC CNN .23, OCNN .29, CCNN .32, OCNN-IT .36, CCNN-IT
.38, CCNN-IT(*) .45. Ours on synthetic data: docs/ccnn.md.
"""
from __future__ import annotations

import json
import os

import ml_collections

from configs import common


def ibb_stages(variant: str, it: bool, steps: int, cycles: int, multi: bool = False) -> list:
  """The training schedule of a variant: Alg. 1's three balanced stages, or one stage.

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


def unary_l2(lam: float, lambda_file: str = ""):
  """lambda of Eq. 11: the per-AU list of a benchmarks/ccnn_tune_lambda.py
  file (the paper's procedure: "we tune the validation parameter lambda_r
  separately for each AU", Sec. 3.3), else the scalar `lam`."""
  if not lambda_file:
    return float(lam)
  with open(os.path.expanduser(lambda_file)) as f:
    return tuple(float(v) for v in json.load(f)["lambda"])


def model_config(variant="ccnn", decode="map", lam=1e-4, **overrides
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
  return ml_collections.ConfigDict(dict(
      name="ccnn", variant=variant,
      input_size=128,
      face_margin=0.1,          # the 68 template points stay inside every 85% crop
      unary_l2=lam,             # lambda of Eq. 11 (lambda_q per AU, Alg. 1 step 2)
      decode=decode,            # "map" (Sec. 3.3.1) or "expected" for `intensity`
      **overrides))


def get_config(arg=None):
  arg = common.parse_arg(arg, runlocal=False, steps=0, variant="ccnn", it=True, multi=False,
                         seed=0, protocol="default", dataset="disfa_like", decode="map",
                         cycles=5, lam=1e-4, lambda_file="", scnn_table="full")
  config = ml_collections.ConfigDict()
  config.seed = arg.seed
  config.num_devices = 0                                   # 0 = all local devices
  names = [arg.dataset] + (["fera_like"] if arg.multi else [])
  suffix = "_tiny" if arg.runlocal else ""
  config.data = common.data_config(
      [dict(name=f"synthetic_au/{n}{suffix}", protocol=arg.protocol) for n in names])
  config.model = model_config(arg.variant, arg.decode, unary_l2(arg.lam, arg.lambda_file))
  config.model.update(input_size=48, kernel=5)
  if arg.variant == "scnn":
    config.model.scnn_table = arg.scnn_table
  steps = arg.steps or 600
  cycles = arg.cycles
  config.train = common.train_config(
      batch_size=64,
      optimizer=dict(name="sgd", learning_rate=0.01, momentum=0.9, clip_norm=10.0),
      group_optimizer={},
      stages=ibb_stages(arg.variant, arg.it, steps, cycles, arg.multi),
      repeat=cycles if arg.it else 1,
      # validation every 100 steps; the best by mean ICC is the model tested
      log_every=50, eval_every=100, checkpoint_every=500, keep_checkpoints=1,
  )
  config.eval = common.eval_config(batch_size=256)
  if arg.runlocal:  # a tiny smoke run: seconds
    config.model.update(input_size=24, features=(4, 8, 8), fc_units=16)
    config.train.batch_size = 8
    steps = arg.steps or 12
    config.train.stages = ibb_stages(arg.variant, arg.it, steps, 2, arg.multi)
    config.train.repeat = 2 if arg.it else 1
    config.train.log_every = 2
    config.train.eval_every = 6
    config.train.checkpoint_every = 6
    config.eval.batch_size = 16
  return config
