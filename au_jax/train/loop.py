"""train(config, workdir): one training run, the engine under every driver.

Runs the stage schedule with jitted steps, evaluates on validation
periodically, checkpoints, resumes automatically from the workdir (rerun the
same command after a crash and it continues), and at the end tunes per-AU
thresholds on validation, evaluates test, and writes report.{json,md},
metrics.jsonl and plots/.
"""
from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from au_jax import defaults, evaluate, models, reports, viz
from au_jax.data import pipeline, samplers, sharding, sources
from au_jax.errors import ConfigValueError, UserError, WorkdirError
from au_jax.io import atomic_write
from au_jax.train import (checkpoint, distributed, fitted, schedule, selection, steps, transfer,
                          validate)
from au_jax.train.logging import MetricsWriter, NullWriter, progress
from au_jax.train.state import initial_state
from au_jax.train.workdir import open_workdir


class TrainingDiverged(UserError):
  """Training stopped learning in a way that makes its result meaningless."""


class NonFiniteLossError(TrainingDiverged, FloatingPointError):
  pass


class Divergence:
  """Checks of each logged training window (config.train.divergence).

  - a non-finite metric aborts;
  - a window whose mean loss exceeds `max_loss_ratio` x the smallest window
    loss seen so far in the same stage aborts (exploding loss);
  - `zero_grad_windows` consecutive windows whose every step has a zero
    gradient norm abort (nothing is learning: dead units, a clipped-to-zero
    or vanishing update).
  Each abort names the step and stage and what to change.
  """

  def __init__(self, cfg):
    cfg = defaults.value({"divergence": cfg}, "train", "divergence")
    self.max_ratio = float(cfg["max_loss_ratio"])
    self.zero_windows = int(cfg["zero_grad_windows"])
    self.best: dict[str, float] = {}
    self.zero_run = 0

  def check(self, seg, steps_values) -> None:
    where = f"stage '{seg.name}', cycle {seg.cycle}"
    for s, m in steps_values:
      if not all(np.all(np.isfinite(v)) for v in m.values()):
        raise NonFiniteLossError(
            f"non-finite training metrics at step {s} ({where}): "
            f"{ {k: float(np.asarray(v)) for k, v in m.items()} }. Lower the learning rate "
            f"(config.train.optimizer.learning_rate) or check the inputs.")
    last = steps_values[-1][0]
    loss = float(np.mean([abs(float(np.asarray(m["loss"]))) for _, m in steps_values]))
    best = self.best.get(seg.name)
    if self.max_ratio and best is not None and best > 0 and loss > self.max_ratio * best:
      raise TrainingDiverged(
          f"training diverged at step {last} ({where}): mean loss {loss:.4g} is "
          f"{loss / best:.3g}x its lowest window ({best:.4g}). Lower the learning rate "
          f"(config.train.optimizer.learning_rate) or clip gradients (clip_norm).")
    self.best[seg.name] = loss if best is None else min(best, loss)
    grads = [float(np.asarray(m["grad_norm"])) for _, m in steps_values if "grad_norm" in m]
    self.zero_run = self.zero_run + 1 if grads and max(grads) == 0.0 else 0
    if self.zero_windows and self.zero_run >= self.zero_windows:
      raise TrainingDiverged(
          f"training stopped learning at step {last} ({where}): every gradient of the last "
          f"{len(grads) * self.zero_run} steps is zero (dead units after too large a step, or "
          f"frozen parameters). Lower the learning rate or check config.train.stages.")


def constant_predictions(preds: dict, eps: float) -> bool:
  """True when every output of every AU is the same for all records of a split."""
  return all(np.all(np.std(np.asarray(v, np.float64), axis=0) <= eps)
             for v in preds.values() if np.ndim(v) == 2 and len(v) > 1)


def _segment_seed(seed: int, segment: int) -> int:
  return int(np.random.default_rng((seed, 7919, segment)).integers(2**31))


def setup(config):
  """Data, method and mesh of an experiment (shared by training and benchmarks)."""
  config = validate.resolve(config)   # benchmarks and tests call this with their own configs
  info_parts = sources.load_data_info(config.data)
  info = info_parts[0]
  method = models.get_spec(config.model.name).build(config.model, info)
  mesh = sharding.make_mesh(config.num_devices or None)
  return info_parts, method, mesh


