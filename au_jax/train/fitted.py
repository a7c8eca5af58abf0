"""Fitting a method's non-gradient state (spec.SessionStats, spec.FittedHead).

Two kinds, two rules about what data they may see:

- Session statistics are label-free. `session_table` fits them per session
  (or subject) of whichever split is being transformed, from records whose
  labels were removed (`strip_labels`), and `bind` hands each record's
  statistics to the method's transform. Deterministic: recomputed for each
  split rather than checkpointed.
- Fitted heads use labels, so `fit_head` is only ever given the training
  split (the engine calls it from a schedule stage `dict(fit=name)`); the
  result goes into `TrainState.fitted[name]` and therefore into checkpoints
  and `Predictor`.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np

from au_jax import evaluate
from au_jax.errors import UserError
from au_jax.train.records import LABEL_KEYS, evenly_spaced, strip_labels
from au_jax.train.steps import make_features_step

__all__ = ["LABEL_KEYS", "BoundTransform", "FitError", "bind", "check_fitted", "evenly_spaced",
           "fit_head", "session_table", "strip_labels"]


class FitError(UserError, ValueError):
  """Fitted state could not be fitted from the data (names the head / AU)."""


def session_table(sessions, source, index, num_threads: int = 2) -> dict:
  """{session key: statistics} for every session of a split (labels never read)."""
  codes = index.sequence if sessions.level == "sequence" else index.subject

  def fit_one(rows):
    records = [strip_labels(source[int(r)]) for r in evenly_spaced(rows, sessions.max_records)]
    return sessions.key(records[0]), sessions.fit(records)

  with ThreadPoolExecutor(max(1, num_threads)) as pool:
    return dict(pool.map(fit_one, index.groups(codes)))


class BoundTransform:
  """`transform(record, rng, train)` with the split's session statistics bound."""

  def __init__(self, transform, sessions, table: dict):
    self.transform, self.sessions, self.table = transform, sessions, table

  def __call__(self, record, rng, train, **kwargs):
    key = self.sessions.key(record)
    if key not in self.table:
      raise KeyError(f"no session statistics for session {key!r}: the table was fitted on "
                     f"another split ({len(self.table)} sessions)")
    return self.transform(record, rng, train, self.table[key], **kwargs)


def bind(method, split, num_threads: int = 2):
  """The transform to use on `split`: the method's own, with session statistics bound."""
  if method.sessions is None:
    return method.transform
  return BoundTransform(method.transform, method.sessions,
                        session_table(method.sessions, split.source, split.index, num_threads))


def check_fitted(name: str, fitted, template) -> dict:
  """`fitted` as jnp arrays, shaped like the head's template and finite."""
  t_struct, f_struct = jax.tree.structure(template), jax.tree.structure(fitted)
  if t_struct != f_struct:
    raise FitError(f"head {name!r}: fit returned {f_struct}, its init() declares {t_struct}")
  for path, (t, f) in zip(jax.tree_util.tree_flatten_with_path(template)[0],
                          zip(jax.tree.leaves(template), jax.tree.leaves(fitted))):
    where = jax.tree_util.keystr(path[0])
    f = np.asarray(f)
    if f.shape != np.shape(t):
      raise FitError(f"head {name!r}: fitted {where} has shape {f.shape}, expected {np.shape(t)}")
    if not np.all(np.isfinite(f)):
      raise FitError(f"head {name!r}: fitted {where} is not finite")
  return jax.tree.map(lambda t, f: jnp.asarray(f, jnp.asarray(t).dtype), template, fitted)


def fit_head(method, name: str, state, split, transform, *, batch_size: int, mesh,
             num_threads: int = 2, precision: str = "float32"):
  """Fit head `name` on `split` (the training split) and return the new state."""
  head = method.heads[name]
  step = make_features_step(method, name, precision)
  feats = evaluate.predict_split(step, state, split, transform,
                                 batch_size=batch_size, mesh=mesh,
                                 num_threads=num_threads)["features"]
  labels = {"intensity": np.asarray(split.index.intensity),
            "occurrence": np.asarray(split.index.occurrence)}
  fitted = check_fitted(name, head.fit(np.asarray(feats, np.float64), labels), head.init())
  return state.replace(fitted={**state.fitted, name: fitted})
