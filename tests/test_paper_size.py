"""The `paper` arg of the synthetic configs: the paper's network at the paper's resolution.

Parameter counts from the traced shapes of each method's init (jax.eval_shape:
no compile, no weights), on a blank 96 x 96 record (the synthetic faces' size)
through the method's own transform, so the input sizes are the ones training
sees. Against the counts the papers or our docs state, and against the layer
sizes the paper gives where it states no count (CCNN).
"""
import functools
import importlib
import json
import os

import jax
import numpy as np
import pytest

from au_jax import aus as au_lists
from au_jax import models
from au_jax.data.sources import DataInfo
from au_jax.inference import model as model_lib
from benchmarks import paper_size
from tests.conftest import ROOT

RECORD_SIZE = 96   # tfds_builders/synthetic_au renders 96 x 96 faces


@functools.cache
def built(name: str, arg=None):
  """(number of parameters, params shapes, the transformed example batch) of
  configs/<name>.py:<arg>."""
  config = importlib.import_module(f"configs.{name}").get_config(arg)
  aus = tuple(config.data.aus) or au_lists.DISFA_AUS    # disfa_like codes the 12 DISFA AUs
  n = len(aus)
  info = DataInfo(aus=aus, intensity_coded=(True,) * n, occurrence_coded=(True,) * n,
                  datasets=tuple(s["name"] for s in config.data.sources), metadata=({},))
  method = models.get_spec(config.model.name).build(config.model, info)
  blank = model_lib._blank_record(RECORD_SIZE, n)
  example = model_lib._transform(method, blank, model_lib._session_stats(method, [blank]))
  batch = model_lib._batch([example])
  params = jax.eval_shape(lambda: method.init(jax.random.key(0), batch))["params"]
  count = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))
  return count, params, batch


def _count(tree) -> int:
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(tree))


def test_ccnn_paper_is_the_papers_backbone_at_128_px():
  """Sec. 4: 3 conv layers of 32 / 64 / 128 9x9 filters, each with 2x2 max-pooling,
  FC 128; 128 x 128 faces (configs/ccnn_disfa.py) in 85 % crops (109 px)."""
  n, params, batch = built("ccnn_synthetic", "paper")
  assert batch["image"].shape[1:] == (109, 109, 1)
  side, chans, expected = 109, 1, 0
  for f in (32, 64, 128):
    expected += 9 * 9 * chans * f + f          # 'SAME' conv, then 2x2 pooling (floor)
    side, chans = side // 2, f
  expected += side * side * chans * 128 + 128   # FC 128 on the 13 x 13 x 128 map
  assert _count(params["backbone"]) == expected == 3_601_280
  small, small_params, small_batch = built("ccnn_synthetic")
  assert small_batch["image"].shape[1:] == (41, 41, 1)    # 48 px, 85 % crops
  assert _count(small_params["backbone"]) < expected / 5
  # the heads (ordinal unaries, copulas) do not depend on the size
  assert n - _count(params["backbone"]) == small - _count(small_params["backbone"])


def test_dsin_paper_has_the_modules_paper_sized_patch_cnns():
  """docs/dsin.md: 224 x 224 faces, 56 x 56 patches, 15.3M parameters; synthetic 651k."""
  n, _, batch = built("dsin_synthetic", "paper")
  assert batch["face"].shape[1:] == (224, 224, 3)
  assert round(n / 1e6, 1) == 15.3
  small, _, small_batch = built("dsin_synthetic")
  assert small_batch["face"].shape[1:] == (96, 96, 3)
  assert round(small / 1e3) == 651


def test_heatmaps_paper_is_the_256_channel_hourglass_at_256_px():
  """docs/heatmaps.md: 256 x 256 input, 256-channel hourglass, 3.42M parameters
  (the paper: ResNet-18's ~11M is "almost 4 times" it); synthetic 64 px, 0.22M."""
  n, _, batch = built("heatmaps_synthetic", "paper")
  assert batch["image"].shape[1:] == (256, 256, 3)
  assert round(n / 1e6, 2) == 3.42
  small, _, small_batch = built("heatmaps_synthetic")
  assert small_batch["image"].shape[1:] == (64, 64, 3)
  assert round(small / 1e6, 2) == 0.22
  resnet, _, _ = built("heatmaps_synthetic", "paper,arch=resnet18")
  assert round(resnet / 1e6) == 11 and 3 < resnet / n < 4


