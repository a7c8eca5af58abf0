"""benchmarks/multilabel_evidence.py: pairing over seeds, intervals and verdicts on
fake run dicts (no training), against numpy loops and scipy.stats.t."""
import json

import numpy as np
import pytest
from scipy import stats

from benchmarks import multilabel_evidence as ev

SHARED = [1, 2, 4, 6, 12, 15, 17]
ALL12 = [1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26]


def _eval(aus, rng, offset, labels="x", phi=None, none_at=None):
  acc = list(0.7 + offset + 0.05 * rng.random(len(aus)))
  auc = list(0.6 + offset + 0.1 * rng.random(len(aus)))
  soft = list(0.6 + 0.1 * rng.random(len(aus)))
  if none_at is not None:   # an AU without positives in the test split
    auc[none_at] = soft[none_at] = None
  return {"aus": aus, "accuracy": acc, "auc": auc, "auc_softmax": soft,
          "phi_pair_correlation": phi, "phi_pairs_used": 66,
          "labels_sha1": {f"AU{a:02d}": f"{labels}{a}" for a in aus}}


def _runs(seeds=(0, 1, 2), cross_labels="x"):
  rng = np.random.default_rng(0)
  runs = []
  for s in seeds:
    def run(name, aus, evals, s=s):
      return {"name": name, "seed": s, "aus": aus, "config_arg": name, "override": None,
              "wall_s": 10.0, "loadavg_start": [1.0, 1.0, 1.0], "train_steps_per_s": 2.0,
              "self_check_max_abs_diff": 0.0 if name != "ml" else None, "evals": evals}
    runs += [run("ml", ALL12, {"disfa_like": _eval(ALL12, rng, 0.1, phi=0.5 + 0.1 * s,
                                                   none_at=3)}),
             run("fl_shared", SHARED, {"disfa_like": _eval(SHARED, rng, 0.0, cross_labels),
                                       "bp4d_like": _eval(SHARED, rng, 0.05)}),
             run("dl_shared", SHARED, {"bp4d_like": _eval(SHARED, rng, -0.05),
                                       "disfa_like": _eval(SHARED, rng, 0.02)})]
  return runs


def _ref(runs, a, b, aus, scale=1.0):
  """Independent reference: a numpy loop over seeds and AUs, scipy's t interval."""
  diffs = []
  for s in sorted({r["seed"] for r in runs}):
    ea = next(r for r in runs if r["name"] == a[0] and r["seed"] == s)["evals"][a[1]]
    eb = next(r for r in runs if r["name"] == b[0] and r["seed"] == s)["evals"][b[1]]
    d = []
    for au in aus:
      if au in ea["aus"] and au in eb["aus"]:
        x, y = ea[a[2]][ea["aus"].index(au)], eb[b[2]][eb["aus"].index(au)]
        if x is not None and y is not None:
          d.append(x - y)
    diffs.append(scale * np.mean(d))
  d = np.array(diffs)
  lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
  return d, lo, hi


def test_claims_pair_by_seed_and_match_scipy_t_interval():
  runs = _runs()
  cl = ev.claims(runs)
  qs = cl["qda_vs_softmax"][0]
  d, lo, hi = _ref(runs, ("ml", "disfa_like", "auc"), ("ml", "disfa_like", "auc_softmax"), ALL12)
  np.testing.assert_allclose(qs["diffs"], d, rtol=1e-12)
  np.testing.assert_allclose(qs["ci95"], [lo, hi], rtol=1e-9)
  assert qs["n"] == 3 and qs["same_frames"]
  drops = {(c["a"], c["b"]): c for c in cl["cross_drop"]}
  assert len(drops) == 6
  for (a, b, scale) in [(("fl_shared", "bp4d_like", "auc"), ("dl_shared", "bp4d_like", "auc"), 1),
                        (("ml", "disfa_like", "accuracy"), ("fl_shared", "disfa_like", "accuracy"),
                         100)]:
    c = drops[(f"{a[2]} [{a[0]} @ {a[1]}]", f"{b[2]} [{b[0]} @ {b[1]}]")]
    d, lo, hi = _ref(runs, a, b, SHARED, scale)
    np.testing.assert_allclose(c["diffs"], d, rtol=1e-12)
    np.testing.assert_allclose(c["ci95"], [lo, hi], rtol=1e-9)
    assert c["aus"] == SHARED and c["same_frames"]
    want = "holds" if lo > 0 else "reversed" if hi < 0 else "not shown"
    assert c["verdict"] == want
  phi = cl["phi"]
  v = np.array([0.5, 0.6, 0.7])
  np.testing.assert_allclose(phi["values"], v)
  np.testing.assert_allclose(phi["ci95"], stats.t.interval(0.95, 2, loc=v.mean(),
                                                           scale=stats.sem(v)), rtol=1e-9)
  assert phi["verdict"] == "holds"


def test_different_test_frames_are_flagged_and_a_missing_seed_is_unpaired():
  runs = _runs(cross_labels="y")                     # fl_shared saw other disfa_like labels
  runs = [r for r in runs if not (r["name"] == "dl_shared" and r["seed"] == 2)]
  cl = ev.claims(runs)
  flagged = {c["a"]: c["same_frames"] for c in cl["cross_drop"] if c["metric"] == "2AFC"}
  assert flagged == {"auc [fl_shared @ bp4d_like]": True, "auc [ml @ disfa_like]": False,
                     "auc [dl_shared @ disfa_like]": False}
  fera = next(c for c in cl["cross_drop"] if c["a"] == "auc [fl_shared @ bp4d_like]")
  assert fera["seeds"] == [0, 1] and fera["n"] == 2
  assert "NOT the same frames" in ev.markdown({
      "seeds": [0, 1, 2], "seeds_complete": [0, 1], "steps": 0, "runlocal": False, "runs": runs,
      "summary": ev.summary(runs), "claims": cl})


@pytest.mark.parametrize("ci,word", [((-0.01, 0.015), "comparable"),
                                     ((0.025, 0.05), "not comparable"),
                                     ((-0.06, -0.03), "not comparable"),
                                     ((-0.01, 0.03), "undecided"),
                                     ((float("nan"), float("nan")), "undecided")])
def test_equivalence_margin(ci, word):
  assert ev.equivalence({"ci95": list(ci)}).startswith(word)


def test_summarise_only_prints_the_tables(tmp_path, capsys):
  runs = _runs()
  doc = {"seeds": [0, 1, 2], "seeds_complete": [0, 1, 2], "steps": 0, "runlocal": False,
         "runs": runs, "summary": ev.summary(runs), "claims": ev.claims(runs)}
  out = tmp_path / "ev.json"
  out.write_text(json.dumps(doc))
  ev.main(["--summarise_only", f"--out={out}"])
  text = capsys.readouterr().out
  assert "| (a) QDA head vs the network's softmax outputs" in text
  assert text.count("| (b) cross-dataset drop") == 6 and "| (c) learned phi" in text
  assert "| ml | disfa_like |" in text and "| dl_shared | 2 | 10.0 |" in text
  s = doc["summary"]["ml"]["evals"]["disfa_like"]["auc"]
  want = [np.mean([x for x in r["evals"]["disfa_like"]["auc"] if x is not None])
          for r in runs if r["name"] == "ml"]
  np.testing.assert_allclose(s["per_seed"], want)
