"""The model contract every method implements.

A method registers its package in `au_jax.models.PACKAGES` (its `SPEC`, a `ModelSpec`, is
`au_jax.models.MODELS[name]`). `spec.build(
model_cfg, data_info)` returns a `Method`: the Flax module plus pure
functions the engine, evaluation and inference call:

  transform(record, rng, train[, stats]) -> example   the paper's preprocessing (numpy)
  init(rng, batch) -> variables                 {'params': ..., other collections}
  loss(variables, batch, rng, train, weights) -> (scalar, aux)
       aux = {'metrics': {name: scalar}, 'model_state': updated non-param collections}
  predict(variables, batch) -> {'intensity': [B, A] float (0..5),
                                'occurrence': [B, A] float (score; higher = present)}
  param_group(path) -> name of the parameter group ('cnn', 'unary', ...)
  sessions, heads                               optional (see below)

Fitted state (non-gradient state fitted from data) comes in two kinds, each
with its own rule about which data it may see:

  sessions: SessionStats   label-free normalisation statistics (Gudi's session
      contrast, a per-subject mean face). Fitted per session/subject of
      WHICHEVER split is transformed (train, validation, test; at inference one
      video or folder), from records whose labels have been removed. The
      transform receives them as `transform(record, rng, train, stats)`.
      They describe the data, not the model, so they are recomputed for each
      split (deterministic) rather than checkpointed.
  heads: {name: FittedHead}  supervised state fitted on learned features and
      labels of the TRAINING split only (a per-AU QDA on the last hidden
      layer). Fitted by a schedule stage `dict(name=..., fit=name)`, stored in
      `TrainState.fitted[name]` (checkpointed, restored by `Predictor`) and
      read by the jitted `predict` as arrays: `variables["fitted"][name]`.

Labels in batches: `intensity` int32 [B, A] (-1 unknown), `occurrence` int32
[B, A] (-1 unknown), `dataset` int32 [B], `mask` float32 [B] (0 = padding).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

PyTree = Any


@dataclasses.dataclass(frozen=True)
class SessionStats:
  """Label-free statistics per session of whichever split is transformed.

  level: group records by "sequence" (a video session: subject + sequence)
    or "subject".
  fit: records of one group (labels removed; at most `max_records`, evenly
    spaced) -> statistics (any picklable value, e.g. a float or an array).
  """
  level: str
  fit: Callable[[list[dict]], Any]
  max_records: int = 200

  def __post_init__(self):
    if self.level not in ("sequence", "subject"):
      raise ValueError(f"SessionStats.level must be 'sequence' or 'subject', got {self.level!r}")

  def key(self, record: dict) -> str:
    """The group a record belongs to (same key for the records of one session)."""
    d, s = int(record.get("dataset", 0)), record.get("subject", "")
    return f"{d}:{s}" if self.level == "subject" else f"{d}:{s}/{record.get('sequence', '')}"


@dataclasses.dataclass(frozen=True)
class FittedHead:
  """Supervised state fitted on the training split's learned features.

  init() -> pytree of zero arrays with the fitted shapes (checkpoint template).
  features(variables, batch) -> [B, D] jnp features (jitted by the engine).
  fit(features [N, D] numpy, labels {"intensity", "occurrence": int [N, A],
      -1 = unknown}) -> pytree shaped like init() (numpy arrays). Runs on the
      training split only; must not return non-finite values (regularise, or
      raise naming the AU).
  """
  init: Callable[[], PyTree]
  features: Callable[[PyTree, dict], jax.Array]
  fit: Callable[[Any, dict], PyTree]


@dataclasses.dataclass(frozen=True)
class Method:
  name: str
  module: nn.Module
  transform: Callable[..., dict]   # (record, rng, train, stats=None) -> example
  loss: Callable[..., tuple[jax.Array, dict]]
  predict: Callable[[PyTree, dict], dict]
  param_group: Callable[[tuple[str, ...]], str]
  groups: tuple[str, ...]
  input_keys: tuple[str, ...] = ("image",)
  # Copies of each sampled training record in a batch (Gudi: 2 = the image and
  # its mirror, both in the batch); the transform then takes `copy=k`.
  train_copies: int = 1
  sessions: SessionStats | None = None
  heads: dict[str, FittedHead] = dataclasses.field(default_factory=dict)

  def init(self, rng: jax.Array, batch: dict) -> PyTree:
    """The model's variables, from one jitted init: run op by op, every
    initialiser (under a model's vmaps, every slice of it) would compile on its
    own (DSIN's synthetic network: 20 CPU-s eager, 11 jitted). The random
    stream is the same either way."""
    inputs = {k: jnp.asarray(batch[k]) for k in self.input_keys}
    init = jax.jit(functools.partial(self.module.init, train=False))
    return init({"params": rng, "dropout": rng}, **inputs)

  def init_fitted(self) -> dict:
    return {name: head.init() for name, head in self.heads.items()}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """A registered method: `build(model_cfg, data_info) -> Method`."""
  name: str
  build: Callable[..., Method]
  paper: str = ""


def masked_mean(values: jax.Array, weights: jax.Array) -> jax.Array:
  """Weighted mean that is 0 (not NaN) when every weight is 0."""
  return jnp.sum(values * weights) / jnp.maximum(jnp.sum(weights), 1.0)