@pytest.mark.parametrize("name,count", [("gudi_synthetic", 88_748_876),
                                        ("multilabel_synthetic", 97_805)])
def test_paper_sized_already_so_paper_changes_nothing(name, count):
  """Gudi: 88.7M parameters, 48 x 48 (docs/gudi.md, Fig. 2); multi-label CNN: the
  paper's "~100,000" weights (docs/multilabel.md: 97,805). `paper` is the same config."""
  config = importlib.import_module(f"configs.{name}")
  assert config.get_config("paper").to_dict() == config.get_config().to_dict()
  n, _, _ = built(name, "paper")
  assert n == count
  if name == "multilabel_synthetic":
    assert abs(n - 100_000) < 5_000


@pytest.mark.parametrize("name", ["ccnn_synthetic", "dsin_synthetic", "heatmaps_synthetic"])
def test_paper_composes_with_other_args(name):
  config = importlib.import_module(f"configs.{name}")
  paper, seeded = config.get_config("paper"), config.get_config("paper,seed=1")
  assert seeded.seed == 1 and seeded.model.to_dict() == paper.model.to_dict()
  assert paper.model.to_dict() != config.get_config().model.to_dict()
  # everything but the network is the synthetic config's
  for key in ("data", "train", "eval"):
    assert paper[key].to_dict() == config.get_config()[key].to_dict(), key
  # the smoke run keeps its tiny network (test_shipped_configs trains `runlocal,paper`)
  assert (config.get_config("runlocal,paper").model.to_dict()
          == config.get_config("runlocal").model.to_dict())


def test_schedules_count_the_gradient_steps_of_each_config():
  """The step budgets the benchmark extrapolates to, by hand from the configs' docstrings."""
  assert paper_size.schedules("ccnn") == dict(
      synthetic=dict(config="configs/ccnn_synthetic.py", steps=600, batch_size=64),
      real_data=dict(config="configs/ccnn_disfa.py", steps=10000, batch_size=128))
  dsin = paper_size.schedules("dsin")      # the anchors fit stage takes no gradient step
  assert dsin["synthetic"]["steps"] == 800 + 1000 + 400 + 3000 + 1000
  assert dsin["real_data"]["steps"] == 2000 + 2000 + 1000 + 4000 + 2000
  assert paper_size.schedules("heatmaps")["real_data"] == dict(
      config="configs/heatmaps_fera2015.py", steps=60000, batch_size=5)


def test_extrapolation_is_steps_times_the_measured_step():
  sched = dict(synthetic=dict(steps=600, batch_size=64),
               real_data=dict(steps=10000, batch_size=128))
  cell = dict(step_s=2.0, seconds_per_image=2.0 / 64)
  out = paper_size.extrapolate(cell, sched)
  assert out["synthetic_budget_h"] == 600 * 2.0 / 3600
  assert out["real_data_schedule_h"] == 10000 * 128 * (2.0 / 64) / 3600
  assert paper_size.extrapolate({"error": "timed out"}, sched) == {}


def test_only_gudi_and_multilabel_are_paper_sized_already():
  assert [m for m in paper_size.METHODS if paper_size.paper_is_synthetic(m)] == [
      "gudi", "multilabel"]


def test_the_committed_measurement_is_of_these_configs():
  """benchmarks/results/paper_size_cpu.json measured the networks the configs build now."""
  with open(os.path.join(ROOT, "benchmarks", "results", "paper_size_cpu.json")) as f:
    result = json.load(f)
  for method, cells in result["methods"].items():
    for size in paper_size.SIZES:
      cell = cells[size]
      if cell.get("same_as"):
        cell = cells[cell["same_as"]]
      assert cell["num_params"] == built(f"{method}_synthetic", "paper" if size == "paper"
                                         else None)[0], (method, size)
      assert cell["loss_finite"] and cell["step_s"] > 0 and cell["flops_per_step"] > 0
