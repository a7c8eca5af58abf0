r"""CCNN-IT(*): one Copula CNN over DISFA + BP4D (FERA 2015) + UNBC-McMaster (Eq. 12).

  python launch.py --config=configs/ccnn_multi.py --workdir=runs/ccnn_multi
  python launch.py --config=configs/ccnn_multi.py:variant=scnn --workdir=runs/scnn_multi
  python -m au_jax.models.ccnn.report runs/ccnn_multi     # per-dataset tables and graphs

Multi-dataset learning as in Sec. 3.3 / Eq. 12: the labels live on the union
of the AU lists (-1 where a dataset does not code an AU, so its unary and
pair terms drop out); the CNN and the ordinal unaries of every AU are
SHARED, the copula parameters are dataset-specific (one theta row per
dataset, selected by the example's `dataset` code); every balanced batch of
Alg. 1 is drawn with equal shares per dataset, each balanced within its
dataset by the stage's rule. Test metrics are over the union of the
datasets' test subjects; `ccnn_report` splits them per dataset (the paper
reports DISFA and FERA 2015 separately and uses UNBC only for training).

Datasets and protocols: DISFA `fold<k>`, BP4D `fera2015` (intensity AUs 6,
10, 12, 14, 17; its occurrence-only AUs add no intensity terms), UNBC
`openface` (intensity of its AUs; AU43 is occurrence only and not in the
union). Network, optimiser and lambda as configs/ccnn_disfa.py: by default
(`lam=tune`) lambda is tuned per AU of the union on validation as the paper
does (Sec. 3.3: "we tune the validation parameter lambda_r separately for
each AU"; validation = the union of the datasets' validation subjects), one
run per lambda of common.CCNN_LAMBDA_GRID in `<workdir>/lambda_tuning/` and
then the final model, in the one command above: len(grid) + 1 = 6 trainings
(`:runlocal`: 3 tiny ones), resumable. `lam=<number>`: one lambda for every
AU; `lambda_file=<json>`: a choice already made; `clip=<norm>`:
gradient-norm clipping (0, the default, as the paper).

Paper (Table 1, CCNN-IT(*)): DISFA ICC .45 / MAE .61, FERA 2015 ICC .63 /
MAE 1.23. Not run on the real datasets here (we do not hold them).
"""
from __future__ import annotations

from au_jax import aus
from configs import common

UNION_AUS = tuple(dict.fromkeys(aus.DISFA_AUS + aus.FERA2015_INT_AUS
                                + tuple(a for a in aus.UNBC_AUS if a != 43)))


def get_config(arg=None):
  arg = common.parse_arg(arg, runlocal=False, steps=0, variant="ccnn", it=True, fold=1, seed=0,
                         clip=0.0, decode="map", cycles=10, lam="tune", lambda_file="")
  lam, tuning = common.ccnn_lambda(arg.lam, arg.lambda_file, arg.runlocal)
  config = common.base_config(arg.seed)
  config.data = common.data_config([dict(name="disfa", protocol=f"fold{arg.fold}"),
                                    dict(name="bp4d", protocol="fera2015"),
                                    dict(name="unbc_mcmaster", protocol="openface")])
  config.data.aus = UNION_AUS
  if tuning:
    config.lambda_tuning = tuning    # au_jax.models.ccnn.lambda_tuning (run by au_jax.experiment)
  config.model = common.ccnn_model(arg.variant, arg.decode, lam)   # the paper's network
  config.train = common.ccnn_train(variant=arg.variant, it=arg.it, steps=arg.steps or 10000,
                                   clip_norm=float(arg.clip),
                                   cycles=arg.cycles, multi=True, log_every=100,
                                   eval_every=1000, checkpoint_every=1000)
  config.eval = common.eval_config()
  if arg.runlocal:  # plumbing only: the tiny network, 12 steps
    common.ccnn_smoke(config, variant=arg.variant, it=arg.it, steps=arg.steps, multi=True)
  return config
