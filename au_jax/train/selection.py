"""Model selection on validation: the best checkpoint, optional early stopping.

The engine evaluates the validation split every `config.train.eval_every`
steps (and after the last step), keeps the checkpoint with the best
`config.train.select_metric` in `workdir/best_checkpoint/` and evaluates test
with it. `config.train.patience` > 0 stops after that many evaluations
without improvement (the whole run, or the current stage with
`patience_scope="stage"`); fit stages (spec.FittedHead) still run, on the
selected parameters.

The bookkeeping (best value and step, evaluations since the best) is saved
with every checkpoint, so a resumed run selects exactly as an uninterrupted
one.
"""
from __future__ import annotations

import dataclasses
import math

# Metrics where smaller is better; every other metric is maximised.
_MINIMISE = {"mae", "mse", "loss"}


def default_metric(info) -> str:
  """Mean ICC when the data code intensity (intensity methods), else mean 2AFC."""
  return "icc" if any(info.intensity_coded) else "auc"


@dataclasses.dataclass
class Selection:
  metric: str | None              # None: selection off (the last step is used)
  best_value: float | None = None
  best_step: int | None = None
  since_best: int = 0             # evaluations without improvement
  evaluations: int = 0

  @property
  def active(self) -> bool:
    return self.metric is not None

  @property
  def mode(self) -> str:
    return "min" if self.metric in _MINIMISE else "max"

  def better(self, value: float) -> bool:
    if value is None or not math.isfinite(value):
      return False
    if self.best_value is None:
      return True
    return value < self.best_value if self.mode == "min" else value > self.best_value

  def update(self, value: float | None, step: int, force: bool = False) -> bool:
    """Record one evaluation; True when `step` becomes the selected one."""
    self.evaluations += 1
    if force or self.better(value):
      self.best_value = value if value is None or math.isfinite(value) else None
      self.best_step, self.since_best = int(step), 0
      return True
    self.since_best += 1
    return False

  def to_json(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, d: dict | None, metric: str | None) -> "Selection":
    if not d or d.get("metric") != metric:
      return cls(metric)
    return cls(**{k: d.get(k) for k in ("metric", "best_value", "best_step")},
               since_best=int(d.get("since_best", 0)), evaluations=int(d.get("evaluations", 0)))
