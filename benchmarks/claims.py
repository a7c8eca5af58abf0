r"""The pre-registered claims of docs/benchmark.md 4.2, at the equal budget of 4.1: one command.

  python -m benchmarks.claims --list                      # the run plan, its size and time
  python -m benchmarks.claims                             # every claim (resumable; hours)
  python -m benchmarks.claims --claims=C1,D2              # a subset of the claims
  python -m benchmarks.claims --seeds=0,1,2               # these seeds for every claim
  python -m benchmarks.claims --claims=S1 --arms=ccnn_it_large,ocnn_it_large
                                                          # only these arms of the claims
  python -m benchmarks.claims --summarise_only            # the claims table from the JSON
  python -m benchmarks.claims --runlocal --seeds=0,1 --workroot=/tmp/claims_dry
                                                          # plumbing only (tiny data, 96 images)

Every claim is data (`CLAIMS`): its id, the paper's claim, its arms (`ARMS`:
a synthetic config, its config arg and extra `--config.` overrides), the
metric, the AUs or stratum it is decided on, its number of seeds (4.2: 5, or
10 for C2, D2, S1) and the paper's direction. Every arm trains on
synthetic_au/disfa_like, protocol `default` (bp4d_like where the claim needs
it: C4's second dataset, M2's other direction), at the equal budget of 4.1
with benchmarks/compare_equal_budget.py's machinery
(`table_overrides`): the same number of training images seen (`--budget`,
default 64,000: each config's own batch, every gradient stage's steps scaled
by one factor), validation every tenth of the budget, no early stopping,
thresholds tuned per AU on validation F1, model selection on validation by
the task's metric of 4.1: ICC for CCNN-IT and the heat maps, F1 for DSIN,
2AFC for the multi-label CNN. An arm whose config departs from that is
refused, naming the key.

An arm shared by several claims trains once per seed (OCNN-IT in C1, C2,
S1; CCNN-IT in C2, C3, C4, S1; PP+F in D1, D2, S1; DSIN_10 in D2, D3, D4,
S1; the joint heat maps in H1, H2, H3; the multi-label CNN in M1, M2); each
(arm, seed) trains through launch.py in its own workdir
`<workroot>/<arm>_s<seed>` (`--config.seed=S`: the seed fixes the
initialisation and the data order; the data build and the split are the
same for every seed). A finished run (report.json) is reused, an
interrupted one resumes from its checkpoint, and a workdir trained with
another seed or other override values is refused, naming the key
(compare_equal_budget.train). Runs go seed-major, so an interrupted command
has whole seeds. A run whose workdir is gone but whose record is in the
summary JSON (--out), with the same budget and launch command, is reused
from there, not trained again. After every run benchmarks/results/claims.json and
claims.md are rewritten from every finished workdir of the plan
(claims_subset.json and .md for a run of --claims, --seeds or --arms, so that a subset
never replaces the whole table; with --runlocal: under the workroot, never in
benchmarks/results/).

Eval-only arms read what the trained run recorded instead of training again:
  - M1, QDA vs the network's outputs: the multi-label run's
    test_predictions.npz holds both (`occurrence`: P_QDA, `occurrence_softmax`:
    the network's p_ij); 2AFC of each, and accuracy of each at 0.5 (no
    threshold tuned for either: the engine tunes the QDA's only);
  - M2's within-bp4d_like score: the bp4d_like-trained model on bp4d_like's
    own `default` test subjects, one extra evaluation of its selected
    checkpoint (benchmarks/multilabel_evidence.extra_eval, cached in the
    workdir); the cross runs test on the target's `default` test subjects
    (`config.data.test_sources[0].protocol=default`), so within and cross
    scores are on the same frames;
  - H1, the landmark-noise curve: au_jax.models.heatmaps.robustness on the
    joint heat-map run (sigma 0, 5, ..., 55 px at 256; noise seed = the run's
    seed; benchmarks/heatmaps_evidence.robustness, cached in
    noise_robustness.json);
  - D4's threshold tuning: DSIN^tt and DSIN_10 at tau = .5, rows of the same
    run's dsin_report.json (au_jax.models.dsin.report);
  - D1's best patch: the PP+F run's patch outputs; the patch is chosen on
    validation F1 (tau = .5) from the run's validation_predictions.npz;
  - C4: the disfa_like test subjects' ICC of each run, from ccnn_report.json's
    per-dataset decodings.

Decision (4.1): per seed, the difference A - B of the metric averaged over
the claim's AUs (those whose metric is finite in every run of both arms);
the paired 95 % t-interval over seeds (t with n - 1 df,
benchmarks/common.t_interval): HOLDS if it excludes 0 in the paper's
direction, REVERSED if it excludes 0 the other way, NOT SHOWN otherwise;
H1 b, an equivalence claim, HOLDS when the whole interval lies below .02 and
is REVERSED when its lower end is above .02. A row decided on a stratum
(D2's occluded AUs, S1's occluded vs visible frames) averages over the AUs
with at least 30 positive frames in that stratum (both strata for S1) in
every run of the claim; the others are reported, not decided, and a row
left with no such AU is "reported, not decided". A claim with fewer
finished seeds than the plan's says "incomplete (k/n seeds)"; an arm that
needs a config key the configs lack (H2's ResNet-18 width) is planned but
not run, and its claim says "needs: ...". Every claim is reported, none
dropped. Beside the rows comparing two trained arms, the same difference on
each stratum column of compare_equal_budget.STRATA (visible, occluded, |yaw|
bins) is reported, not decided on, under the same 30-positives rule. An S1
row reports its two parts too: A - B on the occluded frames and on the
visible frames, over the row's AUs and seeds (not decided on).

Claims whose plan reads differently here:
  - C1 "OCNN - SCNN": the claim is ordinal beats softmax; in this code the
    softmax baseline is variant `cnn` (CNN), `scnn` is the linear pairwise
    model (Table 1's SCNN), so C1 is OCNN-IT - CNN-IT;
  - C3 separates balancing from iteration at equal steps: (a) CCNN-IT with
    its balanced samplers - CCNN-IT with uniform batches in every stage;
    (b) that uniform CCNN-IT - joint training (one stage, uniform), on the 4
    AUs with the lowest validation base rate (the split is the same for
    every seed; the test split is never used to choose);
  - C2's dependent AUs: those of the 4 AU pairs with the largest true
    |Kendall tau| of the disfa_like label model
    (tfds_builders.synthetic_au.true_dependence);
  - H2 "comparable size": ResNet-18 at widths (9, 18, 36, 72), 224,193
    parameters against the joint hourglass's 219,372 (12 AUs; within 3 %).

`--list` prints every run (arm, seed, config, overrides, images) and an
estimated time from the training throughputs benchmarks/compare_methods.py
measured on this machine (benchmarks/results/compare_methods.json,
`throughput`: images/s per method) plus the mean time its runs spent outside
training; an arm without a measured throughput (CCNN-IT on two datasets,
ResNet-18, single heat maps, the H1 noise curve) is counted apart.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import math
import os
import sys
from collections.abc import Callable

import numpy as np

from au_jax.strata import YAW_BINS
from benchmarks import common
from benchmarks import compare_equal_budget as ceb
from configs.common import synthetic_name

BUDGET = ceb.BUDGET
RUNLOCAL_BUDGET = 96
MIN_POSITIVES = ceb.MIN_POSITIVES
H1_MARGIN = 0.02
SIGMAS = tuple(range(0, 60, 5))        # H1: px at the 256-px scale (Fig. 4)
SHARED_INTENSITY_AUS = ("AU06", "AU12", "AU17")    # C4 (docs/benchmark.md 4.2)
OCCURRENCE_SHARED = (1, 2, 4, 6, 12, 15, 17)       # M2
RESNET_WIDTHS = (9, 18, 36, 72)
DEPENDENT_PAIRS = 4
RARE = 4
OCCLUDED, VISIBLE = "occlusion/occluded", "occlusion/visible"
# compare_equal_budget's method of each family (budget arithmetic, refusal) and selection (4.1)
SELECT = {"ccnn": "icc", "dsin": "f1", "multilabel": "auc", "heatmaps": "icc"}
NAMES = {"f1": "F1", "auc": "2AFC", "icc": "ICC(3,1)", "accuracy": "accuracy"}
THROUGHPUT = os.path.join(common.RESULTS, "compare_methods.json")


@dataclasses.dataclass(frozen=True)
class Arm:
  family: str                   # "ccnn" | "dsin" | "multilabel" | "heatmaps"
  config: str                   # config file
  arg: str                      # its config arg
  title: str
  overrides: dict = dataclasses.field(default_factory=dict)   # extra, "config." left out
  datasets: tuple = ("disfa_like",)                           # training sources
  rate: str | None = None       # compare_methods.json throughput key (images/s)
  needs: str = ""               # what to change where an override's key is absent


_CCNN, _DSIN = "configs/ccnn_synthetic.py", "configs/dsin_synthetic.py"
_ML, _CROSS, _HM = ("configs/multilabel_synthetic.py", "configs/multilabel_cross.py",
                    "configs/heatmaps_synthetic.py")
_UNIFORM = {f"train.stages[{i}].sampler": "uniform" for i in range(3)}
_TEST_DEFAULT = {"data.test_sources[0].protocol": "default"}
ARMS = {
    "ccnn_it": Arm("ccnn", _CCNN, "", "CCNN-IT", rate="ccnn"),
    "ocnn_it": Arm("ccnn", _CCNN, "variant=ocnn", "OCNN-IT", rate="ccnn"),
    "cnn_it": Arm("ccnn", _CCNN, "variant=cnn", "CNN-IT (softmax)", rate="ccnn"),
    "ccnn_it_uniform": Arm("ccnn", _CCNN, "", "CCNN-IT, uniform batches", _UNIFORM,
                           rate="ccnn"),
    "ccnn_joint": Arm("ccnn", _CCNN, "it=false", "CCNN, joint updates", rate="ccnn"),
    "ccnn_it_multi": Arm("ccnn", _CCNN, "multi", "CCNN-IT, disfa_like + bp4d_like",
                         datasets=("disfa_like", "bp4d_like")),
    "dsin_t10": Arm("dsin", _DSIN, "T=10", "DSIN_10", rate="dsin"),
    "dsin_ppf": Arm("dsin", _DSIN, "T=0", "PP+F", rate="dsin"),
    "dsin_t2": Arm("dsin", _DSIN, "T=2", "DSIN_2", rate="dsin"),
    # The occlusion strata's evidence config (docs/benchmark.md 4.3): S1 and
    # D2's occluded row, on disfa_like_large (240 subjects, the same distributions).
    "ccnn_it_large": Arm("ccnn", _CCNN, "dataset=disfa_like_large", "CCNN-IT (large)",
                         datasets=("disfa_like_large",), rate="ccnn"),
    "ocnn_it_large": Arm("ccnn", _CCNN, "dataset=disfa_like_large,variant=ocnn",
                         "OCNN-IT (large)", datasets=("disfa_like_large",), rate="ccnn"),
    "dsin_t10_large": Arm("dsin", _DSIN, "dataset=disfa_like_large,T=10", "DSIN_10 (large)",
                          datasets=("disfa_like_large",), rate="dsin"),
    "dsin_ppf_large": Arm("dsin", _DSIN, "dataset=disfa_like_large,T=0", "PP+F (large)",
                          datasets=("disfa_like_large",), rate="dsin"),
    "dsin_ncf": Arm("dsin", _DSIN, "ncf", "DSIN_10^ncf", rate="dsin"),
    "ml": Arm("multilabel", _ML, "", "multi-label CNN + QDA", rate="multilabel"),
    "ml_bp4d_to_disfa": Arm("multilabel", _CROSS, "train=bp4d_like,test=disfa_like",
                            "multi-label, bp4d_like -> disfa_like", _TEST_DEFAULT,
                            datasets=("bp4d_like",), rate="multilabel"),
    "ml_disfa_to_bp4d": Arm("multilabel", _CROSS, "train=disfa_like,test=bp4d_like",
                            "multi-label, disfa_like -> bp4d_like", _TEST_DEFAULT,
                            rate="multilabel"),
    "hm_joint": Arm("heatmaps", _HM, "dataset=disfa_like", "joint heat maps",
                    rate="heatmaps (disfa_like)"),
    "hm_resnet18": Arm(
        "heatmaps", _HM, "dataset=disfa_like,arch=resnet18", "ResNet-18",
        {"model.widths": RESNET_WIDTHS},
        needs=("configs/common.heatmaps_model to keep a `widths` key for arch=resnet18 "
               "(torchvision's (64, 128, 256, 512) by default), so that "
               f"--config.model.widths={RESNET_WIDTHS} gives a ResNet-18 of the hourglass's "
               "size")),
    "hm_single": Arm("heatmaps", _HM, "dataset=disfa_like,arch=single", "single-AU heat maps"),
}


class ClaimError(ValueError):
  """A claim or arm asked for that does not exist, or an arm departing from the table."""


# --------------------------------------------------------------------------- the decision

def decide(diffs, n_expected: int, direction: int = +1, margin: float | None = None) -> dict:
  """The plan's rule (docs/benchmark.md 4.1) on paired per-seed differences.

  HOLDS / REVERSED when the 95 % t-interval (n - 1 df) excludes 0 in the
  paper's `direction` / the other; NOT SHOWN otherwise. With `margin` (an
  equivalence claim, H1 b): HOLDS when the whole interval lies below the
  margin, REVERSED when its lower end is above it. Fewer differences than
  `n_expected`: "incomplete (k/n seeds)", the interval still given.
  """
  d = [float(x) for x in diffs]
  iv = common.t_interval(d, direction) if d else {
      "mean": float("nan"), "sd": float("nan"), "ci95": [float("nan")] * 2, "n": 0}
  lo, hi = iv["ci95"]
  if len(d) < n_expected:
    verdict = f"incomplete ({len(d)}/{n_expected} seeds)"
  elif not (math.isfinite(lo) and math.isfinite(hi)):
    verdict = "NOT SHOWN"
  elif margin is not None:
    verdict = "HOLDS" if hi < margin else "REVERSED" if lo > margin else "NOT SHOWN"
  else:
    verdict = iv["verdict"].upper()
  return {"mean": iv["mean"], "sd": iv["sd"], "ci95": [lo, hi], "n": len(d),
          "n_expected": n_expected, "verdict": verdict}


# --------------------------------------------------------------------------- row values

def _finite(x) -> bool:
  return x is not None and math.isfinite(float(x))


def _au_diffs(by_seed, seeds, a: str, fa, b: str, fb) -> dict:
  """{seed: {AU: fa(run a)[AU] - fb(run b)[AU]}} of the seeds where both runs
  give values (fa, fb: run record -> {AU: value} or None)."""
  out = {}
  for s in seeds:
    rs = by_seed.get(s, {})
    if a not in rs or b not in rs:
      continue
    va, vb = fa(rs[a]), fb(rs[b])
    if va is None or vb is None:
      continue
    out[s] = {au: (float(va[au]) - float(vb[au]) if _finite(va[au]) and _finite(vb[au])
                   else float("nan")) for au in va if au in vb}
  return out


def _defined(per_seed: dict) -> list:
  """AUs whose difference is finite in every seed."""
  if not per_seed:
    return []
  first = next(iter(per_seed.values()))
  return [au for au in first if all(_finite(d.get(au)) for d in per_seed.values())]


def _result(per_seed: dict, aus, value, few=(), note: str = "") -> dict:
  vals = {s: value(d) for s, d in per_seed.items()} if aus else {}
  return {"per_seed": {s: v for s, v in vals.items() if _finite(v)}, "aus": list(aus),
          "seeds_run": sorted(per_seed), "few_positives": list(few), "note": note}


def _mean_over(aus):
  return lambda d: float(np.mean([d[a] for a in aus]))


def _test(metric: str):
  return lambda r: {au: v.get(metric) for au, v in r["test"].items()}


def _stratum(name: str, metric: str):
  def f(r):
    s = r.get("strata", {}).get(name)
    return None if s is None else {au: v.get(metric) for au, v in s["per_au"].items()}
  return f


def _positives(by_seed, seeds, arms, strata) -> dict:
  """{AU: fewest positive frames over the runs of `arms` and the `strata`}."""
  out: dict = {}
  for s in seeds:
    for arm in arms:
      r = by_seed.get(s, {}).get(arm)
      for name in strata:
        for au, v in (r or {}).get("strata", {}).get(name, {}).get("per_au", {}).items():
          out[au] = min(out.get(au, 10 ** 9), int(v.get("n_positives", 0)))
  return out


def _few(positives: dict) -> list:
  """AUs with fewer than MIN_POSITIVES positive frames in some run (reported, not decided)."""
  return sorted(au for au, n in positives.items() if n < MIN_POSITIVES)


def _stratum_result(per: dict, use: list, defined: list, positives: dict) -> dict:
  """A stratum row's values: over the AUs with enough positives (`use`), or,
  where none has, over every defined AU, marked not decided."""
  if use:
    return _result(per, use, _mean_over(use), _few(positives))
  out = _result(per, defined, _mean_over(defined), _few(positives))
  out["decided"] = False
  return out


def paired_mean(a: str, b: str, fa, fb=None, aus=None):
  """Row: per seed, mean over AUs of fa(a) - fb(b) (fb defaults to fa); `aus`:
  a fixed subset, or a function (by_seed, seeds) -> subset."""
  def row(by_seed, seeds):
    per = _au_diffs(by_seed, seeds, a, fa, b, fb or fa)
    use = _defined(per)
    if aus is not None:
      want = aus(by_seed, seeds) if callable(aus) else aus
      use = [au for au in use if au in want]
    return _result(per, use, _mean_over(use))
  return row


def stratum_mean(a: str, b: str, metric: str, stratum: str):
  """Row on one stratum: AUs with fewer than MIN_POSITIVES positive frames in
  it in some run are reported, not decided."""
  def row(by_seed, seeds):
    f = _stratum(stratum, metric)
    per = _au_diffs(by_seed, seeds, a, f, b, f)
    pos = _positives(by_seed, seeds, (a, b), (stratum,))
    defined = _defined(per)
    use = [au for au in defined if pos.get(au, 0) >= MIN_POSITIVES]
    return _stratum_result(per, use, defined, pos)
  return row


def occluded_minus_visible(a: str, b: str, metric: str):
  """S1: per seed, mean over AUs of (a - b on occluded frames) - (a - b on
  visible frames), AUs with >= MIN_POSITIVES positives in both strata of every run."""
  def row(by_seed, seeds):
    fo, fv = _stratum(OCCLUDED, metric), _stratum(VISIBLE, metric)
    occ = _au_diffs(by_seed, seeds, a, fo, b, fo)
    vis = _au_diffs(by_seed, seeds, a, fv, b, fv)
    per = {s: {au: occ[s][au] - vis[s][au] for au in occ[s] if au in vis[s]}
           for s in occ if s in vis}
    pos = _positives(by_seed, seeds, (a, b), (OCCLUDED, VISIBLE))
    defined = _defined(per)
    use = [au for au in defined if pos.get(au, 0) >= MIN_POSITIVES]
    out = _stratum_result(per, use, defined, pos)
    # its two parts over the same AUs and seeds, reported beside it (not decided)
    out["parts"] = {name: {s: _mean_over(out["aus"])(part[s]) for s in per} if out["aus"] else {}
                    for name, part in (("occluded", occ), ("visible", vis))}
    return out
  return row


def dependent_aus(label_model: str = "disfa_like", aus=None, k: int = DEPENDENT_PAIRS) -> list:
  """AU labels of the `k` AU pairs with the largest true |Kendall tau| of the
  synthetic label model (over `aus`, default the DISFA AUs)."""
  from au_jax import aus as au_lib
  from tfds_builders.synthetic_au.true_dependence import TRUE_DEPENDENCE
  table = TRUE_DEPENDENCE[label_model]
  aus = list(aus or au_lib.DISFA_AUS)
  idx = [table["aus"].index(a) for a in aus]
  tau = np.abs(np.asarray(table["kendall_tau"], float)[np.ix_(idx, idx)])
  pairs = sorted(((tau[i, j], i, j) for i in range(len(aus)) for j in range(i + 1, len(aus))),
                 reverse=True)[:k]
  return sorted({au_lib.au_label(aus[x]) for _, i, j in pairs for x in (i, j)})


def dependent_minus_other(a: str, b: str, metric: str):
  """C2 b: per seed, mean of a - b over the dependent AUs minus over the others."""
  def row(by_seed, seeds):
    f = _test(metric)
    per = _au_diffs(by_seed, seeds, a, f, b, f)
    use = _defined(per)
    dep = dependent_aus()
    d_set, o_set = [x for x in use if x in dep], [x for x in use if x not in dep]
    if not (d_set and o_set):
      return _result(per, [], None, note="no dependent or no other AU defined")
    return _result(per, use, lambda d: float(np.mean([d[x] for x in d_set])
                                             - np.mean([d[x] for x in o_set])),
                   note=f"dependent AUs {', '.join(d_set)}")
  return row


def rare_aus(by_seed, seeds, arm: str = "ccnn_it", k: int = RARE) -> list:
  """The k AUs with the lowest validation base rate (the runs of `arm`; the
  split is the same for every seed)."""
  rates: dict = {}
  for s in seeds:
    r = by_seed.get(s, {}).get(arm)
    for au, v in (r or {}).get("validation_base_rate", {}).items():
      if _finite(v):
        rates.setdefault(au, []).append(float(v))
  return sorted(rates, key=lambda au: (np.mean(rates[au]), au))[:k]


def _dsin_row(name: str):
  return lambda r: (r.get("dsin_f1") or {}).get(name)


def best_patch_row(arm: str = "dsin_ppf"):
  """D1: PP+F - the patch with the best validation F1 (tau = .5), test F1 of both."""
  def row(by_seed, seeds):
    missing = [s for s in seeds if arm in by_seed.get(s, {})
               and not by_seed[s][arm].get("dsin_validation_best")]
    if missing:
      return {"per_seed": {}, "aus": [], "few_positives": [],
              "needs": ("the engine to save the validation split's predictions "
                        "(validation_predictions.npz beside test_predictions.npz), so that "
                        "the best patch is chosen on validation")}

    def best(r):
      return (r.get("dsin_f1") or {}).get(r["dsin_validation_best"])
    return paired_mean(arm, arm, _dsin_row("PP+F"), best)(by_seed, seeds)
  return row


def _ml(which: str, metric: str):
  return lambda r: {au: v.get(metric) for au, v in (r.get("ml_at_half") or {}).get(
      which, {}).items()} or None


def _ml_within(r):
  return r.get("ml_within_bp4d_like")


def _shared(by_seed, seeds):
  from au_jax import aus as au_lib
  return [au_lib.au_label(a) for a in OCCURRENCE_SHARED]


CURVE_MEAN = "mean"   # the one "AU" of a noise-curve row: the curve's mean over AUs


def _robust(sigma: float, yaw_bin: str | None = None):
  """The mean ICC at `sigma` of the noise curve (within one |yaw| bin of
  au_jax.strata if `yaw_bin`)."""
  def f(r):
    rb = r.get("robustness")
    if not rb or float(sigma) not in rb["sigmas"]:
      return None
    icc = rb["icc"] if yaw_bin is None else rb.get("icc_by_yaw", {}).get(yaw_bin)
    if icc is None:
      return None
    return {CURVE_MEAN: icc[rb["sigmas"].index(float(sigma))]}
  return f


# H1's |yaw| bins (au_jax.strata.YAW_BINS), as robustness.py names them
H1_YAW_BINS = tuple(f"{lo:g}-{hi:g}" for lo, hi in YAW_BINS)


def _ccnn_disfa(r):
  return r.get("ccnn_disfa_like")


# --------------------------------------------------------------------------- the claims

@dataclasses.dataclass(frozen=True)
class Row:
  label: str                    # arm A - arm B, as the table prints it
  value: Callable               # (by_seed, seeds) -> {"per_seed", "aus", ...}
  metric: str
  decided_on: str = "overall"
  direction: int = +1
  margin: float | None = None
  strata: tuple = ()            # (arm A, arm B): the strata columns, reported (4.1)


@dataclasses.dataclass(frozen=True)
class Claim:
  id: str
  paper: str
  arms: tuple
  seeds: int
  rows: tuple
  reported: tuple = ()          # lines reported beside the rows (not decided)
  needs: tuple = ()             # features the plan needs that the engine lacks (reported)


CLAIMS = {c.id: c for c in (
    Claim("C1", "CCNN-IT: ordinal beats softmax", ("ocnn_it", "cnn_it"), 5,
          (Row("OCNN-IT − CNN-IT (softmax)", paired_mean("ocnn_it", "cnn_it", _test("icc")),
               "icc", strata=("ocnn_it", "cnn_it")),)),
    Claim("C2", "CCNN-IT: copula beats independent, most on dependent pairs",
          ("ccnn_it", "ocnn_it"), 10,
          (Row("CCNN-IT − OCNN-IT", paired_mean("ccnn_it", "ocnn_it", _test("icc")), "icc",
               strata=("ccnn_it", "ocnn_it")),
           Row("(CCNN-IT − OCNN-IT) on the AUs of the 4 most dependent pairs − on the others",
               dependent_minus_other("ccnn_it", "ocnn_it", "icc"), "icc",
               "dependent vs other AUs"))),
    Claim("C3", "CCNN-IT: balanced / iterative batches help rare AUs", (
        "ccnn_it", "ccnn_it_uniform", "ccnn_joint"), 5,
          (Row("(a) balanced − uniform batches (both iterative)",
               paired_mean("ccnn_it", "ccnn_it_uniform", _test("icc"), aus=rare_aus), "icc",
               "4 rarest AUs"),
           Row("(b) iterative − joint updates (both uniform)",
               paired_mean("ccnn_it_uniform", "ccnn_joint", _test("icc"), aus=rare_aus), "icc",
               "4 rarest AUs"))),
    Claim("C4", "CCNN-IT: a second dataset helps shared AUs", ("ccnn_it_multi", "ccnn_it"), 5,
          (Row("disfa_like + bp4d_like − disfa_like only (disfa_like test)",
               paired_mean("ccnn_it_multi", "ccnn_it", _ccnn_disfa, aus=SHARED_INTENSITY_AUS),
               "icc", "shared AUs 6, 12, 17"),)),
    Claim("D1", "DSIN: patch fusion beats the best single patch", ("dsin_ppf",), 5,
          (Row("PP+F − best patch (chosen on validation), tau .5", best_patch_row(), "f1"),)),
    Claim("D2", "DSIN: structure inference beats fusion",
          ("dsin_t10", "dsin_ppf", "dsin_t10_large", "dsin_ppf_large"), 10,
          (Row("DSIN_10 − PP+F", paired_mean("dsin_t10", "dsin_ppf", _test("f1")), "f1",
               strata=("dsin_t10", "dsin_ppf")),
           Row("DSIN_10 − PP+F, occluded frames (disfa_like_large)",
               stratum_mean("dsin_t10_large", "dsin_ppf_large", "f1", OCCLUDED), "f1",
               "occluded AUs"))),
    Claim("D3", "DSIN: more iterations help (one model per T)", ("dsin_t10", "dsin_t2"), 5,
          (Row("DSIN_10 − DSIN_2", paired_mean("dsin_t10", "dsin_t2", _test("f1")), "f1",
               strata=("dsin_t10", "dsin_t2")),)),
    Claim("D4", "DSIN: correction factors help; threshold tuning helps",
          ("dsin_t10", "dsin_ncf"), 5,
          (Row("(a) DSIN_10 − DSIN_10^ncf", paired_mean("dsin_t10", "dsin_ncf", _test("f1")),
               "f1", strata=("dsin_t10", "dsin_ncf")),
           Row("(b) DSIN^tt − DSIN_10 (tau .5), one run",
               paired_mean("dsin_t10", "dsin_t10", _dsin_row("DSIN^tt"), _dsin_row("DSIN_10")),
               "f1"))),
    Claim("M1", "multi-label CNN: the QDA head beats the network's outputs", ("ml",), 5,
          (Row("QDA − softmax outputs", paired_mean(
              "ml", "ml", _ml("qda", "auc"), _ml("softmax", "auc")), "auc"),
           Row("QDA − softmax outputs, both at 0.5", paired_mean(
               "ml", "ml", _ml("qda", "accuracy"), _ml("softmax", "accuracy")), "accuracy"))),
    Claim("M2", "multi-label CNN: another training dataset drops performance, both directions",
          ("ml", "ml_bp4d_to_disfa", "ml_disfa_to_bp4d"), 5,
          (Row("on bp4d_like: within (bp4d_like-trained) − cross (disfa_like-trained)",
               paired_mean("ml_bp4d_to_disfa", "ml_disfa_to_bp4d", _ml_within, _test("auc"),
                           aus=_shared), "auc", "disfa_like → bp4d_like, shared AUs"),
           Row("on disfa_like: within (disfa_like-trained) − cross (bp4d_like-trained)",
               paired_mean("ml", "ml_bp4d_to_disfa", _test("auc"), aus=_shared), "auc",
               "bp4d_like → disfa_like, shared AUs"))),
    Claim("H1", "heat maps: hold under small landmark noise, degrade beyond a threshold",
          ("hm_joint",), 5,
          (Row("(a) ICC(0 px) − ICC(20 px)",
               paired_mean("hm_joint", "hm_joint", _robust(0), _robust(20)), "icc"),
           Row("(b) ICC(0 px) − ICC(5 px) below .02",
               paired_mean("hm_joint", "hm_joint", _robust(0), _robust(5)), "icc",
               margin=H1_MARGIN))
          + tuple(Row(f"(a) ICC(0 px) − ICC(20 px), |yaw| {b}°",
                      paired_mean("hm_joint", "hm_joint", _robust(0, b), _robust(20, b)), "icc",
                      f"|yaw| {b}°") for b in H1_YAW_BINS)
          + tuple(Row(f"(b) ICC(0 px) − ICC(5 px) below .02, |yaw| {b}°",
                      paired_mean("hm_joint", "hm_joint", _robust(0, b), _robust(5, b)), "icc",
                      f"|yaw| {b}°", margin=H1_MARGIN) for b in H1_YAW_BINS),
          reported=("icc_drop_sigma",)),
    Claim("H2", "heat maps: joint maps beat ResNet-18 at comparable size",
          ("hm_joint", "hm_resnet18"), 5,
          (Row("joint hourglass − ResNet-18", paired_mean("hm_joint", "hm_resnet18",
                                                       _test("icc")), "icc",
               strata=("hm_joint", "hm_resnet18")),)),
    Claim("H3", "heat maps: joint maps beat one map per AU", ("hm_joint", "hm_single"), 5,
          (Row("joint − single-AU hourglasses", paired_mean("hm_joint", "hm_single",
                                                          _test("icc")), "icc",
               strata=("hm_joint", "hm_single")),)),
    Claim("S1", "structure helps most where an AU's region is occluded (disfa_like_large)",
          ("ccnn_it_large", "ocnn_it_large", "dsin_t10_large", "dsin_ppf_large"), 10,
          (Row("(CCNN-IT − OCNN-IT) occluded − visible",
               occluded_minus_visible("ccnn_it_large", "ocnn_it_large", "icc"), "icc",
               "occluded vs visible"),
           Row("(DSIN_10 − PP+F) occluded − visible",
               occluded_minus_visible("dsin_t10_large", "dsin_ppf_large", "f1"), "f1",
               "occluded vs visible"))),
)}


# --------------------------------------------------------------------------- the plan

def parse_seeds(text: str | None) -> list[int] | None:
  """"0,1,2" or "0-4" or "0-4,7" -> [0, 1, 2, 3, 4, 7]; None / "" -> None."""
  if not text:
    return None
  out = []
  for part in text.split(","):
    part = part.strip()
    if not part:
      continue
    lo, dash, hi = part.partition("-")
    out += list(range(int(lo), int(hi) + 1)) if dash else [int(lo)]
  return sorted(dict.fromkeys(out))


def claim_seeds(claim: Claim, seeds: list[int] | None = None) -> list[int]:
  """The plan's seeds of a claim (0..n-1), or `seeds` for every claim."""
  return list(seeds) if seeds is not None else list(range(claim.seeds))


