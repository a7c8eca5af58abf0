r"""Train and evaluate an au-jax experiment.

  python launch.py --config=configs/gudi_synthetic.py --workdir=runs/gudi
  python launch.py --config=configs/ccnn_disfa.py:fold=2 --config.train.batch_size=64

Rerunning the same command resumes from the workdir's last checkpoint.
"""
from absl import app, flags, logging
from ml_collections import config_flags

from au_jax.train import loop

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (checkpoints, report).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  if not flags.FLAGS["verbosity"].present:  # orbax and TFDS log every step at INFO
    logging.set_verbosity(logging.WARNING)
  from au_jax import evaluate
  from au_jax.data.sources import DatasetNotFoundError
  try:
    report = loop.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except DatasetNotFoundError as e:  # a user action, not a bug: no traceback
    raise app.UsageError(str(e), exitcode=2) from None
  print(evaluate.format_table(report["test"], f"{report['model']} — test"))
  print(f"\nreport: {_WORKDIR.value}/report.md")


if __name__ == "__main__":
  app.run(main)
