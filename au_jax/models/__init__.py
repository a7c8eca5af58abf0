"""Model registry: config.model.name -> ModelSpec (explicit, no import magic)."""
from __future__ import annotations

from au_jax.models import ccnn, dsin, gudi, heatmaps, multilabel
from au_jax.models.spec import Method, ModelSpec

MODELS: dict[str, ModelSpec] = {
    gudi.SPEC.name: gudi.SPEC,
    ccnn.SPEC.name: ccnn.SPEC,
    dsin.SPEC.name: dsin.SPEC,
    multilabel.SPEC.name: multilabel.SPEC,
    heatmaps.SPEC.name: heatmaps.SPEC,
}


def get_spec(name: str) -> ModelSpec:
  if name not in MODELS:
    raise KeyError(f"unknown model {name!r} (config.model.name); known: {sorted(MODELS)}")
  return MODELS[name]
