"""A catalogue of user mistakes against launch.py: each ends in one plain line
naming what is wrong and exit status 2, never a traceback; and a workdir is
never damaged by a refused rerun.

The catalogue runs launch.py's own flag parser and main() in this process
(fast); two entries also run as `python launch.py` subprocesses, which checks
the process-level contract (exit status, stderr, no traceback) end to end."""
import contextlib
import io
import json
import os
import subprocess
import sys

import pytest

from au_jax.errors import ConfigKeyError, WorkdirError
from au_jax import experiment
from au_jax.train.workdir import WorkdirLock
from tests.conftest import ROOT, tiny_config, subprocess_xla_flags

GUDI = "--config=configs/gudi_synthetic.py:runlocal"
_SLOW = pytest.mark.slow   # entries that train or compile through the engine

# (arguments after launch.py, text the message must contain)
CATALOGUE = [
    ([GUDI, "--workdir="], "--workdir is empty"),
    (["--config=configs/gudi_synthetic.py:runlocal,stepz=3", "--workdir={w}"],
     "unknown config arg 'stepz'"),
    ([GUDI, "--config.model.fc_unit=3", "--workdir={w}"], "no key 'fc_unit'"),
    ([GUDI, "--config.train.batch_size=abc", "--workdir={w}"], "batch_size=abc"),
    ([GUDI, "--config.train.batch_size=0", "--workdir={w}"], "config.train.batch_size must be >= 1"),
    (["--config=configs/gudi_synthetic.py:runlocal,steps=-3", "--workdir={w}"],
     "config arg steps=-3: give a positive number"),
    ([GUDI, "--config.train.log_every=0", "--workdir={w}"], "config.train.log_every must be >= 1"),
    ([GUDI, "--config.train.repeat=0", "--workdir={w}"], "config.train.repeat must be >= 1"),
    ([GUDI, "--config.train.select_metric=icx", "--workdir={w}"], "select_metric 'icx' unknown"),
    ([GUDI, "--config.eval.batch_size=-1", "--workdir={w}"], "config.eval.batch_size must be >= 1"),
    (["--config=configs/no_such_config.py", "--workdir={w}"], "no_such_config.py"),
    ([GUDI, "--config.train.batch_size=100000", "--workdir={w}"],
     "larger than the training split"),
    ([GUDI, "--config.train.init_from.workdir=/nonexistent/run", "--workdir={w}"],
     "/nonexistent/run: no such directory"),
    pytest.param([GUDI, "--config.train.optimizer.learning_rate=1e9", "--workdir={w}"], "step",
                 marks=_SLOW),
    (["--config=configs/ccnn_synthetic.py:runlocal,steps=-5", "--workdir={w}"],
     "config arg steps=-5: give a positive number"),
    (["--config=configs/multilabel_synthetic.py:runlocal,dataset=semaine_like", "--workdir={w}"],
     "dataset='semaine_like': choose from ['disfa_like', 'bp4d_like']"),
    ([GUDI, "--config.model.name=gudy", "--workdir={w}"],
     "config.model.name 'gudy' is not a model; choose from ['ccnn', 'dsin',"),
]


def _problems(expected, code, out, err) -> list[str]:
  """What is wrong with a refused launch.py run's ending (empty: one plain line, exit 2)."""
  lines = [ln for ln in err.splitlines() if ln.startswith("launch.py:")]
  wrong = []
  if code != 2:
    wrong.append(f"exit status {code}, not 2")
  if "Traceback" in err + out:
    wrong.append("a traceback")
  if expected not in err:
    wrong.append(f"no {expected!r} on stderr")
  if len(lines) != 1 or len(lines[0]) > 600:
    wrong.append(f"{len(lines)} 'launch.py:' lines, not one plain line")
  return [f"{w}; stderr tail: {err[-600:]!r}" for w in wrong]


@pytest.fixture
def launch_in_process(tiny_data_dir, monkeypatch):
  """Runs `python launch.py ARGS` in this process: absl's flag parsing (where
  the config file loads; ml_collections reads its overrides from sys.argv)
  and main(); returns (exit code, stdout, stderr)."""
  from absl import flags
  import launch
  monkeypatch.setenv("AU_JAX_DATA_DIR", tiny_data_dir)

  def forget_overrides():   # --config.* flags are defined per parse
    for name in [n for n in flags.FLAGS if n.startswith("config.")]:
      delattr(flags.FLAGS, name)

  def run(args):
    argv = ["launch.py", *args]
    monkeypatch.setattr(sys, "argv", argv)
    forget_overrides()
    flags.FLAGS.unparse_flags()
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
      try:
        launch.main(launch._parse_flags(argv))
      except SystemExit as e:
        code = e.code
    return code, out.getvalue(), err.getvalue()

  yield run
  forget_overrides()
  flags.FLAGS.unparse_flags()