def select_claims(text: str | None) -> list[Claim]:
  ids = [c.strip().upper() for c in (text or "").split(",") if c.strip()] or list(CLAIMS)
  unknown = [c for c in ids if c not in CLAIMS]
  if unknown:
    raise ClaimError(f"unknown claim(s) {unknown}; choose from {list(CLAIMS)}")
  return [CLAIMS[c] for c in ids]


def run_plan(claims, seeds: list[int] | None = None,
             arms: list[str] | None = None) -> list[tuple[str, int]]:
  """Every (arm, seed) the claims need, each once, seed-major (arms in ARMS order);
  only `arms` where given (each must be an arm of one of the claims)."""
  want: dict = {}
  for c in claims:
    for arm in c.arms:
      want.setdefault(arm, set()).update(claim_seeds(c, seeds))
  if arms:
    unknown = [a for a in arms if a not in want]
    if unknown:
      raise ClaimError(f"arm(s) {unknown} are not arms of the claims chosen; "
                       f"choose from {[a for a in ARMS if a in want]}")
    want = {a: v for a, v in want.items() if a in arms}
  order = [a for a in ARMS if a in want]
  return [(a, s) for s in sorted(set().union(*want.values())) for a in order if s in want[a]]


def load_config(arm: Arm, runlocal: bool = False):
  module = importlib.import_module(arm.config[:-3].replace("/", "."))
  arg = ",".join(a for a in (arm.arg, "runlocal" if runlocal else "") if a)
  return module.get_config(arg or None)


