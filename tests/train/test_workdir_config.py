"""A saved config.json is compared with the new config key by key."""
from __future__ import annotations

from au_jax.train.validate import TRAIN_DEFAULTS
from au_jax.train.workdir import config_differences


def test_an_absent_train_key_means_the_engines_default():
  saved = {"seed": 0, "train": {"batch_size": 8}}          # written before `precision` existed
  same = {"seed": 0, "train": {"batch_size": 8, "precision": TRAIN_DEFAULTS["precision"]}}
  assert config_differences(saved, same) == []
  changed = {"seed": 0, "train": {"batch_size": 8, "precision": "bfloat16"}}
  assert config_differences(saved, changed) == [("train.precision", "float32", "bfloat16")]


def test_result_changing_keys_differ_and_neutral_keys_do_not():
  saved = {"seed": 0, "train": {"batch_size": 8, "log_every": 10}, "model": {"w": [1, 2]}}
  new = {"seed": 1, "train": {"batch_size": 8, "log_every": 50}, "model": {"w": (1, 2)}}
  assert config_differences(saved, new) == [("seed", 0, 1)]
  assert config_differences({"model": {"a": 1}}, {"model": {"a": 1, "x": 1}}) == [("model.x", None, 1)]
