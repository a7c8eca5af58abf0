r"""Train and evaluate an au-jax experiment.

  python launch.py --config=configs/gudi_synthetic.py --workdir=runs/gudi
  python launch.py --config=configs/ccnn_disfa.py:fold=2 --config.train.batch_size=64

A multi-process run (several hosts, or several processes on one host) runs
the same command in every process, adding who it is:

  python launch.py --config=... --workdir=/shared/run \
      --coordinator_address=host0:12345 --num_processes=2 --process_id=0   # and 1, ...

(or the environment's JAX_COORDINATOR_ADDRESS; --distributed lets JAX detect
all three on a TPU slice, SLURM or Open MPI). --workdir must be the same
folder for all of them; process 0 writes the metrics and report, all of them
take part in checkpoints (docs/scaling.md).

Compiled programs are kept in JAX's persistent compilation cache
(--compilation_cache; au_jax/inference/cache.py), so a run of a program
compiled before, e.g. the same config with another seed, skips compiling.

Rerunning the same command resumes from the workdir's last checkpoint; a
rerun with a config that would change results is refused (see README, "When
something goes wrong"). Mistakes in what was asked for (config keys and
values, the workdir, a missing dataset, a full disk) end in one or two plain
lines and exit status 2; anything else is a bug and keeps its traceback.
"""
import errno
import os
import sys

if __name__ == "__main__":   # machine tuning, before JAX starts its backend
  from au_jax import host_memory, xla_options
  xla_options.apply()                    # XLA:CPU's Eigen convolutions (au_jax/xla_options.py)
  host_memory.reexec_with_hugepages()    # huge pages for XLA:CPU's buffers (au_jax/host_memory.py)

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from au_jax import evaluate, experiment  # noqa: E402
from au_jax.errors import UserError  # noqa: E402
from au_jax.train import distributed  # noqa: E402
# Registers the dataset builders with TFDS, so that a dataset not yet built is built on first use.
from tfds_builders import (bp4d, ckplus, disfa, semaine, synthetic_au,  # noqa: E402, F401
                           unbc_mcmaster)

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (checkpoints, report).")
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "Multi-process run: host:port of process 0, where it listens "
    "and the others connect (default: $JAX_COORDINATOR_ADDRESS).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None,
                                      "Multi-process run: how many processes take part.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None,
                                   "Multi-process run: this process, 0..num_processes-1.")
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", False, "Multi-process run whose processes JAX detects from the cluster "
    "(Cloud TPU slice, SLURM, Open MPI); flags given above take precedence.")
_DISTRIBUTED_TIMEOUT = flags.DEFINE_integer(
    "distributed_timeout", 300, "Seconds a process waits for all the others to connect.")
_CACHE = flags.DEFINE_string(
    "compilation_cache", None, "JAX's persistent compilation cache: a folder, or 'off' "
    "(default: JAX's own setting, else $AU_JAX_CACHE_DIR, else ~/.cache/au-jax/jax). A run of "
    "a program compiled before (the same config with another seed, a resumed run) loads it "
    "instead of compiling; results are unchanged.")
flags.mark_flags_as_required(["config", "workdir"])

# OS errors that say something about the machine, not about au-jax.
_DISK_ERRORS = (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT, errno.EPERM)


def _fail(message: str) -> None:
  print(f"launch.py: {message}", file=sys.stderr, flush=True)
  sys.exit(2)


def _parse_flags(argv):
  """absl's flag parsing, where a config file is loaded too: its mistakes
  (an unknown config arg, a misspelled --config.* key, a wrong type, a
  missing file) are the user's, so they end in plain lines."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    if len(lines) > 1 and lines[0].endswith("Error whilst parsing config file:"):
      _fail("cannot load --config: " + lines[-1].split(": ", 1)[-1])   # the config's own error
    _fail(lines[0] if lines else str(e))
  except (KeyError, ValueError, TypeError, AttributeError, OSError) as e:
    _fail(_config_message(e))


def _config_message(e: Exception) -> str:
  text = str(e.args[0] if e.args else e).replace("\\n", "\n").replace("\\'", "'")
  lines = [ln.strip().strip("'\"") for ln in text.split("\n") if ln.strip()]
  if isinstance(e, AttributeError) and lines:   # ml_collections: a misspelled override key
    lines[0] = f"the config has no key {lines[0]!r}."
  return "cannot load --config: " + " ".join(lines[:1] + lines[-1:] if len(lines) > 2 else lines)


def main(argv):
  del argv
  if not flags.FLAGS["verbosity"].present:  # orbax and TFDS log every step at INFO
    logging.set_verbosity(logging.WARNING)
  try:
    config = _CONFIG.value
    list(config.keys())   # a config file that failed to load raises only when used
  except (KeyError, ValueError, TypeError, AttributeError, OSError) as e:
    _fail(_config_message(e))
  try:
    coordinator = _COORDINATOR.value
    if coordinator is None and (_NUM_PROCESSES.value is not None or _DISTRIBUTED.value):
      coordinator = os.environ.get("JAX_COORDINATOR_ADDRESS")
    distributed.initialize(coordinator, _NUM_PROCESSES.value, _PROCESS_ID.value,
                           auto=_DISTRIBUTED.value, timeout_s=_DISTRIBUTED_TIMEOUT.value)
    report = experiment.train_and_evaluate(config, _WORKDIR.value)
  except UserError as e:
    _fail(str(e))
  except OSError as e:
    if e.errno not in _DISK_ERRORS:
      raise
    _fail(f"cannot write {e.filename or 'to the workdir'}: {e.strerror}")
  if not distributed.is_writer():   # process 0 prints and writes the report
    return
  print(evaluate.format_table(report["test"], f"{report['model']} — test"))
  if report.get("diverged"):
    print(f"\n**DIVERGED**: {report['diverged']}")
  print(f"\nreport: {_WORKDIR.value}/report.md")


def _run(argv):
  """The command line: the compilation cache on (au_jax.inference.cache), then main."""
  from au_jax.inference import cache   # pylint: disable=g-import-not-at-top
  if not flags.FLAGS["verbosity"].present:  # orbax, TFDS and the cache log at INFO
    logging.set_verbosity(logging.WARNING)
  cache.enable(_CACHE.value)
  main(argv)


if __name__ == "__main__":
  app.run(_run, flags_parser=_parse_flags)
