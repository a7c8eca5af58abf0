r"""Multi-label CNN + QDA (Ghosh et al., ACII 2015) on DISFA, subject-exclusive.

  python -m tfds_builders.build disfa --manual_dir=/path/to/DISFA --data_dir=~/tensorflow_datasets
  python launch.py --config=configs/multilabel_disfa.py --workdir=runs/ml_disfa
  python launch.py --config=configs/multilabel_disfa.py:protocol=loso75:SN001 --workdir=runs/ml_disfa_SN001

The 12 DISFA AUs (occurrence = intensity >= 2, the usual DISFA rule) plus
the neutral label (Sec. VI), network and QDA head as in
configs/multilabel_synthetic.py, at most 8000 SGD steps (the paper's search
range: 5000 to 10000).

Protocol (Table I, Sec. V): leave one subject out, the other subjects split
75/25 into train / validation "according to a random seed":
`protocol=loso75:<subject>` with `split_seed=<n>` (default 0; the protocol
becomes `loso75:<subject>:<n>`, au_jax.data.sources.resolve_subjects). All
27 folds from one command, each a resumable workdir, mean over folds in
runs/ml_disfa_loso/sweep.{json,md}:

  python -m au_jax.sweep --config=configs/multilabel_disfa.py:split_seed=0 \
      --sweep=protocol=loso75 --workroot=runs/ml_disfa_loso

Also `fold1..3` (the builder's subject folds; default fold1) and
`loso:<subject>` (validation = the next subject, the engine's rule).

Model selection as published (common.multilabel_select_as_published):
validation 2AFC every 250 steps, early stop after 4 evaluations (1000
iterations) without a better one, the best step kept; then the network is
retrained on train + validation for that many steps, the QDA refitted on
them, and tested with the first run's thresholds (workdir/retrain/report.md;
`retrain=False` to skip).

Paper (Table I): mean accuracy 84.6, mean 2AFC 0.757. We have not run this
config on the real DISFA (we do not hold it).
"""
from __future__ import annotations

from configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, runlocal=False, steps=0, protocol="fold1", split_seed=0,
                         retrain=True, seed=0)
  protocol = arg.protocol
  if protocol.startswith("loso75:") and protocol.count(":") == 1:
    protocol = f"{protocol}:{arg.split_seed}"
  config = common.base_config(arg.seed)
  config.data = common.data_config([dict(name="disfa", protocol=protocol)])
  config.model = common.multilabel_model()
  config.train = common.multilabel_train(arg.steps or 8000, log_every=100, checkpoint_every=500)
  common.multilabel_select_as_published(config.train, eval_every=250, retrain=arg.retrain)
  config.eval = common.eval_config(batch_size=200)
  if arg.runlocal:
    common.multilabel_smoke(config, arg.steps)
  return config
