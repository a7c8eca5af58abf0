r"""DSIN (Corneanu et al., ECCV 2018) on the synthetic `disfa_like` dataset.

  python launch.py --config=configs/dsin_synthetic.py --workdir=runs/dsin
  python launch.py --config=configs/dsin_synthetic.py:T=5 --workdir=runs/dsin_t5
  python launch.py --config=configs/dsin_synthetic.py:ncf --workdir=runs/dsin_ncf
  python launch.py --config=configs/dsin_synthetic.py:balance=false --workdir=runs/dsin_ncb
  python launch.py --config=configs/dsin_synthetic.py:runlocal --workdir=/tmp/dsin_smoke
  python launch.py --config=configs/dsin_synthetic.py:paper --workdir=runs/dsin_paper

Args: `T` SI iterations (paper's best 10; 0 = PP+F, no SI), `ncf` no
correction factors (DSIN^ncf), `balance` class-balanced L_Pi (PP^ncb when
false), `steps` steps for every stage (0 = this file's uneven ones), `seed`
(init and data order), `dataset` disfa_like | disfa_like_large (the evidence
config of the occlusion strata), `runlocal` a tiny smoke run on disfa_like_tiny,
`paper` the paper's size (below; composes with the others, e.g. `paper,T=5`).

Preprocessing (Sec. 4.1): a fit stage first computes the reference anchors
(eye and mouth centres) as the mean over the TRAINING split's neutral frames
(no AU active; all frames if there is none), and every face is registered to
them by a similarity inside the jitted loss / predict
(au_jax/models/dsin/registration.py), then cut into the five patches + face.
Alg. 1 as five stages run once in order (repeat=1), Adam lr 1e-3 and batch 64
as published; each stage's optimiser starts afresh (train/schedule.py):
  0 anchors fits the reference anchors (one global step, no update)
  1 pp      trains "patch_conv", "patch_fc"    loss_weights pp=1
  2 fusion  trains "fusion" (PP frozen)        fusion=1
  3 pp_f    trains the patch CNNs and fusion   pp=1, fusion=1
  4 si      trains "structure" (PP, F frozen)  si=1
  5 all     trains everything                  pp=0.25, fusion=0.25, si=0.5 (w1, w2, w3)
After the test evaluation the run writes dsin_report.{md,json} (Tables 2-3
layout at tau = 0.5 and tuned, chi per iteration) and plots/patches.png,
chi.png, si_gain.png (au_jax/models/dsin/report.py).
The paper's "early stopping" is the engine's model selection on validation
F1 (select_metric="f1"; DSIN predicts occurrence only, so the engine's
"auto" choice, ICC, would select on a placeholder), among the evaluations
of the LAST stage only (step 5; step 3 with T=0): steps 1-4 are logged with
select=False (stages.alg1_stages), since their evaluations score y^T of an
SI (or a fusion) not trained yet.

Steps per stage (800, 1000, 400, 3000, 1000), 6200 in all (the paper gives
none; 3840 training records = 60 steps per epoch), sized by training each
part alone at Adam 1e-3, batch 64: the fusion flattens after ~1500 steps;
the SI, whose few scalar weights per AU must grow to magnitudes 2-4 at
Adam's ~1e-3 per step, starts predicting positives after ~1750 steps and
still rises at 4000. The schedule gives the SI 4000 updates (steps 4 + 5),
the fusion 2400 (2 + 3 + 5), the patch CNNs 2200 (1 + 3 + 5).

Smaller than the paper, for CPUs (2 cores): the aligned 96 x 96 synthetic
faces are used at face_size 96 with 24 x 24 patches (the paper's 224 and 56,
the same 1/4 ratio), and the patch CNNs are narrower (3 conv blocks 16/32/64,
FC 128 -> 64: 651k parameters) than the module's paper-sized defaults
(model.py: 15.3M). `paper` restores them: 224 x 224 faces (the 96-px
records upsampled by the transform's resize), 56 x 56 patches and the
module's patch CNNs (4 conv blocks 32/64/128/256, kernels 5/3/3/3, FC 512 ->
128: 15.3M parameters); the data, batch, optimiser, stages and selection
stay this file's. On CPU the vmapped patch CNNs run their convolutions as P
ordinary convolutions (model.patch_conv="auto"; JAX's grouped-convolution
batching is much slower on XLA:CPU).
The data's occurrence rule is the project's (intensity >= 2), not the
paper's DISFA rule (intensity > 3).
Paper (DISFA, 3-fold, Table 3): mean F1 PP(face) 43.9, PP+F 48.0, DSIN 53.6,
DSIN^tt 56.7. Ours on synthetic data, run time and speed: docs/dsin.md.
"""
from __future__ import annotations

from au_jax.models.dsin.stages import alg1_stages
from configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, runlocal=False, T=10, ncf=False, balance=True, steps=0, seed=0,
                         dataset="disfa_like", paper=False)
  config = common.base_config(arg.seed)
  config.data = common.data_config([dict(name=common.synthetic_name(arg.dataset, arg.runlocal),
                                         protocol="default")])
  # paper: the module's paper-sized patch CNNs (au_jax/models/dsin/model.py) at 224 / 56
  size = (dict(face_size=224, patch_size=56) if arg.paper else
          dict(face_size=96, patch_size=24, features=(16, 32, 64), kernels=(5, 3, 3),
               fc_units=(128, 64)))
  config.model = common.dsin_model(T=arg.T, ncf=arg.ncf, balance=arg.balance, **size)
  per_stage = (800, 1000, 400, 3000, 1000)   # Alg. 1 steps 1-5: see the docstring
  if arg.steps:
    per_stage = (arg.steps,) * 5
  config.train = common.dsin_train(alg1_stages(per_stage, has_si=arg.T > 0),
                                   eval_every=250)
  config.eval = common.eval_config(batch_size=128)
  if arg.runlocal:  # a tiny smoke run: minutes -> seconds
    common.dsin_smoke(config, alg1_stages((arg.steps or 3,) * 5, has_si=arg.T > 0))
  return config
