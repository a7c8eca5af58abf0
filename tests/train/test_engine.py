"""The training engine end to end on the tiny synthetic dataset."""
import json
import os
import platform
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from au_jax.data import pipeline, samplers, sharding, sources
from au_jax import experiment
from au_jax.train import fitted, loop, steps
from tests.conftest import ROOT, tiny_config, subprocess_xla_flags


@pytest.mark.slow
def test_runlocal_writes_report_metrics_and_plot(tiny_data_dir, tmp_path):
  config = tiny_config("configs.gudi_synthetic", tiny_data_dir, plots=True)
  report = experiment.train_and_evaluate(config, str(tmp_path))
  for f in ("report.json", "report.md", "metrics.jsonl", "config.json",
            "plots/learning_curves.png", "plots/strata.png", "test_predictions.npz"):
    assert os.path.exists(tmp_path / f), f
  saved = json.load(open(tmp_path / "report.json"))
  assert saved["test"]["mean"] == pytest.approx(report["test"]["mean"])
  assert list(saved["test"]["per_au"]) == [f"AU{a:02d}" for a in saved["aus"]]
  row = saved["test"]["per_au"]["AU12"]
  for k in ("f1", "accuracy", "auc", "icc", "mae", "pcc", "threshold"):
    assert k in row
  # thresholds were tuned on validation and applied unchanged to test
  assert saved["thresholds"] == [r["threshold"] for r in saved["test"]["per_au"].values()]
  lines = [json.loads(x) for x in open(tmp_path / "metrics.jsonl")]
  train = [x for x in lines if x["split"] == "train"]
  assert [x["step"] for x in train] == [2, 4, 6]
  assert all(np.isfinite(x["loss"]) for x in train)
  assert any(x["split"] == "validation" for x in lines)
  assert "| **Mean** |" in open(tmp_path / "report.md").read()
  # the selected model's validation outputs too (choices made on validation can be redone)
  val = np.load(tmp_path / "validation_predictions.npz")
  test = np.load(tmp_path / "test_predictions.npz")
  assert sorted(val.files) == sorted(test.files) and "occurrence_true" in val.files
  assert len(val["occurrence_true"]) == len(val["occurrence"]) != 0


