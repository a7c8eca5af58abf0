"""The model contract every method implements (../shared/DESIGN.md section 4).

A method registers a `ModelSpec` in `au_jax.models.MODELS`. `spec.build(
model_cfg, data_info)` returns a `Method`: the Flax module plus pure
functions the engine, evaluation and inference call:

  transform(record, rng, train) -> example      the paper's preprocessing (numpy)
  init(rng, batch) -> variables                 {'params': ..., other collections}
  loss(variables, batch, rng, train, weights) -> (scalar, aux)
       aux = {'metrics': {name: scalar}, 'model_state': updated non-param collections}
  predict(variables, batch) -> {'intensity': [B, A] float (0..5),
                                'occurrence': [B, A] float (score; higher = present)}
  param_group(path) -> name of the parameter group ('cnn', 'unary', ...)
  fit(split), report(workdir)                   optional hooks (see below)

Labels in batches: `intensity` int32 [B, A] (-1 unknown), `occurrence` int32
[B, A] (-1 unknown), `dataset` int32 [B], `mask` float32 [B] (0 = padding).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

PyTree = Any


@dataclasses.dataclass(frozen=True)
class Method:
  name: str
  module: nn.Module
  transform: Callable[[dict, Any, bool], dict]
  loss: Callable[..., tuple[jax.Array, dict]]
  predict: Callable[[PyTree, dict], dict]
  param_group: Callable[[tuple[str, ...]], str]
  groups: tuple[str, ...]
  input_keys: tuple[str, ...] = ("image",)
  # Optional pass over the training split before training (e.g. Gudi's
  # per-session contrast statistics): fit(split) -> None, mutating the
  # method's own transform state. None = nothing to fit.
  fit: Callable[[Any], None] | None = None
  # Optional method-specific outputs written after the final evaluation
  # (e.g. CCNN's Table 1 layout, dependency graph and theta vs truth):
  # report(workdir) -> None. A failure here never loses a finished run.
  report: Callable[[str], None] | None = None

  def init(self, rng: jax.Array, batch: dict) -> PyTree:
    inputs = {k: jnp.asarray(batch[k]) for k in self.input_keys}
    return self.module.init({"params": rng, "dropout": rng}, **inputs, train=False)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """A registered method: `build(model_cfg, data_info) -> Method`."""
  name: str
  build: Callable[..., Method]
  paper: str = ""


def masked_mean(values: jax.Array, weights: jax.Array) -> jax.Array:
  """Weighted mean that is 0 (not NaN) when every weight is 0."""
  return jnp.sum(values * weights) / jnp.maximum(jnp.sum(weights), 1.0)
