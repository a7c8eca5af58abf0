r"""AU heatmap regression (Sanchez et al., BMVC 2018) on BP4D, FERA 2015 protocol.

  python -m tfds_builders.build bp4d --manual_dir=/path/to/BP4D --data_dir=~/tensorflow_datasets
  python launch.py --config=configs/heatmaps_fera2015.py --workdir=runs/hm_fera2015
  python launch.py --config=configs/heatmaps_fera2015.py:arch=resnet18 --workdir=runs/hm_fera2015_resnet18
  python launch.py --config=configs/heatmaps_fera2015.py:arch=single --workdir=runs/hm_fera2015_single
  python launch.py --config=configs/heatmaps_fera2015.py:runlocal --workdir=/tmp/hm_fera2015_smoke
  python -m au_jax.models.heatmaps.robustness --workdir=runs/hm_fera2015 --sigmas=0,5,10,15,20,25,30,35,40,45,50,55

As in the paper (Sec. 4): intensity of the 5 FERA 2015 AUs (6, 10, 12, 14,
17); the registered face at 256 x 256 RGB (`input_size`), 64 x 64 maps; the
FAN stem to 64 x 64 x 256 and one hourglass of bottlenecks (depth 4, 256
channels: 3.42M parameters); Eq. 1 targets at JAA-Net's AU centres
(au_jax/models/heatmaps/targets.py), sigma 3 and support 6 I_a in map
pixels; per-AU Huber loss (Eq. 2) with the adaptive AU weights (floor 0.1);
landmark (sd 3 px at 256), colour and label (Eq. 3, 0.2) perturbation;
RMSprop, learning rate "starting from 1e-3", batch 5; model selection by
validation ICC. Table 1's baselines: `arch=resnet18`, `arch=single`.

Where the paper is silent, our documented choices (config args):
- Schedule (`schedule`): the paper gives only the starting rate. Default
  `step`: 1e-3, then x0.1 after half of the steps (optax staircase decay,
  `decay_steps` = steps / 2); `schedule=constant` keeps 1e-3.
- Length (`steps`): not given. Default 60000 steps of 5 = 300k images,
  about 4 epochs of the paper's ~80k training images (~5 of our training
  split); validation ICC every 2000 steps keeps the best.
- Partition: the paper trains on ~80k and validates on ~40k frames of the
  41 FERA train + devel subjects and tests on FERA 2015's withheld test
  subjects. Protocol `fera2015` (tfds_builders/bp4d/protocols.json): FERA
  train minus every 5th subject -> train, those 5 -> validation, FERA devel
  (20 subjects) -> test. So fewer training subjects (16) than the paper, and
  devel, not the withheld test set, is tested.

`runlocal`: the plumbing only -- records stay 256 x 256 but the network sees
64 x 64 with a 16-channel hourglass, 6 steps of 8.

Paper (FERA 2015 test, Table 1): ICC 0.79 0.80 0.86 0.54 0.43 (AUs 6, 10,
12, 14, 17), mean 0.68; MSE mean 0.94; ResNet-18 ICC 0.64 / MSE 1.08; single
heatmaps 3% below. We have not run this config on the real BP4D (we do not
hold it); fixture runs only test the plumbing.
"""
from __future__ import annotations

from au_jax import aus
from au_jax.models.heatmaps.targets import AU_CENTRES_68
from configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, runlocal=False, steps=0, protocol="fera2015", seed=0,
                         arch="hourglass", schedule="step")
  config = common.base_config(arg.seed)
  config.data = common.data_config([dict(name="bp4d", protocol=arg.protocol)])
  config.data.aus = aus.FERA2015_INT_AUS
  steps = arg.steps or (6 if arg.runlocal else 60000)
  config.model = common.heatmaps_model(
      config.data.aus, centres=AU_CENTRES_68, arch=arg.arch, runlocal=arg.runlocal,
      input_size=64 if arg.runlocal else 256,   # Sec. 4: "a registered image resized to 256 x 256"
      features=256,
      # A whole split's maps (N x 64 x 64 x A floats: ~6 GB for BP4D devel) are
      # not kept; the method's report (au_jax/reports.py) still draws
      # plots/heatmaps.png (report.with_maps).
      heatmaps_output=False)
  config.train = common.heatmaps_train(
      steps, batch_size=5,                                         # Sec. 4
      optimizer=common.heatmaps_optimizer(arg.schedule, steps),   # Sec. 4, PyTorch's RMSprop
      log_every=200, eval_every=2000, checkpoint_every=2000)
  config.eval = common.eval_config(batch_size=64)
  if arg.runlocal:
    common.heatmaps_smoke(config, steps)
  return config
