"""Retrain on train + validation after model selection (Gudi et al., Sec. IV-C).

The paper's last step: with the number of epochs and the per-AU decision
thresholds chosen on the development (validation) set, "the final network
[...] is trained on the complete set of provided data (including the
development set)" for that fixed number of epochs, and tested with those
thresholds. `run(config, workdir, first_report)`:

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
"""
from __future__ import annotations

import os

import ml_collections
import numpy as np

from au_jax import evaluate
from au_jax.data import sources
from au_jax.train import loop

RETRAIN_DIR = "retrain"
TRAIN_SPLITS = ("train", "validation")


def truncated_stages(train_cfg, steps: int) -> list[dict]:
  """config.train.stages with its `repeat` cycles unrolled, cut after `steps`
  global steps (a fit stage counts one, as in au_jax.train.schedule)."""
  out, left = [], int(steps)
  for _ in range(int(train_cfg.get("repeat", 1))):
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


def retrain_config(config, first_report: dict) -> ml_collections.ConfigDict:
  """The config of the second run (see the module docstring, 1-2)."""
  cfg = ml_collections.ConfigDict(config.to_dict())
  cfg.data.train_splits = TRAIN_SPLITS
  cfg.train.stages = truncated_stages(config.train, first_report["selection"]["step"])
  cfg.train.repeat = 1
  cfg.train.select_metric = "none"
  cfg.train.patience = 0
  cfg.train.eval_every = 0
  cfg.train.retrain_on_validation = False
  cfg.eval.save_predictions = True     # test is rescored from them (step 4)
  return cfg


def run(config, workdir: str, first_report: dict) -> dict:
  """Retrain on train + validation; the report with the first run's thresholds."""
  cfg = retrain_config(config, first_report)
  rdir = os.path.join(os.path.abspath(os.path.expanduser(workdir)), RETRAIN_DIR)
  report = loop.train_and_evaluate(cfg, rdir)
  thr = np.asarray(first_report["thresholds"], np.float64)
  info_parts = sources.load_data_info(cfg.data)
  test = sources.load_split(cfg.data, "test", info_parts)
  with np.load(os.path.join(rdir, "test_predictions.npz")) as z:
    preds = {k: z[k] for k in z.files if not k.endswith("_true")}
  report.update(
      threshold_metric=first_report["threshold_metric"],
      thresholds=thr.tolist(),
      test=evaluate.split_metrics(preds, test.index, info_parts[0], thr),
      validation=first_report["validation"],
      retrain=dict(train_splits=list(TRAIN_SPLITS),
                   train_records=len(sources.load_split(cfg.data, "train", info_parts).index),
                   steps=int(first_report["selection"]["step"]),
                   thresholds="the first run's, tuned on validation",
                   first_workdir=os.path.dirname(rdir)))
  evaluate.write_report(rdir, report)
  return report
