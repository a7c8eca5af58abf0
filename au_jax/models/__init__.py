"""Model registry: config.model.name -> ModelSpec.

PACKAGES names each method's package explicitly (no discovery, no import
magic). `get_spec(name)` imports only that method's package, so restoring a
Gudi run does not import CCNN's scipy or DSIN's modules: prediction starts
faster. MODELS is the same registry as a mapping (name -> ModelSpec, a
package imported when its spec is first read); tests register extra specs in
it. tests/test_layering.py counts PACKAGES' modules as imports of this
module, so import circles through them are still caught.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping

from au_jax.models.spec import Method, ModelSpec

# config.model.name -> the package whose SPEC it is (SPEC.name == the key).
PACKAGES: dict[str, str] = {
    "gudi_fera2015": "au_jax.models.gudi",
    "ccnn": "au_jax.models.ccnn",
    "dsin": "au_jax.models.dsin",
    "multilabel": "au_jax.models.multilabel",
    "heatmaps": "au_jax.models.heatmaps",
}


class _Registry(MutableMapping):
  """name -> ModelSpec; a name of PACKAGES imports its package when first read."""

  def __init__(self, packages: dict[str, str]):
    self._entries: dict[str, str | ModelSpec] = dict(packages)

  def __getitem__(self, name: str) -> ModelSpec:
    entry = self._entries[name]
    if isinstance(entry, str):
      entry = importlib.import_module(entry).SPEC
      if entry.name != name:
        raise RuntimeError(f"{self._entries[name]}.SPEC is named {entry.name!r}, registered "
                           f"as {name!r}")
      self._entries[name] = entry
    return entry

  def __setitem__(self, name: str, spec: ModelSpec):
    self._entries[name] = spec

  def __delitem__(self, name: str):
    del self._entries[name]

  def __iter__(self) -> Iterator[str]:
    return iter(self._entries)

  def __len__(self) -> int:
    return len(self._entries)

  def __repr__(self) -> str:
    return f"MODELS({sorted(self._entries)})"


MODELS: MutableMapping[str, ModelSpec] = _Registry(PACKAGES)


def get_spec(name: str) -> ModelSpec:
  if name not in MODELS:
    raise KeyError(f"unknown model {name!r} (config.model.name); known: {sorted(MODELS)}")
  return MODELS[name]


__all__ = ["MODELS", "PACKAGES", "Method", "ModelSpec", "get_spec"]
