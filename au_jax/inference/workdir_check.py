"""What inference trusts in a training workdir, checked before it is used.

`TrainedModel.from_workdir` (au_jax/inference/model.py) reads five artefacts of a run;
each is checked here and a fault ends in a `PredictWorkdirError` (a
UserError: one or two plain lines naming the file and what to do; the
command line exits with status 2):

  config.json      readable JSON; the model it names can be built
  data_info.json   readable JSON with the AU list
  checkpoint       the selected (`best_checkpoint/`) or latest one restores,
                   shaped as config.json's model (an edited config.json and a
                   damaged checkpoint are told apart and named)
  fitted state     every fitted head (e.g. the multi-label QDA) was fitted:
                   the run's schedule puts its fit stage before the
                   checkpoint's step (the fit stage is a step of its own, so
                   the step counter records that it ran), the arrays differ
                   from the empty template a checkpoint saved before the fit
                   holds, and they are finite
  report.json      present and readable, with one finite threshold per AU

A run that has not finished (no report.json, or its latest checkpoint
before the last step of its schedule) is refused unless asked for
(`allow_unfinished`): its model is not the one the run would test.
"""
from __future__ import annotations

import json
import os
import sys

import jax
import ml_collections
import numpy as np

from au_jax.errors import WorkdirError
from au_jax.train import checkpoint, schedule


class PredictWorkdirError(WorkdirError):
  """A workdir artefact inference needs is missing, damaged or unfinished."""


class MissingWorkdirFile(PredictWorkdirError, FileNotFoundError):
  """The folder is not a training workdir (no config.json / data_info.json)."""


def _first_line(e: BaseException, limit: int = 200) -> str:
  text = str(e).strip().splitlines()
  return f"{type(e).__name__}: {text[0][:limit]}" if text else type(e).__name__


def read_json(workdir: str, name: str, what: str) -> dict:
  """A workdir JSON file as a dict; missing or unreadable -> PredictWorkdirError."""
  path = os.path.join(workdir, name)
  if not os.path.isfile(path):
    raise MissingWorkdirFile(f"{workdir} has no {name}: is it an au-jax training workdir?")
  try:
    with open(path) as f:
      value = json.load(f)
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
    raise PredictWorkdirError(f"{path} is unreadable ({_first_line(e)}); restore the {what} "
                              f"the run wrote, or retrain in a new --workdir") from None
  if not isinstance(value, dict):
    raise PredictWorkdirError(f"{path} is not a JSON object; restore the {what} the run wrote, "
                              f"or retrain in a new --workdir")
  return value


def read_config(workdir: str) -> ml_collections.ConfigDict:
  config = read_json(workdir, "config.json", "config")
  for key in ("model", "train"):
    if not isinstance(config.get(key), dict):
      raise PredictWorkdirError(f"{os.path.join(workdir, 'config.json')} has no '{key}' "
                                f"section; restore the config the run was trained with")
  return ml_collections.ConfigDict(config)


def build_method(workdir: str, config, info, build):
  """`build(config.model, info)`, a config error named as config.json's."""
  try:
    return build(config.model, info)
  except (KeyError, ValueError, TypeError, AttributeError) as e:
    raise PredictWorkdirError(f"{os.path.join(workdir, 'config.json')}: its model cannot be "
                              f"built ({_first_line(e)}); restore the config the run was "
                              f"trained with") from None


def planned_steps(workdir: str, config, method) -> tuple[int, list]:
  """(total steps, segments) of the run's schedule as config.json describes it."""
  try:
    segments = schedule.build_schedule(config.train, method.groups, tuple(method.heads))
  except (KeyError, ValueError, TypeError) as e:
    raise PredictWorkdirError(f"{os.path.join(workdir, 'config.json')}: config.train.stages "
                              f"cannot be read ({_first_line(e)}); restore the config the run "
                              f"was trained with") from None
  return segments[-1].end, segments


def latest_regular_step(workdir: str) -> int | None:
  """The step of the newest complete regular checkpoint (orbax's committed steps)."""
  folder = os.path.join(workdir, checkpoint.LATEST_DIR)
  if not os.path.isdir(folder):
    return None
  steps = [int(n) for n in os.listdir(folder)
           if n.isdigit() and os.path.isdir(os.path.join(folder, n))]
  return max(steps) if steps else None


def restore_state(workdir: str, fresh):
  """(state, checkpoint folder, step) of the workdir's selected checkpoint
  (best_checkpoint/), or its latest one when it has none.

  A checkpoint that does not restore is classified: when it restores without
  the template it is sound and config.json does not describe its model (an
  edited config); otherwise it is damaged. Either is one plain line.
  """
  _quiet_closed_loop_callbacks()   # a failing restore prints from tensorstore's threads at once
  for sub in (checkpoint.BEST_DIR, checkpoint.LATEST_DIR):
    folder = os.path.join(workdir, sub)
    if not os.path.isdir(folder):
      continue
    ckpt = checkpoint.Checkpointer(folder)
    step = None
    try:
      step = ckpt.latest_step()
      if step is None:
        continue
      state, _ = ckpt.restore(fresh, step)
    except Exception as e:  # pylint: disable=broad-except (classified and named below)
      where = os.path.join(folder, str(step)) if step is not None else folder
      raise _restore_error(workdir, where, step, e) from None
    finally:
      try:
        ckpt.close()
      except Exception:  # pylint: disable=broad-except (the restore's error is the one to tell)
        pass
    mismatch = _shape_mismatch(fresh, state)
    if mismatch:
      raise PredictWorkdirError(
          f"{os.path.join(workdir, 'config.json')} does not match the checkpoint "
          f"{os.path.join(folder, str(step))} ({mismatch}); restore the config.json the run "
          f"was trained with")
    return state, folder, int(step)
  raise PredictWorkdirError(f"{workdir} holds no complete checkpoint (looked in "
                            f"{checkpoint.BEST_DIR}/ and {checkpoint.LATEST_DIR}/); train it "
                            f"with launch.py first")


