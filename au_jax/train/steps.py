"""Jitted train and predict steps (pure functions of state, batch, key)."""
from __future__ import annotations

import jax
import optax

from au_jax.train.fitted import variables
from au_jax.train.state import TrainState, nest


def make_train_step(method, txs, labels: dict[str, str], trainable: tuple[str, ...],
                    loss_weights: tuple = ()):
  """One jitted step updating only the `trainable` groups.

  Gradients are taken w.r.t. the trainable parameters only, so XLA drops the
  weight-gradient work of frozen groups. The step's rng is
  fold_in(base_key, step): no hidden state.
  """
  train_keys = tuple(sorted(k for k, g in labels.items() if g in trainable))
  if not train_keys:
    raise ValueError(f"no parameters in trainable groups {trainable}")
  train_set = set(train_keys)
  by_group = {g: tuple(k for k in train_keys if labels[k] == g) for g in trainable}
  weights = dict(loss_weights) or None

  def step(state: TrainState, batch: dict, base_key: jax.Array):
    key = jax.random.fold_in(base_key, state.step)
    frozen = {k: v for k, v in state.params.items() if k not in train_set}

    def loss_fn(tp):
      v = variables(nest({**frozen, **tp}), state.model_state, state.fitted)
      return method.loss(v, batch, key, True, weights)

    tp = {k: state.params[k] for k in train_keys}
    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(tp)
    params, opt_state = dict(state.params), dict(state.opt_state)
    for g, keys in by_group.items():
      p_g = {k: tp[k] for k in keys}
      updates, opt_state[g] = txs[g].update({k: grads[k] for k in keys}, state.opt_state[g], p_g)
      params.update(optax.apply_updates(p_g, updates))
    model_state = {**state.model_state, **(aux.get("model_state") or {})}
    metrics = {"loss": loss, "grad_norm": optax.tree.norm(grads), **aux.get("metrics", {})}
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                         model_state=model_state), metrics

  return jax.jit(step, donate_argnums=(0,))


def make_predict_step(method):
  """predict(params, model_state, fitted, batch) -> the method's uniform outputs."""
  def predict(params, model_state, fitted, batch):
    return method.predict(variables(nest(params), model_state, fitted), batch)
  return jax.jit(predict)


def make_features_step(method, head: str):
  """features(params, model_state, fitted, batch) -> {"features": [B, D]} of a fitted head."""
  features = method.heads[head].features

  def step(params, model_state, fitted, batch):
    return {"features": features(variables(nest(params), model_state, fitted), batch)}
  return jax.jit(step)