def arm_plan(name: str, budget: int, runlocal: bool = False) -> dict:
  """{"overrides", "config", "images", "needs"} of one arm at the equal budget;
  raises ClaimError naming the key where the arm departs from the table. An
  arm whose extra override names a key its (full-size) config lacks is not
  run: "needs" says what to change."""
  arm = ARMS[name]
  base = load_config(arm, runlocal)
  full = load_config(arm, False) if runlocal else base
  missing = [k for k in arm.overrides if ceb._get(full, k) is None]
  try:
    imposed = ceb.table_overrides(arm.family, base, budget, select=SELECT[arm.family])
  except ceb.TableError as e:
    raise ClaimError(f"{name}: {e}") from None
  overrides = {**imposed, **{k: v for k, v in arm.overrides.items() if k not in missing}}
  if missing:
    return {"overrides": {**imposed, **arm.overrides}, "config": None, "images": budget,
            "needs": arm.needs or f"config keys {missing}"}
  expected = ceb.apply(base, imposed)
  effective = ceb.apply(base, overrides)
  try:
    ceb.check(arm.family, effective, budget, expected, select=SELECT[arm.family],
              datasets=[synthetic_name(d, runlocal) for d in arm.datasets])
  except ceb.TableError as e:
    raise ClaimError(f"{name}: {e}") from None
  return {"overrides": overrides, "config": effective, "images": ceb.images_seen(effective),
          "needs": None}