def train(config, workdir: str) -> dict:
  """One run: check the config, lock the workdir, train, select on validation,
  evaluate test (see the module docstring). config.lambda_tuning and
  config.train.retrain_on_validation are carried out by the drivers above this
  loop (au_jax.experiment.train_and_evaluate), not here."""
  validate.check_config(config)
  config = validate.resolve(config)   # every default filled in: read keys directly below
  if not workdir or not str(workdir).strip():
    raise WorkdirError("--workdir is empty: name the run directory (it is created)")
  workdir = os.path.abspath(os.path.expanduser(workdir))
  sources.check_datasets(config.data)   # an unknown dataset name: before any file is written
  if config.train.init_from.workdir:     # a missing source run: before any file or compile
    transfer.check_source(config.train.init_from.workdir)
  lock = open_workdir(config, workdir, jax.process_index())   # refuses a changed config first
  try:
    report = _train_and_evaluate(config, workdir)
    distributed.barrier("au_jax: run written")   # process 0's files are complete for all
    return report
  finally:
    lock.release()


def _train_and_evaluate(config, workdir: str) -> dict:
  info_parts, method, mesh = setup(config)
  info = info_parts[0]
  tcfg, ecfg = config.train, config.eval
  batch_size = int(tcfg.batch_size)
  sharding.check_batch_size(batch_size, mesh)
  sharding.check_batch_size(int(ecfg.batch_size), mesh)
  threads = int(config.data.num_threads)
  records_per_step = pipeline.records_per_step(batch_size, method.train_copies)

  writes = distributed.is_writer()   # process 0 writes the run's files (checkpoints: all)
  if writes:
    save_data_info(workdir, info)
  splits = {s: sources.load_split(config.data, s, info_parts)
            for s in ("train", "validation", "test")}
  if batch_size > len(splits["train"].index):
    raise ConfigValueError(f"config.train.batch_size {batch_size} is larger than the training "
                           f"split ({len(splits['train'].index)} records)")
  # Label-free session statistics, fitted per session of each split.
  transforms = {s: fitted.bind(method, split, threads) for s, split in splits.items()}

  segments = schedule.build_schedule(tcfg, method.groups, tuple(method.heads))
  total = segments[-1].end
  seed = int(config.seed)
  init_batch = next(pipeline.iterate(pipeline.train_dataset(
      splits["train"].source, samplers.make_sampler("uniform", splits["train"].index,
                                                    batch_size, seed),
      transforms["train"], num_steps=1, seed=seed, segment=2**31 - 1), num_threads=threads))
  state, txs, labels = initial_state(method, tcfg, init_batch, seed)

  ckpt = checkpoint.Checkpointer(os.path.join(workdir, checkpoint.LATEST_DIR),
                                 max_to_keep=int(tcfg.keep_checkpoints))
  # Every improvement is kept until a committed regular checkpoint records a
  # later one (see `save`), so the selected step survives a kill at any moment.
  best_ckpt = checkpoint.Checkpointer(os.path.join(workdir, checkpoint.BEST_DIR),
                                      max_to_keep=None)
  try:
    restored, data_state = ckpt.restore(sharding.replicate(state, mesh))
  except Exception as e:  # a damaged or foreign checkpoint: name it, no traceback
    raise WorkdirError(f"{ckpt.directory}: the latest checkpoint cannot be restored "
                       f"({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}). "
                       f"Move that step's folder away to resume from an earlier one, or use "
                       f"another --workdir.") from None
  metric = _select_metric(tcfg, info)
  if restored is not None:
    state = sharding.replicate(restored, mesh)
    print(f"[au_jax] resumed from {workdir} at step {int(state.step)}/{total}", flush=True)
  else:
    if tcfg.init_from.workdir:
      state = transfer.apply(state, tcfg.init_from, labels, method.groups)
    state = sharding.replicate(state, mesh)
  step = int(state.step)
  sel = selection.Selection.from_json((data_state or {}).get("selection"), metric)
  # A best checkpoint saved after the last regular one belongs to steps that
  # will be run again: drop it so the rerun selects exactly as before.
  for s in best_ckpt.all_steps():
    if s != sel.best_step:
      best_ckpt.delete(s)
  writer = (MetricsWriter(os.path.join(workdir, "metrics.jsonl"), resume_step=step) if writes
            else NullWriter())
  base_key = jax.random.PRNGKey(seed + 1)
  step_fns: dict = {}
  precision = tcfg.precision
  predict_step = steps.make_predict_step(method, precision=precision)
  log_every = int(tcfg.log_every)
  eval_every = _eval_every(tcfg, segments)
  ckpt_every = int(tcfg.checkpoint_every)
  patience = int(tcfg.patience)
  scope = tcfg.patience_scope
  last_grad_step = max((g.end for g in segments if g.fit is None), default=0)
  divergence = Divergence(tcfg.divergence)

  def evaluate_and_select(state, step, seg, force=False) -> bool:
    """Validation metrics at `step`; keeps the best checkpoint. True = stop early."""
    res = _eval_log(writer, step, predict_step, state, splits["validation"], transforms,
                    info, ecfg, mesh, threads)
    if not sel.active or not seg.select:   # a stage with select=False: logged only
      return False
    if sel.update(res["mean"].get(sel.metric), step, force=force):
      if step not in best_ckpt.all_steps():
        best_ckpt.save(step, state, {"selection": sel.to_json()})
        best_ckpt.wait()
      writer.write(step=step, split="selection", best_step=step, metric=sel.metric,
                   value=sel.best_value)
    return bool(patience) and sel.since_best >= patience

  committed = {"best": sel.best_step}

  def save(step, seg, it_state):
    # orbax finishes the previous (async) save before starting this one, so the
    # best step it recorded is now on disk: older best checkpoints can go.
    for s in best_ckpt.all_steps():
      if committed["best"] is not None and s < committed["best"]:
        best_ckpt.delete(s)
    ckpt.save(step, state, {"segment": seg.index, "iterator": it_state,
                            "selection": sel.to_json()})
    committed["best"] = sel.best_step

  bar = progress(total, step)
  t0, t_step = time.time(), step
  try:
    while step < total:
      seg = schedule.segment_at(segments, step)
      if seg.fit is not None:
        if sel.active and sel.best_step is not None and sel.best_step != step:
          state = _with_selected(state, best_ckpt, sel.best_step, mesh)
        print(f"[au_jax] fitting {seg.fit!r} on the training split at step {step}", flush=True)
        state = fitted.fit_head(method, seg.fit, state, splits["train"], transforms["train"],
                                precision=precision,
                                batch_size=int(ecfg.batch_size), mesh=mesh, num_threads=threads)
        step += 1
        # Replicated like the rest of the state: a fitted head left on the host
        # would give the step other input shardings, and a recompilation.
        state = sharding.replicate(state.replace(step=jnp.asarray(step, jnp.int32)), mesh)
        writer.write(step=step, split="train", stage=seg.name, cycle=seg.cycle, fit=seg.fit)
        bar.update(1)
        # The fitted state is part of the selected model; a fit before any
        # gradient step (DSIN's anchors) has no trained model to select yet.
        if sel.active and any(g.fit is None and g.start < seg.start for g in segments):
          evaluate_and_select(state, step, seg, force=True)
        save(step, seg, None)
        t0, t_step, data_state = time.time(), step, None
        continue
      if seg.reset_optimizer and step == seg.start:
        state = reset_optimizer(state, txs, labels, seg.trainable, mesh)
      key = (seg.trainable, seg.loss_weights)
      if key not in step_fns:
        step_fns[key] = steps.make_train_step(method, txs, labels, seg.trainable,
                                              seg.loss_weights, precision=precision)
      train_step = step_fns[key]
      sampler = samplers.make_sampler(seg.sampler, splits["train"].index, records_per_step,
                                      _segment_seed(seed, seg.index), **dict(seg.sampler_kwargs))
      it_state = {"next_index": step - seg.start}
      if data_state and data_state.get("segment") == seg.index and data_state.get("iterator"):
        it_state = data_state["iterator"]
        if it_state.get("next_index") != step - seg.start:
          raise RuntimeError(f"checkpoint at step {step}: iterator state {it_state} does not "
                             f"match the schedule (segment {seg.index} starts at {seg.start})")
      it = pipeline.iterate(pipeline.train_dataset(
          splits["train"].source, sampler, transforms["train"], num_steps=seg.steps,
          seed=seed, segment=seg.index, process_index=jax.process_index(),
          process_count=jax.process_count(), copies=method.train_copies),
          num_threads=threads, state=it_state)
      pending, stop = [], None
      while step < seg.end:
        batch = sharding.shard_batch(next(it), mesh)
        state, m = train_step(state, batch, base_key)
        step += 1
        pending.append((step, m))
        if step % log_every == 0 or step == seg.end:
          _flush(pending, writer, seg, bar, t0, t_step, divergence)
          t0, t_step, pending = time.time(), step, []
        if eval_every and (step % eval_every == 0 or step == last_grad_step):
          if evaluate_and_select(state, step, seg):
            stop = _early_stop_target(segments, seg, step, scope)
        if stop is not None or step % ckpt_every == 0 or step == seg.end:
          save(step, seg, it.get_state())
        if stop is not None:
          break
      data_state = None
      if stop is not None:
        print(f"[au_jax] early stop at step {step}: no better validation {sel.metric} in "
              f"{patience} evaluations (best {sel.best_value} at step {sel.best_step}); "
              f"continuing at step {stop}", flush=True)
        writer.write(step=step, split="early_stop", next_step=stop, best_step=sel.best_step)
      if stop is not None and stop > step:
        bar.update(stop - step)
        sel.since_best = 0
        step = stop
        state = state.replace(step=sharding.replicate(jnp.asarray(step, jnp.int32), mesh))
        save(step, schedule.segment_at(segments, step) if step < total else seg, None)
    bar.close()
    ckpt.wait()
  finally:
    ckpt.close()

  final_state = state
  if sel.active and sel.best_step is not None and sel.best_step != step:
    final_state = _with_selected(state, best_ckpt, sel.best_step, mesh)
  best_ckpt.close()
  report = final_evaluation(config, workdir, predict_step, final_state, splits, transforms,
                            method, info, mesh, threads, total,
                            selection=dict(metric=sel.metric, step=int(final_state.step),
                                           value=sel.best_value, evaluations=sel.evaluations,
                                           eval_every=eval_every))
  writer.write(step=total, split="test", **report["test"]["mean"])
  writer.close()
  if not writes:
    return report
  try:
    if config.eval.plots:
      viz.learning_curves(os.path.join(workdir, "metrics.jsonl"),
                          os.path.join(workdir, "plots", "learning_curves.png"))
    reports.write(method.name, workdir, plots=bool(config.eval.plots))
  except Exception as e:  # extra outputs must never lose a finished run
    print(f"[au_jax] could not write plots / {method.name} outputs: {e!r}", flush=True)
  return report


