"""FERA 2015 CNN: Gudi, Tasli, den Uyl, Maroulis, "Deep Learning based FACS
Action Unit Occurrence and Intensity Estimation", FG 2015.

Paper -> code:
  preprocessing (Sec. IV-A)   `GudiTransform`: eyes horizontal, constant
                              inter-ocular distance, 48x48, 32-bit grey, pixel
                              values divided by the std of the face crops of
                              the whole video session ("global contrast
                              normalisation"); "a horizontally mirrored copy
                              of all training images": `train_copies=2`, each
                              sampled image in the batch as itself and its
                              mirror (au_jax.data.pipeline copies); 1 =
                              mirror with p = `mirror_prob` instead
  network (Sec. IV-B, Fig. 2) `GudiCNN`: conv 5x5x64 (44x44) -> local contrast
                              normalisation -> max-pool 3x3/2 (22x22) -> conv
                              5x5x64 (18x18) -> conv 4x4x128 (15x15) -> FC 3072,
                              dropout 0.2 -> one output per AU; ReLU units
  joint occurrence+intensity  one output neuron per AU; occurrence AUs are
                              trained on 0/1, intensity AUs on intensity / 5
                              (BP4D: occurrence of 1,2,4,7,15,23, intensity of
                              6,10,12,14,17), both with the negative
                              log-likelihood of a Bernoulli (sigmoid cross-
                              entropy with soft targets for intensity)
  post-processing (Sec. IV-C) per-AU decision thresholds maximising F1 on the
                              validation set (au_jax.evaluate)
Details the paper leaves open, chosen here and configurable: the output
non-linearity (sigmoid; "ReLU units" cannot carry a likelihood), the LCN window
(Jarrett's 9x9, sigma 2), the crop's framing (the template's landmark box
centred with a margin, `face_margin`), and the session std estimated from at
most `gcn_max_frames` evenly spaced frames per session.
"""
from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from au_jax.data import transforms as T
from au_jax.errors import ConfigKeyError, ConfigValueError
from au_jax.face.align import align_face
from au_jax.models import hparams
from au_jax.models.layers import BLUR_IMPLS, LocalContrastNorm
from au_jax.models.layers_fast import check_lowerings, conv_impls, conv_layer, pool_layer
from au_jax.models.spec import Method, ModelSpec, SessionStats, masked_mean


class GudiCNN(nn.Module):
  """The 7-layer network of Fig. 2. Input [B, 48, 48, 1]; output logits [B, A].

  `conv_impl` (one name, or one per conv layer) and `pool_impl` choose how the
  layers are lowered (au_jax.models.layers_fast: "xla" = nn.Conv / nn.max_pool,
  "im2col", a fusible max-pool gradient "mask"); same parameters, same numbers
  to float rounding, different speed (benchmarks/versus_torch.py). pool_impl
  defaults to "mask": nn.max_pool's outputs and gradients, a gradient XLA:CPU
  fuses. `lcn_impl` lowers the LCN's Gaussian blur (LocalContrastNorm's
  `blur_impl`): "banded" (default; banded matrix products) or "conv" (the
  earlier lax convolutions, slow on one channel on XLA:CPU); same numbers.
  """
  num_outputs: int
  features: tuple[int, ...] = (64, 64, 128)
  kernels: tuple[int, ...] = (5, 5, 4)
  fc_units: int = 3072
  dropout: float = 0.2
  lcn: bool = True
  conv_impl: str | tuple[str, ...] = "xla"
  pool_impl: str = "mask"
  lcn_impl: str = "banded"

  @nn.compact
  def __call__(self, image: jax.Array, *, train: bool) -> jax.Array:
    x = image
    impls = conv_impls(self.conv_impl, len(self.features))
    for i, (f, k) in enumerate(zip(self.features, self.kernels)):
      x = nn.relu(conv_layer(f, (k, k), "VALID", impls[i], name=f"conv{i + 1}")(x))
      self.sow("intermediates", f"conv{i + 1}_out", x)
      if i == 0:
        if self.lcn:
          x = LocalContrastNorm(blur_impl=self.lcn_impl, name="lcn")(x)
        # 3x3 stride 2 with 'SAME' padding: 44 -> 22 as in the paper.
        x = pool_layer(x, (3, 3), (2, 2), "SAME", self.pool_impl)
        self.sow("intermediates", "pool1_out", x)
    x = x.reshape((x.shape[0], -1))
    x = nn.relu(nn.Dense(self.fc_units, name="fc")(x))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(self.num_outputs, name="out")(x)


