"""Deep Structure Inference Network (DSIN): Corneanu, Madadi, Escalera, "Deep
Structure Inference Network for Facial Action Unit Recognition", ECCV 2018.

Paper -> code:
  inputs (Sec. 4.1, Fig. 4)  `transform.DSINTransform`: the face registered
                             (similarity) to the reference anchors, five
                             landmark-centred patches + the whole face
  reference anchors (Sec. 4.1)  the fitted head "anchors"
                             (registration.fit_reference): mean eye and mouth
                             centres of the TRAINING split's neutral frames,
                             fitted by a fit stage before Alg. 1's step 1,
                             checkpointed with the model and read by the
                             jitted loss and predict
  PP, Pi_i (Sec. 3.1, Fig. 3a)  `PatchCNN`, one per input, the P networks as
                             ONE module `nn.vmap`-ed over the patch axis
                             (separate parameters and batch statistics per
                             patch, one compiled computation): params["patch"],
                             in two groups: "patch_conv" (conv blocks: conv +
                             batch norm) and "patch_fc" (FC layers and the
                             output), so a transfer can fix the convolutions
                             (Sec. 4.1, BP4D -> DISFA; `DSIN.fixed_conv`)
  F, Phi_j (Sec. 3.2, Fig. 3b)  `FusionUnit` (2 FC layers, 64 hidden units,
                             each followed by a sigmoid), `nn.vmap`-ed over
                             the AU axis: params["fusion"]
  SI, Omega_j (Sec. 3.3, Eqs. 6-10)  `SIUCell`, unrolled T times with `nn.scan`
                             (parameters shared across iterations, one set
                             per AU): params["structure"]
  L_Pi, L_Phi, L_Omega, r    au_jax/models/dsin/loss.py
  Alg. 1                     a stage schedule (stages.alg1_stages): stage
                             `trainable` = the groups "patch_conv",
                             "patch_fc", "fusion", "structure"; stage
                             `loss_weights` = {"pp", "fusion", "si"} =
                             (w1, w2, w3) of step 5
  Tables 2-3, Fig. 5         report.dsin_outputs (run by au_jax.reports after each run)

Symbols: P = `num_inputs` (6), N = A = `num_aus`, T = `iterations`, p = patch
predictions [B, P, A], s_j = p[:, :, j], f = fusion output [B, A], m^t =
messages [B, A], chi^t = correction factors [B, A], y^t = SI predictions
[B, A]; omega^m, beta^m, omega^g, beta^g, omega^y, beta^y = the `SIUCell`
parameters of the same names, each with a leading AU axis.

How Eqs. 6-10 are read (the text leaves the shapes implicit):
  * Omega_j: R^{N+2} -> R^2 (Eq. 6): node j emits ONE scalar message m_j^t
    and one prediction y_j^t per iteration, so m^t is [B, N], not [B, N, N].
  * Eq. 7: m_j^t = sigmoid(omega_j^m . [mu(m_1^{t-1}..m_N^{t-1}), f_j,
    y_j^{t-1}] + beta_j^m), mu the mean over ALL N nodes (j included: the
    text writes m_1..m_N, and the graph is fully connected).
  * Eq. 8: chi_j^t = sigmoid(omega_j^g . [mu(m_1^t..m_N^t), f_j, y_j^{t-1}]
    + beta_j^g): the CURRENT messages m^t, the PREVIOUS prediction; one
    scalar correction factor per node.
  * Eq. 9: since node i sends the same scalar to every node, m_{i->j}^t =
    m_i^t; the gate of the edge (i, j) is mu(chi_i^t, chi_j^t) =
    (chi_i + chi_j) / 2, so the gated message i -> j is
    mbar_{i->j}^t = (chi_i^t + chi_j^t) / 2 * m_i^t. The "mutual factors of
    the gate between nodes i and j" make the gate pairwise, so we read the
    left side's mbar_j as the messages ARRIVING at j (one per sender i), not
    as a single gated m_j.
  * Eq. 10: y_j^t = sigmoid(omega_j^y . [mu_i(mbar_{i->j}^t), f_j] +
    beta_j^y): mu(mbar_1^t..mbar_N^t) is the mean over the N senders i (i = j
    included, as in Eq. 7) of the messages arriving at j. It therefore differs
    between nodes through chi_j.
  * Without correction factors (DSIN^ncf, "Eq. 9 is not applied"): mbar_{i->j}
    = m_i, Eq. 10 takes mu(m^t); chi is not computed (reported as 1, no
    regulariser).
  * Initial state (not given in the paper): m^0 = y^0 = f, the fused
    prediction ("a message unit basically corresponds to the distribution of
    the AU node").
  * Parameters: "random initialization around 0: N(0, sigma^2)" (Alg. 1, step
    0); sigma = `si_init_scale` (0.1) for the SIU. The paper's f_j and y_j are
    probabilities, and so are the SIU's inputs here.

Choices where Fig. 3(a) is not in our text of the paper (its layer labels are
in the image): 4 conv blocks, each conv (stride 2, 'SAME') -> batch norm ->
ReLU, with 32/64/128/256 filters and kernels 5/3/3/3 (56 -> 28 -> 14 -> 7 ->
4), then FC 512 -> FC 128 (ReLU, "All neurons use ReLU activations") and N
sigmoid outputs. Batch norm momentum 0.9 (short stages leave the running
averages usable). Dropout (`dropout`, 0 by default) is not in the paper.

Batch norm and frozen stages: the patch CNNs' batch norm uses (and updates)
batch statistics only when L_Pi is weighted in the stage (Alg. 1 steps 1, 3,
5: exactly the steps that train PP); in steps 2 and 4, where PP is frozen, it
uses its running averages, so a frozen PP is the same function the fusion
and SI are trained on and evaluated with. With `fixed_conv` (transferred,
fixed convolutions) the conv blocks' batch norm always uses its running
averages (those of the source run): the fixed blocks stay exactly the
source's function, only the FC layers adapt.

DSIN predicts occurrence only: `predict` gives occurrence = the final SI
prediction y^T (the fusion output f when `iterations=0`, the PP+F model) and
intensity = 5 x occurrence, a placeholder so that the uniform outputs exist;
its ICC is not a result of the paper.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from au_jax.errors import ConfigKeyError, ConfigValueError
from au_jax.models import hparams
from au_jax.models import looped as looped_lib
from au_jax.models.dsin import loss as L
from au_jax.models.dsin import registration
from au_jax.models.dsin.transform import DSINTransform
from au_jax.models.spec import FittedHead, Method, ModelSpec

GROUPS = ("patch_conv", "patch_fc", "fusion", "structure")
LOSS_TERMS = ("pp", "fusion", "si")
ANCHORS = "anchors"   # the fitted head of Sec. 4.1's reference anchors
STEP5_WEIGHTS = {"pp": 0.25, "fusion": 0.25, "si": 0.5}   # Alg. 1 step 5: w1, w2, w3


# The vmapped patch CNNs' convolutions (stride 2, 'SAME') are looped_lib.Conv:
# nn.Conv's parameters; with `looped` (XLA:CPU) P ordinary convolutions,
# forward and backward, instead of JAX's batching rule, a grouped convolution
# (feature_group_count = P), which XLA:CPU runs ~40x slower (2 cores, patch
# 24, batch 64; benchmarks/dsin_throughput.py).


class PatchCNN(nn.Module):
  """Pi_i (Fig. 3a) for ONE input: [B, S, S, C] -> AU logits [B, A].

  `train` is a field, not a call argument: nn.vmap maps call arguments, and a
  Python bool cannot be mapped.
  """
  num_aus: int
  features: tuple[int, ...] = (32, 64, 128, 256)
  kernels: tuple[int, ...] = (5, 3, 3, 3)
  fc_units: tuple[int, ...] = (512, 128)
  dropout: float = 0.0
  bn_momentum: float = 0.9
  train: bool = False
  conv_train: bool = True   # False: batch norm of the conv blocks on running averages
  looped_conv: bool = False  # looped_lib.Conv's `looped` (DSIN.patch_conv)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if len(self.features) != len(self.kernels):
      raise ConfigValueError(f"config.model.features {self.features} and kernels "
                             f"{self.kernels} must have the same length")
    for i, (f, k) in enumerate(zip(self.features, self.kernels)):
      # "Each convolutional block has stride 2 and batch normalization" (Fig. 3).
      x = looped_lib.Conv(f, k, strides=2, padding="SAME", looped=self.looped_conv,
                          name=f"conv{i + 1}")(x)
      x = nn.BatchNorm(use_running_average=not (self.train and self.conv_train),
                       momentum=self.bn_momentum,
                       name=f"bn{i + 1}")(x)
      x = nn.relu(x)
    x = x.reshape((x.shape[0], -1))
    for i, units in enumerate(self.fc_units):
      x = nn.relu(nn.Dense(units, name=f"fc{i + 1}")(x))
      x = nn.Dropout(self.dropout, deterministic=not self.train)(x)
    return nn.Dense(self.num_aus, name="out")(x)


class FusionUnit(nn.Module):
  """Phi_j (Fig. 3b) for ONE AU: s_j [B, P] -> logit of f_j [B].

  "2 fully connected layers with 64 hidden units, each followed by a sigmoid
  layer" (Sec. 3.2): FC 64 -> sigmoid -> FC 1 -> (sigmoid applied by the
  caller, which keeps the logit for a stable cross-entropy).
  """
  hidden: int = 64

  @nn.compact
  def __call__(self, s: jax.Array) -> jax.Array:
    h = nn.sigmoid(nn.Dense(self.hidden, name="fc1")(s))
    return nn.Dense(1, name="fc2")(h)[..., 0]


class SIUCell(nn.Module):
  """One iteration of the N structure inference units (Eqs. 7-10).

  carry = (m^{t-1}, y^{t-1}) [B, A] probabilities; f [B, A] the fused
  prediction. Returns the new carry and (logit of y^t, chi^t), each [B, A].
  The parameters carry a leading AU axis (one SIU per AU, Omega_j); under
  nn.scan they are shared across iterations.
  """
  num_aus: int
  use_correction: bool = True
  init_scale: float = 0.1

  @nn.compact
  def __call__(self, carry, f):
    m_prev, y_prev = carry
    a = self.num_aus
    init = nn.initializers.normal(self.init_scale)
    w_m, b_m = self.param("omega_m", init, (a, 3)), self.param("beta_m", init, (a,))
    w_y, b_y = self.param("omega_y", init, (a, 2)), self.param("beta_y", init, (a,))
    mean_prev = jnp.mean(m_prev, axis=-1, keepdims=True)                  # mu(m^{t-1})
    m = nn.sigmoid(w_m[:, 0] * mean_prev + w_m[:, 1] * f + w_m[:, 2] * y_prev + b_m)  # Eq. 7
    mean_m = jnp.mean(m, axis=-1, keepdims=True)                          # mu(m^t)
    if self.use_correction:
      w_g, b_g = self.param("omega_g", init, (a, 3)), self.param("beta_g", init, (a,))
      chi = nn.sigmoid(w_g[:, 0] * mean_m + w_g[:, 1] * f + w_g[:, 2] * y_prev + b_g)  # Eq. 8
      gate = 0.5 * (chi[:, :, None] + chi[:, None, :])                    # mu(chi_i, chi_j) [B, i, j]
      incoming = jnp.mean(gate * m[:, :, None], axis=1)                   # Eq. 9, mu over senders i
    else:  # DSIN^ncf: Eq. 9 not applied
      chi = jnp.ones_like(m)
      incoming = jnp.broadcast_to(mean_m, m.shape)
    logit = w_y[:, 0] * incoming + w_y[:, 1] * f + b_y                    # Eq. 10
    return (m, nn.sigmoid(logit)), (logit, chi)


class DSIN(nn.Module):
  """PP -> F -> SI (Fig. 2). Input patches [B, P, S, S, C].

  Attributes:
    num_aus: N (derived from the data).
    num_inputs: P (derived from the transform: its patches + the face).
    features, kernels, fc_units, dropout, bn_momentum: `PatchCNN`.
    fusion_units: hidden units of each fusion unit (paper: 64).
    iterations: T, unrolled SI iterations (paper's best: 10); 0 = no SI (PP+F).
    use_correction: False = DSIN^ncf.
    si_init_scale: sigma of the SIU parameters' N(0, sigma^2) initialisation.
    fixed_conv: the conv blocks are fixed (transferred from another run,
      never in a stage's `trainable`): their batch norm always uses the
      running averages, in training as in evaluation.
    patch_conv: how the vmapped patch CNNs' convolutions are computed (the
      same function either way): "grouped" = JAX's batching rule (one grouped
      convolution per layer, fast on GPU/TPU), "looped" = `looped_lib.Conv(looped=True)` (P
      ordinary convolutions per layer in the one compiled computation, ~40x
      faster on XLA:CPU), "auto" = looped on CPU, grouped elsewhere.

  Returns a dict:
    patch_logits, patch   [B, P, A] logits and sigmoid outputs p of PP
    fusion_logits, fusion [B, A] logit and probability f
    si_logits, si, chi    [B, T, A] (only when iterations > 0): y^t per
                          iteration and the correction factors chi^t
  """
  num_aus: int
  num_inputs: int = 6
  features: tuple[int, ...] = (32, 64, 128, 256)
  kernels: tuple[int, ...] = (5, 3, 3, 3)
  fc_units: tuple[int, ...] = (512, 128)
  dropout: float = 0.0
  bn_momentum: float = 0.9
  fusion_units: int = 64
  iterations: int = 10
  use_correction: bool = True
  si_init_scale: float = 0.1
  fixed_conv: bool = False
  patch_conv: str = "auto"

  def _looped(self) -> bool:
    if self.patch_conv not in ("auto", "looped", "grouped"):
      raise ConfigValueError(f"config.model.patch_conv must be 'auto', 'looped' or 'grouped', "
                             f"got {self.patch_conv!r}")
    if self.patch_conv == "auto":
      return jax.default_backend() == "cpu"
    return self.patch_conv == "looped"

  @nn.compact
  def __call__(self, patches: jax.Array, *, train: bool) -> dict:
    if patches.shape[1] != self.num_inputs:
      raise ValueError(f"DSIN expects {self.num_inputs} inputs on axis 1 of patches "
                       f"[B, P, S, S, C], got shape {patches.shape}")
    patch_nets = nn.vmap(PatchCNN, in_axes=1, out_axes=1,
                         variable_axes={"params": 0, "batch_stats": 0},
                         split_rngs={"params": True, "dropout": True},
                         axis_size=self.num_inputs)
    p_logits = patch_nets(num_aus=self.num_aus, features=self.features, kernels=self.kernels,
                          fc_units=self.fc_units, dropout=self.dropout,
                          bn_momentum=self.bn_momentum, train=train,
                          conv_train=not self.fixed_conv, looped_conv=self._looped(),
                          name="patch")(patches)
    p = nn.sigmoid(p_logits)                                              # [B, P, A]
    fusion = nn.vmap(FusionUnit, in_axes=1, out_axes=1, variable_axes={"params": 0},
                     split_rngs={"params": True}, axis_size=self.num_aus)
    s = jnp.swapaxes(p, 1, 2)                                             # s_j: [B, A, P]
    f_logits = fusion(hidden=self.fusion_units, name="fusion")(s)                # [B, A]
    f = nn.sigmoid(f_logits)
    out = dict(patch_logits=p_logits, patch=p, fusion_logits=f_logits, fusion=f)
    if self.iterations > 0:
      si = nn.scan(SIUCell, variable_broadcast="params", split_rngs={"params": False},
                   in_axes=nn.broadcast, out_axes=1, length=self.iterations)
      _, (y_logits, chi) = si(num_aus=self.num_aus, use_correction=self.use_correction,
                              init_scale=self.si_init_scale, name="structure")((f, f), f)
      out.update(si_logits=y_logits, si=nn.sigmoid(y_logits), chi=chi)
    return out


@dataclasses.dataclass(frozen=True)
class DSINOptions:
  """config.model keys of `build` itself (beside `DSIN`'s and `DSINTransform`'s).

  Attributes:
    balance: class balancing of L_Pi (the paper's; False = PP^ncb).
    pos_rates: per-AU rate of positives in the training split (the data's AU
      order) for the balancing weights. None: the training split's rates when
      the DataInfo carries them (`positive_rates`), else each batch's rates
      (Laplace-smoothed, loss.batch_rates): noisier, same intent.
    chi_reg: r, the weight of the correction-factor sparsity term (paper:
      5e-3, Fig. 5).
  """
  balance: bool = True
  pos_rates: tuple[float, ...] | None = None
  chi_reg: float = 5e-3


def stage_weights(weights, has_si: bool) -> dict[str, float]:
  """A stage's loss_weights -> {"pp", "fusion", "si"} floats.

  None (no stage weights) = Alg. 1 step 5's (0.25, 0.25, 0.5). A dict names
  the terms its stage trains; a term it leaves out has weight 0 (step 1 is
  dict(pp=1)).
  """
  if not weights:
    w = dict(STEP5_WEIGHTS)
  else:
    unknown = sorted(set(weights) - set(LOSS_TERMS))
    if unknown:
      raise ConfigKeyError(f"DSIN loss_weights {unknown} unknown; terms: {list(LOSS_TERMS)}")
    w = {k: float(weights.get(k, 0.0)) for k in LOSS_TERMS}
  if not has_si:
    if weights and w["si"] > 0:
      raise ConfigValueError("DSIN loss_weights weight 'si' but the model has no structure "
                             "inference (config.model.iterations=0)")
    w["si"] = 0.0
  return w


def build(model_cfg, data_info) -> Method:
  """Method from config.model: keys of `DSIN`, `DSINTransform` and `DSINOptions`;
  any other key fails naming it."""
  net_kw, transform_kw, opts_kw = hparams.split_kwargs(
      model_cfg, "dsin", DSIN, DSINTransform, DSINOptions,
      derived=("num_aus", "num_inputs"))
  opts = DSINOptions(**opts_kw)
  num_aus = len(data_info.aus)
  transform = DSINTransform(**transform_kw)
  module = DSIN(num_aus=num_aus, num_inputs=len(transform.input_names), **net_kw)
  if module.iterations < 0:
    raise ConfigValueError(f"config.model.iterations must be >= 0, got {module.iterations}")
  has_si = module.iterations > 0
  rates = opts.pos_rates
  if rates is None:
    rates = getattr(data_info, "positive_rates", None)
  if rates is not None and len(rates) != num_aus:
    raise ConfigValueError(f"config.model.pos_rates has {len(rates)} values for {num_aus} AUs "
                           f"{tuple(data_info.aus)}")
  fixed_weights = (None if rates is None
                   else L.balance_weights(jnp.asarray(np.asarray(rates, np.float32))))

  def au_weights(batch):
    if not opts.balance:
      return jnp.ones((num_aus,), jnp.float32)
    if fixed_weights is not None:
      return fixed_weights
    return L.balance_weights(L.batch_rates(batch["occurrence"], batch["mask"]))

  reference_init = registration.template_reference(transform.face_size).astype(np.float32)

  def reference(variables):
    return variables.get("fitted", {}).get(ANCHORS, {}).get("reference", reference_init)

  def net_inputs(variables, batch):
    """Registered patches [B, P, S, S, 3] and clamped windows [B] (transform.inputs)."""
    return transform.inputs(batch["face"], batch["landmarks"], reference(variables))

  def net_variables(variables):
    return {k: v for k, v in variables.items() if k != "fitted"}

  def loss(variables, batch, rng, train=True, weights=None):
    w = stage_weights(weights, has_si)
    bn_train = bool(train) and w["pp"] > 0   # BN follows PP's training (module docstring)
    patches, clamped = net_inputs(variables, batch)
    if bn_train:
      out, state = module.apply(net_variables(variables), patches, train=True,
                                mutable=["batch_stats"], rngs={"dropout": rng})
      model_state = {"batch_stats": state["batch_stats"]}
    else:
      out, model_state = module.apply(net_variables(variables), patches, train=False), {}
    occ, mask = batch["occurrence"], batch["mask"]
    metrics = {"pp_l2": L.patch_l2(out["patch"], occ, mask, au_weights(batch)),
               "fusion_bce": L.masked_bce(out["fusion_logits"], occ, mask)}
    value = w["pp"] * metrics["pp_l2"] + w["fusion"] * metrics["fusion_bce"]
    if has_si:
      metrics["si_bce"] = L.masked_bce(out["si_logits"][:, -1], occ, mask)
      metrics["chi_mean"] = L.chi_penalty(out["chi"], mask)
      si_term = metrics["si_bce"]
      if module.use_correction:
        si_term = si_term + opts.chi_reg * metrics["chi_mean"]
      value = value + w["si"] * si_term
    # windows moved inside the registered face, per example (never zero-padded)
    metrics["patches_clamped"] = jnp.sum(clamped * mask) / jnp.maximum(jnp.sum(mask), 1.0)
    return value, {"metrics": metrics, "model_state": model_state}

  def predict(variables, batch):
    patches, clamped = net_inputs(variables, batch)
    out = module.apply(net_variables(variables), patches, train=False)
    occ = out["si"][:, -1] if has_si else out["fusion"]
    pred = {"intensity": 5.0 * occ, "occurrence": occ, "fusion": out["fusion"],
            "patch": out["patch"], "patches_clamped": clamped}
    if has_si:
      pred.update(si=out["si"], chi=out["chi"])
    return pred

  # Sec. 4.1's reference anchors: fitted on the training split (a fit stage
  # before Alg. 1's step 1), checkpointed, read by loss and predict.
  anchors_head = FittedHead(
      init=lambda: {"reference": jnp.asarray(reference_init),
                    "neutral_frames": jnp.zeros((), jnp.float32)},
      features=lambda variables, batch: registration.anchors(batch["landmarks"]).reshape(
          batch["landmarks"].shape[0], -1),
      fit=lambda feats, labels: registration.fit_reference(feats, labels["occurrence"]))

  def init(rng, batch):
    patches, _ = transform.inputs(batch["face"], batch["landmarks"], reference_init)
    return module.init({"params": rng, "dropout": rng}, patches, train=False)

  groups = GROUPS if has_si else GROUPS[:3]
  return DSINMethod(name="dsin", module=module, transform=transform, loss=loss, predict=predict,
                    param_group=param_group, groups=groups, input_keys=("face", "landmarks"),
                    heads={ANCHORS: anchors_head}, init_fn=init)


@dataclasses.dataclass(frozen=True)
class DSINMethod(Method):
  """`Method` whose init registers the batch first: the network's input is the
  registered patches, which the batch does not carry (transform.inputs)."""
  init_fn: Callable[[jax.Array, dict], dict] | None = None

  def init(self, rng: jax.Array, batch: dict):
    return jax.jit(self.init_fn)(rng, batch)   # one compilation, as Method.init


def param_group(path: tuple[str, ...]) -> str:
  """"patch_conv" (conv blocks: conv + batch norm), "patch_fc" (FC layers and
  output) of the patch CNNs; "fusion"; "structure"."""
  if path[0] == "patch":
    return "patch_conv" if path[1].startswith(("conv", "bn")) else "patch_fc"
  if path[0] not in GROUPS:
    raise KeyError(f"DSIN parameter {'/'.join(path)} belongs to no group {GROUPS}")
  return path[0]


SPEC = ModelSpec(name="dsin", build=build,
                 paper="Corneanu et al., ECCV 2018")
