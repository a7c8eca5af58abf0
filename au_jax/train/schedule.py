"""The stage schedule: config.train.stages flattened into global step ranges.

config.train.stages is a list of stages, each
  name       label in logs
  trainable  parameter groups to update: "all", "cnn", "unary,pairwise", or a list
  sampler    au_jax.data.samplers name ("uniform", "subject_balanced", ...)
  steps      number of optimiser steps
  sampler_kwargs, loss_weights   optional dicts
  reset_optimizer  start the trainable groups' optimiser state afresh (momentum,
             Adam moments) when the stage begins; default
             config.train.reset_optimizer (True: each stage of Alg. 1 of
             Walecki et al. / DSIN's steps is its own optimisation, so momentum
             built up a cycle earlier is not applied to a group's first steps)
  select     False: validation evaluations during the stage are logged but are
             not candidates for model selection and do not count towards
             patience (default True). For schedules whose early stages train
             only part of the model (DSIN's Alg. 1: the prediction the
             evaluation scores is the last stage's output, meaningless while
             the later parts are untrained).
or, for fitted state, a fit stage
  name       label in logs
  fit        the method's fitted head to fit (spec.FittedHead) on the
             training split's features, e.g. dict(name="qda", fit="qda")
A fit stage takes one step of the global step count (so checkpoints and
resume address it like any step) and no optimiser update.
config.train.repeat cycles the list (CCNN-IT's iterative balanced batches;
1 = once in order, as DSIN's incremental steps). The schedule flattens into
segments with global step ranges, so any global step maps to one segment.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from au_jax import defaults
from au_jax.errors import ConfigKeyError, ConfigValueError

_STAGE_KEYS = {"name", "trainable", "sampler", "steps", "sampler_kwargs", "loss_weights",
               "reset_optimizer", "select"}
_FIT_KEYS = {"name", "fit"}


@dataclasses.dataclass(frozen=True)
class Segment:
  index: int            # position in the flattened schedule
  cycle: int            # repeat number
  stage: int            # index into config.train.stages
  name: str
  trainable: tuple[str, ...]
  sampler: str
  steps: int
  start: int            # first global step of the segment
  sampler_kwargs: tuple[tuple[str, Any], ...] = ()
  loss_weights: tuple[tuple[str, float], ...] = ()
  fit: str | None = None   # a fit stage: the fitted head's name
  reset_optimizer: bool = True
  select: bool = True      # validation here may be selected (see the module docstring)

  @property
  def end(self) -> int:
    return self.start + self.steps


def parse_trainable(value, groups: Sequence[str]) -> tuple[str, ...]:
  if isinstance(value, str):
    value = [v.strip() for v in value.split(",") if v.strip()]
  value = tuple(value)
  if value == ("all",):
    return tuple(groups)
  unknown = [v for v in value if v not in groups]
  if unknown:
    raise ConfigKeyError(f"trainable groups {unknown} unknown; this model has {list(groups)}")
  return value


def build_schedule(train_cfg, groups: Sequence[str], heads: Sequence[str] = ()) -> list[Segment]:
  stages = list(train_cfg["stages"])
  if not stages:
    raise ConfigValueError("config.train.stages is empty")
  segments, start = [], 0
  for cycle in range(int(defaults.value(train_cfg, "train", "repeat"))):
    for i, st in enumerate(stages):
      st = dict(st)
      if "fit" in st:
        extra = set(st) - _FIT_KEYS
        if extra:
          raise ConfigKeyError(f"config.train.stages[{i}] is a fit stage; it takes only "
                         f"{sorted(_FIT_KEYS)}, not {sorted(extra)}")
        if st["fit"] not in heads:
          raise ConfigKeyError(f"config.train.stages[{i}].fit = {st['fit']!r}: this model has "
                         f"fitted heads {list(heads)}")
        segments.append(Segment(index=len(segments), cycle=cycle, stage=i,
                                name=st.get("name", st["fit"]), trainable=(), sampler="",
                                steps=1, start=start, fit=st["fit"]))
        start += 1
        continue
      extra = set(st) - _STAGE_KEYS
      if extra:
        raise ConfigKeyError(f"config.train.stages[{i}] has unknown keys {sorted(extra)}; "
                       f"allowed: {sorted(_STAGE_KEYS)}")
      steps = int(st.get("steps", 0))
      if steps <= 0:
        raise ConfigValueError(f"config.train.stages[{i}].steps must be > 0, got {steps}")
      segments.append(Segment(
          index=len(segments), cycle=cycle, stage=i, name=st.get("name", f"stage{i}"),
          trainable=parse_trainable(st.get("trainable", "all"), groups),
          sampler=st.get("sampler", "uniform"), steps=steps, start=start,
          sampler_kwargs=tuple(sorted(dict(st.get("sampler_kwargs") or {}).items())),
          loss_weights=tuple(sorted(dict(st.get("loss_weights") or {}).items())),
          reset_optimizer=bool(st.get("reset_optimizer", defaults.value(
              train_cfg, "train", "reset_optimizer"))),
          select=_bool_key(st, "select", i)))
      start += steps
  return segments


def _bool_key(stage, key: str, i: int, default: bool = True) -> bool:
  value = stage.get(key, default)
  if not isinstance(value, (bool, int)) or isinstance(value, int) and value not in (0, 1):
    raise ConfigValueError(f"config.train.stages[{i}].{key} must be true or false, got {value!r}")
  return bool(value)


def segment_at(segments: Sequence[Segment], step: int) -> Segment:
  for seg in segments:
    if seg.start <= step < seg.end:
      return seg
  raise IndexError(f"step {step} is past the schedule's {segments[-1].end} steps")