class GudiTransform:
  """Sec. IV-A preprocessing as a per-record function.

  Global contrast normalisation (`gcn`):
    "session"  divide by the std of the 48x48 face crops of the record's
               video session (the paper's choice). The statistics are
               label-free fitted state (`sessions()`, spec.SessionStats):
               fitted per session of whichever split is transformed, from at
               most `gcn_max_frames` evenly spaced frames; at inference one
               video or one folder (or one `predict` call) is one session.
    "image"    divide by the crop's own std (no session needed).
    "none"     no normalisation.

  Mirroring (Sec. IV-A adds "a horizontally mirrored copy of all training
  images"):
    train_copies=2  the training pipeline shows every sampled image as two
                    copies, `copy=0` the original and `copy=1` its mirror
                    (au_jax.data.pipeline.train_dataset(copies=2)): the
                    paper's doubled training set, both copies in one batch.
    train_copies=1  one copy, mirrored with probability `mirror_prob` (the
                    same distribution in expectation).

  Framing (`face_margin`): the paper's crop is "centered around the face".
  The template as it is (`face_margin=None`: chin at y = 0.95 S, landmark
  box off-centre) lets longer faces lose chin points (21% of synthetic
  disfa_like test frames lose landmarks 7-9 or 15-16). With a float the
  template's 68-point box, padded by `face_margin` of its side, is centred
  in the crop (`transforms.face_frame`).
  """

  def __init__(self, size=48, registration="eyes_horizontal", mirror_prob=0.5,
               gcn="session", gcn_max_frames=200, train_copies=1,
               face_margin: float | None = 0.1):
    if gcn not in ("session", "image", "none"):
      raise ConfigValueError(f"config.model.gcn must be 'session', 'image' or 'none', got {gcn!r}")
    if train_copies not in (1, 2):
      raise ConfigValueError(f"config.model.train_copies must be 1 (random mirroring) or 2 "
                             f"(original + mirrored copy), got {train_copies!r}")
    self.size, self.registration = size, registration
    self.mirror_prob, self.gcn, self.gcn_max_frames = mirror_prob, gcn, gcn_max_frames
    self.train_copies = train_copies
    self.face_margin = face_margin
    self.scale, self.shift = ((1.0, (0.0, 0.0)) if face_margin is None
                              else T.face_frame(int(size), 1.0, float(face_margin)))

  def crop(self, record) -> np.ndarray:
    rgb = T.decode(record["image"])
    lm = np.asarray(record["landmarks"], np.float32)
    if self.registration and np.isfinite(lm).any():
      rgb = align_face(rgb, lm, size=self.size, method=self.registration,
                       scale=self.scale, shift=self.shift).image
    return T.to_grey(T.resize(rgb, self.size))

  def session_std(self, records) -> float:
    """The std of the face crops of one session (label-free)."""
    return float(np.stack([self.crop(r) for r in records]).std())

  def sessions(self) -> SessionStats | None:
    if self.gcn != "session":
      return None
    return SessionStats(level="sequence", fit=self.session_std, max_records=self.gcn_max_frames)

  def __call__(self, record, rng, train, stats=None, copy=None):
    """`copy` (0 or 1, training copies): 1 = mirrored; None = `mirror_prob`."""
    x = self.crop(record)
    if self.gcn == "session":
      if stats is None:
        raise ValueError("GudiTransform(gcn='session') needs the session's statistics "
                         "(au_jax.train.fitted.bind)")
      x = x / max(float(stats), 1e-3)
    elif self.gcn == "image":
      x = x / max(float(x.std()), 1e-3)
    if copy is not None:
      mirrored = copy == 1
    else:
      mirrored = train and rng is not None and rng.random() < self.mirror_prob
    if mirrored:
      x, _ = T.mirror(x)
    return dict(image=x[..., None].astype(np.float32), **T.labels(record))


