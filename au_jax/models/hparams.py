"""config.model -> keyword arguments of a method's module, transform and options.

Every hyperparameter has ONE default, written where it is used: a field of
the Flax module, a parameter of the transform's constructor, or a field of
a small options dataclass of `build` (loss / decoding switches). A config
sets only what its experiment chooses; `split_kwargs` hands each key to the
target that takes it and fails on a key no target takes, so a typo in
config.model is an error naming the key instead of a silently used default
(as config.train's optimiser and stage keys already are).

A key absent from config.model takes the target's default. Note that a
command-line override (`--config.model.fc_units=512`) needs the key to be
in the config file: ml_collections cannot add a key to a locked config.
"""
from __future__ import annotations

import difflib
import inspect
from typing import Any, Iterable, Mapping

from au_jax.errors import ConfigKeyError

# Flax modules' dataclass plumbing, and the config's own model name: never
# hyperparameters.
_NOT_HPARAMS = ("self", "parent", "name")


def _params(target) -> dict[str, inspect.Parameter]:
  """Keyword parameters of a class's constructor (dataclass fields included)."""
  return {p.name: p for p in inspect.signature(target).parameters.values()
          if p.name not in _NOT_HPARAMS
          and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _wants_tuple(param: inspect.Parameter) -> bool:
  ann = param.annotation if isinstance(param.annotation, str) else repr(param.annotation)
  return isinstance(param.default, tuple) or "tuple" in ann or "Sequence" in ann


def _as_tuple(value: Any) -> Any:
  """Lists (e.g. from a JSON-restored config) -> tuples, recursively: Flax
  module fields must be hashable, and `(4, 8)` must equal `[4, 8]`."""
  if isinstance(value, (list, tuple)):
    return tuple(_as_tuple(v) for v in value)
  return value


def split_kwargs(model_cfg: Mapping[str, Any], model: str, *targets,
                 rename: Mapping[str, str] | None = None,
                 derived: Iterable[str] = ()) -> tuple[dict[str, Any], ...]:
  """Split config.model into one kwargs dict per target; unknown keys fail.

  Args:
    model_cfg: config.model (ConfigDict or dict). Its `name` key (the
      registry name) is dropped.
    model: the method's name, for error messages.
    *targets: classes whose constructor parameters (a Flax module's or a
      dataclass's fields, a transform's `__init__` arguments) are the
      allowed keys. A key that several targets take goes to each of them.
    rename: config key -> constructor parameter, where the config's name
      reads better than the target's (e.g. `input_size` -> the transform's
      `size`). The parameter's own name is then not a config key.
    derived: parameters `build` computes from the data (e.g. `num_aus`);
      the config may not set them.

  Returns:
    a tuple of kwargs dicts, one per target in order, holding only the keys
    the config sets (lists converted to tuples where the parameter is a
    tuple or sequence).

  Raises:
    KeyError: a key no target takes (with the closest allowed key, if any,
      and the full list), or a derived parameter set in the config.
  """
  rename = dict(rename or {})
  derived = set(derived)
  params = [_params(t) for t in targets]
  renamed_params = set(rename.values())
  allowed = sorted({k for p in params for k in p if k not in derived | renamed_params}
                   | set(rename))
  cfg = {k: v for k, v in dict(model_cfg).items() if k != "name"}

  fixed = sorted(set(cfg) & derived)
  if fixed:
    raise ConfigKeyError(f"config.model sets {fixed}, which {model}'s build() derives from the "
                   f"data; remove {'it' if len(fixed) == 1 else 'them'}")
  unknown = sorted(set(cfg) - set(allowed))
  if unknown:
    config_name = {param: key for key, param in rename.items()}

    def hint(key):
      close = [config_name[key]] if key in config_name else difflib.get_close_matches(
          key, allowed, n=1)
      return f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key)
    keys = ", ".join(hint(k) for k in unknown)
    raise ConfigKeyError(f"config.model has unknown key{'s' if len(unknown) > 1 else ''} {keys}; "
                   f"{model} takes: {allowed}")

  out = tuple({} for _ in targets)
  for key, value in cfg.items():
    param_name = rename.get(key, key)
    for kwargs, p in zip(out, params):
      if param_name in p:
        kwargs[param_name] = _as_tuple(value) if _wants_tuple(p[param_name]) else value
  return out
