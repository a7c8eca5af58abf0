"""TrainState: everything a resumed run needs, as one pytree, and how a fresh
one is made (`initial_state`, shared by the training loop and inference).

Parameters are kept as a FLAT dict {"conv1.kernel": array} so that parameter
groups (trainable / frozen per stage) are plain key subsets; `nest` rebuilds
the nested dict Flax modules take; `variables` the dict a method's loss /
predict takes.
"""
from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
from flax import traverse_util

from au_jax.train import optim

SEP = "."


def flatten(params) -> dict[str, jax.Array]:
  return {SEP.join(k): v for k, v in traverse_util.flatten_dict(params).items()}


def nest(flat: dict) -> dict:
  return traverse_util.unflatten_dict({tuple(k.split(SEP)): v for k, v in flat.items()})


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: dict[str, jax.Array]          # flat
  model_state: dict[str, Any]           # non-param collections (e.g. batch_stats)
  opt_state: dict[str, Any]             # one optimiser state per parameter group
  fitted: dict[str, Any]                # fitted heads (spec.FittedHead), {} if none


def group_labels(params_flat: dict, param_group) -> dict[str, str]:
  return {k: param_group(tuple(k.split(SEP))) for k in params_flat}


def init_state(variables, txs: dict, labels: dict[str, str], fitted=None) -> TrainState:
  variables = dict(variables)
  flat = flatten(variables.pop("params"))
  variables.pop("intermediates", None)
  missing = [g for g in txs if not any(lab == g for lab in labels.values())]
  if missing:
    raise ValueError(f"parameter groups {missing} hold no parameters")
  opt_state = {g: tx.init({k: v for k, v in flat.items() if labels[k] == g})
               for g, tx in txs.items()}
  return TrainState(step=jnp.zeros((), jnp.int32), params=flat,
                    model_state=variables, opt_state=opt_state, fitted=dict(fitted or {}))


def variables(params_nested, model_state: dict, fitted: dict) -> dict:
  """The variables a method's loss / predict takes: params, other collections, fitted."""
  out = {"params": params_nested, **model_state}
  if fitted:
    out["fitted"] = fitted
  return out


def initial_state(method, train_cfg, batch, seed: int = 0):
  """(TrainState, per-group optimisers, parameter -> group labels) of a fresh run."""
  params = method.init(jax.random.PRNGKey(seed), batch)
  txs = optim.group_optimizers(train_cfg, method.groups)
  labels = group_labels(flatten(params["params"]), method.param_group)
  return init_state(params, txs, labels, method.init_fitted()), txs, labels
