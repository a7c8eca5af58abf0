r"""DSIN (Corneanu et al., ECCV 2018) on DISFA, starting from BP4D patch CNNs.

  python -m tfds_builders.build disfa --manual_dir=/path/to/DISFA --data_dir=~/tensorflow_datasets
  python launch.py --config=configs/dsin_bp4d.py:fold=1 --workdir=runs/dsin_bp4d_f1
  python launch.py --config=configs/dsin_disfa.py:fold=1,bp4d_workdir=runs/dsin_bp4d_f1 \
      --workdir=runs/dsin_disfa_f1
  python launch.py --config=configs/dsin_disfa.py:runlocal,bp4d_workdir=/tmp/dsin_bp4d_smoke \
      --workdir=/tmp/dsin_disfa_smoke

Transfer (Sec. 4.1): "on DISFA we take the best CNNs trained for patch
prediction on the BP4D and retrained fully connected layers for the new set
of outputs. We fix the convolutional filters throughout the rest of the
training." With `bp4d_workdir=` the run copies the parameter group
"patch_conv" (conv + batch norm blocks of the six patch CNNs, and their
batch-norm running averages) from that workdir's selected (best) checkpoint
(config.train.init_from); no stage trains "patch_conv" (stages.alg1_stages
with fixed_conv), and `fixed_conv` keeps those blocks' batch norm on the
BP4D running averages, so the convolutions are exactly BP4D's. The FC layers
("patch_fc": FC layers and the 8 outputs), fusion and structure inference are
initialised afresh and trained by Alg. 1. The BP4D run must use the same
patch CNN shape (face_size, patch_size, features, kernels: a mismatch fails
naming the parameter). Without `bp4d_workdir` (the default) the whole
network is trained from scratch on DISFA: not the paper's setting.

Evaluation as published: occurrence = intensity > 3 (`occ_threshold=4`,
i.e. intensity >= 4, the paper's DISFA rule); the project's default rule is
intensity >= 2 (`occ_threshold=2`, au_jax/aus.py), used by the other DISFA
configs. The paper's 8 DISFA AUs (1, 2, 4, 6, 9, 12, 25, 26). F1 at tau = 0.5
(the paper's tables) and with per-AU thresholds tuned on validation
(DSIN^tt): dsin_report.md.

Steps per stage (2000, 2000, 1000, 4000, 2000): not in the paper; the
fusion and SI lengths follow what configs/dsin_synthetic.py measured at the
same optimiser (fusion ~1500 steps to flatten, SI > 4000), as in
configs/dsin_bp4d.py. Model selection ("early stopping") on validation F1
among the evaluations of step 5 only (stages.alg1_stages: steps 1-4 are
logged with select=False); patience 10 counts those only.

Args: `fold` 1-3 (builder protocols: 14 train + 4 validation + 9 test
subjects), `bp4d_workdir`, `occ_threshold`, `T`, `ncf`, `balance`, `steps`,
`seed`, `runlocal` (synthetic `disfa_like_tiny`, tiny network; with
`bp4d_workdir` a dsin_bp4d.py:runlocal run).

Paper (DISFA, 3-fold, Table 3): mean F1 PP(face) 43.9, PP+F 48.0, DSIN 53.6,
DSIN^tt 56.7. Not run here on DISFA (we do not hold it).
"""
from __future__ import annotations

from au_jax.models.dsin.stages import alg1_stages
from configs import common

DISFA_AUS = (1, 2, 4, 6, 9, 12, 25, 26)   # the paper's Table 3


def get_config(arg=None):
  arg = common.parse_arg(arg, runlocal=False, fold=1, bp4d_workdir="", occ_threshold=4, T=10,
                         ncf=False, balance=True, steps=0, seed=0)
  transfer = bool(arg.bp4d_workdir)
  config = common.base_config(arg.seed)
  config.data = common.data_config([dict(name="disfa", protocol=f"fold{arg.fold}")])
  config.data.aus = DISFA_AUS
  # Paper: occurrence = intensity > 3; the project's default is intensity >= 2.
  config.data.occurrence_threshold = arg.occ_threshold
  config.model = common.dsin_model(T=arg.T, ncf=arg.ncf, balance=arg.balance, face_size=224,
                                   patch_size=56, fixed_conv=transfer)
  per_stage = (arg.steps,) * 5 if arg.steps else (2000, 2000, 1000, 4000, 2000)
  config.train = common.dsin_train(
      alg1_stages(per_stage, has_si=arg.T > 0, fixed_conv=transfer), patience=10,
      log_every=100, eval_every=500)
  if transfer:
    config.train.init_from = dict(workdir=arg.bp4d_workdir, groups=["patch_conv"],
                                  checkpoint="best")
  config.eval = common.eval_config(batch_size=128)
  if arg.runlocal:  # synthetic stand-in, tiny network (as dsin_bp4d.py:runlocal)
    config.data.sources = [dict(name="synthetic_au/disfa_like_tiny", protocol="default")]
    config.data.aus = ()
    common.dsin_smoke(config, alg1_stages((arg.steps or 3,) * 5, has_si=arg.T > 0,
                                          fixed_conv=transfer))
  return config
