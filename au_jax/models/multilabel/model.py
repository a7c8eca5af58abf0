"""Multi-label CNN with a per-AU QDA head: Ghosh, Laksana, Scherer, Morency,
"A Multi-label Convolutional Neural Network Approach to Cross-Domain Action
Unit Detection", ACII 2015.

Paper -> code:
  preprocessing (Sec. V)    `MultiLabelTransform`: face box crop, grey or RGB,
                            pixels / 255, minus the subject's mean face
                            (label-free fitted state, `SessionStats(level=
                            "subject")`), random crop + mirror in training
  "Mean-Variance Normalization layer" (Sec. IV)
                            `MultiLabelCNN.mvn`: per image zero mean, unit
                            variance (Caffe's MVN layer), the first layer
  network (Fig. 1, Sec. V)  `MultiLabelCNN`: two "mega layers" conv -> ReLU ->
                            dropout -> max-pool, then FC -> ReLU -> dropout ->
                            FC with one output per AU (+1 neutral, Sec. VI)
  Eqs. 1-2                  `loss.multilabel_softmax_loss`
  L2 regularisation         config.train.optimizer.weight_decay: added to the
                            gradient before SGD with momentum, as Caffe's
                            weight_decay (so it is not part of the logged loss)
  h_i, QDA (Sec. IV-V)      head "qda": au_jax.models.qda on the last FC
                            layer's outputs, fitted on the training split by
                            the schedule stage `dict(name="qda", fit="qda")`
  outputs                   `occurrence` = the QDA's P(present | h) once the
                            head is fitted (before: the softmax score, so
                            validation during training selects the network);
                            `occurrence_softmax` = p_ij of Eq. 2 (both are in
                            test_predictions.npz and the method's report);
                            `intensity` = 5 x occurrence (the method detects
                            occurrence only; the engine's uniform output);
                            `features` = h_i, the QDA's input (Figs. 2-3)
"""
from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from au_jax import aus as au_lib
from au_jax.data import transforms as T
from au_jax.errors import ConfigValueError
from au_jax.face.align import align_face
from au_jax.face.transforms import warp_image
from au_jax.models import hparams, qda
from au_jax.models.layers_fast import max_pool
from au_jax.models.multilabel.loss import multilabel_softmax_loss
from au_jax.models.spec import FittedHead, Method, ModelSpec, SessionStats


def mean_variance_norm(x: jax.Array, eps: float = 1e-5) -> jax.Array:
  """Caffe's MVN layer (across channels): each image to zero mean, unit variance.
  An all-zero image (a one-frame subject minus its own mean) stays zero."""
  axes = tuple(range(1, x.ndim))
  x = x - x.mean(axes, keepdims=True)
  return x / jnp.sqrt(x.var(axes, keepdims=True) + eps)


class MultiLabelCNN(nn.Module):
  """Fig. 1. Input [B, S, S, 1 or 3]; returns (logits [B, O], hidden [B, fc_units]).

  Sec. V's random-search ranges: conv kernel size 5 to 15 (`kernels`), pooling
  kernel size 2 to 4 (`pools`); the paper does not give the widths, the
  dropout rates or the pooling stride. Ours: 16 and 32 filters, FC 160,
  non-overlapping pooling (stride = pool size), dropout 0.25 in the mega
  layers and 0.5 between the FC layers -- about 100k weights on 42x42 grey
  crops ("~100,000" in Sec. V): 784 + 12.8k + 81.9k + 160 * O.
  """
  num_outputs: int
  features: tuple[int, ...] = (16, 32)
  kernels: tuple[int, ...] = (7, 5)
  pools: tuple[int, ...] = (3, 2)
  fc_units: int = 160
  conv_dropout: float = 0.25
  fc_dropout: float = 0.5
  mvn: bool = True

  @nn.compact
  def __call__(self, image: jax.Array, *, train: bool) -> tuple[jax.Array, jax.Array]:
    if not len(self.features) == len(self.kernels) == len(self.pools):
      raise ConfigValueError(f"features {self.features}, kernels {self.kernels} and pools "
                             f"{self.pools} must have one entry per mega layer")
    x = mean_variance_norm(image) if self.mvn else image
    for i, (f, k, p) in enumerate(zip(self.features, self.kernels, self.pools)):
      # A "mega layer" (Sec. V): convolution, ReLU, dropout, max-pooling.
      x = nn.relu(nn.Conv(f, (k, k), padding="VALID", name=f"conv{i + 1}")(x))
      x = nn.Dropout(self.conv_dropout, deterministic=not train)(x)
      x = max_pool(x, (p, p), (p, p), "VALID")   # nn.max_pool, fusible gradient
    x = x.reshape((x.shape[0], -1))
    h = nn.relu(nn.Dense(self.fc_units, name="fc1")(x))
    h = nn.Dropout(self.fc_dropout, deterministic=not train)(h)
    return nn.Dense(self.num_outputs, name="fc2")(h), h


