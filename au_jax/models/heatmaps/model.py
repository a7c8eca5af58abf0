"""AU heatmap regression: Sanchez, Tzimiropoulos, Valstar, "Joint Action Unit
localisation and intensity estimation through heatmap regression", BMVC 2018.

Paper -> code:
  registration, 256 x 256 RGB (Sec. 4, Pre-processing)
                          `HeatmapTransform`: the record's aligned face (already
                          registered to the canonical template) resized to
                          `input_size`, pixels / 255 (as the authors' released
                          demo), landmarks rescaled with it
  augmentation (Sec. 3.4, 4)
                          training records only: landmark perturbation before
                          registration (`landmark_noise`) and colour
                          perturbation (`colour_noise`) in the transform;
                          label perturbation (Eq. 3, `label_noise`) on the
                          Eq. 1 targets inside the loss (augment.py: the
                          reading of the garbled Eq. 3)
  network (Sec. 3.1, 4)   `network.HeatmapHourglass`: FAN stem to S/4 x S/4 x
                          256, one hourglass of bottlenecks (depth 4), 1x1
                          conv to one map per AU
  targets (Sec. 3.2, Eq. 1)
                          `targets.render_heatmaps`, drawn inside the jitted
                          loss from the batch's landmarks and intensities (no
                          S/4 x S/4 x A maps shipped per example); AU centres
                          from `au_centres` rows (default JAA-Net's rule
                          plus AUs 5 and 20, `targets.AU_CENTRES_68`)
  loss (Eq. 2, Sec. 4)    `loss.per_au_huber` weighted by the adaptive AU
                          weights (`loss.next_au_weights`, collection
                          `au_weights` of the train state)
  inference (Sec. 3.5, 4) intensity = max of each map clipped to [0, 5];
                          occurrence score = intensity / 5; the maps are
                          returned as `heatmaps` [B, S/4, S/4, A]
Scale: `sigma` and `support` are in pixels of the paper's 64 x 64 maps and
scale with the map (S/4): the targets cover the same part of the face at any
input size. The paper gives no sigma; ours is 3 (64-map pixels), so that the
6 I_a support box cuts the Gaussian at I_a = 1 (size grows with intensity
there) and not above.
Baselines of Table 1 (`arch`): "hourglass" (the method), "single" (one
hourglass per AU, `network.SingleHeatmaps`; its key `conv`, default "auto", picks
how the vmapped convolutions run: looped on CPU), "resnet18" (`resnet.ResNet18`
regressing the N intensities jointly; same transform, Huber loss with the
adaptive AU weights on the intensities, label perturbation on its targets,
intensity = output clipped to [0, 5]; no maps).
Figures after training (`report.write_report`, run by au_jax.reports after each run):
plots/targets.png, plots/heatmaps.png.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from au_jax.data import transforms as T
from au_jax.errors import ConfigKeyError, ConfigValueError
from au_jax.models import hparams
from au_jax.models.heatmaps import augment
from au_jax.models.heatmaps import loss as loss_lib
from au_jax.models.heatmaps import targets as targets_lib
from au_jax.models.heatmaps.network import HeatmapHourglass, SingleHeatmaps
from au_jax.models.heatmaps.resnet import ResNet18
from au_jax.models.spec import Method, ModelSpec

PAPER_MAP_SIZE = 64   # maps of the paper's 256 input
ARCHS = {"hourglass": HeatmapHourglass, "single": SingleHeatmaps, "resnet18": ResNet18}


@dataclasses.dataclass(frozen=True)
class HeatmapTargets:
  """Eq. 1 targets of a run's AUs (built by `build`; the loss and the figures
  draw them): `table` the AU centres, `sigma` and `support` in 64-map pixels."""
  table: targets_lib.CentreTable
  sigma: float
  support: float

  def maps(self, landmarks, intensity, input_size: int, map_size: int):
    """(maps [B, map_size, map_size, A], has a centre: bool [B, A]) from
    landmarks [B, 68, 2] in input pixels and intensities [B, A]."""
    centres, ok = targets_lib.au_centres(landmarks, self.table)
    centres = targets_lib.to_map(centres, input_size, map_size)
    scale = map_size / PAPER_MAP_SIZE
    maps = targets_lib.render_heatmaps(centres, ok, intensity, size=map_size,
                                       sigma=self.sigma * scale, support=self.support * scale)
    return maps, ok.any(-1)


class HeatmapTransform:
  """Per-record preprocessing: image [S, S, 3] float32 in [0, 1] and landmarks
  [68, 2] in its pixels (pixel centres at integers, as cv2.resize), labels.

  `centre_check` (built by `build` when config.model.missing_centre="error"):
  called as centre_check(landmarks, needed) on training records, it raises
  when an AU with a known label has a centre on a missing landmark.

  Training augmentation (augment.py): `landmark_noise` is the sd of the
  landmark perturbation in pixels at the paper's 256 scale (scaled to the
  record's size; 0 = off), `registration` the method re-registering with
  the noisy landmarks; `colour_noise` the per-channel gain range (0 = off).
  `targets` (HeatmapTargets, from `build`) draws the Eq. 1 maps of examples.
  """

  def __init__(self, size: int = 256, landmark_noise: float = 3.0,
               registration: str = "similarity", colour_noise: float = 0.2,
               centre_check=None, targets=None):
    self.size = int(size)
    self.landmark_noise = float(landmark_noise)
    self.registration = registration
    self.colour_noise = float(colour_noise)
    self.centre_check = centre_check
    self.targets = targets

  def __call__(self, record, rng, train, stats=None):
    rgb = T.decode(record["image"])
    lm = np.asarray(record["landmarks"], np.float32)
    augment_now = train and rng is not None
    if augment_now and self.landmark_noise > 0:
      sigma = self.landmark_noise * rgb.shape[0] / augment.PAPER_INPUT
      rgb, lm = augment.perturb_registration(rgb, lm, sigma, rng, self.registration)
    scale = self.size / rgb.shape[0]
    lm = (lm + 0.5) * scale - 0.5
    labels = T.labels(record)
    if train and self.centre_check is not None:
      self.centre_check(lm, labels["intensity"] >= 0)
    image = T.resize(rgb, self.size).astype(np.float32) / 255.0
    if augment_now and self.colour_noise > 0:
      image = augment.perturb_colour(image, self.colour_noise, rng)
    return dict(image=image, landmarks=lm.astype(np.float32), **labels)


@dataclasses.dataclass(frozen=True)
class HeatmapOptions:
  """config.model keys of `build` itself.

  Attributes:
    au_centres: rows (au, landmark indices averaged, dx, dy) with offsets in
      units of the inner-eye-corner distance; default JAA-Net's rule with
      AUs 5 and 20 added (targets.AU_CENTRES_68). Every AU of the data needs rows.
    sigma: Gaussian sd of Eq. 1, in 64 x 64 map pixels (not given by the paper).
    support: Eq. 1's box half-side per unit of intensity, 64-map pixels (6).
    huber_delta: Eq. 2's threshold (1).
    missing_centre: "skip" (draw from the remaining centres; an AU with none
      left is not trained on that example) or "error" (the transform raises).
    heatmaps_output: return the maps from `predict` as `heatmaps` (evaluation
      keeps every output of a split: turn off for large test sets).
    label_noise: Eq. 3's 0.2 (augment.perturb_labels; 0 = off).
    arch: "hourglass", "single" or "resnet18" (Table 1's rows).
  """
  au_centres: tuple = targets_lib.AU_CENTRES_68
  sigma: float = 3.0
  support: float = 6.0
  huber_delta: float = 1.0
  missing_centre: str = "skip"
  heatmaps_output: bool = True
  label_noise: float = 0.2
  arch: str = "hourglass"


def build(model_cfg, data_info) -> Method:
  """Method from config.model: keys of the `arch`'s network (`ARCHS`),
  `HeatmapTransform` (`input_size` = its `size`) and `HeatmapOptions`; any
  other key, or a key of another arch's network, fails."""
  *nets_kw, transform_kw, opts_kw = hparams.split_kwargs(
      model_cfg, "heatmaps", *ARCHS.values(), HeatmapTransform, HeatmapOptions,
      rename={"input_size": "size"},
      derived=("num_maps", "centre_check", "targets", "own_au_weights", "looped_conv"))
  opts = HeatmapOptions(**opts_kw)
  if opts.arch not in ARCHS:
    raise ConfigValueError(f"config.model.arch must be one of {sorted(ARCHS)}, got {opts.arch!r}")
  net_kw = nets_kw[list(ARCHS).index(opts.arch)]
  foreign = sorted(set().union(*map(set, nets_kw)) - set(net_kw))
  if foreign:
    raise ConfigKeyError(f"config.model key(s) {foreign} do not apply to arch={opts.arch!r} "
                         f"(its network takes {sorted(hparams._params(ARCHS[opts.arch]))})")
  if opts.missing_centre not in ("skip", "error"):
    raise ConfigValueError(f"config.model.missing_centre must be 'skip' or 'error', "
                           f"got {opts.missing_centre!r}")
  aus = tuple(data_info.aus)
  not_int = [au for au, c in zip(aus, data_info.intensity_coded) if not c]
  if not_int:
    raise ConfigValueError(f"heatmaps regresses intensity; AU(s) {not_int} are not coded for "
                           f"intensity in {data_info.datasets}: leave them out of "
                           f"config.data.aus")
  table = targets_lib.centre_table(aus, opts.au_centres)
  check = None
  if opts.missing_centre == "error":
    def check(lm, needed):
      targets_lib.check_centres(lm, table, aus, needed)
  module = ARCHS[opts.arch](num_maps=len(aus), **net_kw)
  targets = HeatmapTargets(table, opts.sigma, opts.support)
  transform = HeatmapTransform(centre_check=check, targets=targets, **transform_kw)
  regress = opts.arch == "resnet18"

  def target_maps(batch, intensity, size):
    """Eq. 1 maps [B, size, size, A] and the AUs each example can train [B, A]."""
    maps, ok = targets.maps(batch["landmarks"], intensity, batch["image"].shape[1], size)
    valid = (batch["intensity"] >= 0) & ok
    return maps, valid.astype(jnp.float32) * batch["mask"][:, None]

  def loss(variables, batch, rng, train=True, weights=None):
    if train:
      out, state = module.apply(variables, batch["image"], train=True,
                                mutable=["batch_stats"])
    else:
      out, state = module.apply(variables, batch["image"], train=False), {}
    intensity = batch["intensity"]
    if train and opts.label_noise > 0:       # Eq. 3: the targets only, not the mask
      intensity = augment.perturb_labels(jax.random.fold_in(rng, 3), intensity,
                                         opts.label_noise)
    if regress:   # the ResNet-18 baseline: Eq. 2 on the intensities, as 1 x 1 "maps"
      valid = (batch["intensity"] >= 0).astype(jnp.float32) * batch["mask"][:, None]
      out, target = out[:, None, None], jnp.clip(intensity, 0, None)[:, None, None]
    else:
      target, valid = target_maps(batch, intensity, out.shape[1])
    per_au, has_data = loss_lib.per_au_huber(out, target, valid, opts.huber_delta)
    w = variables["au_weights"]["weights"]
    value = jnp.sum(w * per_au)
    model_state = dict(state)
    if train:
      model_state["au_weights"] = {"weights": loss_lib.next_au_weights(
          per_au, has_data, w, module.min_au_weight)}
    metrics = {"huber_weighted": value, "huber": jnp.sum(per_au) / jnp.maximum(
        has_data.sum(), 1)}
    return value, {"metrics": metrics, "model_state": model_state}

  def predict(variables, batch):
    maps = module.apply(variables, batch["image"], train=False)
    if regress:
      intensity = jnp.clip(maps, 0.0, 5.0)
      return {"intensity": intensity, "occurrence": intensity / 5.0}
    intensity = jnp.clip(maps.max(axis=(1, 2)), 0.0, 5.0)     # Sec. 3.5 / 4 "Testing"
    out = {"intensity": intensity, "occurrence": intensity / 5.0}
    if opts.heatmaps_output:
      out["heatmaps"] = maps
    return out

  def param_group(path):
    if path[0].startswith("stem"):
      return "stem"
    return "hourglass" if path[0] in ("hourglass", "hourglasses") else "head"

  return Method(name="heatmaps", module=module, transform=transform, loss=loss,
                predict=predict, param_group=param_group,
                groups=GROUPS[opts.arch])


# The parameter groups each arch has (a group without parameters is an error):
# the single-heatmap baseline is its vmapped hourglasses alone, ResNet-18 has a
# stem and a regression head.
GROUPS = {"hourglass": ("stem", "hourglass", "head"), "single": ("hourglass",),
          "resnet18": ("stem", "head")}


SPEC = ModelSpec(name="heatmaps", build=build,
                 paper="Sanchez et al., BMVC 2018")
