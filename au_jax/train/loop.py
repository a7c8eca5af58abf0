"""train_and_evaluate(config, workdir): the one training engine.

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
import numpy as np

from au_jax import evaluate, models
from au_jax.data import pipeline, samplers, sharding, sources
from au_jax.train import checkpoint, optim, schedule, steps
from au_jax.io import atomic_write
from au_jax.train.logging import MetricsWriter, progress
from au_jax.train.state import flatten, group_labels, init_state


class NonFiniteLossError(FloatingPointError):
  pass


def _segment_seed(seed: int, segment: int) -> int:
  return int(np.random.default_rng((seed, 7919, segment)).integers(2**31))


def _check_config(config) -> None:
  for section in ("data", "model", "train", "eval"):
    if section not in config:
      raise KeyError(f"config has no '{section}' section")
  if "name" not in config.model:
    raise KeyError("config.model.name is missing (which registered model to train)")


def setup(config):
  """Data, method and mesh of an experiment (shared by training and benchmarks)."""
  info_parts = sources.load_data_info(config.data)
  info = info_parts[0]
  method = models.get_spec(config.model.name).build(config.model, info)
  mesh = sharding.make_mesh(config.get("num_devices") or None)
  return info_parts, method, mesh


def initial_state(method, train_cfg, batch, seed: int = 0):
  """(TrainState, per-group optimisers, parameter -> group labels) of a fresh run."""
  variables = method.init(jax.random.PRNGKey(seed), batch)
  txs = optim.group_optimizers(train_cfg, method.groups)
  labels = group_labels(flatten(variables["params"]), method.param_group)
  return init_state(variables, txs, labels), txs, labels


def train_and_evaluate(config, workdir: str) -> dict:
  _check_config(config)
  workdir = os.path.abspath(os.path.expanduser(workdir))
  os.makedirs(workdir, exist_ok=True)
  atomic_write(os.path.join(workdir, "config.json"), config.to_json_best_effort(indent=1))

  info_parts, method, mesh = setup(config)
  info = info_parts[0]
  tcfg, ecfg = config.train, config.eval
  batch_size = int(tcfg.batch_size)
  sharding.check_batch_size(batch_size, mesh)
  sharding.check_batch_size(int(ecfg.batch_size), mesh)
  threads = int(config.data.get("num_threads", 2))

  save_data_info(workdir, info)
  splits = {s: sources.load_split(config.data, s, info_parts)
            for s in ("train", "validation", "test")}
  if method.fit is not None:
    for s in splits.values():
      method.fit(s)

  segments = schedule.build_schedule(tcfg, method.groups)
  total = segments[-1].end
  seed = int(config.get("seed", 0))
  init_batch = next(pipeline.iterate(pipeline.train_dataset(
      splits["train"].source, samplers.make_sampler("uniform", splits["train"].index,
                                                    batch_size, seed),
      method.transform, num_steps=1, seed=seed, segment=2**31 - 1), num_threads=threads))
  state, txs, labels = initial_state(method, tcfg, init_batch, seed)
  state = sharding.replicate(state, mesh)

  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"),
                                 max_to_keep=int(tcfg.get("keep_checkpoints", 2)))
  restored, data_state = ckpt.restore(state)
  if restored is not None:
    state = sharding.replicate(restored, mesh)
    print(f"[au_jax] resumed from {workdir} at step {int(state.step)}/{total}", flush=True)
  step = int(state.step)
  writer = MetricsWriter(os.path.join(workdir, "metrics.jsonl"), resume_step=step)
  base_key = jax.random.PRNGKey(seed + 1)
  step_fns: dict = {}
  predict_step = steps.make_predict_step(method)
  log_every = int(tcfg.get("log_every", 50))
  eval_every = int(tcfg.get("eval_every", 0))
  ckpt_every = int(tcfg.get("checkpoint_every", 500))

  bar = progress(total, step)
  t0, t_step = time.time(), step
  try:
    while step < total:
      seg = schedule.segment_at(segments, step)
      key = (seg.trainable, seg.loss_weights)
      if key not in step_fns:
        step_fns[key] = steps.make_train_step(method, txs, labels, seg.trainable,
                                              seg.loss_weights)
      train_step = step_fns[key]
      sampler = samplers.make_sampler(seg.sampler, splits["train"].index, batch_size,
                                      _segment_seed(seed, seg.index), **dict(seg.sampler_kwargs))
      it_state = {"next_index": step - seg.start}
      if data_state and data_state.get("segment") == seg.index:
        it_state = data_state["iterator"]
        if it_state.get("next_index") != step - seg.start:
          raise RuntimeError(f"checkpoint at step {step}: iterator state {it_state} does not "
                             f"match the schedule (segment {seg.index} starts at {seg.start})")
      it = pipeline.iterate(pipeline.train_dataset(
          splits["train"].source, sampler, method.transform, num_steps=seg.steps,
          seed=seed, segment=seg.index, process_index=jax.process_index(),
          process_count=jax.process_count()), num_threads=threads, state=it_state)
      pending = []
      while step < seg.end:
        batch = sharding.shard_batch(next(it), mesh)
        state, m = train_step(state, batch, base_key)
        step += 1
        pending.append((step, m))
        if step % log_every == 0 or step == seg.end:
          _flush(pending, writer, seg, bar, t0, t_step)
          t0, t_step, pending = time.time(), step, []
        if eval_every and step % eval_every == 0 and step < total:
          _eval_log(writer, step, predict_step, state, splits["validation"], method,
                    info, ecfg, mesh, threads)
        if step % ckpt_every == 0 or step == seg.end:
          ckpt.save(step, state, {"segment": seg.index, "iterator": it.get_state()})
      data_state = None
    bar.close()
    ckpt.wait()
  finally:
    ckpt.close()

  report = final_evaluation(config, workdir, predict_step, state, splits, method, info, mesh,
                            threads, total)
  writer.write(step=total, split="test", **report["test"]["mean"])
  writer.close()
  try:
    from au_jax import viz
    viz.learning_curves(os.path.join(workdir, "metrics.jsonl"),
                        os.path.join(workdir, "plots", "learning_curves.png"))
    if method.report is not None:
      method.report(workdir)
  except Exception as e:  # extra outputs must never lose a finished run
    print(f"[au_jax] could not write plots / {method.name} outputs: {e!r}", flush=True)
  return report


def save_data_info(workdir: str, info) -> None:
  """What inference needs to rebuild the model without the dataset."""
  meta = info.metadata[0] if info.metadata else {}
  atomic_write(os.path.join(workdir, "data_info.json"), json.dumps(dict(
      aus=list(info.aus), intensity_coded=list(info.intensity_coded),
      occurrence_coded=list(info.occurrence_coded), datasets=list(info.datasets),
      image_size=int(meta.get("image_size", 0)) or None,
      alignment=meta.get("alignment", "similarity")), indent=1))


def _flush(pending, writer, seg, bar, t0, t_step):
  """Fetch the window's metrics in one transfer; abort on a non-finite loss."""
  values = jax.device_get([m for _, m in pending])
  for (s, _), m in zip(pending, values):
    if not all(np.all(np.isfinite(v)) for v in m.values()):
      raise NonFiniteLossError(
          f"non-finite training metrics at step {s} (stage '{seg.name}', cycle {seg.cycle}): "
          f"{ {k: float(np.asarray(v)) for k, v in m.items()} }. Lower the learning rate "
          f"(config.train.optimizer.learning_rate) or check the inputs.")
  last_step, last = pending[-1][0], values[-1]
  rate = (last_step - t_step) / max(time.time() - t0, 1e-9)
  mean = {k: float(np.mean([np.asarray(v[k]) for v in values])) for k in last}
  writer.write(step=last_step, split="train", stage=seg.name, cycle=seg.cycle,
               steps_per_s=rate, **mean)
  bar.update(len(pending))
  bar.set_postfix(stage=seg.name, loss=f"{mean['loss']:.4f}", refresh=False)