class MultiLabelTransform:
  """Sec. V preprocessing as a per-record function.

  Face crop: the paper runs OpenCV's frontal face detector on every frame and
  crops its box ("without landmarks"). Our records are already aligned faces
  with landmarks, so `registration=None` (default) emulates the detector:
  the square box around the landmarks' bounding box, padded by `box_margin`
  of its side, is cropped and resized to `size` (no rotation, no shape
  normalisation -- the box only). `registration="similarity"` (or another
  au_jax.face.align method) registers to the canonical template instead, the
  landmark-based option the paper names as an improvement. A record without
  finite landmarks uses the whole image.

  Normalisation, in the paper's order: the subject's mean face is subtracted
  ("the mean facial image of each participant", Sec. V), then the dataset-wide
  normalisation, then / 255 (we divide first; the steps are linear). The mean
  face is label-free fitted state: `sessions()` fits it per subject of
  whichever split is transformed, from at most `mean_face_max_frames` evenly
  spaced frames; at inference one video / folder (or one `predict` call) is
  one subject. A subject with ONE frame: its mean face is the frame, so its
  image becomes all zeros (defined, no division; the MVN layer keeps zero);
  the network then sees a blank face and gives its neutral response. The
  paper assumes "multiple facial images of each participant"; for a single
  image predict it with `session=` from a `fit_session` of more frames of the
  person. `mean_face="none"` turns the subtraction off.

  Dataset-wide normalisation ("we also normalize each facial image using the
  entire dataset"): after the subject means are subtracted, the dataset mean
  image of the residuals is zero by construction (each subject's residuals
  average to zero), so what is left is a dataset-wide scale; the network's
  first layer, Caffe's MVN layer ("a Mean-Variance Normalization layer
  improves detection performance", Sec. IV; `MultiLabelCNN.mvn`), makes every
  image zero-mean and unit-variance, which makes any such global scale
  irrelevant. We therefore implement it as the MVN layer, not as a separate
  statistic.

  Augmentation ("random mirroring and cropping", Sec. IV), training only: a
  random square crop of `crop_fraction` of the side and a horizontal flip
  with p = `mirror_prob`; evaluation takes the central crop. The network's
  input side is `transforms.crop_side(size, crop_fraction)`.
  """

  def __init__(self, size: int = 48, colour: str = "grey", registration: str | None = None,
               box_margin: float = 0.1, mean_face: str = "subject",
               mean_face_max_frames: int = 200, crop_fraction: float = 0.875,
               mirror_prob: float = 0.5):
    if colour not in ("grey", "rgb"):
      raise ConfigValueError(f"config.model.colour must be 'grey' or 'rgb', got {colour!r}")
    if mean_face not in ("subject", "none"):
      raise ConfigValueError(f"config.model.mean_face must be 'subject' or 'none', "
                             f"got {mean_face!r}")
    if not 0.0 < crop_fraction <= 1.0:
      raise ConfigValueError(f"config.model.crop_fraction must be in (0, 1], got {crop_fraction}")
    self.size, self.colour, self.registration = int(size), colour, registration
    self.box_margin, self.mean_face = float(box_margin), mean_face
    self.mean_face_max_frames = int(mean_face_max_frames)
    self.crop_fraction, self.mirror_prob = float(crop_fraction), float(mirror_prob)

  @property
  def channels(self) -> int:
    return 1 if self.colour == "grey" else 3

  @property
  def input_size(self) -> int:
    return T.crop_side(self.size, self.crop_fraction)

  def face_box(self, landmarks: np.ndarray, shape) -> tuple[float, float, float]:
    """(x0, y0, side) of the square face box (the detector's emulation)."""
    lm = np.asarray(landmarks, np.float64).reshape(-1, 2)
    lm = lm[np.isfinite(lm).all(1)]
    if len(lm) < 2:
      return 0.0, 0.0, float(min(shape[:2]))
    lo, hi = lm.min(0), lm.max(0)
    side = float((hi - lo).max()) * (1.0 + 2.0 * self.box_margin)
    centre = (lo + hi) / 2.0
    return float(centre[0] - side / 2), float(centre[1] - side / 2), max(side, 1.0)

  def crop(self, record) -> np.ndarray:
    """float32 [size, size, C] in [0, 1] (before the mean face)."""
    rgb = T.decode(record["image"])
    lm = np.asarray(record["landmarks"], np.float32)
    if self.registration and np.isfinite(lm).any():
      face = align_face(rgb, lm, size=self.size, method=self.registration).image
    else:
      x0, y0, side = self.face_box(lm, rgb.shape)
      s = self.size / side
      # The box's edges are the crop's edges (pixel centres at integers):
      # x_out = s * (x_in - x0) - 0.5.
      m = np.array([[s, 0.0, -s * x0 - 0.5], [0.0, s, -s * y0 - 0.5]])
      face = warp_image(rgb, m, self.size)
    if self.colour == "grey":
      return T.to_grey(face)[..., None]
    return face.astype(np.float32) / 255.0

  def subject_mean(self, records) -> np.ndarray:
    """The mean face of one subject's frames (label-free)."""
    return np.mean([self.crop(r) for r in records], axis=0).astype(np.float32)

  def sessions(self) -> SessionStats | None:
    if self.mean_face == "none":
      return None
    return SessionStats(level="subject", fit=self.subject_mean,
                        max_records=self.mean_face_max_frames)

  def __call__(self, record, rng, train, stats=None):
    x = self.crop(record)
    if self.mean_face == "subject":
      if stats is None:
        raise ValueError("MultiLabelTransform(mean_face='subject') needs the subject's mean "
                         "face (au_jax.train.fitted.bind)")
      x = x - np.asarray(stats, np.float32)
    x, _ = T.random_crop(x, self.crop_fraction, rng if train else None)
    if train and rng is not None and rng.random() < self.mirror_prob:
      x, _ = T.mirror(x)
    return dict(image=np.ascontiguousarray(x, np.float32), **T.labels(record))


