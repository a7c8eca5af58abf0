import pytest

from au_jax.train import schedule

GROUPS = ("cnn", "unary", "pairwise")


def test_cycled_stages_flatten_into_contiguous_segments():
  cfg = {"stages": [dict(name="cnn", trainable="cnn", sampler="subject_balanced", steps=5),
                    dict(name="pair", trainable="unary,pairwise", steps=3)],
         "repeat": 3}
  segs = schedule.build_schedule(cfg, GROUPS)
  assert [s.name for s in segs] == ["cnn", "pair"] * 3
  assert [s.start for s in segs] == [0, 5, 8, 13, 16, 21]
  assert segs[-1].end == 24
  assert segs[1].trainable == ("unary", "pairwise") and segs[0].sampler == "subject_balanced"
  assert schedule.segment_at(segs, 12).index == 2
  assert schedule.segment_at(segs, 13).index == 3
  with pytest.raises(IndexError):
    schedule.segment_at(segs, 24)


def test_all_means_every_group():
  segs = schedule.build_schedule({"stages": [dict(steps=1)]}, GROUPS)
  assert segs[0].trainable == GROUPS


def test_mistakes_are_named():
  with pytest.raises(KeyError, match="heads"):
    schedule.build_schedule({"stages": [dict(trainable="heads", steps=1)]}, GROUPS)
  with pytest.raises(KeyError, match="stepz"):
    schedule.build_schedule({"stages": [dict(stepz=1)]}, GROUPS)
  with pytest.raises(ValueError, match="steps"):
    schedule.build_schedule({"stages": [dict(steps=0)]}, GROUPS)


def test_reset_optimizer_defaults_to_the_train_setting_and_can_be_set_per_stage():
  cfg = {"stages": [dict(name="a", trainable="cnn", steps=2),
                    dict(name="b", trainable="head", steps=2, reset_optimizer=False)],
         "reset_optimizer": True}
  segs = schedule.build_schedule(cfg, ("cnn", "head"))
  assert [s.reset_optimizer for s in segs] == [True, False]
  cfg["reset_optimizer"] = False
  assert [s.reset_optimizer for s in schedule.build_schedule(cfg, ("cnn", "head"))] == [False] * 2


def test_rmsprop_matches_pytorchs_update_rule():
  import jax.numpy as jnp
  import numpy as np

  from au_jax.train import optim
  tx = optim.make_optimizer({"name": "rmsprop", "learning_rate": 0.1})
  p, g = jnp.array([1.0, -2.0]), jnp.array([0.5, 3.0])
  state = tx.init(p)
  upd, state = tx.update(g, state, p)
  upd2, _ = tx.update(g, state, p)
  v1 = 0.01 * np.square(g)                      # v = alpha v + (1 - alpha) g^2, alpha 0.99
  np.testing.assert_allclose(upd, -0.1 * g / (np.sqrt(v1) + 1e-8), rtol=1e-5)
  v2 = 0.99 * v1 + 0.01 * np.square(g)
  np.testing.assert_allclose(upd2, -0.1 * g / (np.sqrt(v2) + 1e-8), rtol=1e-5)