@dataclasses.dataclass(frozen=True)
class GudiOptions:
  """config.model keys of `build` itself (beside `GudiCNN`'s and `GudiTransform`'s).

  Attributes:
    intensity_aus: AUs whose output neuron is trained on intensity / 5 (the
      others on occurrence 0/1); None = every AU the data codes for
      intensity (BP4D under FERA 2015: 6, 10, 12, 14, 17, as in the paper).
  """
  intensity_aus: tuple[int, ...] | None = None


def _check_lowerings(net_kw: dict) -> None:
  """The layers' lowering choices, checked before anything is traced."""
  if net_kw.get("lcn_impl", "banded") not in BLUR_IMPLS:
    raise ConfigValueError(f"config.model.lcn_impl {net_kw['lcn_impl']!r}: one of {BLUR_IMPLS}")
  check_lowerings(net_kw.get("conv_impl", GudiCNN.conv_impl),
                  len(net_kw.get("features", GudiCNN.features)),
                  net_kw.get("pool_impl", GudiCNN.pool_impl))


def build(model_cfg, data_info) -> Method:
  """Method from config.model: keys of `GudiCNN`, `GudiTransform` (`input_size`
  = its `size`) and `GudiOptions`; any other key fails naming it."""
  net_kw, transform_kw, opts_kw = hparams.split_kwargs(
      model_cfg, "gudi_fera2015", GudiCNN, GudiTransform, GudiOptions,
      rename={"input_size": "size"}, derived=("num_outputs",))
  opts = GudiOptions(**opts_kw)
  _check_lowerings(net_kw)
  aus = data_info.aus
  if opts.intensity_aus is None:  # default: every AU the data codes for intensity
    is_int = np.asarray(data_info.intensity_coded, bool)
  else:
    unknown = sorted(set(opts.intensity_aus) - set(aus))
    if unknown:
      raise ConfigKeyError(f"config.model.intensity_aus {unknown} not in the data's AUs {aus}")
    is_int = np.isin(aus, opts.intensity_aus)
  module = GudiCNN(num_outputs=len(aus), **net_kw)
  transform = GudiTransform(**transform_kw)
  is_int_j = jnp.asarray(is_int)

  def targets(batch):
    inten, occ = batch["intensity"], batch["occurrence"]
    t = jnp.where(is_int_j, inten / 5.0, occ.astype(jnp.float32))
    valid = jnp.where(is_int_j, inten >= 0, occ >= 0)
    return jnp.clip(t, 0.0, 1.0), valid.astype(jnp.float32) * batch["mask"][:, None]

  def loss(variables, batch, rng, train=True, weights=None):
    logits = module.apply(variables, batch["image"], train=train, rngs={"dropout": rng})
    t, w = targets(batch)
    nll = optax.sigmoid_binary_cross_entropy(logits, t)
    value = masked_mean(nll, w)
    return value, {"metrics": {"nll": value}, "model_state": {}}

  def predict(variables, batch):
    p = jax.nn.sigmoid(module.apply(variables, batch["image"], train=False))
    return {"intensity": 5.0 * p, "occurrence": p}

  def param_group(path):
    return "cnn" if path[0].startswith(("conv", "lcn")) else "head"

  return Method(name="gudi_fera2015", module=module, transform=transform, loss=loss,
                predict=predict, param_group=param_group, groups=("cnn", "head"),
                sessions=transform.sessions(), train_copies=transform.train_copies)


SPEC = ModelSpec(name="gudi_fera2015", build=build,
                 paper="Gudi et al., FG 2015")
