r"""AU heatmap regression (Sanchez et al., BMVC 2018) on the synthetic `bp4d_like` dataset.

  python launch.py --config=configs/heatmaps_synthetic.py --workdir=runs/heatmaps
  python launch.py --config=configs/heatmaps_synthetic.py:runlocal --workdir=/tmp/hm_smoke
  python launch.py --config=configs/heatmaps_synthetic.py:arch=resnet18 --workdir=runs/hm_resnet18
  python launch.py --config=configs/heatmaps_synthetic.py:arch=single --workdir=runs/hm_single
  python launch.py --config=configs/heatmaps_synthetic.py:dataset=disfa_like --workdir=runs/hm_disfa_like
  python launch.py --config=configs/heatmaps_synthetic.py:paper --workdir=runs/hm_paper
  python -m au_jax.models.heatmaps.robustness --workdir=runs/heatmaps --sigmas=0,5,10,15,20,25,30,35,40,45,50,55

The embedded default: no licence, no download (the dataset is built on first
use). Intensity of the paper's BP4D subset, AUs 6, 10, 12, 14, 17
(`config.data.aus`); `dataset=disfa_like`: the 12 DISFA AUs (1, 2, 4, 5,
6, 9, 12, 15, 17, 20, 25, 26) of the synthetic `disfa_like`. Targets,
network, loss and inference as in the paper (see
au_jax/models/heatmaps/model.py): one map per AU with Gaussians of
amplitude and support given by the intensity at JAA-Net's AU centres (Eq.
1; AUs 5 and 20, which JAA-Net does not place, added, and AU17 / AU26 moved
up for the synthetic faces' short chins: targets.SYNTHETIC_CENTRES_68),
one hourglass of bottlenecks (depth 4), per-AU Huber loss (Eq. 2) with the
adaptive AU weights, intensity = max of each map; model selection by
validation ICC, as published. Augmentation of training records (Sec. 3.4;
au_jax/models/heatmaps/augment.py): landmark perturbation before
registration (`landmark_noise`, sd in px at 256; the paper says "a small
noise": 3), colour perturbation (`colour_noise`, per-channel gain
U(0.8, 1.2)) and label perturbation (Eq. 3 as read in augment.py,
`label_noise` 0.2). The run's report (au_jax/reports.py) draws plots/targets.png and
plots/heatmaps.png; `robustness` draws Fig. 4 from a finished workdir.

Table 1's baselines (`arch=`): `resnet18` (ResNet-18 regressing the N
intensities jointly; ~11.2M parameters at any input size), `single` (one
hourglass per AU, each one map: N times the hourglass's parameters).

Differences from the paper, for 2 CPU cores: the input is 64 x 64 (the
synthetic faces are 96 x 96; the paper's 256), so the maps are 16 x 16 and
Eq. 1's sigma and support scale with them (model.py); the hourglass is 64
channels wide (the paper's 256: 3.42M parameters; here 0.22M); batch 32
(the paper's 5). `paper` restores the paper's size: 256 x 256 input (the
96-px records upsampled by the transform's resize), 64 x 64 maps, the
256-channel hourglass (3.42M); the data, batch, optimiser, schedule and
selection stay this file's (composes with the others, e.g.
`paper,arch=single`; `arch=resnet18` keeps its widths and takes the 256-px
input). Optimiser: the paper's RMSprop at lr 1e-3 (PyTorch's defaults:
alpha 0.99, eps 1e-8 outside the square root).
Paper (BP4D, FERA 2015 test, Table 1): ICC 0.79 0.80 0.86 0.54 0.43, mean
0.68; MSE mean 0.94; ResNet-18 ICC mean 0.64, MSE 1.08; single heatmaps
3% below the joint maps. Ours on synthetic data: docs/heatmaps.md
(benchmarks/heatmaps_evidence.py).
"""
from __future__ import annotations

from au_jax import aus as au_lists
from au_jax.models.heatmaps.targets import SYNTHETIC_CENTRES_68
from configs import common

# The paper's BP4D subset (FERA 2015 intensity sub-challenge); disfa_like: the 12 DISFA AUs.
DATASET_AUS = {"bp4d_like": au_lists.FERA2015_INT_AUS, "disfa_like": au_lists.DISFA_AUS}


def get_config(arg=None):
  arg = common.parse_arg(arg, runlocal=False, steps=0, protocol="default", seed=0,
                         arch="hourglass", dataset="bp4d_like", paper=False)
  if arg.dataset not in DATASET_AUS:
    raise KeyError(f"dataset={arg.dataset!r}: choose from {sorted(DATASET_AUS)}")
  config = common.base_config(arg.seed)
  paper = arg.paper and not arg.runlocal   # runlocal: the smoke run's network whatever the size
  name = common.synthetic_name(arg.dataset, arg.runlocal)
  config.data = common.data_config([dict(name=name, protocol=arg.protocol)])
  config.data.aus = DATASET_AUS[arg.dataset]
  config.model = common.heatmaps_model(config.data.aus, centres=SYNTHETIC_CENTRES_68,
                                       input_size=256 if paper else 64,
                                       features=256 if paper else 64, arch=arg.arch,
                                       runlocal=arg.runlocal)
  config.train = common.heatmaps_train(arg.steps or 1500, batch_size=32,
                                       optimizer=common.heatmaps_optimizer("constant"),
                                       eval_every=250, checkpoint_every=250)
  config.eval = common.eval_config(batch_size=128)
  if arg.runlocal:
    common.heatmaps_smoke(config, arg.steps)
  return config
