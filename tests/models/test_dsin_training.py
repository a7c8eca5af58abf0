"""DSIN's training schedule (Alg. 1 of Corneanu et al., ECCV 2018) as the
engine runs it: model selection only on the last stage, and a frozen-PP
stage (step 2, fusion) that updates the fusion alone on the same patch
predictions the model is evaluated with."""
import jax
import numpy as np
import pytest

from au_jax.data.sources import DataInfo
from au_jax.face.template import CANONICAL_68
from au_jax.models import get_spec
from au_jax.models.dsin.stages import alg1_stages
from au_jax.train import optim, schedule, steps
from au_jax.train.state import variables
from au_jax.train.state import flatten, group_labels, init_state, nest
from configs import common

AUS = (1, 2, 4, 6, 12)
TINY = dict(name="dsin", face_size=32, patch_size=8, iterations=2, features=(4, 8),
            kernels=(3, 3), fc_units=(8,), fusion_units=4, patch_conv="grouped")


@pytest.mark.parametrize("has_si,fixed_conv,last", [
    (True, False, "all"), (False, False, "pp_f"), (True, True, "all")])
def test_only_the_last_stage_of_alg1_is_selectable(has_si, fixed_conv, last):
  groups = ("patch_conv", "patch_fc", "fusion") + (("structure",) if has_si else ())
  tcfg = common.train_config(stages=alg1_stages((2, 3, 4, 5, 6), has_si=has_si,
                                                fixed_conv=fixed_conv))
  segs = schedule.build_schedule(tcfg, groups, ("anchors",))
  trained = [s for s in segs if s.fit is None]
  assert [s.name for s in trained] == ["pp", "fusion", "pp_f"] + (["si", "all"] if has_si
                                                                  else [])
  assert [s.name for s in trained if s.select] == [last]
  assert [s.steps for s in trained] == [2, 3, 4, 5, 6][:len(trained)]


def _batch(b=4, size=32, seed=0):
  rng = np.random.default_rng(seed)
  occ = rng.integers(0, 2, (b, len(AUS))).astype(np.int32)
  lm = CANONICAL_68[None] * size + rng.normal(scale=0.5, size=(b, 68, 2))
  return dict(face=rng.integers(0, 256, (b, size, size, 3)).astype(np.uint8),
              landmarks=lm.astype(np.float32), occurrence=occ, intensity=occ * 3,
              mask=np.ones(b, np.float32), dataset=np.zeros(b, np.int32))


@pytest.mark.slow
def test_the_fusion_stage_trains_the_fusion_alone_on_the_frozen_pp():
  """Alg. 1 step 2 through the engine's train step: only "fusion" moves, the
  patch CNNs' batch-norm running averages stay, and the fusion is trained on
  f computed exactly as predict computes it (running-average batch norm)."""
  info = DataInfo(aus=AUS, intensity_coded=(True,) * 5, occurrence_coded=(True,) * 5,
                  datasets=("d",), metadata=({},))
  method = get_spec("dsin").build(TINY, info)
  batch = _batch()
  init_vars = method.init(jax.random.PRNGKey(0), batch)
  tcfg = common.train_config(optimizer=dict(name="adam", learning_rate=1e-2), group_optimizer={},
                             stages=alg1_stages((1, 1, 1, 1, 1)))
  txs = optim.group_optimizers(tcfg, method.groups)
  labels = group_labels(flatten(init_vars["params"]), method.param_group)
  state = init_state(init_vars, txs, labels, method.init_fitted())
  # running averages away from their (0, 1) initialisation, as after step 1
  state = state.replace(model_state=jax.tree.map(lambda x: x + 0.3, state.model_state))
  seg = [s for s in schedule.build_schedule(tcfg, method.groups, ("anchors",))
         if s.name == "fusion"][0]
  before = jax.tree.map(np.asarray, state)
  pred = method.predict(variables(nest(before.params), before.model_state, before.fitted),
                        batch)
  train_step = steps.make_train_step(method, txs, labels, seg.trainable, seg.loss_weights)
  after, m = train_step(state, batch, jax.random.PRNGKey(1))
  after = jax.tree.map(np.asarray, after)
  moved = {labels[k] for k in before.params
           if not np.array_equal(before.params[k], after.params[k])}
  assert moved == {"fusion"}
  jax.tree.map(np.testing.assert_array_equal, before.model_state, after.model_state)
  # the step's L_Phi is the BCE of predict's f (the model evaluated = the model trained)
  f = np.clip(np.asarray(pred["fusion"], np.float64), 1e-7, 1 - 1e-7)
  y = batch["occurrence"]
  bce = -np.mean(y * np.log(f) + (1 - y) * np.log(1 - f))
  np.testing.assert_allclose(float(m["fusion_bce"]), bce, rtol=1e-4)
  np.testing.assert_allclose(float(m["loss"]), bce, rtol=1e-4)