@pytest.mark.parametrize("args,expected", CATALOGUE)
def test_catalogue_of_user_errors_ends_in_plain_lines(launch_in_process, tmp_path, args,
                                                      expected):
  args = [a.replace("{w}", str(tmp_path / "w")) for a in args]
  code, out, err = launch_in_process(args)
  assert not _problems(expected, code, out, err), (args, _problems(expected, code, out, err))


@pytest.mark.slow
def test_user_errors_end_a_launch_py_process_with_status_2(tiny_data_dir, tmp_path):
  """One config-file mistake and one the engine finds, as real processes."""
  env = dict(os.environ, AU_JAX_DATA_DIR=tiny_data_dir, AU_JAX_NO_PROGRESS="1",
             XLA_FLAGS=subprocess_xla_flags(1))
  cases = [CATALOGUE[1], CATALOGUE[-1]]
  procs = [subprocess.Popen([sys.executable, "launch.py",
                             *[a.replace("{w}", str(tmp_path / str(i))) for a in args]],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True) for i, (args, _) in enumerate(cases)]
  for (args, expected), p in zip(cases, procs):
    out, err = p.communicate(timeout=300)
    assert not _problems(expected, p.returncode, out, err), (args, err[-600:])


@pytest.mark.slow
def test_changed_config_is_refused_before_touching_the_workdir(tiny_data_dir, tmp_path):
  config = tiny_config("configs.gudi_synthetic", tiny_data_dir)
  experiment.train_and_evaluate(config, str(tmp_path))
  before = {f: open(tmp_path / f, "rb").read()
            for f in ("config.json", "report.json", "metrics.jsonl")}
  changed = tiny_config("configs.gudi_synthetic", tiny_data_dir)
  changed.train.optimizer.learning_rate = 0.5
  changed.data.sources = [dict(name="synthetic_au/disfa_like_tiny", protocol="fold2")]
  with pytest.raises(WorkdirError) as e:
    experiment.train_and_evaluate(changed, str(tmp_path))
  for part in ("'protocol': 'fold2'", "learning_rate: 0.01 -> 0.5", "another --workdir",
               "allow_config_change=True"):
    assert part in str(e.value)
  assert before == {f: open(tmp_path / f, "rb").read() for f in before}
  # logging and checkpoint frequency cannot change results: accepted
  neutral = tiny_config("configs.gudi_synthetic", tiny_data_dir)
  neutral.train.log_every = 3
  experiment.train_and_evaluate(neutral, str(tmp_path))
  # an explicit override resumes and records the change
  changed.train.allow_config_change = True
  experiment.train_and_evaluate(changed, str(tmp_path))
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
      experiment.train_and_evaluate(config, str(tmp_path))
  finally:
    holder.release()
  assert not os.path.exists(tmp_path / "metrics.jsonl")


def test_a_full_disk_during_a_checkpoint_is_a_user_error(tmp_path, monkeypatch):
  """tensorstore reports a full disk as ValueError('... RESOURCE_EXHAUSTED ...'),
  not OSError: it is told in plain words (launch.py: exit 2), other ValueErrors
  stay bugs."""
  import numpy as np
  import orbax.checkpoint as ocp
  from au_jax.train import checkpoint

  def full(self, step, *a, **k):
    raise ValueError("RESOURCE_EXHAUSTED: Error writing local file "
                     "\"/run/checkpoints/6/state/d/abc\": No space left on device [tensorstore]")

  monkeypatch.setattr(ocp.CheckpointManager, "save", full)
  ckpt = checkpoint.Checkpointer(str(tmp_path / "ck"))
  with pytest.raises(WorkdirError) as e:
    ckpt.save(6, {"w": np.zeros(3)}, {})
  assert str(e.value) == (f"cannot write the checkpoint {tmp_path / 'ck' / '6'}: the disk is "
                          f"full (RESOURCE_EXHAUSTED). Free space (or make the workdir writable) "
                          f"and rerun the same command: it resumes from the last complete "
                          f"checkpoint")
  monkeypatch.setattr(ocp.CheckpointManager, "save",
                      lambda self, *a, **k: (_ for _ in ()).throw(ValueError("a shape bug")))
  with pytest.raises(ValueError, match="a shape bug") as e:
    ckpt.save(6, {"w": np.zeros(3)}, {})
  assert not isinstance(e.value, WorkdirError)
  ckpt.close()


