"""Multi-process training on this CPU: two JAX processes (jax.distributed on
localhost, gloo collectives) train like one, and resume from their checkpoints.

Tolerance: the two-process run sums the gradient over two devices in another
order than one process, so losses agree to 1e-5 (relative) and every mean
metric of the report to 1e-4 (absolute); measured differences are ~1e-6.
"""
import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from au_jax.errors import UserError
from au_jax.train import distributed
from tests.conftest import ROOT, subprocess_xla_flags

ARG = "runlocal"   # gudi_synthetic's smoke run: 6 steps of batch 8
# A checkpoint every 2 steps, on the 2-step windows of the logged train loss.
FLAGS = ("--config.train.checkpoint_every=2", "--config.eval.plots=False")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _launch(workdir, data_dir, *extra):
  env = dict(os.environ, AU_JAX_DATA_DIR=data_dir, AU_JAX_NO_PROGRESS="1",
             XLA_FLAGS=subprocess_xla_flags(1))
  return subprocess.Popen(
      [sys.executable, os.path.join(ROOT, "launch.py"),
       f"--config={ROOT}/configs/gudi_synthetic.py:{ARG}", f"--workdir={workdir}", *FLAGS,
       *extra],
      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _two_processes(workdir, data_dir):
  port = _free_port()
  return [_launch(workdir, data_dir, f"--coordinator_address=localhost:{port}",
                  "--num_processes=2", f"--process_id={i}", "--distributed_timeout=120")
          for i in (0, 1)]


def _finish(procs) -> list[str]:
  outs = []
  for p in procs:
    out, _ = p.communicate(timeout=600)
    assert p.returncode == 0, out[-3000:]
    outs.append(out)
  return outs


def _train_losses(workdir):
  return [(r["step"], r["loss"]) for r in map(json.loads, open(os.path.join(workdir,
                                                                           "metrics.jsonl")))
          if r["split"] == "train"]


def _assert_same_run(a, b):
  ra = json.load(open(os.path.join(a, "report.json")))
  rb = json.load(open(os.path.join(b, "report.json")))
  for split in ("validation", "test"):
    assert ra[split]["mean"].keys() == rb[split]["mean"].keys()
    for k, v in ra[split]["mean"].items():
      assert rb[split]["mean"][k] == pytest.approx(v, abs=1e-4), (split, k)
  assert ra["selection"]["step"] == rb["selection"]["step"]
  la, lb = _train_losses(a), _train_losses(b)
  assert [s for s, _ in la] == [s for s, _ in lb] == [2, 4, 6]
  for (_, x), (_, y) in zip(la, lb):
    assert y == pytest.approx(x, rel=1e-5)


@pytest.mark.slow
def test_two_processes_train_like_one_and_resume(tiny_data_dir, tmp_path):
  one, two = tmp_path / "one", tmp_path / "two"
  procs = [_launch(one, tiny_data_dir)] + _two_processes(two, tiny_data_dir)
  _, out0, out1 = _finish(procs)
  assert "Mean" in out0 and "Mean" not in out1   # process 0 prints the report
  _assert_same_run(one, two)
  # Process 0 alone writes the run's files; both hold a lock and take part in checkpoints.
  assert sorted(os.listdir(two / "checkpoints")) == ["4", "6"]
  assert (two / ".lock").exists() and (two / ".lock.process1").exists()
  # As if both were killed after the checkpoint of step 4: rerun, both restore it.
  shutil.rmtree(two / "checkpoints" / "6")
  os.remove(two / "report.json")
  outs = _finish(_two_processes(two, tiny_data_dir))
  for out in outs:
    assert "resumed from" in out and "at step 4/6" in out, out[-2000:]
  _assert_same_run(one, two)


def test_one_process_run_needs_no_distributed_setup():
  assert distributed.initialize() is False
  with pytest.raises(UserError, match="together"):
    distributed.initialize("localhost:1234", 2, None)
  with pytest.raises(UserError, match="0..1"):
    distributed.initialize("localhost:1234", 2, 2)


def test_unreachable_coordinator_is_named():
  port = _free_port()   # nothing listens there
  with pytest.raises(UserError, match=f"coordinator at localhost:{port} within 0.5s"):
    distributed.wait_for_coordinator(f"localhost:{port}", 0.5, 1)
  with pytest.raises(UserError, match="not host:port"):
    distributed.wait_for_coordinator("localhost", 0.5, 1)
  with socket.socket() as s:   # a listening coordinator: returns at once
    s.bind(("localhost", 0))
    s.listen()
    distributed.wait_for_coordinator(f"localhost:{s.getsockname()[1]}", 5, 1)
