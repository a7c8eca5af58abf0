"""Mixed precision: one switch for every method (`precision` = "float32" | "bfloat16").

"bfloat16" is the usual mixed-precision recipe, applied by the engine inside
the jitted train / predict / features steps (au_jax.train.steps), so no model
code changes:

* master weights stay float32: `TrainState.params` and the optimiser state
  are never cast; the step casts a *copy* of the parameters of the compute
  groups to bfloat16 inside the differentiated function, so the gradients
  arrive in float32 (the cast's transpose) and the optimiser update is
  float32;
* the network computes in bfloat16: image-like inputs (floating arrays of
  rank >= 4) of the top-level module call are cast to bfloat16, and Flax
  layers compute in the dtype of their inputs and (cast) parameters;
* the network's outputs are cast back to float32 at the top-level module
  call, so every loss, the decoding and the metrics run in float32;
* the parameter groups of `float32_groups(method)` stay float32, and every
  submodule whose parameters all lie in those groups gets its floating
  inputs cast to float32: CCNN's ordinal unaries (cut-points, probit CDFs)
  and Frank copula are computed in float32 from float32 parameters;
* a submodule without parameters (Gudi's local contrast normalisation)
  computes in float32 and returns its input's dtype, as normalisations
  usually do under mixed precision (its float32 constants meet float32);
* non-parameter collections (batch-norm statistics, heatmaps' AU weights)
  are never cast; Flax's BatchNorm computes its batch statistics in at
  least float32, and the step casts any updated collection back to the
  dtype it had, so the state's dtypes never change.

"float32" (the default) is the engine exactly as without this module: no
cast, no interceptor; the step is the same program.

Which groups stay float32 is data, per method (`FLOAT32_GROUPS`, or a
method's own `float32_groups` attribute, or an explicit argument):
  ccnn        unary, pairwise  the ordinal probit unaries (Eqs. 3-5) and the
                               Frank copula (Eqs. 6-9) / SCNN table
  dsin        fusion, structure  the fusion units and the SI cells, iterated T
                               times (rounding would compound; a few thousand
                               parameters; the SI scan's carry starts from the
                               fusion output, so both share one dtype)
  gudi_fera2015, multilabel, heatmaps: none (their heads are plain layers;
                               the losses see float32 outputs)
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterable

import flax.linen as nn
import jax
import jax.numpy as jnp

from au_jax.errors import ConfigValueError

PRECISIONS = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}

FLOAT32_GROUPS: dict[str, tuple[str, ...]] = {
    "ccnn": ("unary", "pairwise"),
    "dsin": ("fusion", "structure"),
    "gudi_fera2015": (),
    "multilabel": (),
    "heatmaps": (),
}

# Floating inputs of the top-level module call with at least this rank are
# images (or stacks of image patches) and are cast to the compute dtype;
# lower-rank inputs (landmarks, codes) keep their dtype.
IMAGE_RANK = 4


def check(precision: Any, field: str = "config.train.precision") -> str:
  """The precision name, or a one-line error naming the config field."""
  if precision is None:
    return "float32"
  if not isinstance(precision, str) or precision not in PRECISIONS:
    raise ConfigValueError(f"{field} must be one of {sorted(PRECISIONS)}, got {precision!r}")
  return precision


def float32_groups(method, override: Iterable[str] | None = None) -> tuple[str, ...]:
  """The parameter groups of `method` that stay float32 under bfloat16."""
  if override is not None:
    groups = tuple(override)
  else:
    groups = getattr(method, "float32_groups", None)
    if groups is None:
      groups = FLOAT32_GROUPS.get(getattr(method, "name", ""), ())
  unknown = sorted(set(groups) - set(getattr(method, "groups", groups)))
  if unknown:
    raise ConfigValueError(f"float32 groups {unknown} are not parameter groups of "
                           f"{getattr(method, 'name', '?')} {tuple(method.groups)}")
  return tuple(groups)


def _is_float(x) -> bool:
  return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating)


def cast_tree(tree, dtype, min_rank: int = 0):
  """Floating leaves of rank >= min_rank cast to dtype; other leaves unchanged."""
  return jax.tree.map(
      lambda x: x.astype(dtype) if _is_float(x) and x.ndim >= min_rank else x, tree)


def like(tree, reference):
  """`tree` with every floating leaf cast to the dtype of `reference`'s leaf
  (updated non-parameter collections keep the dtypes they had)."""
  def cast(x, r):
    return x.astype(r.dtype) if _is_float(x) and _is_float(r) else x
  try:
    return jax.tree.map(cast, tree, reference)
  except ValueError:  # a different structure (a collection the step adds): float32
    return cast_tree(tree, jnp.float32)


class Policy:
  """The casts of one precision for one method's flat parameter dict.

  Attributes:
    name: "float32" | "bfloat16".
    compute: the compute dtype.
    labels: flat parameter key -> group (au_jax.train.state.group_labels).
    keep: the groups that stay float32.
  """

  def __init__(self, precision: str, labels: dict[str, str], keep: tuple[str, ...]):
    self.name = check(precision)
    self.compute = PRECISIONS[self.name]
    self.labels = dict(labels)
    self.keep = tuple(keep)
    self._module_groups: dict[tuple, set] = {}

  @property
  def active(self) -> bool:
    return self.name != "float32"

  def cast_params(self, flat: dict) -> dict:
    """Flat params with the compute groups' floating arrays in the compute dtype."""
    if not self.active:
      return flat
    return {k: (v.astype(self.compute) if _is_float(v) and self.labels.get(k) not in self.keep
                else v) for k, v in flat.items()}

  def _groups(self, path: tuple) -> set:
    """The groups of the parameters under module `path` (empty: a param-less module)."""
    if path not in self._module_groups:
      prefix = ".".join(path) + "."
      self._module_groups[path] = {g for k, g in self.labels.items() if k.startswith(prefix)}
    return self._module_groups[path]

  def _has_params(self, path: tuple) -> bool:
    return bool(self._groups(path))

  def _keeps_float32(self, path: tuple) -> bool:
    """True if every parameter under module `path` is in a float32 group."""
    groups = self._groups(path)
    return bool(groups) and groups <= set(self.keep)

  @contextlib.contextmanager
  def scope(self):
    """Module calls inside: the top-level call's image inputs in the compute
    dtype and its outputs in float32; float32-group submodules' inputs in float32."""
    if not self.active:
      yield
      return
    depth = [0]

    def interceptor(next_fun, args, kwargs, context):
      scope = getattr(context.module, "scope", None)
      if scope is None or context.method_name == "setup":
        return next_fun(*args, **kwargs)
      path = tuple(scope.path)
      if not path and depth[0] == 0:          # the top-level call of module.apply
        depth[0] += 1
        try:
          args, kwargs = cast_tree((args, kwargs), self.compute, IMAGE_RANK)
          return cast_tree(next_fun(*args, **kwargs), jnp.float32)
        finally:
          depth[0] -= 1
      if path and not self._has_params(path):   # e.g. LCN: float32 inside, dtype kept
        dtypes = [x.dtype for x in jax.tree.leaves((args, kwargs)) if _is_float(x)]
        args, kwargs = cast_tree((args, kwargs), jnp.float32)
        out = next_fun(*args, **kwargs)
        return cast_tree(out, dtypes[0]) if dtypes else out
      if path and self.keep and self._keeps_float32(path):
        args, kwargs = cast_tree((args, kwargs), jnp.float32)
      return next_fun(*args, **kwargs)

    with nn.intercept_methods(interceptor):
      yield
