"""A catalogue of user mistakes against launch.py: each ends in one or two plain
lines naming what is wrong and exit status 2, never a traceback; and a
workdir is never damaged by a refused rerun."""
import json
import os
import subprocess
import sys

import pytest

from au_jax.errors import WorkdirError
from au_jax.train import loop
from au_jax.train.workdir import WorkdirLock
from tests.conftest import ROOT, tiny_config

GUDI = "--config=configs/gudi_synthetic.py:runlocal"

# (arguments after launch.py, text the message must contain)
CATALOGUE = [
    ([GUDI, "--workdir="], "--workdir is empty"),
    (["--config=configs/gudi_synthetic.py:runlocal,stepz=3", "--workdir={w}"],
     "unknown config arg 'stepz'"),
    ([GUDI, "--config.model.fc_unit=3", "--workdir={w}"], "no key 'fc_unit'"),
    ([GUDI, "--config.train.batch_size=abc", "--workdir={w}"], "batch_size=abc"),
    ([GUDI, "--config.train.batch_size=0", "--workdir={w}"], "config.train.batch_size must be >= 1"),
    (["--config=configs/gudi_synthetic.py:runlocal,steps=-3", "--workdir={w}"],
     "config.train.stages[0].steps must be >= 1"),
    ([GUDI, "--config.train.log_every=0", "--workdir={w}"], "config.train.log_every must be >= 1"),
    ([GUDI, "--config.train.repeat=0", "--workdir={w}"], "config.train.repeat must be >= 1"),
    ([GUDI, "--config.train.select_metric=icx", "--workdir={w}"], "select_metric 'icx' unknown"),
    ([GUDI, "--config.eval.batch_size=-1", "--workdir={w}"], "config.eval.batch_size must be >= 1"),
    (["--config=configs/no_such_config.py", "--workdir={w}"], "no_such_config.py"),
    ([GUDI, "--config.train.batch_size=100000", "--workdir={w}"],
     "larger than the training split"),
    ([GUDI, "--config.train.init_from.workdir=/nonexistent/run", "--workdir={w}"],
     "/nonexistent/run: no such directory"),
    ([GUDI, "--config.train.optimizer.learning_rate=1e9", "--workdir={w}"], "step"),
]


def _run(args, data_dir, tmp_path):
  env = dict(os.environ, AU_JAX_DATA_DIR=data_dir, AU_JAX_NO_PROGRESS="1",
             XLA_FLAGS="--xla_force_host_platform_device_count=1")
  args = [a.replace("{w}", str(tmp_path / "w")) for a in args]
  return subprocess.Popen([sys.executable, "launch.py", *args], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_catalogue_of_user_errors_ends_in_plain_lines(tiny_data_dir, tmp_path):
  procs = []
  for i, (args, _) in enumerate(CATALOGUE):
    (tmp_path / str(i)).mkdir()
    procs.append(_run(args, tiny_data_dir, tmp_path / str(i)))
    if len(procs) % 2 == 0:     # two at a time: the machine has two cores
      procs[-2].wait(timeout=300)
  failures = []
  for (args, expected), p in zip(CATALOGUE, procs):
    out, err = p.communicate(timeout=300)
    lines = [ln for ln in err.splitlines() if ln.startswith("launch.py:")]
    if (p.returncode != 2 or "Traceback" in err + out or expected not in err
        or len(lines) != 1 or len(lines[0]) > 600):
      failures.append(f"{args}: exit {p.returncode}; stderr tail: {err[-600:]!r}")
  assert not failures, "\n".join(failures)


@pytest.mark.slow
def test_changed_config_is_refused_before_touching_the_workdir(tiny_data_dir, tmp_path):
  config = tiny_config("configs.gudi_synthetic", tiny_data_dir)
  loop.train_and_evaluate(config, str(tmp_path))
  before = {f: open(tmp_path / f, "rb").read()
            for f in ("config.json", "report.json", "metrics.jsonl")}
  changed = tiny_config("configs.gudi_synthetic", tiny_data_dir)
  changed.train.optimizer.learning_rate = 0.5
  changed.data.sources = [dict(name="synthetic_au/disfa_like_tiny", protocol="fold2")]
  with pytest.raises(WorkdirError) as e:
    loop.train_and_evaluate(changed, str(tmp_path))
  for part in ("'protocol': 'fold2'", "learning_rate: 0.01 -> 0.5", "another --workdir",
               "allow_config_change=True"):
    assert part in str(e.value)
  assert before == {f: open(tmp_path / f, "rb").read() for f in before}
  # logging and checkpoint frequency cannot change results: accepted
  neutral = tiny_config("configs.gudi_synthetic", tiny_data_dir)
  neutral.train.log_every = 3
  loop.train_and_evaluate(neutral, str(tmp_path))
  # an explicit override resumes and records the change
  changed.train.allow_config_change = True
  loop.train_and_evaluate(changed, str(tmp_path))
  record = [json.loads(x) for x in open(tmp_path / "config_changes.jsonl")]
  keys = {c["key"] for c in record[-1]["changes"]}
  assert "train.optimizer.learning_rate" in keys and "data.sources" in keys
  assert json.load(open(tmp_path / "config.json"))["train"]["optimizer"]["learning_rate"] == 0.5


def test_a_second_process_on_a_workdir_refuses(tiny_data_dir, tmp_path):
  config = tiny_config("configs.gudi_synthetic", tiny_data_dir)
  holder = WorkdirLock(str(tmp_path))
  holder.acquire()
  try:
    with pytest.raises(WorkdirError, match="in use by pid"):
      loop.train_and_evaluate(config, str(tmp_path))
  finally:
    holder.release()
  assert not os.path.exists(tmp_path / "metrics.jsonl")