def reset_optimizer(state, txs, labels, groups, mesh=None):
  """`state` with the optimiser state of `groups` re-initialised (a stage's start)."""
  opt_state = dict(state.opt_state)
  for g in groups:
    opt_state[g] = txs[g].init({k: v for k, v in state.params.items() if labels[k] == g})
  if mesh is not None:
    opt_state = {g: sharding.replicate(v, mesh) if g in groups else v
                 for g, v in opt_state.items()}
  return state.replace(opt_state=opt_state)


def _select_metric(tcfg, info) -> str | None:
  metric = tcfg.select_metric
  if metric in ("", "none"):
    return None
  return selection.default_metric(info) if metric == "auto" else str(metric)


def _eval_every(tcfg, segments) -> int:
  """config.train.eval_every; absent or "auto" = about 10 evaluations per run."""
  value = tcfg.eval_every
  grad_steps = sum(g.steps for g in segments if g.fit is None)
  if value == "auto":
    return max(1, grad_steps // 10)
  return int(value)


def _early_stop_target(segments, seg, step, scope) -> int:
  """Where training continues after early stopping: the end of the stage
  (scope "stage"), else the next fit stage or the end of the schedule."""
  if scope == "stage":
    return seg.end
  nxt = [g.start for g in segments if g.fit is not None and g.start >= step]
  return min(nxt) if nxt else segments[-1].end


def _with_selected(state, best_ckpt, best_step, mesh):
  """`state` with the parameters, collections and fitted state of the selected step
  (the step counter and optimiser state stay)."""
  if best_step not in best_ckpt.all_steps():
    raise FileNotFoundError(f"the selected checkpoint (step {best_step}) is missing from "
                            f"{best_ckpt.directory}; rerun in a new workdir")
  best, _ = best_ckpt.restore(state, best_step)
  best = sharding.replicate(best, mesh)
  return state.replace(params=best.params, model_state=best.model_state, fitted=best.fitted,
                       step=best.step)


def save_data_info(workdir: str, info) -> None:
  """What inference needs to rebuild the model without the dataset."""
  meta = info.metadata[0] if info.metadata else {}
  atomic_write(os.path.join(workdir, "data_info.json"), json.dumps(dict(
      aus=list(info.aus), intensity_coded=list(info.intensity_coded),
      occurrence_coded=list(info.occurrence_coded), datasets=list(info.datasets),
      test_datasets=list(info.test_datasets),
      image_size=int(meta.get("image_size", 0)) or None,
      alignment=meta.get("alignment", "similarity")), indent=1))


def _flush(pending, writer, seg, bar, t0, t_step, divergence=None):
  """Fetch the window's metrics in one transfer; abort when training diverged."""
  values = jax.device_get([m for _, m in pending])
  (divergence or Divergence(None)).check(seg, [(s, m) for (s, _), m in zip(pending, values)])
  last_step, last = pending[-1][0], values[-1]
  rate = (last_step - t_step) / max(time.time() - t0, 1e-9)
  mean = {k: float(np.mean([np.asarray(v[k]) for v in values])) for k in last}
  writer.write(step=last_step, split="train", stage=seg.name, cycle=seg.cycle,
               steps_per_s=rate, **mean)
  bar.update(len(pending))
  bar.set_postfix(stage=seg.name, loss=f"{mean['loss']:.4f}", refresh=False)


def _eval_log(writer, step, predict_step, state, split, transforms, info, ecfg, mesh, threads):
  preds = evaluate.predict_split(predict_step, state, split, transforms["validation"],
                                 batch_size=int(ecfg.batch_size), mesh=mesh, num_threads=threads)
  res = evaluate.split_metrics(preds, split.index, info, 0.5)
  writer.write(step=step, split="validation", **{k: v for k, v in res["mean"].items()})
  return res


def final_evaluation(config, workdir, predict_step, state, splits, transforms, method, info, mesh,
                     threads, total, selection=None) -> dict:
  ecfg = config.eval
  bs = int(ecfg.batch_size)
  preds = {s: evaluate.predict_split(predict_step, state, splits[s], transforms[s],
                                     batch_size=bs, mesh=mesh, num_threads=threads)
           for s in ("validation", "test")}
  metric = ecfg.threshold_metric
  thr = (evaluate.tune_thresholds(preds["validation"], splits["validation"].index, metric)
         if metric else np.full(info.num_aus, 0.5))
  report = {
      "model": config.model.name,
      "datasets": list(info.datasets),
      "protocol": sources.describe_protocol(config.data),
      "test_datasets": list(info.test_datasets),
      "aus": list(info.aus),
      "steps": total,
      "selection": selection or {"metric": None, "step": int(state.step)},
      "threshold_metric": metric,
      "thresholds": np.asarray(thr).tolist(),
      "validation": evaluate.split_metrics(preds["validation"], splits["validation"].index,
                                           info, thr),
      "test": evaluate.split_metrics(preds["test"], splits["test"].index, info, thr),
      "strata": evaluate.stratified_metrics(preds["test"], splits["test"].index, info, thr,
                                            train_index=splits["train"].index),
  }
  eps = float(config.train.divergence.constant_eps)
  if constant_predictions(preds["validation"], eps):
    report["diverged"] = (f"the model tested (step {int(state.step)}) predicts the same values "
                          f"for every validation record: its metrics are meaningless. Lower "
                          f"the learning rate or train longer.")
  if not distributed.is_writer():
    return report
  if ecfg.save_predictions:   # the selected model's outputs, beside the labels
    for split in ("validation", "test"):
      tmp = os.path.join(workdir, f"{split}_predictions.tmp{os.getpid()}.npz")
      np.savez(tmp, **preds[split], intensity_true=splits[split].index.intensity,
               occurrence_true=splits[split].index.occurrence)
      os.replace(tmp, os.path.join(workdir, f"{split}_predictions.npz"))
  evaluate.write_report(workdir, report, plots=bool(config.eval.plots))
  return report