def _launch(workdir, data_dir, arg, compilation_cache=True):
  env = dict(os.environ, AU_JAX_DATA_DIR=data_dir, AU_JAX_NO_PROGRESS="1",
             XLA_FLAGS=subprocess_xla_flags(1))
  if not compilation_cache:   # tests/conftest.py's session cache: off for this process
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
  return subprocess.Popen(
      [sys.executable, os.path.join(ROOT, "launch.py"),
       f"--config={ROOT}/configs/gudi_synthetic.py:{arg}", f"--workdir={workdir}",
       "--config.train.checkpoint_every=2", "--config.eval.plots=False"],
      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_kill_minus_nine_then_rerun_ends_like_an_uninterrupted_run(tiny_data_dir, tmp_path):
  arg = "runlocal,steps=14"
  # The uninterrupted run and the one to kill start together (their start-up
  # and compilation overlap); the second is killed once it has a checkpoint
  # past step 2. It compiles without the session's compilation cache: it
  # must not race ahead on the first run's cache entries (and be done before
  # it is killed), nor be killed half-way through writing one. The rerun
  # reads the complete entries of the uninterrupted run.
  full = _launch(tmp_path / "full", tiny_data_dir, arg)
  killed = _launch(tmp_path / "killed", tiny_data_dir, arg, compilation_cache=False)
  ckpt = tmp_path / "killed" / "checkpoints"
  deadline = time.time() + 300
  while time.time() < deadline:
    done = [d for d in os.listdir(ckpt) if d.isdigit()] if ckpt.exists() else []
    if any(int(d) >= 4 for d in done):
      break
    time.sleep(0.05)
  killed.send_signal(signal.SIGKILL)
  killed.wait()
  out, _ = full.communicate(timeout=600)
  assert full.returncode == 0, out
  assert not (tmp_path / "killed" / "report.json").exists(), "killed too late"
  resumed = _launch(tmp_path / "killed", tiny_data_dir, arg)
  out, _ = resumed.communicate(timeout=600)
  assert resumed.returncode == 0, out
  assert "resumed from" in out
  a = json.load(open(tmp_path / "full" / "report.json"))
  b = json.load(open(tmp_path / "killed" / "report.json"))
  assert a["test"] == b["test"] and a["validation"] == b["validation"]
  # launch.py re-executed itself with huge pages where they act (au_jax/host_memory.py)
  from au_jax import host_memory as hm
  env = {k: v for k, v in os.environ.items() if k != hm.MARKER}
  wanted = (hm.hugepage_environment(env, platform.system(), platform.libc_ver(), hm.thp_mode())
            is not None or hm.SETTING in env.get("GLIBC_TUNABLES", "").split(":"))
  assert a["environment"]["malloc_hugetlb"] == b["environment"]["malloc_hugetlb"] == wanted
  strip = lambda p: [{k: v for k, v in json.loads(x).items() if k != "steps_per_s"}
                     for x in open(p)]
  assert strip(tmp_path / "full" / "metrics.jsonl") == strip(tmp_path / "killed" / "metrics.jsonl")


def _one_step(config, num_devices, trainable=None):
  config.num_devices = num_devices
  info_parts, method, mesh = loop.setup(config)
  split = sources.load_split(config.data, "train", info_parts)
  bs = 8
  batch_np = next(pipeline.iterate(pipeline.train_dataset(
      split.source, samplers.make_sampler("uniform", split.index, bs, 0),
      fitted.bind(method, split), num_steps=1, seed=0, segment=0)))
  state, txs, labels = loop.initial_state(method, config.train, batch_np)
  state = sharding.replicate(state, mesh)
  before = jax.device_get(state.params)
  step = steps.make_train_step(method, txs, labels, trainable or method.groups)
  state, m = step(state, sharding.shard_batch(batch_np, mesh), jax.random.PRNGKey(3))
  return before, jax.device_get(state.params), float(m["loss"]), state


@pytest.mark.slow
def test_four_devices_give_the_same_loss_and_update_as_one(tiny_data_dir):
  assert jax.device_count() >= 4, "conftest should fake 4 CPU devices"
  config = tiny_config("configs.gudi_synthetic", tiny_data_dir)
  config.model.dropout = 0.0
  _, p1, loss1, _ = _one_step(config, 1)
  _, p4, loss4, state4 = _one_step(config, 4)
  assert loss1 == pytest.approx(loss4, rel=1e-5)
  for k in p1:
    np.testing.assert_allclose(p1[k], p4[k], rtol=1e-4, atol=1e-6)
  assert len(state4.params["fc.kernel"].sharding.device_set) == 4


def test_frozen_groups_do_not_move(tiny_data_dir):
  config = tiny_config("configs.gudi_synthetic", tiny_data_dir)
  before, after, _, _ = _one_step(config, 1, trainable=("head",))
  for k in before:
    moved = not np.array_equal(before[k], after[k])
    assert moved == (not k.startswith(("conv", "lcn"))), k


def test_non_finite_loss_aborts_naming_step_and_stage():
  class Seg:
    name, cycle = "unary", 2

  class Bar:
    def update(self, n): pass
    def set_postfix(self, **k): pass

  pending = [(7, {"loss": np.float32(0.3)}), (8, {"loss": np.float32(np.nan)})]
  with pytest.raises(loop.NonFiniteLossError, match="step 8 .*stage 'unary'"):
    loop._flush(pending, None, Seg(), Bar(), time.time(), 6)


def test_exploding_loss_and_dead_gradients_abort_naming_step_and_stage():
  class Seg:
    name, cycle = "sgd", 0

  d = loop.Divergence(None)
  d.check(Seg(), [(2, {"loss": np.float32(0.7), "grad_norm": np.float32(1.0)})])
  d.check(Seg(), [(4, {"loss": np.float32(5.0), "grad_norm": np.float32(1.0)})])  # noisy: fine
  with pytest.raises(loop.TrainingDiverged, match=r"step 6 \(stage 'sgd'.*learning rate"):
    d.check(Seg(), [(6, {"loss": np.float32(4e6), "grad_norm": np.float32(0.5)})])
  d = loop.Divergence({"zero_grad_windows": 2})
  d.check(Seg(), [(s, {"loss": np.float32(1.0), "grad_norm": np.float32(0.0)}) for s in (1, 2)])
  d.check(Seg(), [(3, {"loss": np.float32(1.0), "grad_norm": np.float32(0.1)})])   # resets
  d.check(Seg(), [(4, {"loss": np.float32(1.0), "grad_norm": np.float32(0.0)})])
  with pytest.raises(loop.TrainingDiverged, match="step 5 .*gradient.*zero"):
    d.check(Seg(), [(5, {"loss": np.float32(1.0), "grad_norm": np.float32(0.0)})])


def test_constant_validation_predictions_are_flagged():
  rng = np.random.default_rng(0)
  varied = {"intensity": rng.random((10, 3)), "occurrence": rng.random((10, 3))}
  flat = {"intensity": np.full((10, 3), 2.0), "occurrence": np.full((10, 3), 0.3)}
  assert loop.constant_predictions(flat, 1e-6)
  assert not loop.constant_predictions(varied, 1e-6)
  assert not loop.constant_predictions({**flat, "occurrence": varied["occurrence"]}, 1e-6)


def test_reset_optimizer_clears_only_the_stage_groups_momentum(tiny_data_dir):
  config = tiny_config("configs.gudi_synthetic", tiny_data_dir)
  _, _, _, state = _one_step(config, 1)
  _, method, _ = loop.setup(config)
  from au_jax.train import optim
  from au_jax.train.state import flatten, group_labels
  txs = optim.group_optimizers(config.train, method.groups)
  labels = group_labels(state.params, method.param_group)
  norm = lambda t: float(sum(np.abs(np.asarray(x)).sum() for x in jax.tree.leaves(t)))
  assert norm(state.opt_state["cnn"]) > 0 and norm(state.opt_state["head"]) > 0
  after = loop.reset_optimizer(state, txs, labels, ("cnn",))
  assert norm(after.opt_state["cnn"]) == 0
  assert norm(after.opt_state["head"]) == norm(state.opt_state["head"])
  assert jax.tree.structure(after.opt_state) == jax.tree.structure(state.opt_state)


@pytest.mark.slow
def test_mirrored_copies_and_retrain_are_wired_into_the_engine(tiny_data_dir, tmp_path):
  config = tiny_config("configs.gudi_synthetic", tiny_data_dir)
  config.model.train_copies = 2              # every sampled image and its mirror
  config.train.retrain_on_validation = True  # Gudi Sec. IV-C
  report = experiment.train_and_evaluate(config, str(tmp_path))
  first = json.load(open(tmp_path / "report.json"))
  assert report["retrain"]["steps"] == first["selection"]["step"]
  assert os.path.exists(tmp_path / "retrain" / "report.json")
  assert report["thresholds"] == first["thresholds"]
  assert all(np.isfinite(x["loss"]) for x in
             (json.loads(l) for l in open(tmp_path / "metrics.jsonl")) if x["split"] == "train")