def workdir(workroot: str, arm: str, seed: int) -> str:
  return os.path.join(os.path.abspath(workroot), f"{arm}_s{seed}")


# --------------------------------------------------------------------------- time

def rates(path: str = THROUGHPUT) -> tuple[dict, float | None]:
  """({throughput key: training images/s}, mean seconds a run of that file spent
  outside training: wall - steps x batch / rate) from compare_methods.json."""
  doc = common.read_json(path, {}) or {}
  tp = doc.get("throughput", {})
  out = {k: float(v["train_step_images_per_s"]) for k, v in tp.items()
         if v.get("train_step_images_per_s")}
  extra = [r["wall_s"] - r["steps"] * tp[r["method"]]["batch_size"] / out[r["method"]]
           for r in doc.get("runs", []) if r.get("wall_s") and r.get("method") in out
           and r.get("steps")]
  return out, (float(np.mean(extra)) if extra else None)


def estimate(plan, plans: dict, path: str = THROUGHPUT) -> dict:
  """Estimated seconds of the runs with a measured throughput, and the runs without."""
  rate, overhead = rates(path)
  known, unknown, skipped = 0.0, [], []
  for arm, seed in plan:
    if plans[arm]["needs"]:
      skipped.append((arm, seed))
      continue
    key = ARMS[arm].rate
    if key in rate and overhead is not None:
      known += plans[arm]["images"] / rate[key] + overhead
    else:
      unknown.append((arm, seed))
  return {"seconds": known, "overhead_s": overhead, "rates": rate, "unmeasured": unknown,
          "not_run": skipped}


