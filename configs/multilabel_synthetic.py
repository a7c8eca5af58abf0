r"""Multi-label CNN + QDA (Ghosh et al., ACII 2015) on the synthetic `disfa_like` dataset.

  python launch.py --config=configs/multilabel_synthetic.py --workdir=runs/multilabel
  python launch.py --config=configs/multilabel_synthetic.py:runlocal --workdir=/tmp/ml_smoke
  python launch.py --config=configs/multilabel_synthetic.py:paper --workdir=runs/multilabel_paper
  python -m au_jax.models.multilabel.report runs/multilabel     # written after training too
  python -m au_jax.models.multilabel.report runs/multilabel --tsne AU12   # + Figs. 2-3
  python -m benchmarks.multilabel_search --n=8 --iterations=500,1500 --workroot=runs/ml_search

The embedded default: no licence, no download (the dataset is built on first
use). Preprocessing, network, loss and QDA head as in the paper (see
au_jax/models/multilabel/model.py): face box crop, grey 48x48 (random 42x42
crops and mirroring in training), minus the subject's mean face, MVN layer;
two conv mega layers and two FC layers with the 13th "neutral" output;
multi-label softmax loss (Eqs. 1-2); then the QDA stage fits one QDA per AU
on the last FC layer of the training split (`dict(name="qda", fit="qda")`,
always the last stage). Validation AUC selects the step; before the QDA is
fitted, validation scores are the softmax outputs.

Hyperparameters inside the paper's random-search ranges (Sec. V; it gives
ranges, not the values it chose): learning rate 0.01 (1e-4 to 1e-2), weight
decay 5e-4 (5e-6 to 5e-3, Caffe-style L2 in the optimiser), momentum 0.9
(0.5 to 0.9), conv kernels 7 and 5 (5 to 15), pooling 3 and 2 (2 to 4).
The paper trains 5000 to 10000 iterations; the synthetic default trains 1500
steps of batch 64 (about 25 epochs of the 3840 training frames).
The network is paper-sized already (about 98k weights, the paper's
"~100,000", on 42x42 crops), so the `paper` arg (every synthetic config
takes one: the paper's network at the paper's resolution) changes nothing.
Paper (DISFA, leave-one-subject-out, Table I): mean accuracy 84.6, 2AFC 0.757.
Ours on synthetic data and its run time: docs/multilabel.md.
"""
from __future__ import annotations

from configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, runlocal=False, steps=0, protocol="default",
                         dataset="disfa_like", seed=0, paper=False)   # paper: already as published
  if arg.dataset not in ("disfa_like", "bp4d_like"):
    raise KeyError(f"dataset={arg.dataset!r}: choose from ['disfa_like', 'bp4d_like']")
  config = common.base_config(arg.seed)
  name = common.synthetic_name(arg.dataset, arg.runlocal)
  config.data = common.data_config([dict(name=name, protocol=arg.protocol)])
  config.model = common.multilabel_model()
  config.train = common.multilabel_train(arg.steps or 1500)
  config.eval = common.eval_config(batch_size=200)
  if arg.runlocal:
    common.multilabel_smoke(config, arg.steps)
  return config


# The blocks live in configs/common.py; these names are kept for their callers (a test, a
# benchmark).
stages = common.multilabel_stages
select_as_published = common.multilabel_select_as_published
