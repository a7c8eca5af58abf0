"""Optimisers per parameter group.

config.train.optimizer gives the default (SGD with momentum, as every paper
here uses); config.train.group_optimizer[<group>] overrides fields per group
(e.g. a larger learning rate for CCNN's copula parameters).
"""
from __future__ import annotations

import optax

from au_jax.errors import ConfigKeyError

_KEYS = {"name", "learning_rate", "momentum", "nesterov", "weight_decay", "schedule",
         "decay_steps", "warmup_steps", "clip_norm", "b1", "b2", "decay", "eps"}


def make_optimizer(opt_cfg: dict) -> optax.GradientTransformation:
  cfg = dict(opt_cfg)
  extra = set(cfg) - _KEYS
  if extra:
    raise ConfigKeyError(f"config.train.optimizer has unknown keys {sorted(extra)}; allowed {sorted(_KEYS)}")
  lr = float(cfg.get("learning_rate", 0.01))
  sched = cfg.get("schedule", "constant")
  if sched == "constant":
    lr_fn = optax.constant_schedule(lr)
  elif sched == "cosine":
    lr_fn = optax.warmup_cosine_decay_schedule(
        0.0, lr, int(cfg.get("warmup_steps", 0)) or 1, int(cfg["decay_steps"]))
  elif sched == "step":
    lr_fn = optax.exponential_decay(lr, int(cfg["decay_steps"]), 0.1, staircase=True)
  else:
    raise ConfigKeyError(f"unknown learning-rate schedule {sched!r} (constant, cosine, step)")
  name = cfg.get("name", "sgd")
  if name == "sgd":
    tx = optax.sgd(lr_fn, momentum=cfg.get("momentum", 0.9) or None,
                   nesterov=bool(cfg.get("nesterov", False)))
  elif name == "adam":
    tx = optax.adam(lr_fn, b1=cfg.get("b1", 0.9), b2=cfg.get("b2", 0.999))
  elif name == "rmsprop":   # Sanchez et al. 2018 (PyTorch's RMSprop: alpha 0.99, eps outside)
    tx = optax.rmsprop(lr_fn, decay=cfg.get("decay", 0.99), eps=cfg.get("eps", 1e-8),
                       eps_in_sqrt=False, momentum=cfg.get("momentum") or None)
  else:
    raise ConfigKeyError(f"unknown optimizer {name!r} (sgd, adam, rmsprop)")
  chain = []
  if cfg.get("clip_norm"):
    chain.append(optax.clip_by_global_norm(float(cfg["clip_norm"])))
  if cfg.get("weight_decay"):
    chain.append(optax.add_decayed_weights(float(cfg["weight_decay"])))
  return optax.chain(*chain, tx) if chain else tx


def group_optimizers(train_cfg, groups) -> dict[str, optax.GradientTransformation]:
  base = dict(train_cfg.get("optimizer") or {})
  overrides = dict(train_cfg.get("group_optimizer") or {})
  unknown = set(overrides) - set(groups)
  if unknown:
    raise ConfigKeyError(f"config.train.group_optimizer names unknown groups {sorted(unknown)}; "
                   f"model groups: {list(groups)}")
  return {g: make_optimizer({**base, **dict(overrides.get(g) or {})}) for g in groups}