# --------------------------------------------------------------------------- runs

def complete(arm: str, seed: int, wd: str, runlocal: bool) -> None:
  """The eval-only steps of a finished run (each cached in its workdir)."""
  if arm == "hm_joint":
    from benchmarks import heatmaps_evidence
    heatmaps_evidence.robustness({"workdir": wd, "seed": seed}, SIGMAS)
  elif arm == "ml_bp4d_to_disfa":
    from benchmarks import multilabel_evidence
    multilabel_evidence.extra_eval(wd, "bp4d_like", runlocal)
  family = ARMS[arm].family
  if family == "ccnn" and not os.path.exists(os.path.join(wd, "ccnn_report.json")):
    from au_jax.models.ccnn import report as ccnn_report
    ccnn_report.ccnn_outputs(wd)
  if family == "dsin" and not os.path.exists(os.path.join(wd, "dsin_report.json")):
    from au_jax.models.dsin import report as dsin_report
    dsin_report.dsin_outputs(wd, faces=False)


def _labels(aus, values) -> dict:
  from au_jax import aus as au_lib
  return {au_lib.au_label(int(a)): (None if v is None or not math.isfinite(v) else float(v))
          for a, v in zip(aus, values)}


def record(arm: str, seed: int, wd: str, report: dict, config, cmd, wall: dict) -> dict:
  """What the claims read of one finished run (files only; nothing computed
  from a model)."""
  rec = {"arm": arm, "seed": seed, "workdir": wd, "command": " ".join(cmd[1:]),
         "datasets": report.get("datasets"), "images_seen": ceb.images_seen(config),
         "steps": report.get("steps"), "selection": report.get("selection"),
         "threshold_metric": report.get("threshold_metric"),
         "test": {au: {k: r[k] for k in ("f1", "auc", "icc", "accuracy", "n_positives") if k in r}
                  for au, r in report["test"]["per_au"].items()},
         "validation_base_rate": {au: r.get("base_rate")
                                  for au, r in report.get("validation", {}).get("per_au", {}).items()},
         "strata": ceb.strata_of(report), **wall}
  family = ARMS[arm].family
  path = lambda f: os.path.join(wd, f)
  if family == "ccnn" and os.path.exists(path("ccnn_report.json")):
    dec = common.read_json(path("ccnn_report.json"))["decodings"]
    scope = next((k for k in dec if k.startswith("synthetic_au/disfa_like")), "all")
    d = dec.get(scope, {})
    name = config.model.get("decode", "map")
    d = d.get(name) or next(iter(d.values()), {})
    rec["ccnn_disfa_like"] = {au: v.get("icc") for au, v in d.get("per_au", {}).items()}
  if family == "dsin" and os.path.exists(path("dsin_report.json")):
    out = common.read_json(path("dsin_report.json"))
    rec["dsin_f1"] = {row: _labels(out["aus"], [np.nan if x is None else x for x in v])
                      for row, v in out["f1"].items()}
    if os.path.exists(path("validation_predictions.npz")):
      rec["dsin_validation_best"] = _validation_best_patch(path("validation_predictions.npz"),
                                                           list(rec["dsin_f1"]))
  if family == "multilabel" and os.path.exists(path("test_predictions.npz")):
    rec["ml_at_half"] = _ml_scores(path("test_predictions.npz"), report["aus"])
  if os.path.exists(path("evidence_eval_bp4d_like.json")):
    e = common.read_json(path("evidence_eval_bp4d_like.json"))
    rec["ml_within_bp4d_like"] = _labels(e["aus"], [np.nan if x is None else x for x in e["auc"]])
  if os.path.exists(path("noise_robustness.json")):
    rb = common.read_json(path("noise_robustness.json"))
    if rb.get("seed") == seed:
      rec["robustness"] = {"sigmas": rb["sigmas_256px"],
                           "icc": [np.nan if x is None else x for x in rb["icc"]],
                           "icc_drop_sigma": rb.get("icc_drop_sigma"),
                           "icc_by_yaw": {k: [np.nan if x is None else x for x in v]
                                          for k, v in (rb.get("icc_by_yaw") or {}).items()}}
  return rec