@pytest.mark.slow
def test_training_stopped_by_a_full_disk_resumes_once_freed(tiny_data_dir, tmp_path, monkeypatch,
                                                            capsys):
  import orbax.checkpoint as ocp
  config = tiny_config("configs.gudi_synthetic", tiny_data_dir)
  real, calls = ocp.CheckpointManager.save, []

  def fills_up(self, step, *a, **k):
    calls.append(step)
    if len(calls) == 2:         # the second checkpoint: the disk is full
      raise ValueError("RESOURCE_EXHAUSTED: No space left on device [tensorstore]")
    return real(self, step, *a, **k)

  monkeypatch.setattr(ocp.CheckpointManager, "save", fills_up)
  with pytest.raises(WorkdirError, match="the disk is full"):
    experiment.train_and_evaluate(config, str(tmp_path))
  assert not os.path.exists(tmp_path / "report.json")
  monkeypatch.setattr(ocp.CheckpointManager, "save", real)
  capsys.readouterr()
  experiment.train_and_evaluate(config, str(tmp_path))      # space freed: resumes
  assert f"resumed from {tmp_path} at step {calls[0]}/" in capsys.readouterr().out
  assert os.path.exists(tmp_path / "report.json")


def test_an_unknown_model_is_refused_before_any_file(tiny_data_dir, tmp_path):
  from au_jax.errors import ConfigKeyError
  config = tiny_config("configs.gudi_synthetic", tiny_data_dir)
  config.model.name = "gudy"
  with pytest.raises(ConfigKeyError, match=r"config.model.name 'gudy' is not a model; choose "
                                           r"from \['ccnn', 'dsin', 'gudi_fera2015'"):
    experiment.train_and_evaluate(config, str(tmp_path / "w"))
  assert not os.path.exists(tmp_path / "w")


def test_an_unknown_dataset_config_is_refused_before_any_file(tiny_data_dir, tmp_path):
  """A dataset name TFDS does not know (here a builder config synthetic_au
  lacks) is one plain error before the workdir is written, so the corrected
  rerun in the same workdir is not refused as another config."""
  config = tiny_config("configs.gudi_synthetic", tiny_data_dir)
  config.data.sources[0]["name"] = "synthetic_au/semaine_like"
  wd = tmp_path / "w"
  with pytest.raises(ConfigKeyError, match="unknown dataset 'synthetic_au/semaine_like'.*BuilderConfig"):
    experiment.train_and_evaluate(config, str(wd))
  assert not wd.exists() or not any(wd.iterdir())


def test_run_cli_turns_a_message_exit_into_status_2(capsys):
  """The __main__ blocks of tfds_builders.build and demo_media: an entry
  point's SystemExit("what to fix") or UserError ends with that line on
  stderr and status 2; argparse's exit and a numeric exit keep their status."""
  import argparse
  from au_jax.errors import UserError, run_cli

  def refuse(argv):
    raise SystemExit("--manual_dir '/x' is missing or empty.")

  def user_error(argv):
    raise UserError("config arg bad=1 unknown")

  def parse(argv):
    argparse.ArgumentParser().parse_args(argv)

  def done(argv):
    raise SystemExit(0)

  for fn, code, text in ((refuse, 2, "--manual_dir '/x' is missing"),
                         (user_error, 2, "prog: config arg bad=1 unknown"),
                         (parse, 2, "unrecognized arguments"), (done, 0, "")):
    with pytest.raises(SystemExit) as e:
      run_cli(fn, ["--nope"], prog="prog")
    assert e.value.code == code
    assert text in capsys.readouterr().err
  with pytest.raises(ZeroDivisionError):   # a bug keeps its traceback
    run_cli(lambda argv: 1 / 0)


def test_the_build_and_demo_commands_exit_2_on_bad_input(tmp_path):
  for module, args, text in (
      ("tfds_builders.build", ["nosuch"], "unknown dataset 'nosuch'"),
      ("au_jax.inference.demo_media", [str(tmp_path / "f.txt"), "--frames=1"], "cannot write into"),
  ):
    if module.endswith("demo_media"):
      (tmp_path / "f.txt").write_text("a file where a folder is needed")
    proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 2, (module, proc.stderr[-2000:])
    assert text in proc.stderr and "Traceback" not in proc.stderr


def test_the_command_line_turns_the_compilation_cache_on_with_the_flags_value(monkeypatch):
  """launch.py's entry point enables JAX's persistent cache (au_jax.inference.cache)
  with --compilation_cache before main; main() alone (as tests call it) does not."""
  from absl import flags
  import launch
  from au_jax.inference import cache
  calls = []
  monkeypatch.setattr(cache, "enable", lambda setting=None, **kw: calls.append(("enable", setting)))
  monkeypatch.setattr(launch, "main", lambda argv: calls.append(("main", argv)))
  argv = ["launch.py", "--config=configs/gudi_synthetic.py", "--workdir=/tmp/w",
          "--compilation_cache=off"]
  monkeypatch.setattr(sys, "argv", argv)
  try:
    launch._run(launch._parse_flags(argv))
  finally:
    for name in [n for n in flags.FLAGS if n.startswith("config.")]:
      delattr(flags.FLAGS, name)
    flags.FLAGS.unparse_flags()
  assert [c[0] for c in calls] == ["enable", "main"] and calls[0][1] == "off"
