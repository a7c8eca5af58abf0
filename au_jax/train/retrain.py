"""Retrain on train + validation after model selection (Gudi et al., Sec. IV-C).

The paper's last step: with the number of epochs and the per-AU decision
thresholds chosen on the development (validation) set, "the final network
[...] is trained on the complete set of provided data (including the
development set)" for that fixed number of epochs, and tested with those
thresholds. `run(config, workdir, first_report)` (after the first run,
`train_and_retrain` calls it when config.train.retrain_on_validation is set):

  1. the training split becomes train + validation of the same protocol
     (`config.data.train_splits = ("train", "validation")`, see
     au_jax.data.sources); validation and test stay as they are;
  2. the schedule is cut after the step the first run selected
     (`first_report["selection"]["step"]`); selection and periodic
     validation are off (validation is now training data);
  3. the engine trains it in `workdir/retrain/`;
  4. test is scored with the FIRST run's thresholds (never re-tuned: the
     validation records are in training now), and the report is written as
     workdir/retrain/report.{json,md}. Its "validation" block is the first
     run's, where those thresholds were tuned. The first report is untouched.

Steps that an early stop skipped in the first run are counted by its selected
step, so here they are trained. Rerunning `run` resumes like any workdir.

Fit stages (spec.FittedHead, e.g. the multi-label CNN's QDA): the first run
fits them on the selected parameters and then selects the fit's step (the
fitted state is part of the model), so its selected step is the fit's, past
any early stop. The schedule is then cut at the step of the parameters the
fit used (the best validation step before the fit, from metrics.jsonl) and
the fit stages that followed in the first run are kept after the cut
(`retrain_stages`): the retrain trains as many steps as were selected and
refits the head on its own parameters.
"""
from __future__ import annotations

import json
import os

import ml_collections
import numpy as np

from au_jax import evaluate
from au_jax.data import sources
from au_jax.train import distributed, loop, validate

RETRAIN_DIR = "retrain"
TRAIN_SPLITS = ("train", "validation")


def truncated_stages(train_cfg, steps: int) -> list[dict]:
  """config.train.stages with its `repeat` cycles unrolled, cut after `steps`
  global steps (a fit stage counts one, as in au_jax.train.schedule)."""
  out, left = [], int(steps)
  for _ in range(int(validate.train_value(train_cfg, "repeat"))):
    for st in train_cfg["stages"]:
      if left <= 0:
        return out
      st = dict(st)
      if "fit" not in st and int(st["steps"]) > left:
        st["steps"] = left
      left -= 1 if "fit" in st else int(st["steps"])
      out.append(st)
  if left > 0:
    raise ValueError(f"the selected step {steps} is past the schedule's end")
  return out


def _fit_ends(train_cfg) -> dict[int, dict]:
  """{global step after a fit stage: that stage} over the unrolled schedule."""
  out, step = {}, 0
  for _ in range(int(validate.train_value(train_cfg, "repeat"))):
    for st in train_cfg["stages"]:
      step += 1 if "fit" in st else int(st["steps"])
      if "fit" in st:
        out[step] = dict(st)
  return out


def retrain_stages(train_cfg, selected: int, selections: list[tuple[int, int]]) -> list[dict]:
  """The retrain's schedule: cut at the step of the selected parameters, then
  the fit stages the first run ran after it (each name once, its last).

  selected: the first run's selected step; selections: its (step, best_step)
  selection records in order (metrics.jsonl, split "selection"). When
  `selected` ends a fit stage, the parameters are those of the best step
  selected before the fit (repeatedly, for a chain of fits)."""
  fits = _fit_ends(train_cfg)
  params = int(selected)
  while params in fits:
    before = [b for s, b in selections if s < params and b < params]
    if not before:
      break
    params = before[-1]
  kept = {}
  for end, st in sorted(fits.items()):
    if params < end <= selected:
      kept.pop(st["fit"], None)
      kept[st["fit"]] = st
  out = truncated_stages(train_cfg, params)
  return out + [st for st in kept.values() if not (out and out[-1] == st)]


def _selection_records(workdir: str) -> list[tuple[int, int]]:
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  with open(path) as f:
    rows = [json.loads(line) for line in f if line.strip()]
  return [(int(r["step"]), int(r["best_step"])) for r in rows if r.get("split") == "selection"]


def retrain_config(config, first_report: dict, workdir: str | None = None
                   ) -> ml_collections.ConfigDict:
  """The config of the second run (see the module docstring, 1-2); `workdir`
  is the first run's (its selection records place a fit stage's parameters)."""
  cfg = validate.resolve(config)
  cfg.data.train_splits = TRAIN_SPLITS
  cfg.train.stages = retrain_stages(
      config.train, first_report["selection"]["step"],
      _selection_records(os.path.expanduser(workdir)) if workdir else [])
  cfg.train.repeat = 1
  cfg.train.select_metric = "none"
  cfg.train.patience = 0
  cfg.train.eval_every = 0
  cfg.train.retrain_on_validation = False
  cfg.eval.save_predictions = True     # test is rescored from them (step 4)
  return cfg


def train_and_retrain(config, workdir: str) -> dict:
  """One run (au_jax.train.loop.train), then, when
  config.train.retrain_on_validation is set, the retrain (`run`); returns the
  report of the model that was tested last."""
  report = loop.train(config, workdir)
  if validate.resolve(config).train.retrain_on_validation:
    workdir = os.path.abspath(os.path.expanduser(workdir))
    print("[au_jax] retraining on train + validation for the selected number of steps "
          f"(config.train.retrain_on_validation): {workdir}/{RETRAIN_DIR}", flush=True)
    report = run(config, workdir, report)
  return report


def run(config, workdir: str, first_report: dict) -> dict:
  """Retrain on train + validation; the report with the first run's thresholds."""
  cfg = retrain_config(config, first_report, workdir)
  rdir = os.path.join(os.path.abspath(os.path.expanduser(workdir)), RETRAIN_DIR)
  report = loop.train(cfg, rdir)
  thr = np.asarray(first_report["thresholds"], np.float64)
  info_parts = sources.load_data_info(cfg.data)
  test = sources.load_split(cfg.data, "test", info_parts)
  train = sources.load_split(cfg.data, "train", info_parts)
  with np.load(os.path.join(rdir, "test_predictions.npz")) as z:
    preds = {k: z[k] for k in z.files if not k.endswith("_true")}
  report.update(
      threshold_metric=first_report["threshold_metric"],
      thresholds=thr.tolist(),
      test=evaluate.split_metrics(preds, test.index, info_parts[0], thr),
      strata=evaluate.stratified_metrics(preds, test.index, info_parts[0], thr,
                                         train_index=train.index),
      validation=first_report["validation"],
      retrain=dict(train_splits=list(TRAIN_SPLITS),
                   train_records=len(train.index),
                   steps=sum(1 if "fit" in st else int(st["steps"]) for st in cfg.train.stages),
                   thresholds="the first run's, tuned on validation",
                   first_workdir=os.path.dirname(rdir)))
  if distributed.is_writer():
    evaluate.write_report(rdir, report, plots=bool(cfg.eval.get("plots", True)))
  return report