def _ml_scores(npz_path: str, aus) -> dict:
  """{"qda" | "softmax": {AU: {"auc", "accuracy"}}} of a multi-label run's test
  predictions, both at the threshold 0.5."""
  from au_jax import metrics as M
  out = {}
  with np.load(npz_path) as z:
    true = np.asarray(z["occurrence_true"])
    for name, key in (("qda", "occurrence"), ("softmax", "occurrence_softmax")):
      if key in z:
        m = M.occurrence_metrics(true, np.asarray(z[key], np.float64), 0.5)
        auc, acc = _labels(aus, m["auc"]), _labels(aus, m["accuracy"])
        out[name] = {au: {"auc": auc[au], "accuracy": acc[au]} for au in auc}
  return out


def _validation_best_patch(npz_path: str, rows) -> str:
  """The PP(<input>) row with the best mean validation F1 at tau = .5."""
  from au_jax.models.dsin import report as dsin_report
  names = [r[3:-1] for r in rows if r.startswith("PP(")]
  with np.load(npz_path) as z:
    f1 = dsin_report.table_rows(dict(z), names)
  return max((f"PP({n})" for n in names), key=lambda k: np.nanmean(f1[k]))


def run_one(workroot: str, arm: str, seed: int, plan: dict, runlocal: bool,
            train: bool = True) -> dict | None:
  """Train (or reuse) one arm's run and its eval-only steps; its record, or
  None when it is not finished and `train` is False."""
  wd = workdir(workroot, arm, seed)
  a = ARMS[arm]
  cmd = ceb.launch_command(a.config, a.arg, seed, wd, plan["overrides"], runlocal)
  if not train:
    if not os.path.exists(os.path.join(wd, "report.json")):
      return None
    try:
      ceb.check_workdir(wd, seed, plan["overrides"])
    except ceb.TableError:
      return None
  report, wall = ceb.train(wd, cmd, seed, plan["overrides"], tag="claims")
  complete(arm, seed, wd, runlocal)
  return record(arm, seed, wd, report, plan["config"], cmd, wall)


# --------------------------------------------------------------------------- summary

def strata_cells(by_seed, seeds, a: str, b: str, metric: str) -> dict:
  """Reported, not decided (4.1): A - B on each stratum column of
  compare_equal_budget.STRATA, mean and 95 % interval over seeds, over the AUs
  with >= MIN_POSITIVES positive frames there (every defined AU where none
  has, `decided` False); `few_positives` lists the AUs under that count."""
  out = {}
  for name, stratum in ceb.STRATA:
    col = f"{name}/{stratum}"
    v = stratum_mean(a, b, metric, col)(by_seed, seeds)
    iv = common.mean_interval([v["per_seed"][x] for x in seeds if x in v["per_seed"]])
    out[col] = {"mean": iv["mean"], "ci95": iv["ci95"], "n": iv["n"], "aus": v["aus"],
                "few_positives": v["few_positives"], "decided": v.get("decided", True)}
  return out


def evaluate_claim(claim: Claim, by_seed: dict, seeds: list[int] | None, plans: dict) -> dict:
  s = claim_seeds(claim, seeds)
  needs = sorted({plans[a]["needs"] for a in claim.arms if plans.get(a, {}).get("needs")})
  rows = []
  for row in claim.rows:
    v = row.value(by_seed, s)
    diffs = [v["per_seed"][x] for x in s if x in v["per_seed"]]
    d = decide(diffs, len(s), row.direction, row.margin)
    few = v.get("few_positives", [])
    have = [x for x in s if x in v.get("seeds_run", v["per_seed"])]
    if needs or v.get("needs"):
      d["verdict"] = "needs: " + "; ".join(needs or [v["needs"]])
    elif len(have) < len(s):
      d["verdict"] = f"incomplete ({len(have)}/{len(s)} seeds)"
    elif v.get("decided") is False or (not v["aus"] and few):
      d["verdict"] = f"reported, not decided (fewer than {MIN_POSITIVES} positives)"
    elif not v["aus"]:
      d["verdict"] = "NOT SHOWN (no AU defined)"
    rows.append({"label": row.label, "metric": row.metric, "decided_on": row.decided_on,
                 "direction": row.direction, "margin": row.margin, "seeds": s,
                 "per_seed": {str(k): x for k, x in v["per_seed"].items()}, "aus": v["aus"],
                 "few_positives": few, "note": v.get("note", ""),
                 "decided": v.get("decided", True),
                 "parts": {k: common.mean_interval([p[x] for x in s if x in p])
                           for k, p in v.get("parts", {}).items()},
                 "strata": strata_cells(by_seed, s, *row.strata, row.metric) if row.strata
                 else {}, **d})
  out = {"id": claim.id, "paper": claim.paper, "arms": list(claim.arms), "seeds": s,
         "rows": rows, "needs": list(claim.needs)}
  if "icc_drop_sigma" in claim.reported:
    drops = [by_seed.get(x, {}).get("hm_joint", {}).get("robustness", {}).get("icc_drop_sigma")
             for x in s if by_seed.get(x, {}).get("hm_joint", {}).get("robustness")]
    out["icc_drop_sigma"] = {**common.mean_interval([d for d in drops if d is not None]),
                             "never_dropped": sum(d is None for d in drops),
                             "seeds_with_curve": len(drops)}
  return out