def _shape_mismatch(fresh, state) -> str:
  want = jax.tree_util.tree_flatten_with_path(fresh)[0]
  got = jax.tree_util.tree_flatten_with_path(state)[0]
  if len(want) != len(got):
    return f"{len(got)} arrays where the config's model has {len(want)}"
  for (path, a), (_, b) in zip(want, got):
    if np.shape(a) != np.shape(b):
      return (f"{jax.tree_util.keystr(path)} has shape {tuple(np.shape(b))}, the config's "
              f"model {tuple(np.shape(a))}")
  return ""


def _orbax_leftover(obj) -> bool:
  """Is `obj` a coroutine of orbax's (one a failed restore left unfinished)?"""
  code = getattr(obj, "cr_code", None)
  return code is not None and f"{os.sep}orbax{os.sep}" in code.co_filename


def _quiet_closed_loop_callbacks() -> None:
  """When a restore fails, tensorstore completes the futures orbax left
  behind on its threads, and each callback finds orbax's asyncio loop closed:
  one 'RuntimeError: Event loop is closed' traceback apiece through
  sys.unraisablehook, and at exit one more for each of orbax's unfinished
  read coroutines, hundreds of lines around the one that matters. Those (and
  only those) are dropped from the first restore on; every other unraisable
  exception still reaches the previous hook."""
  previous = sys.unraisablehook
  if getattr(previous, "_au_jax_quiet", False):
    return

  def hook(unraisable):
    exc = unraisable.exc_value
    if isinstance(exc, RuntimeError) and str(exc) == "Event loop is closed":
      return
    if _orbax_leftover(unraisable.object):
      return
    previous(unraisable)

  hook._au_jax_quiet = True
  sys.unraisablehook = hook


def _restore_error(workdir: str, where: str, step, e: Exception) -> PredictWorkdirError:
  raw_ok = False
  if step is not None:
    try:
      raw_ok = checkpoint.restore_raw(os.path.dirname(where), step)[1] is not None
    except Exception:  # pylint: disable=broad-except (damaged: told below)
      raw_ok = False
  if raw_ok:
    return PredictWorkdirError(
        f"{os.path.join(workdir, 'config.json')} does not match the checkpoint {where} "
        f"({_first_line(e, 160)}); restore the config.json the run was trained with")
  return PredictWorkdirError(
      f"the checkpoint {where} cannot be read ({_first_line(e, 160)}): it is damaged. Move that "
      f"step's folder away to use an earlier checkpoint, or retrain in a new --workdir")


def check_fitted(method, fitted: dict, segments, folder: str, step: int) -> None:
  """Every fitted head of `method` was fitted before `step` and is finite."""
  where = os.path.join(folder, str(step))
  for name, head in method.heads.items():
    fits = [s for s in segments if s.fit == name]
    if fits and fits[0].end > step:
      raise PredictWorkdirError(
          f"the checkpoint {where} was saved before the fit stage {name!r} (step {fits[0].end}) "
          f"ran: it holds no fitted {name!r} state. Finish the run (rerun launch.py with the "
          f"same --config and --workdir) before predicting")
    leaves = jax.tree.leaves(fitted.get(name, {}))
    template = jax.tree.leaves(head.init())
    if not leaves:
      raise PredictWorkdirError(f"the checkpoint {where} holds no fitted {name!r} state; "
                                f"retrain in a new --workdir")
    for leaf in leaves:
      if not np.all(np.isfinite(np.asarray(leaf))):
        raise PredictWorkdirError(
            f"the checkpoint {where} holds a fitted {name!r} state that is not finite (NaN or "
            f"inf); move that step's folder away to use an earlier checkpoint, or retrain")
    if len(template) == len(leaves) and all(
        np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(leaves, template)):
      raise PredictWorkdirError(
          f"the checkpoint {where} holds an empty fitted {name!r} state (as saved before its "
          f"fit stage ran): it cannot predict. Retrain in a new --workdir")


def read_thresholds(workdir: str, num_aus: int, required: bool) -> np.ndarray | None:
  """report.json's per-AU thresholds (float64 [num_aus], finite).

  None when there is no report.json and `required` is False (an unfinished
  run predicted on purpose); the caller then uses 0.5.
  """
  path = os.path.join(workdir, "report.json")
  if not os.path.exists(path):
    if not required:
      return None
    raise PredictWorkdirError(f"{workdir} has no report.json (the per-AU thresholds): the run "
                              f"did not finish. Rerun launch.py with the same --config and "
                              f"--workdir, or pass --allow_unfinished")
  report = read_json(workdir, "report.json", "report")
  thr = report.get("thresholds")
  try:
    values = np.asarray(thr, np.float64)
  except (TypeError, ValueError):
    values = None
  if values is None or values.ndim != 1 or len(values) != num_aus or not np.all(
      np.isfinite(values)):
    got = (f"{len(thr)} values" if isinstance(thr, list) else repr(thr)[:40])
    raise PredictWorkdirError(
        f"{path}: 'thresholds' must be {num_aus} finite numbers, one per AU (got {got}); "
        f"restore the report.json the run wrote, or rerun launch.py on the workdir to write it")
  return values
