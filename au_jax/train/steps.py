"""Jitted train and predict steps (pure functions of state, batch, key)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from au_jax.train import precision as precision_lib
from au_jax.train.state import TrainState, group_labels, nest, variables


def _policy(method, labels, precision, float32_groups):
  """The mixed-precision policy of a step (au_jax.train.precision); None = float32."""
  if precision_lib.check(precision) == "float32":
    return None
  return precision_lib.Policy(precision, labels,
                              precision_lib.float32_groups(method, float32_groups))


def make_train_step(method, txs, labels: dict[str, str], trainable: tuple[str, ...],
                    loss_weights: tuple = (), precision: str = "float32",
                    float32_groups=None):
  """One jitted step updating only the `trainable` groups.

  Gradients are taken w.r.t. the trainable parameters only, so XLA drops the
  weight-gradient work of frozen groups. The step's rng is
  fold_in(base_key, step): no hidden state. `precision="bfloat16"`: mixed
  precision (au_jax.train.precision; parameters, gradients, optimiser and
  losses stay float32); "float32" is the plain step.
  """
  policy = _policy(method, labels, precision, float32_groups)
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
      if policy is None:
        v = variables(nest({**frozen, **tp}), state.model_state, state.fitted)
        return method.loss(v, batch, key, True, weights)
      v = variables(nest(policy.cast_params({**frozen, **tp})), state.model_state, state.fitted)
      with policy.scope():
        loss, aux = method.loss(v, batch, key, True, weights)
      aux = dict(aux, metrics=precision_lib.cast_tree(aux.get("metrics", {}), jnp.float32))
      if aux.get("model_state"):
        aux["model_state"] = {k: precision_lib.like(c, state.model_state.get(k, c))
                              for k, c in aux["model_state"].items()}
      return loss.astype(jnp.float32), aux

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


def make_predict_step(method, precision: str = "float32", float32_groups=None):
  """predict(params, model_state, fitted, batch) -> the method's uniform outputs
  (`precision`: as `make_train_step`; the outputs are float32 either way)."""
  def predict(params, model_state, fitted, batch):
    return method.predict(variables(nest(params), model_state, fitted), batch)
  if precision_lib.check(precision) == "float32":
    return jax.jit(predict)
  return jax.jit(_mixed(method, predict, precision, float32_groups))


def make_features_step(method, head: str, precision: str = "float32", float32_groups=None):
  """features(params, model_state, fitted, batch) -> {"features": [B, D]} of a fitted head."""
  features = method.heads[head].features

  def step(params, model_state, fitted, batch):
    return {"features": features(variables(nest(params), model_state, fitted), batch)}
  if precision_lib.check(precision) == "float32":
    return jax.jit(step)
  return jax.jit(_mixed(method, step, precision, float32_groups))


def _mixed(method, fn, precision, float32_groups):
  """fn(params, model_state, fitted, batch) under the mixed-precision policy:
  compute groups' params cast, module calls intercepted, outputs float32."""
  def wrapped(params, model_state, fitted, batch):
    policy = _policy(method, group_labels(params, method.param_group), precision,
                     float32_groups)
    with policy.scope():
      out = fn(policy.cast_params(params), model_state, fitted, batch)
    return precision_lib.cast_tree(out, jnp.float32)
  return wrapped