def summarise(runs: list[dict], claims, seeds, plans) -> dict:
  by_seed = common.by_seed([{**r, "name": r["arm"]} for r in runs])
  arms = {}
  for a in dict.fromkeys(r["arm"] for r in runs):
    rs = [r for r in runs if r["arm"] == a]
    m = SELECT[ARMS[a].family]
    per_run = []
    for r in rs:
      v = [x[m] for x in r["test"].values() if _finite(x.get(m))]
      per_run.append(float(np.mean(v)) if v else float("nan"))
    arms[a] = {"title": ARMS[a].title, "seeds": sorted(r["seed"] for r in rs),
               "images_seen": sorted({r["images_seen"] for r in rs}), "select_metric": m,
               m: common.mean_interval(per_run),
               "wall_s": common.mean_interval([r["wall_s"] for r in rs if "wall_s" in r])}
  return {"claims": [evaluate_claim(c, by_seed, seeds, plans) for c in claims], "arms": arms}


def _ci(row, digits=3) -> str:
  if not _finite(row["mean"]):
    return "–"
  lo, hi = row["ci95"]
  if not (_finite(lo) and _finite(hi)):
    return f"{row['mean']:+.{digits}f}"
  return f"{row['mean']:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def _cell(text: str) -> str:
  """`text` safe inside a markdown table cell: its pipes escaped."""
  return text.replace("|", "\\|")


def markdown(summary: dict, budget: int, runlocal: bool) -> str:
  head = (f"### The pre-registered claims (docs/benchmark.md 4.2), equal budget: {budget:,} "
          "training images per run" + (" (runlocal: tiny data, plumbing only)" if runlocal
                                       else ""))
  rule = ("synthetic_au/disfa_like (bp4d_like in C4 and M2), protocol default; per seed the "
          "difference A − B of the metric averaged over the row's AUs; mean and paired 95 % "
          "t-interval over seeds; HOLDS / REVERSED: the interval excludes 0 in the paper's "
          f"direction / the other; H1 b: HOLDS when the interval lies below {H1_MARGIN}.")
  lines = [head, "", rule, "",
           "| claim | paper | A − B | metric | decided on | seeds | mean [95 % CI] | verdict |",
           "|---|---|---|---|---|---|---|---|"]
  notes = []
  for c in summary["claims"]:
    for k, r in enumerate(c["rows"]):
      lines.append(f"| {'' if k else c['id']} | {'' if k else c['paper']} | {_cell(r['label'])} | "
                   f"{NAMES[r['metric']]} | {_cell(r['decided_on'])} | {r['n']}/{r['n_expected']} | "
                   f"{_ci(r)} | **{r['verdict']}** |")
      if r["few_positives"]:
        notes.append(f"{c['id']} {r['label']}: reported, not decided on "
                     f"{', '.join(r['few_positives'])} (fewer than {MIN_POSITIVES} positive "
                     "frames in some run)")
      if r["note"]:
        notes.append(f"{c['id']} {r['label']}: {r['note']}")
      if r.get("parts") and all(p["n"] for p in r["parts"].values()):
        notes.append(f"{c['id']} {r['label']}: A − B on the same AUs, "
                     + "; ".join(f"{k} frames {_ci(p)}" for k, p in r["parts"].items())
                     + " (reported, not decided)")
      if (r["aus"] and r["aus"] != [CURVE_MEAN] and r["decided_on"] != "overall"
          and not r["note"]):   # the AUs a row averages; a curve row has none to list
        notes.append(f"{c['id']} {r['label']}: mean over "
                     + ("" if r["decided"] else "(reported only) ") + ", ".join(r["aus"]))
    if c.get("icc_drop_sigma"):
      d = c["icc_drop_sigma"]
      lo, hi = d["ci95"]
      notes.append(f"{c['id']}: ICC falls 10 % below its 0-px value at "
                   + (f"{d['mean']:.1f} px [{lo:.1f}, {hi:.1f}]" if _finite(lo)
                      else f"{d['mean']:.1f} px" if _finite(d["mean"]) else "–")
                   + f" (n = {d['n']}; never within 55 px: {d['never_dropped']} of "
                   f"{d['seeds_with_curve']} seeds)")
    for n in c["needs"]:
      notes.append(f"{c['id']}: not reported yet, needs {n}")
  if notes:
    lines += [""] + [f"- {n}" for n in notes]
  heads = {"occlusion/visible": "visible", "occlusion/occluded": "occluded",
           "yaw/0-10": "\\|yaw\\| 0-10°", "yaw/10-25": "10-25°", "yaw/25-40": "25-40°"}
  strata_rows = [(c, r) for c in summary["claims"] for r in c["rows"] if r.get("strata")]
  if strata_rows:
    intro = ("Strata, reported and not decided on (4.1): A − B on the test frames of each "
             f"stratum, mean over the AUs with at least {MIN_POSITIVES} positive frames there "
             "in every run, [95 % interval] over seeds; `*`: some AU left out for fewer "
             "positives (`†`: every AU, the mean is over all defined AUs):")
    lines += ["", intro, "",
              "| claim | A − B | " + " | ".join(heads.values()) + " |",
              "|---|---|" + "---|" * len(heads)]
    for c, r in strata_rows:
      cells = []
      for col in heads:
        x = r["strata"].get(col)
        if not x or not _finite(x["mean"]):
          cells.append("–")
          continue
        star = "†" if not x["decided"] else "*" if x["few_positives"] else ""
        cells.append(_ci(x) + star)
      lines.append(f"| {c['id']} | {_cell(r['label'])} | " + " | ".join(cells) + " |")
  arms_head = ("Arms (test metric the arm selects on, mean over AUs, then mean ± 95 % "
               "half-width over seeds):")
  lines += ["", arms_head, "", "| arm | seeds | images | metric | value | wall s |",
            "|---|---|---|---|---|---|"]
  for e in summary["arms"].values():
    m = e["select_metric"]
    v, w = e[m], e["wall_s"]
    val = "–" if not _finite(v["mean"]) else (
        f"{v['mean']:.3f}" + (f" ± {v['half']:.3f}" if _finite(v["half"]) else ""))
    lines.append(f"| {e['title']} | {len(e['seeds'])} | {', '.join(f'{x:,}' for x in e['images_seen'])}"
                 f" | {NAMES[m]} | {val} | "
                 f"{'–' if not _finite(w['mean']) else format(w['mean'], '.0f')} |")
  return "\n".join(lines)


def remaining(plan, plans: dict, workroot: str, path: str = THROUGHPUT) -> dict:
  """What is left of `plan` in `workroot`: the runs without a report.json, and
  their estimated seconds from each arm's finished runs here (the median of
  their `compare_wall.json` wall times), or from the throughput where an arm
  has none."""
  walls, left = {}, []
  for arm, seed in plan:
    wd = os.path.join(workroot, f"{arm}_s{seed}")
    if os.path.exists(os.path.join(wd, "report.json")):
      wall = (common.read_json(os.path.join(wd, "compare_wall.json")) or {}).get("wall_s")
      if wall is not None:
        walls.setdefault(arm, []).append(float(wall))
    else:
      left.append((arm, seed))
  e = estimate([x for x in left if x[0] not in walls], plans, path)
  seconds = e["seconds"] + sum(float(np.median(walls[a])) for a, _ in left if a in walls)
  return {"finished": len(plan) - len(left), "left": left, "seconds": seconds,
          "unestimated": e["unmeasured"] + e["not_run"]}


