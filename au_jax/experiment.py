"""train_and_evaluate(config, workdir): an experiment, as launch.py runs it.

The drivers sit above the training loop (au_jax.train.loop.train, one run),
which imports none of them:

  config.lambda_tuning                 au_jax.models.ccnn.lambda_tuning: one run per
                                       lambda of a grid, then the final run;
  config.train.retrain_on_validation   au_jax.train.retrain: the run, then the
                                       retrain on train + validation;
  otherwise                            the one run.

Every run resumes from its workdir. Sweeps over seeds / folds are
au_jax.sweep, which calls this function per run.
"""
from __future__ import annotations

from au_jax.models.ccnn import lambda_tuning
from au_jax.train import retrain


def train_and_evaluate(config, workdir: str) -> dict:
  """Train, select on validation, evaluate test; the report of the model tested last."""
  if "lambda_tuning" in config:   # CCNN: lambda per AU tuned on validation first (Sec. 3.3)
    return lambda_tuning.train_and_evaluate(config, workdir)
  return retrain.train_and_retrain(config, workdir)
