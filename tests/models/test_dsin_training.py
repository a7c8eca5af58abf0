"""DSIN's training schedule (Alg. 1 of Corneanu et al., ECCV 2018) as the
engine runs it: model selection only on the last stage."""
import pytest

from au_jax.models.dsin.stages import alg1_stages
from au_jax.train import schedule
from configs import common


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

