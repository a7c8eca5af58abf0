"""Copula CNN (CCNN-IT): Walecki, Rudovic, Pavlovic, Schuller, Pantic, "Deep
Structured Learning for Facial Action Unit Intensity Estimation", CVPR 2017.

Paper -> code:
  pre-processing (Sec. 4)    `CCNNTransform`: register the 2 eye centres to
                             the reference frame ("two_eye" similarity; the
                             face framed so every crop keeps it whole,
                             `face_margin`), grey,
                             per-image contrast normalisation (zero mean, unit
                             std), a random 85% crop in training (centre crop
                             in evaluation)
  f_d(x, W) (Sec. 3)         `CCNNBackbone`: 3 x [conv k x k (32 / 64 / 128
                             filters) -> ReLU -> 2x2 max-pool] -> FC 128 (ReLU)
  U (Eqs. 3-5)               `ordinal.OrdinalUnary` (OCNN, SCNN, CCNN); a
                             softmax over the L levels per AU for CNN [14]
  V (Eqs. 6-9)               `copula.FrankPairwise` (CCNN); the linear table of
                             `ccnn_loss.LinearPairwise` (SCNN [22])
  loss (Eqs. 10-11)          `ccnn_loss.composite_nll` + lambda ||phi||^2
                             (`ordinal.unary_l2`); missing labels (-1) masked
  Alg. 1 (IBB)               a stage schedule in the config (configs/
                             ccnn_synthetic.py `stages`): W with subject-
                             balanced batches on the whole objective, phi with
                             level-balanced batches on the unary terms
                             (loss_weights pair=0), theta with co-occurrence-
                             balanced batches on the pair terms (unary=0)
  Eq. 12 (multi-dataset)     one unary per AU of the union (shared), pairwise
                             parameters per dataset (`num_datasets` rows,
                             selected by the batch's `dataset` code)
  joint inference (3.3.1)    `decode.exact_map` for A <= `exact_max_aus` AUs,
                             else `decode.bp_map` (loopy BP + ICM; the paper
                             uses AD3); potentials from `decode.ccnn_potentials`

Variants (the paper's baselines, Table 1): `variant` = "cnn" | "ocnn" |
"scnn" | "ccnn"; "-IT" is a schedule, not a module, so it lives in the config.

Outputs of `predict` (all [B, A]):
  intensity           the configured decoding (`decode` = "map" | "expected")
  intensity_map       MAP labelling of the CRF (independent argmax for CNN/OCNN)
  intensity_expected  E[y_q] under the marginals (exact unaries for CNN/OCNN,
                      sum-product loopy BP marginals of the CRF for SCNN/CCNN)
  occurrence          P(y_q >= occurrence_level) under the same marginals
  dataset             [B] the batch's dataset codes (to split multi-dataset reports)

Paper symbol -> code name: W -> params["backbone"]; phi_q = {beta_q, psi_q,
sigma_q} -> params["unary"]; theta_rs -> params["pairwise"]["theta_raw"]
(theta = theta_max tanh(raw)); E -> `pairs`; lambda_q -> `unary_l2`; L ->
`num_levels`; Q -> A = `num_aus`; D_h (Eq. 12) -> `dataset` codes.

Choices the paper leaves open (configurable): 'SAME' convolutions, a ReLU on
the 128 features, the values of lambda (the paper tunes lambda_q per AU on
validation, Sec. 3.3: benchmarks/ccnn_tune_lambda.py), the face's margin in
the registered frame (`face_margin`), theta's bound (|theta| <= 20, Kendall
tau 0.82), BP marginals for the occurrence score and expected intensity.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from au_jax import decode
from au_jax.data import transforms as T
from au_jax.errors import ConfigKeyError, ConfigValueError
from au_jax.face.align import align_face
from au_jax.models import copula, hparams, ordinal
from au_jax.models.ccnn import loss as ccnn_loss
from au_jax.models.layers_fast import check_lowerings, conv_impls, conv_layer, pool_layer
from au_jax.models.spec import Method, ModelSpec

VARIANTS = ("cnn", "ocnn", "scnn", "ccnn")
PAIRWISE_VARIANTS = ("scnn", "ccnn")


class CCNNBackbone(nn.Module):
  """f_d(x, W): 3 conv + 2x2 max-pool blocks and an FC layer (Sec. 3, Fig. 1).

  Attributes:
    features: filters per conv layer (paper: 32, 64, 128).
    kernel: conv kernel side (paper: 9).
    fc_units: feature size (paper: 128).
    conv_impl, pool_impl: how the layers are lowered (one conv name, or one per
      conv layer; au_jax.models.layers_fast): "xla" = nn.Conv / nn.max_pool;
      same parameters and numbers, different speed. pool_impl defaults to
      "mask" (the same max-pool with a gradient XLA:CPU runs 1.3x faster on
      this network's train step; outputs and gradients as nn.max_pool's).

  Input [B, S, S, 1] -> features [B, fc_units].
  """
  features: Sequence[int] = (32, 64, 128)
  kernel: int = 9
  fc_units: int = 128
  conv_impl: str | tuple[str, ...] = "xla"
  pool_impl: str = "mask"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    impls = conv_impls(self.conv_impl, len(self.features))
    for i, f in enumerate(self.features):
      x = nn.relu(conv_layer(f, (self.kernel, self.kernel), "SAME", impls[i],
                             name=f"conv{i + 1}")(x))
      x = pool_layer(x, (2, 2), (2, 2), "VALID", self.pool_impl)
    x = x.reshape((x.shape[0], -1))
    return nn.relu(nn.Dense(self.fc_units, name="fc")(x))


class CCNN(nn.Module):
  """The network of Fig. 1 with the output layer of one variant.

  Attributes:
    num_aus: A.
    variant: "cnn" | "ocnn" | "scnn" | "ccnn".
    num_levels: L.
    features, kernel, fc_units: `CCNNBackbone`.
    pairs: CRF edges E ((r, s), ...); all r < s by default.
    theta_max: bound on |theta| (CCNN).
    num_datasets: D, rows of dataset-specific pairwise parameters (Eq. 12).
    scnn_table: SCNN's table, "full" (the paper) or "interaction" (without
      its row / column offsets; `ccnn_loss.interaction_part`).
    conv_impl, pool_impl: `CCNNBackbone`'s lowering choices.

  Returns a dict: `log_probs` [B, A, L] unary log P(y_q = l | x); for SCNN /
  CCNN also `pair_log_probs` [B, P, L, L] (the Eq. 10 pair factors),
  `pairwise` [B, P, L, L] decoding log-potentials V and `theta` ([B, P] CCNN,
  [B, P, L, L] table W for SCNN).
  """
  num_aus: int
  variant: str = "ccnn"
  num_levels: int = 6
  features: Sequence[int] = (32, 64, 128)
  kernel: int = 9
  fc_units: int = 128
  pairs: Sequence[tuple[int, int]] | None = None
  theta_max: float = 20.0
  num_datasets: int = 1
  scnn_table: str = "full"
  conv_impl: str | tuple[str, ...] = "xla"
  pool_impl: str = "mask"

  def edge_list(self) -> np.ndarray:
    pairs = copula.all_pairs(self.num_aus) if self.pairs is None else self.pairs
    return np.asarray(pairs, np.int32).reshape(-1, 2)

  @nn.compact
  def __call__(self, image: jax.Array, dataset: jax.Array | None = None, *,
               train: bool = False) -> dict:
    del train  # no dropout / batch norm in the paper's network
    a, l = self.num_aus, self.num_levels
    feats = CCNNBackbone(tuple(self.features), self.kernel, self.fc_units,
                         conv_impl=self.conv_impl, pool_impl=self.pool_impl, name="backbone")(image)
    if self.variant == "cnn":  # softmax per AU over its L levels [14]
      logits = nn.Dense(a * l, name="unary")(feats).reshape(-1, a, l)
      out = {"log_probs": jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)}
    elif self.variant in ("ocnn", "scnn", "ccnn"):
      unary = ordinal.OrdinalUnary(a, l, name="unary")(feats)  # Eqs. 3-5
      out = {"log_probs": unary.log_probs}
      if dataset is None:
        dataset = jnp.zeros(image.shape[:1], jnp.int32)
      dataset = jnp.asarray(dataset, jnp.int32).reshape(-1)
      pairs = self.edge_list()
      if self.variant == "ccnn":
        tables, theta = copula.FrankPairwise(a, tuple(map(tuple, pairs.tolist())),
                                             self.theta_max, self.num_datasets,
                                             name="pairwise")(unary.cdf, dataset)  # Eqs. 6-9
        _, v = decode.ccnn_potentials(unary.log_probs, tables, pairs)
        out.update(pair_log_probs=ccnn_loss.copula_pair_log_probs(tables), pairwise=v,
                   theta=theta)
      elif self.variant == "scnn":
        pair_lp, w = ccnn_loss.LinearPairwise(tuple(map(tuple, pairs.tolist())), l,
                                              self.num_datasets, self.scnn_table,
                                              name="pairwise")(unary.log_probs, dataset)
        out.update(pair_log_probs=pair_lp, pairwise=w, theta=w)
    else:
      raise ConfigValueError(f"unknown CCNN variant {self.variant!r}; one of {VARIANTS}")
    return out


class CCNNTransform:
  """Sec. 4 pre-processing of one record (pure numpy; rng only in training).

  Two-eye registration to `size` x `size`, grey, per-image contrast
  normalisation, then a `crop` fraction: random position in training, the
  centre in evaluation. Output image [round(crop * size)]^2 x 1 float32.

  Framing (`face_margin`): the paper registers the eyes to "a reference
  frame (average points in each dataset)" and crops 85% "for robustness
  against displacements" (Sec. 4); it gives no margin, but a crop meant to
  displace the face, not to cut it, needs one. Registering to the template as it is (CANONICAL_68 *
  S, `face_margin=None`) puts the chin at y = 0.95 S, and the crop loses it
  (rows ~40-47 of 48, AU17's cues). With a float, the eyes are registered to
  a zoomed and shifted template (`transforms.face_frame`) whose 68-point
  box, padded by `face_margin` of its side, lies inside EVERY crop window.
  The default 0.1 keeps all 68 points of 99% of synthetic disfa_like test
  frames in every crop (0.05: 76%; the template itself: 0%), at a face
  ~30% smaller (inter-ocular distance 0.27 S instead of 0.4 S).
  """

  def __init__(self, size: int = 64, crop: float = 0.85, registration: str | None = "two_eye",
               face_margin: float | None = 0.1):
    self.size, self.crop, self.registration = int(size), float(crop), registration
    self.face_margin = face_margin
    self.scale, self.shift = ((1.0, (0.0, 0.0)) if face_margin is None
                              else T.face_frame(self.size, self.crop, float(face_margin)))

  def __call__(self, record, rng, train):
    rgb = T.decode(record["image"])
    lm = np.asarray(record["landmarks"], np.float32)
    if self.registration and np.isfinite(lm).any():
      rgb = align_face(rgb, lm, size=self.size, method=self.registration,
                       scale=self.scale, shift=self.shift).image
    x = T.standardise(T.to_grey(T.resize(rgb, self.size)))
    x, _ = T.random_crop(x, self.crop, rng if train else None)
    return dict(image=np.ascontiguousarray(x[..., None], np.float32), **T.labels(record))


@dataclasses.dataclass(frozen=True)
class _JitInitMethod(Method):
  """`Method` whose init is jitted and draws with the "rbg" PRNG.

  Eagerly, the ordinal / copula graph dispatches hundreds of primitives one
  by one (~16 s on a 2-core CPU), and XLA:CPU compiles every threefry draw of
  a jitted init separately (~1.5 s per parameter); an rbg key (derived
  deterministically from `rng`) compiles in ~0.2 s. Init only: training
  keys are untouched.
  """

  def init(self, rng: jax.Array, batch: dict):
    inputs = {k: jnp.asarray(batch[k]) for k in self.input_keys}
    data = jax.random.key_data(rng).reshape(-1)
    key = jax.random.wrap_key_data(jnp.concatenate([data, data[::-1]])[:4], impl="rbg")
    init = jax.jit(functools.partial(self.module.init, train=False))
    return init({"params": key}, **inputs)


@dataclasses.dataclass(frozen=True)
class CCNNOptions:
  """config.model keys of `build` itself (beside `CCNN`'s and `CCNNTransform`'s).

  Attributes:
    unary_l2: lambda of Eq. 11 (l2 on the unary parameters phi): a scalar,
      or one lambda_q per AU (the data's AU order), as the paper tunes it:
      "we tune the validation parameter lambda_r separately for each AU"
      (Sec. 3.3; Alg. 1 step 2 writes lambda_q ||phi_q||^2). Per-AU values
      come from benchmarks/ccnn_tune_lambda.py.
    decode: what `predict`'s `intensity` reports: "map" (the CRF's MAP
      labelling, Sec. 3.3.1) | "expected" (E[y_q] under the marginals).
    map_decoder: "auto" (exact enumeration for <= `exact_max_aus` AUs, else
      loopy BP + ICM) | "exact" | "bp".
    exact_max_aus: the "auto" switch point (6^A labellings are enumerated).
    bp_iters: loopy BP iterations (MAP and sum-product marginals).
    occurrence_level: occurrence score = P(y_q >= occurrence_level), the
      data's occurrence rule (intensity >= 2).
  """
  unary_l2: float | tuple[float, ...] = 0.0
  decode: str = "map"
  map_decoder: str = "auto"
  exact_max_aus: int = 6
  bp_iters: int = 50
  occurrence_level: int = 2

  def __post_init__(self):
    if self.decode not in ("map", "expected"):
      raise ConfigKeyError(f"config.model.decode {self.decode!r}: 'map' or 'expected'")
    if self.map_decoder not in ("auto", "exact", "bp"):
      raise ConfigKeyError(f"config.model.map_decoder {self.map_decoder!r}: 'auto', 'exact' or 'bp'")


def unary_penalty(unary_params: dict, lam: jax.Array, variant: str, num_levels: int
                  ) -> jax.Array:
  """sum_q lambda_q ||phi_q||^2 (Eq. 11; lambda_q per AU as in Alg. 1 step 2).

  Args:
    unary_params: params["unary"]: `ordinal.OrdinalUnary`'s (OCNN / SCNN /
      CCNN), or the CNN's softmax Dense (kernel [F, A * L], bias [A * L]).
    lam: scalar or [A] lambda_q.
    variant: the CCNN variant.
    num_levels: L.
  """
  if variant != "cnn":
    return ordinal.unary_l2(unary_params, lam)
  sq = lambda x: jnp.sum(x.reshape(-1, x.shape[-1] // num_levels, num_levels) ** 2, axis=(0, 2))
  per_au = sq(unary_params["kernel"]) + sq(unary_params["bias"][None])
  return jnp.sum(jnp.broadcast_to(lam, per_au.shape) * per_au)


def build(model_cfg, data_info) -> Method:
  """Method from config.model: keys of `CCNN`, `CCNNTransform` (`input_size` =
  its `size`) and `CCNNOptions`; any other key fails naming it."""
  net_kw, transform_kw, opts_kw = hparams.split_kwargs(
      model_cfg, "ccnn", CCNN, CCNNTransform, CCNNOptions,
      rename={"input_size": "size"}, derived=("num_aus", "num_datasets"))
  opts = CCNNOptions(**opts_kw)
  num_aus = len(data_info.aus)
  check_lowerings(net_kw.get("conv_impl", CCNN.conv_impl),
                  len(net_kw.get("features", CCNN.features)),
                  net_kw.get("pool_impl", CCNN.pool_impl))
  module = CCNN(num_aus=num_aus, num_datasets=max(len(data_info.datasets), 1), **net_kw)
  variant = module.variant
  if variant not in VARIANTS:
    raise ConfigKeyError(f"config.model.variant {variant!r} unknown; one of {VARIANTS}")
  transform = CCNNTransform(**transform_kw)
  edges = module.edge_list()
  lam = np.asarray(opts.unary_l2, np.float32)
  if lam.ndim > 1 or (lam.ndim == 1 and len(lam) != num_aus):
    raise ConfigValueError(f"config.model.unary_l2 has {lam.size} values for {num_aus} AUs "
                           f"{tuple(data_info.aus)}: give one lambda, or one per AU")
  exact = (opts.map_decoder == "exact" or
           (opts.map_decoder == "auto" and num_aus <= opts.exact_max_aus))
  bp_iters, occ_level = opts.bp_iters, opts.occurrence_level
  has_pairs = variant in PAIRWISE_VARIANTS

  def apply(variables, batch):
    return module.apply(variables, batch["image"], batch.get("dataset"))

  def loss(variables, batch, rng, train=True, weights=None):
    del rng, train
    w = dict(weights or {})
    out = apply(variables, batch)
    nll, metrics = ccnn_loss.composite_nll(
        out["log_probs"], batch["intensity"], out.get("pair_log_probs"),
        edges if has_pairs else None, example_weight=batch.get("mask"),
        unary_weight=float(w.get("unary", 1.0)), pair_weight=float(w.get("pair", 1.0)))
    value = nll
    if lam.any():
      reg = unary_penalty(variables["params"]["unary"], jnp.asarray(lam), variant,
                          module.num_levels)
      value = value + float(w.get("l2", 1.0)) * reg  # Eq. 11, lambda_q per AU (Alg. 1)
      metrics["unary_l2"] = reg
    metrics["nll"] = nll
    if variant == "ccnn":
      metrics["mean_abs_theta"] = jnp.mean(jnp.abs(out["theta"]))
    return value, {"metrics": metrics, "model_state": {}}

  def predict(variables, batch):
    out = apply(variables, batch)
    u = out["log_probs"]
    if has_pairs:
      v = out["pairwise"]
      y, _ = (decode.exact_map(u, v, edges) if exact
              else decode.bp_map(u, v, edges, num_iters=bp_iters))
      marg = decode.bp_marginals(u, v, edges, num_iters=bp_iters)
    else:
      y, marg = jnp.argmax(u, axis=-1), u
    y_map = y.astype(jnp.float32)
    y_exp = decode.expected_intensity(marg)
    p = jnp.exp(marg)
    return {"intensity": y_map if opts.decode == "map" else y_exp,
            "intensity_map": y_map, "intensity_expected": y_exp,
            "occurrence": jnp.sum(p[..., occ_level:], axis=-1),
            # lets reports split a multi-dataset test set by dataset
            "dataset": jnp.asarray(batch["dataset"], jnp.int32)}

  groups = ("cnn", "unary", "pairwise") if has_pairs else ("cnn", "unary")

  def param_group(path):
    return {"backbone": "cnn", "unary": "unary", "pairwise": "pairwise"}[path[0]]

  return _JitInitMethod(name="ccnn", module=module, transform=transform, loss=loss, predict=predict,
                param_group=param_group, groups=groups, input_keys=("image", "dataset"))


SPEC = ModelSpec(name="ccnn", build=build,
                 paper="Walecki et al., CVPR 2017")