def list_plan(plan, plans, budget: int, runlocal: bool, claims,
              workroot: str | None = None) -> str:
  lines = [f"Run plan: {len(plan)} runs, {budget:,} training images each"
           + (" (runlocal)" if runlocal else ""), ""]
  for arm, seed in plan:
    p = plans[arm]
    a = ARMS[arm]
    arg = ",".join(x for x in (a.arg, "runlocal" if runlocal else "") if x)
    ov = " ".join(f"{k}={ceb._fmt_value(v)}" for k, v in p["overrides"].items())
    lines.append(f"{arm}_s{seed}: {a.config}{':' + arg if arg else ''} seed={seed} "
                 f"images={p['images']:,}" + (f"  NEEDS: {p['needs']}" if p["needs"] else "")
                 + f"\n    {ov}")
  lines.append("")
  for c in claims:
    need = sorted({plans[x]["needs"] for x in c.arms if plans[x]["needs"]}) + list(c.needs)
    lines.append(f"{c.id} ({c.seeds} seeds; arms {', '.join(c.arms)})"
                 + "".join(f"\n    needs: {n}" for n in need))
  e = estimate(plan, plans)
  lines.append("")
  if e["overhead_s"] is None:
    lines.append(f"no throughput measured ({THROUGHPUT}): no time estimate")
  else:
    lines.append(
        f"Estimated time of the {len(plan) - len(e['unmeasured']) - len(e['not_run'])} runs "
        f"with a measured throughput: {e['seconds'] / 3600:.1f} h "
        f"(images / the method's images/s in compare_methods.json + {e['overhead_s']:.0f} s a "
        "run outside training)")
    if e["unmeasured"]:
      lines.append(f"not in the estimate (no measured throughput): {len(e['unmeasured'])} runs "
                   f"({', '.join(sorted({a for a, _ in e['unmeasured']}))}), and the H1 noise "
                   "curves")
    if e["not_run"]:
      lines.append(f"planned but not run (needs a config change): {len(e['not_run'])} runs")
  if workroot is not None:
    r = remaining(plan, plans, workroot)
    lines.append(
        f"In {workroot}: {r['finished']} of {len(plan)} runs finished; the {len(r['left'])} left, "
        f"about {r['seconds'] / 3600:.1f} h (each arm's median wall time of its finished runs "
        "there, which runs on a loaded machine overstate; else the throughput estimate)"
        + (f", and {len(r['unestimated'])} runs with neither" if r["unestimated"] else ""))
  return "\n".join(lines)


# --------------------------------------------------------------------------- main

def default_out(args, whole):
  """Where the summary goes: a dry run never under benchmarks/results/; a run of
  a subset (--claims, --seeds) never over the whole table, claims.json, which
  --summarise_only reads whatever the subset."""
  if args.runlocal:
    return os.path.join(args.workroot, "claims.json")
  if whole or args.summarise_only:
    return os.path.join(common.RESULTS, "claims.json")
  return os.path.join(common.RESULTS, "claims_subset.json")


def kept_records(out: str, plan, plans: dict, budget: int, args) -> dict:
  """The records of `out` (a summary this command wrote before) whose workdir
  is gone, reused where the run would be the same: same budget, same launch
  command (config, seed, workdir, overrides). So a table committed from one
  machine is finished on another without training its runs again."""
  prev = common.read_json(out)
  if not prev or prev.get("budget") != budget or prev.get("runlocal") != args.runlocal:
    return {}
  kept = {}
  for rec in prev.get("runs", []):
    key = (rec.get("arm"), rec.get("seed"))
    if key not in plan or plans[key[0]]["needs"]:
      continue
    a = ARMS[key[0]]
    cmd = ceb.launch_command(a.config, a.arg, key[1], workdir(args.workroot, *key),
                             plans[key[0]]["overrides"], args.runlocal)
    if rec.get("command") == " ".join(cmd[1:]):
      kept[key] = rec
  return kept


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--claims", default="", help="e.g. C1,D2 (default: every claim)")
  ap.add_argument("--seeds", default="",
                  help="e.g. 0,1,2 or 0-4: these seeds for every claim (default: the plan's, "
                       "0-4 or 0-9)")
  ap.add_argument("--arms", default="",
                  help="e.g. ccnn_it_large,ocnn_it_large: only these arms of the claims chosen "
                       "(the other rows say incomplete)")
  ap.add_argument("--budget", type=int, default=None,
                  help=f"training images per run (default {BUDGET:,}; {RUNLOCAL_BUDGET} with "
                       "--runlocal)")
  ap.add_argument("--workroot", default="runs/claims")
  ap.add_argument("--out", default=None,
                  help="summary JSON, the markdown beside it (.md); default "
                       "benchmarks/results/claims.json for every claim at the plan's seeds, "
                       "claims_subset.json there for --claims or --seeds")
  ap.add_argument("--runlocal", action="store_true",
                  help="each config's :runlocal (tiny data and networks; plumbing only)")
  ap.add_argument("--summarise_only", action="store_true")
  ap.add_argument("--list", action="store_true", help="print the run plan; run nothing")
  args = ap.parse_args(argv)
  budget = args.budget or (RUNLOCAL_BUDGET if args.runlocal else BUDGET)
  try:
    claims = select_claims(args.claims)
    seeds = parse_seeds(args.seeds)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    plan = run_plan(claims, seeds, arms)
    plans = {a: arm_plan(a, budget, args.runlocal)
             for a in dict.fromkeys(a for c in claims for a in c.arms)}
  except (ClaimError, ValueError) as e:
    sys.exit(f"refused: {e}")
  if args.out is None:
    args.out = default_out(args, whole=len(claims) == len(CLAIMS) and not args.seeds
                           and not arms)
  md_path = os.path.splitext(args.out)[0] + ".md"
  if args.list:
    print(list_plan(plan, plans, budget, args.runlocal, claims, args.workroot))
    return
  if args.summarise_only:
    prev = common.read_json(args.out)
    if prev is None:
      sys.exit(f"{args.out} does not exist: nothing to summarise")
    print(markdown(summarise(prev["runs"], claims, seeds, plans), prev["budget"],
                   prev["runlocal"]))
    return

  def write(runs):
    summary = summarise(runs, claims, seeds, plans)
    common.write_json(args.out, {
        "budget": budget, "runlocal": args.runlocal, "claims_run": [c.id for c in claims],
        "seeds": args.seeds or "the plan's", "select_metric": SELECT,
        "threshold_metric": ceb.THRESHOLD_METRIC,
        "arms": {a: {"config": ARMS[a].config, "arg": ARMS[a].arg,
                     "overrides": plans[a]["overrides"], "needs": plans[a]["needs"]}
                 for a in plans},
        "runs": runs, "summary": summary})
    common.write_text(md_path, markdown(summary, budget, args.runlocal) + "\n")

  done = {}
  for arm, seed in plan:      # the finished runs first: the table is whole after each new one
    if not plans[arm]["needs"]:
      rec = run_one(args.workroot, arm, seed, plans[arm], args.runlocal, train=False)
      if rec is not None:
        done[(arm, seed)] = rec
  for key, rec in kept_records(args.out, plan, plans, budget, args).items():
    done.setdefault(key, rec)
  failed = []
  for arm, seed in plan:
    if plans[arm]["needs"] or (arm, seed) in done:
      continue
    try:
      done[(arm, seed)] = run_one(args.workroot, arm, seed, plans[arm], args.runlocal)
    except ceb.TableError as e:
      sys.exit(f"refused: {e}")
    except ceb.RunFailed as e:   # the other runs go on; its claims say "incomplete"
      failed.append(str(e))
      print(f"[claims] failed, going on: {e}", file=sys.stderr, flush=True)
      continue
    write([done[k] for k in plan if k in done])
  write([done[k] for k in plan if k in done])
  with open(md_path) as f:
    print(f.read())
  if failed:
    sys.exit(f"{len(failed)} run(s) failed; the claims that need them are incomplete:\n  " +
             "\n  ".join(failed))


if __name__ == "__main__":
  main()