def _eval_log(writer, step, predict_step, state, split, method, info, ecfg, mesh, threads):
  preds = evaluate.predict_split(predict_step, state, split, method.transform,
                                 batch_size=int(ecfg.batch_size), mesh=mesh, num_threads=threads)
  res = evaluate.split_metrics(preds, split.index, info, 0.5)
  writer.write(step=step, split="validation", **{k: v for k, v in res["mean"].items()})


def final_evaluation(config, workdir, predict_step, state, splits, method, info, mesh, threads,
                     total) -> dict:
  ecfg = config.eval
  bs = int(ecfg.batch_size)
  preds = {s: evaluate.predict_split(predict_step, state, splits[s], method.transform,
                                     batch_size=bs, mesh=mesh, num_threads=threads)
           for s in ("validation", "test")}
  metric = ecfg.get("threshold_metric", "f1")
  thr = (evaluate.tune_thresholds(preds["validation"], splits["validation"].index, metric)
         if metric else np.full(info.num_aus, 0.5))
  report = {
      "model": config.model.name,
      "datasets": list(info.datasets),
      "protocol": ", ".join(f"{s['name']}:{s.get('protocol', 'default')}"
                            for s in config.data.sources),
      "aus": list(info.aus),
      "steps": total,
      "threshold_metric": metric,
      "thresholds": np.asarray(thr).tolist(),
      "validation": evaluate.split_metrics(preds["validation"], splits["validation"].index,
                                           info, thr),
      "test": evaluate.split_metrics(preds["test"], splits["test"].index, info, thr),
  }
  if ecfg.get("save_predictions", True):
    tmp = os.path.join(workdir, f"test_predictions.tmp{os.getpid()}.npz")
    np.savez(tmp, **preds["test"], intensity_true=splits["test"].index.intensity,
             occurrence_true=splits["test"].index.occurrence)
    os.replace(tmp, os.path.join(workdir, "test_predictions.npz"))
  evaluate.write_report(workdir, report)
  return report