@dataclasses.dataclass(frozen=True)
class MultiLabelOptions:
  """config.model keys of `build` itself.

  Attributes:
    neutral: one more output, the "neutral" label of frames with no AU
      present (Sec. VI: "a 13th label to indicate neutral facial
      expressions"); the QDA sees it among the features, but has no head for it.
    qda_reg: covariance regulariser of the QDA (au_jax.models.qda: Sigma =
      (1 - reg) S + reg I; the paper's QDA has none, which fails on singular
      class covariances).
    qda_features: "logits" (default: the last FC layer, h_i of Sec. IV, "the
      feature vector obtained from the last fully-connected layer", A(+1)
      wide) or "hidden" (the layer before it, `fc_units` wide).
  """
  neutral: bool = True
  qda_reg: float = 0.05
  qda_features: str = "logits"


def build(model_cfg, data_info) -> Method:
  """Method from config.model: keys of `MultiLabelCNN`, `MultiLabelTransform`
  (`input_size` = its `size`) and `MultiLabelOptions`; others fail naming them."""
  net_kw, transform_kw, opts_kw = hparams.split_kwargs(
      model_cfg, "multilabel", MultiLabelCNN, MultiLabelTransform, MultiLabelOptions,
      rename={"input_size": "size"}, derived=("num_outputs",))
  opts = MultiLabelOptions(**opts_kw)
  if opts.qda_features not in ("logits", "hidden"):
    raise ConfigValueError(f"config.model.qda_features must be 'logits' or 'hidden', "
                           f"got {opts.qda_features!r}")
  a = data_info.num_aus
  names = [au_lib.au_label(x) for x in data_info.aus]
  module = MultiLabelCNN(num_outputs=a + int(opts.neutral), **net_kw)
  transform = MultiLabelTransform(**transform_kw)
  dim = module.num_outputs if opts.qda_features == "logits" else module.fc_units

  def loss(variables, batch, rng, train=True, weights=None):
    logits, _ = module.apply({"params": variables["params"]}, batch["image"], train=train,
                             rngs={"dropout": rng})
    value = multilabel_softmax_loss(logits, batch["occurrence"], batch["mask"], opts.neutral)
    return value, {"metrics": {"ml_softmax": value}, "model_state": {}}

  def features(variables, batch):
    logits, hidden = module.apply({"params": variables["params"]}, batch["image"], train=False)
    return logits if opts.qda_features == "logits" else hidden

  def fit(feats, labels):
    return qda.fit(feats, labels["occurrence"], reg=opts.qda_reg, au_names=names)

  def predict(variables, batch):
    logits, hidden = module.apply({"params": variables["params"]}, batch["image"], train=False)
    p_soft = jax.nn.softmax(logits, axis=-1)[:, :a]                       # Eq. 2
    head = variables["fitted"]["qda"]
    h = logits if opts.qda_features == "logits" else hidden
    p_qda = jax.nn.sigmoid(qda.log_odds(head, h))
    # An unfitted head is all zeros; a fitted one has log priors < 0 (qda.fit).
    fitted = jnp.any(head["log_prior"] != 0)
    occ = jnp.where(fitted, p_qda, p_soft)
    return {"intensity": 5.0 * occ, "occurrence": occ, "occurrence_softmax": p_soft,
            "features": h}

  def param_group(path):
    return "cnn" if path[0].startswith("conv") else "head"

  return Method(name="multilabel", module=module, transform=transform, loss=loss,
                predict=predict, param_group=param_group, groups=("cnn", "head"),
                sessions=transform.sessions(),
                heads={"qda": FittedHead(init=lambda: qda.init(a, dim), features=features,
                                         fit=fit)})


SPEC = ModelSpec(name="multilabel", build=build,
                 paper="Ghosh et al., ACII 2015")
