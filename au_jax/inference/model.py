"""The trained model of a workdir, predicting on faces already aligned like the records.

  from au_jax.inference.model import TrainedModel
  m = TrainedModel.from_workdir("runs/ccnn")
  out = m.predict(aligned_faces, landmarks)   # {"intensity", "occurrence", "occurrence_label"}

`TrainedModel.from_workdir` checks each artefact of the workdir first
(au_jax/inference/workdir_check.py), builds the method from the saved config,
restores the selected checkpoint (`best_checkpoint/`, the one the test report
was computed with; the latest checkpoint when selection was off) with its
fitted state (e.g. a QDA head) and reads the per-AU thresholds of report.json.
A run that has not finished is refused unless `allow_unfinished=True`.
Predictions run in fixed-size batches (the last one padded) through one
jitted step, so it compiles once. Label-free session statistics (Gudi's
session contrast normalisation) come from `fit_session`; by default one
`predict` call is one session.

This is the core that the method reports use to restore a finished run;
au_jax.predict builds the media front end on it (`Predictor`: detection,
alignment, tracking, tables and the CSV command line).
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import jax
import numpy as np

from au_jax import aus as au_lib
from au_jax import defaults, models
from au_jax.data.sources import DataInfo
from au_jax.face.template import CANONICAL_68
from au_jax.inference import cache, workdir_check
from au_jax.train import steps
from au_jax.train.records import evenly_spaced, strip_labels
from au_jax.train.state import initial_state

# Per method: (how AUxx_c follows from the outputs, whether `occurrence` is a
# probability written as AUxx_p). "intensity": AUxx_c = 1 iff AUxx_r >=
# occurrence_level - 0.5 (the decoded intensity rounds to the protocol's
# occurrence level, 2 by default), for AUs with an AUxx_r column; CCNN
# decodes intensity from the CRF while its occurrence score is a marginal,
# and the two can disagree. "threshold": AUxx_c = 1 iff the occurrence score
# reaches the AU's threshold tuned on validation (report.json); the methods
# listed so output intensity as a monotone function of that score (5 x
# probability, or intensity / 5 as the score for heatmaps), so AUxx_r >= 5 x
# threshold exactly when AUxx_c = 1.
OCCURRENCE_RULES = {"ccnn": ("intensity", True), "gudi": ("threshold", True),
                    "multilabel": ("threshold", True), "dsin": ("threshold", True),
                    "heatmaps": ("threshold", False)}


class TrainedModel:
  """A trained model, restored from its workdir, with jitted prediction."""

  def __init__(self, config, info: DataInfo, image_size: int, alignment: str, state,
               method, thresholds: np.ndarray, batch_size: int = 64):
    self.config, self.info, self.method = config, info, method
    self.image_size, self.alignment = image_size, alignment
    self.params, self.model_state, self.fitted = state.params, state.model_state, state.fitted
    self.step = int(state.step)
    self.thresholds = thresholds
    self.batch_size = batch_size
    # where the model came from (from_workdir): workdir, checkpoint folder and step, ...
    self.source: dict = dict(step=self.step)
    self._predict = steps.make_predict_step(method)
    self._compiled = False

  @classmethod
  def from_workdir(cls, workdir: str, batch_size: int = 64,
                   allow_unfinished: bool = False) -> TrainedModel:
    """The workdir's selected model (see the module doc), each artefact checked
    first (au_jax/inference/workdir_check.py).

    Raises:
      PredictWorkdirError (a UserError; also a FileNotFoundError when
        config.json or data_info.json is missing): an artefact is missing,
        damaged or does not match, or the run has not finished and
        `allow_unfinished` is False.
    """
    workdir = os.path.expanduser(workdir)
    for f in ("config.json", "data_info.json"):
      if not os.path.exists(os.path.join(workdir, f)):
        raise workdir_check.MissingWorkdirFile(
            f"{workdir} has no {f}: is it an au-jax training workdir?")
    # resolved: a config saved before an engine default existed still loads
    config = defaults.resolve(workdir_check.read_config(workdir))
    d = workdir_check.read_json(workdir, "data_info.json", "data_info.json")
    try:
      info = DataInfo(aus=tuple(d["aus"]), intensity_coded=tuple(d["intensity_coded"]),
                      occurrence_coded=tuple(d["occurrence_coded"]),
                      datasets=tuple(d["datasets"]),
                      metadata=tuple({} for _ in d["datasets"]))
      size = int(d.get("image_size") or 96)
    except (KeyError, TypeError, ValueError) as e:
      raise workdir_check.PredictWorkdirError(
          f"{os.path.join(workdir, 'data_info.json')} lacks {e} or holds a wrong value; "
          f"restore the file the run wrote") from None
    try:
      spec = models.get_spec(config.model.get("name"))
    except KeyError as e:
      raise workdir_check.PredictWorkdirError(
          f"{os.path.join(workdir, 'config.json')}: {e.args[0] if e.args else e}; restore the "
          f"config the run was trained with") from None
    method = workdir_check.build_method(workdir, config, info, spec.build)
    total, segments = workdir_check.planned_steps(workdir, config, method)
    latest = workdir_check.latest_regular_step(workdir)
    has_report = os.path.exists(os.path.join(workdir, "report.json"))
    finished = has_report and latest is not None and latest >= total
    if not finished and not allow_unfinished:
      if latest is not None and latest >= total:
        raise workdir_check.PredictWorkdirError(
            f"{workdir} has no report.json (the per-AU thresholds, written when the run "
            f"finishes): rerun launch.py with the same --config and --workdir to write it, or "
            f"pass --allow_unfinished (allow_unfinished=True) to predict with thresholds 0.5")
      why = "no report.json" if not has_report else f"its last step is {total}"
      raise workdir_check.PredictWorkdirError(
          f"the run in {workdir} has not finished (latest checkpoint step {latest} of {total}; "
          f"{why}): finish it (rerun launch.py with the same --config and --workdir), or "
          f"pass --allow_unfinished (allow_unfinished=True) to predict with it as it is")
    blank = _blank_record(size, info.num_aus)
    example = _batch([_transform(method, blank, _session_stats(method, [blank]))])
    fresh = _abstract_state(method, config.train, example)
    state, folder, step = workdir_check.restore_state(workdir, fresh)
    workdir_check.check_fitted(method, state.fitted, segments, folder, step)
    thresholds = workdir_check.read_thresholds(workdir, info.num_aus, required=finished)
    if thresholds is None:
      thresholds = np.full(info.num_aus, 0.5)
    p = cls(config, info, size, d.get("alignment") or "similarity", state, method,
            thresholds, batch_size)
    p.source = dict(workdir=os.path.abspath(workdir), checkpoint=os.path.abspath(folder),
                    step=step, planned_steps=total, finished=finished,
                    thresholds="report.json" if has_report else "0.5 (no report.json)")
    return p

  def use_method(self, method) -> "TrainedModel":
    """Predicts through `method` from now on, with the same variables (the same
    network built with other outputs switched on); returns self."""
    self.method = method
    self._predict = steps.make_predict_step(method)
    self._compiled = False
    return self

  @property
  def session_sample(self) -> int:
    """How many frames of a session `fit_session` uses (0: the model has no
    session statistics)."""
    return self.method.sessions.max_records if self.method.sessions else 0

  def fit_session(self, faces: np.ndarray, landmarks: np.ndarray | None = None):
    """Label-free session statistics of aligned faces (evenly spaced, at most
    `session_sample`), for `predict(..., session=)`; None for models without."""
    if self.method.sessions is None or len(faces) == 0:
      return None
    return _session_stats(self.method, list(self._records(faces, landmarks)))

  def predict(self, faces: np.ndarray, landmarks: np.ndarray | None = None,
              session=None) -> dict:
    """Predictions for faces aligned like the training records.

    Args:
      faces: uint8 [N, S, S, 3] RGB faces aligned to the canonical template
        (S = the training data's image size).
      landmarks: float [N, 68, 2] in aligned pixels (default: the template).
      session: statistics from `fit_session`; default: these faces are one
        session (models with session statistics only).
    Returns:
      {"intensity": [N, A], "occurrence": [N, A] score, "occurrence_label": [N, A] 0/1}
    """
    faces = np.asarray(faces)
    if faces.ndim != 4 or faces.shape[1:] != (self.image_size, self.image_size, 3):
      raise ValueError(f"faces must be [N, {self.image_size}, {self.image_size}, 3] uint8, "
                       f"got {faces.shape}")
    if session is None and len(faces):
      session = self.fit_session(faces, landmarks)
    return self._run(self._records(faces, landmarks), len(faces), session)

  @property
  def variables(self) -> dict:
    """The model's variables (params, state, fitted) as `method.predict` takes them:
    `jax.jit(p.method.predict)(p.variables, p.transform_batch(faces))`."""
    return steps.variables(steps.nest(self.params), self.model_state, self.fitted)

  def transform_batch(self, faces: np.ndarray, landmarks: np.ndarray | None = None,
                      session=None) -> dict:
    """The model's input batch (its own transform of each aligned face), unpadded."""
    faces = np.asarray(faces)
    if session is None and len(faces):
      session = self.fit_session(faces, landmarks)
    return _batch([_transform(self.method, r, session) for r in self._records(faces, landmarks)])

  def _records(self, faces, landmarks=None):
    if landmarks is None:
      landmarks = np.broadcast_to(CANONICAL_68 * self.image_size, (len(faces), 68, 2))
    return (_record(f, lm, self.info.num_aus) for f, lm in zip(faces, landmarks))

  def _run(self, records: Iterable[dict], n: int, session=None) -> dict:
    outs: dict[str, list] = {}
    for chunk in _chunks(records, self.batch_size):
      examples = [_transform(self.method, r, session) for r in chunk]
      k = len(examples)
      examples += [examples[0]] * (self.batch_size - k)      # fixed shape: one compilation
      if self._compiled:
        pred = self._predict(self.params, self.model_state, self.fitted, _batch(examples))
      else:                    # the call that compiles (or loads it from the cache)
        with cache.report_cache_errors():
          pred = self._predict(self.params, self.model_state, self.fitted, _batch(examples))
        self._compiled = True
      for key, value in pred.items():   # every output (DSIN's stages, heatmap maps, ...)
        outs.setdefault(key, []).append(np.asarray(value)[:k])
    if not outs:
      a = self.info.num_aus
      return {"intensity": np.zeros((0, a), np.float32),
              "occurrence": np.zeros((0, a), np.float32),
              "occurrence_label": np.zeros((0, a), np.int32)}
    res = {k: np.concatenate(v) for k, v in outs.items()}
    res["occurrence_label"] = self.occurrence_label(res["intensity"], res["occurrence"])
    assert len(res["intensity"]) == n
    return res

  @property
  def occurrence_rule(self) -> str:
    """How `occurrence_label` (CSV AUxx_c) follows from the outputs: "intensity"
    (from the intensity the model decodes) or "threshold" (its occurrence
    score against the per-AU thresholds tuned on validation); see OCCURRENCE_RULES."""
    return OCCURRENCE_RULES.get(self.config.model.name, ("threshold", True))[0]

  def occurrence_label(self, intensity: np.ndarray, occurrence: np.ndarray) -> np.ndarray:
    """int32 [N, A] 0/1 by `occurrence_rule`, consistent with `intensity` by construction."""
    label = occurrence >= self.thresholds[None]
    if self.occurrence_rule == "intensity":
      level = self.config.model.get("occurrence_level", au_lib.DEFAULT_OCCURRENCE_THRESHOLD)
      coded = np.asarray(self.info.intensity_coded, bool)[None]
      label = np.where(coded, intensity >= level - 0.5, label)
    return label.astype(np.int32)


def _abstract_state(method, train_cfg, example):
  """The shapes and dtypes of a fresh TrainState (the restore's template), traced
  without running the initialisers (running them eagerly compiles dozens of
  small programs, seconds at start-up); each leaf on the default device."""
  shapes = jax.eval_shape(lambda: initial_state(method, train_cfg, example)[0])
  sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding),
                      shapes)


def _transform(method, record, session):
  if method.sessions is None:
    return method.transform(record, None, False)
  return method.transform(record, None, False, session)


def _session_stats(method, records):
  if method.sessions is None:
    return None
  rows = evenly_spaced(np.arange(len(records)), method.sessions.max_records)
  return method.sessions.fit([strip_labels(records[int(i)]) for i in rows])


def _blank_record(size, num_aus):
  return _record(np.zeros((size, size, 3), np.uint8), CANONICAL_68 * size, num_aus)


def _record(face, landmarks, num_aus):
  return dict(image=np.asarray(face, np.uint8), landmarks=np.asarray(landmarks, np.float32),
              intensity=np.full(num_aus, -1, np.int32), occurrence=np.full(num_aus, -1, np.int32),
              dataset=np.int32(0), subject="", sequence="", frame=np.int32(0))


def _batch(examples):
  b = {k: np.stack([e[k] for e in examples]) for k in examples[0]}
  b["mask"] = np.ones(len(examples), np.float32)
  return b


def _chunks(it: Iterable, n: int) -> Iterator[list]:
  chunk = []
  for x in it:
    chunk.append(x)
    if len(chunk) == n:
      yield chunk
      chunk = []
  if chunk:
    yield chunk
