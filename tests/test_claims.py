"""benchmarks/claims.py without training: the decision rule against scipy's t
quantiles, the run plan (shared arms once, equal images per arm), the rows'
arithmetic on made-up run records, and the stratum rule's positive counts."""
import itertools
import math

import numpy as np
import pytest
from scipy import stats

from benchmarks import claims as C
from benchmarks import compare_equal_budget as ceb


def _interval(d):
  d = np.asarray(d, float)
  half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
  return d.mean() - half, d.mean() + half


@pytest.mark.parametrize("diffs,direction,verdict", [
    ([0.03, 0.05, 0.04, 0.06, 0.02], +1, "HOLDS"),
    ([0.03, 0.05, 0.04, 0.06, 0.02], -1, "REVERSED"),
    ([-0.03, -0.05, -0.04, -0.06, -0.02], +1, "REVERSED"),
    ([0.03, -0.05, 0.04, 0.06, 0.02], +1, "NOT SHOWN"),
    ([0.03, 0.05, 0.04, 0.06, 0.02, -0.01, 0.015, 0.0, 0.025, 0.03], +1, "HOLDS"),
])
def test_decision_rule_against_scipy(diffs, direction, verdict):
  d = C.decide(diffs, len(diffs), direction)
  lo, hi = _interval(diffs)
  assert np.allclose(d["ci95"], [lo, hi]) and math.isclose(d["mean"], np.mean(diffs))
  assert d["verdict"] == verdict
  # the verdict is the interval's position, read off scipy's bounds
  want = ("HOLDS" if (lo > 0 if direction > 0 else hi < 0) else
          "REVERSED" if (hi < 0 if direction > 0 else lo > 0) else "NOT SHOWN")
  assert want == verdict


def test_incomplete_seeds_say_so_and_keep_the_interval():
  d = C.decide([0.03, 0.05, 0.04], 5)
  assert d["verdict"] == "incomplete (3/5 seeds)" and d["n"] == 3
  assert np.allclose(d["ci95"], _interval([0.03, 0.05, 0.04]))
  assert C.decide([], 10)["verdict"] == "incomplete (0/10 seeds)"
  assert C.decide([0.1], 1)["verdict"] == "NOT SHOWN"      # one seed: no interval


def test_h1b_margin_is_an_equivalence_decision():
  # whole interval below .02: HOLDS; lower end above .02: REVERSED; straddling: NOT SHOWN
  below = [0.001, 0.004, -0.002, 0.003, 0.0]
  above = [0.05, 0.06, 0.045, 0.055, 0.07]
  straddle = [0.0, 0.03, 0.01, 0.04, 0.02]
  for diffs, verdict in ((below, "HOLDS"), (above, "REVERSED"), (straddle, "NOT SHOWN")):
    lo, hi = _interval(diffs)
    assert C.decide(diffs, 5, margin=C.H1_MARGIN)["verdict"] == verdict
    assert (hi < 0.02) == (verdict == "HOLDS") and (lo > 0.02) == (verdict == "REVERSED")
  # against 0 the first would not be decided the same way: the margin matters
  assert C.decide(below, 5)["verdict"] == "NOT SHOWN"


def test_run_plan_runs_shared_arms_once_with_the_plan_seeds():
  plan = C.run_plan(list(C.CLAIMS.values()))
  assert len(plan) == len(set(plan))
  seeds = {a: sorted(s for x, s in plan if x == a) for a in C.ARMS}
  # arms of the 10-seed claims (C2, D2, S1) run 10 seeds, the others 5, each once
  large = ("ccnn_it_large", "ocnn_it_large", "dsin_t10_large", "dsin_ppf_large")
  for arm in ("ccnn_it", "ocnn_it", "dsin_t10", "dsin_ppf") + large:
    assert seeds[arm] == list(range(10))
  for arm in ("cnn_it", "ccnn_it_uniform", "ccnn_joint", "ccnn_it_multi", "dsin_t2",
              "dsin_ncf", "ml", "ml_bp4d_to_disfa", "ml_disfa_to_bp4d", "hm_joint",
              "hm_resnet18", "hm_single"):
    assert seeds[arm] == list(range(5))
  assert len(plan) == 8 * 10 + 12 * 5
  # seed-major: every arm of seed s before any of seed s + 1
  assert [s for _, s in plan] == sorted(s for _, s in plan)
  # --seeds applies to every claim; a subset of claims plans only its arms
  sub = C.run_plan([C.CLAIMS["C1"], C.CLAIMS["C2"]], [3, 4])
  assert sorted(sub) == sorted(itertools.product(("ccnn_it", "ocnn_it", "cnn_it"), (3, 4)))


@pytest.mark.parametrize("arm", list(C.ARMS))
def test_every_arm_sees_the_budget_and_its_selection_metric(arm):
  p = C.arm_plan(arm, C.BUDGET)
  if p["needs"]:      # planned, not run: the config lacks an override's key
    assert arm == "hm_resnet18" and "model.widths" in " ".join(p["overrides"])
    return
  config = p["config"]
  stages = [s for s in config.train.stages if not s.get("fit")]
  images = (sum(s["steps"] for s in stages) * config.train.get("repeat", 1)
            * config.train.batch_size * config.model.get("train_copies", 1))
  assert images == C.BUDGET == p["images"]
  assert config.train.select_metric == {"ccnn": "icc", "dsin": "f1", "multilabel": "auc",
                                        "heatmaps": "icc"}[C.ARMS[arm].family]
  assert config.eval.threshold_metric == "f1" and config.train.patience == 0
  for key, value in C.ARMS[arm].overrides.items():
    assert ceb._get(config, key) == value


def test_c3_separates_balancing_from_iteration():
  it, uni, joint = (C.arm_plan(a, C.BUDGET)["config"]
                    for a in ("ccnn_it", "ccnn_it_uniform", "ccnn_joint"))
  assert [s["sampler"] for s in it.train.stages] == [
      "subject_balanced", "level_balanced", "cooccurrence_balanced"]
  assert [s["sampler"] for s in uni.train.stages] == ["uniform"] * 3
  assert [s["steps"] for s in uni.train.stages] == [s["steps"] for s in it.train.stages]
  assert [s["sampler"] for s in joint.train.stages] == ["uniform"] and joint.train.repeat == 1


def test_an_arm_departing_from_the_table_is_refused(monkeypatch):
  monkeypatch.setitem(C.ARMS, "ccnn_it", C.Arm("ccnn", C._CCNN, "", "x",
                                                {"train.batch_size": 32}))
  with pytest.raises(C.ClaimError, match="config.train.batch_size"):
    C.arm_plan("ccnn_it", C.BUDGET)


# --------------------------------------------------------------------------- rows

def _rec(arm, seed, test=None, strata=None, **extra):
  return {"arm": arm, "name": arm, "seed": seed, "test": test or {}, "strata": strata or {},
          **extra}


def _by_seed(recs):
  out = {}
  for r in recs:
    out.setdefault(r["seed"], {})[r["arm"]] = r
  return out


def test_paired_mean_over_aus_defined_in_every_run():
  a = [{"AU01": {"icc": 0.5}, "AU02": {"icc": 0.4}}, {"AU01": {"icc": 0.6}, "AU02": {"icc": None}}]
  b = [{"AU01": {"icc": 0.3}, "AU02": {"icc": 0.1}}, {"AU01": {"icc": 0.5}, "AU02": {"icc": 0.2}}]
  recs = [_rec("x", s, a[s]) for s in (0, 1)] + [_rec("y", s, b[s]) for s in (0, 1)]
  v = C.paired_mean("x", "y", C._test("icc"))(_by_seed(recs), [0, 1, 2])
  assert v["aus"] == ["AU01"]                      # AU02 undefined in seed 1: left out
  assert v["per_seed"] == pytest.approx({0: 0.2, 1: 0.1})


def _strata(pos_occ, pos_vis, f_occ, f_vis):
  def s(pos, f):
    return {"n": 100, "few_positives": [], "per_au": {
        au: {"f1": f[k], "n_positives": pos[k]} for k, au in enumerate(("AU01", "AU02"))}}
  return {C.OCCLUDED: s(pos_occ, f_occ), C.VISIBLE: s(pos_vis, f_vis)}


def test_stratum_rows_decide_only_on_aus_with_30_positives():
  seeds = [0, 1, 2]
  # AU02 has 29 positive occluded frames in one run: reported, not decided
  recs = []
  for s in seeds:
    recs.append(_rec("s", s, strata=_strata((40, 29 if s == 1 else 35), (80, 80),
                                            (0.5 + 0.1 * s, 0.9), (0.7, 0.6))))
    recs.append(_rec("i", s, strata=_strata((40, 35), (80, 80), (0.4, 0.1), (0.65, 0.6))))
  by = _by_seed(recs)
  v = C.stratum_mean("s", "i", "f1", C.OCCLUDED)(by, seeds)
  assert v["aus"] == ["AU01"] and v["few_positives"] == ["AU02"]
  assert v["per_seed"] == pytest.approx({0: 0.1, 1: 0.2, 2: 0.3})
  # S1: (s - i) occluded minus (s - i) visible, AU01 only
  w = C.occluded_minus_visible("s", "i", "f1")(by, seeds)
  assert w["aus"] == ["AU01"]
  assert w["per_seed"] == pytest.approx({s: (0.1 + 0.1 * s) - 0.05 for s in seeds})
  # its parts, over the same AU: (s - i) on occluded and on visible frames, each seed
  assert w["parts"]["occluded"] == pytest.approx({s: 0.1 + 0.1 * s for s in seeds})
  assert w["parts"]["visible"] == pytest.approx({s: 0.05 for s in seeds})
  s1 = C.Claim("S", "s", ("s", "i"), 3, (C.Row("s − i", C.occluded_minus_visible(
      "s", "i", "f1"), "f1", "occluded vs visible"),))
  row = C.evaluate_claim(s1, by, None, {})["rows"][0]
  assert np.allclose(row["parts"]["occluded"]["ci95"], _interval([0.1, 0.2, 0.3]))
  md = C.markdown({"claims": [C.evaluate_claim(s1, by, None, {})], "arms": {}}, 1, False)
  assert "A − B on the same AUs, occluded frames +0.200 [" in md
  assert "; visible frames +0.050 [+0.050, +0.050] (reported, not decided)" in md
  # every AU below 30 positives somewhere: the claim's row is reported, not decided
  claim = C.Claim("X", "x", ("s", "i"), 3, (C.Row("s − i", C.stratum_mean(
      "s", "i", "f1", C.OCCLUDED), "f1", "occluded"),))
  for r in recs:
    r["strata"][C.OCCLUDED]["per_au"]["AU01"]["n_positives"] = 12
  out = C.evaluate_claim(claim, _by_seed(recs), None, {})
  row = out["rows"][0]
  assert row["verdict"].startswith("reported, not decided")
  assert row["few_positives"] == ["AU01", "AU02"]
  # still reported: the mean over both AUs, (s - i) per seed = (0.1 + 0.1 s + 0.8) / 2
  assert row["per_seed"] == pytest.approx({str(s): (0.9 + 0.1 * s) / 2 for s in seeds})


def test_claim_verdicts_from_runs_incomplete_and_holds():
  claim = C.CLAIMS["C1"]
  recs = []
  for s in range(5):
    recs.append(_rec("ocnn_it", s, {"AU01": {"icc": 0.5 + 0.01 * s}, "AU02": {"icc": 0.4}}))
    recs.append(_rec("cnn_it", s, {"AU01": {"icc": 0.4}, "AU02": {"icc": 0.35 - 0.01 * s}}))
  full = C.evaluate_claim(claim, _by_seed(recs), None, {})["rows"][0]
  diffs = [((0.1 + 0.01 * s) + (0.05 + 0.01 * s)) / 2 for s in range(5)]
  assert full["per_seed"] == pytest.approx({str(s): d for s, d in enumerate(diffs)})
  assert full["verdict"] == "HOLDS" and np.allclose(full["ci95"], _interval(diffs))
  part = C.evaluate_claim(claim, _by_seed(recs[:6]), None, {})["rows"][0]
  assert part["verdict"] == "incomplete (3/5 seeds)"
  needs = C.evaluate_claim(C.CLAIMS["H2"], _by_seed(recs), None,
                           {"hm_resnet18": {"needs": "a widths key"}})["rows"][0]
  assert needs["verdict"] == "needs: a widths key"


def test_dependent_aus_are_those_of_the_strongest_true_pairs():
  from au_jax import aus as au_lib
  from tfds_builders.synthetic_au.true_dependence import TRUE_DEPENDENCE
  t = TRUE_DEPENDENCE["disfa_like"]
  rank = sorted(((abs(t["kendall_tau"][t["aus"].index(x)][t["aus"].index(y)]), x, y)
                 for x, y in itertools.combinations(au_lib.DISFA_AUS, 2)), reverse=True)
  want = sorted({au_lib.au_label(a) for _, x, y in rank[:4] for a in (x, y)})
  assert C.dependent_aus() == want and 4 <= len(want) <= 8


def test_rare_aus_come_from_validation_base_rates():
  recs = [_rec("ccnn_it", s, validation_base_rate={"AU01": 0.2, "AU02": 0.01, "AU04": 0.05,
                                                   "AU05": 0.3, "AU06": 0.02, "AU09": 0.04})
          for s in range(2)]
  assert C.rare_aus(_by_seed(recs), [0, 1]) == ["AU02", "AU06", "AU09", "AU04"]


def test_seeds_flag_and_claim_subset():
  assert C.parse_seeds("0-2,7") == [0, 1, 2, 7] and C.parse_seeds("") is None
  assert [c.id for c in C.select_claims("c1, D2")] == ["C1", "D2"]
  with pytest.raises(C.ClaimError, match="Z9"):
    C.select_claims("C1,Z9")
  assert C.claim_seeds(C.CLAIMS["S1"]) == list(range(10))
  assert C.claim_seeds(C.CLAIMS["S1"], [4, 5]) == [4, 5]


def test_h2_resnet_width_is_within_20_percent_of_the_hourglass():
  import jax

  from au_jax.data.sources import DataInfo
  from au_jax.models import get_spec
  from configs import heatmaps_synthetic
  aus = heatmaps_synthetic.DATASET_AUS["disfa_like"]
  info = DataInfo(aus=aus, intensity_coded=(True,) * len(aus),
                  occurrence_coded=(True,) * len(aus), datasets=("synthetic_au/disfa_like",),
                  metadata=({},))
  batch = {"image": np.zeros((1, 64, 64, 3), np.float32)}

  def params(arg, **extra):
    model = heatmaps_synthetic.get_config(arg).model.to_dict()
    method = get_spec("heatmaps").build({**model, **extra}, info)
    v = jax.eval_shape(lambda: method.init(jax.random.key(0), batch))
    return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(v["params"]))
  joint = params("dataset=disfa_like")
  resnet = params("dataset=disfa_like,arch=resnet18", widths=C.RESNET_WIDTHS)
  assert abs(resnet - joint) <= 0.2 * joint


def test_strata_cells_are_reported_with_the_counts_rule():
  seeds = [0, 1, 2]
  recs = []
  for s in seeds:
    recs.append(_rec("s", s, strata=_strata((40, 10), (80, 80), (0.5 + 0.1 * s, 0.9),
                                            (0.7, 0.6 + 0.05 * s))))
    recs.append(_rec("i", s, strata=_strata((40, 35), (80, 80), (0.4, 0.1), (0.65, 0.6))))
  cells = C.strata_cells(_by_seed(recs), seeds, "s", "i", "f1")
  occ, vis = cells[C.OCCLUDED], cells[C.VISIBLE]
  # occluded: AU02 (10 positives in "s") left out, AU01's differences 0.1, 0.2, 0.3
  assert occ["aus"] == ["AU01"] and occ["few_positives"] == ["AU02"] and occ["decided"]
  assert math.isclose(occ["mean"], 0.2) and np.allclose(occ["ci95"], _interval([0.1, 0.2, 0.3]))
  # visible: both AUs, per seed (0.05 + 0.05 s) / 2
  assert vis["aus"] == ["AU01", "AU02"] and not vis["few_positives"]
  assert np.allclose(vis["ci95"], _interval([0.025, 0.05, 0.075]))
  assert cells["yaw/0-10"]["n"] == 0            # no such stratum in the runs: nothing reported
  # the C1 row carries these columns
  out = C.evaluate_claim(C.CLAIMS["C1"], {}, None, {})
  assert set(out["rows"][0]["strata"]) == {f"{a}/{b}" for a, b in ceb.STRATA}


def test_h1_rows_per_yaw_bin_read_the_noise_curve_of_that_bin():
  sig = [0.0, 5.0, 20.0]
  recs = [_rec("hm_joint", s, robustness={
      "sigmas": sig, "icc": [0.6, 0.59, 0.4],
      "icc_by_yaw": {"0-10": [0.7, 0.69, 0.5 - 0.01 * s], "10-25": [0.5, 0.5, 0.45]}})
      for s in range(3)]
  rows = {r.label: r for r in C.CLAIMS["H1"].rows}
  a0 = rows["(a) ICC(0 px) − ICC(20 px), |yaw| 0-10°"].value(_by_seed(recs), [0, 1, 2])
  assert np.allclose([a0["per_seed"][s] for s in range(3)], [0.2, 0.21, 0.22])
  # a bin the curve does not have (no record that far out) has no value
  a2 = rows["(a) ICC(0 px) − ICC(20 px), |yaw| 25-40°"].value(_by_seed(recs), [0, 1, 2])
  assert not a2["per_seed"]


def test_the_occlusion_claims_run_on_the_large_config():
  """S1 and D2's occluded row on disfa_like_large (docs/benchmark.md 4.3); a
  dry run reads its tiny twin."""
  for arm in C.CLAIMS["S1"].arms:
    assert arm.endswith("_large") and C.ARMS[arm].datasets == ("disfa_like_large",)
    assert "dataset=disfa_like_large" in C.ARMS[arm].arg
  assert {"dsin_t10_large", "dsin_ppf_large"} < set(C.CLAIMS["D2"].arms)
  plan = C.arm_plan("dsin_t10_large", C.BUDGET, runlocal=False)
  assert [s["name"] for s in plan["config"].data.sources] == ["synthetic_au/disfa_like_large"]


def test_a_failed_run_is_reported_and_its_claim_is_incomplete(tmp_path, monkeypatch, capsys):
  import json

  def run_one(workroot, arm, seed, plan, runlocal, train=True):
    if not train:
      return None
    if (arm, seed) == ("cnn_it", 0):
      raise ceb.RunFailed(f"{workroot}/cnn_it_s0: launch.py ended with status 1")
    return _rec(arm, seed, {"AU01": {"icc": 0.5 if arm == "ocnn_it" else 0.4}},
                images_seen=64_000)
  monkeypatch.setattr(C, "run_one", run_one)
  out = tmp_path / "claims.json"
  with pytest.raises(SystemExit) as e:
    C.main(["--claims=C1", "--seeds=0,1", f"--workroot={tmp_path}", f"--out={out}"])
  assert "1 run(s) failed" in str(e.value.code) and "cnn_it_s0" in str(e.value.code)
  assert "failed, going on" in capsys.readouterr().err
  saved = json.loads(out.read_text())
  assert sorted((r["arm"], r["seed"]) for r in saved["runs"]) == [
      ("cnn_it", 1), ("ocnn_it", 0), ("ocnn_it", 1)]
  assert saved["summary"]["claims"][0]["rows"][0]["verdict"] == "incomplete (1/2 seeds)"


def test_a_subset_of_the_claims_never_replaces_the_whole_table(tmp_path, monkeypatch):
  import json
  from benchmarks import common

  def run_one(workroot, arm, seed, plan, runlocal, train=True):
    return _rec(arm, seed, {"AU01": {"icc": 0.5 if arm == "ocnn_it" else 0.4}},
                images_seen=64_000)
  monkeypatch.setattr(C, "run_one", run_one)
  monkeypatch.setattr(common, "RESULTS", str(tmp_path))
  whole = tmp_path / "claims.json"
  whole.write_text(json.dumps({"runs": [], "budget": 64_000, "runlocal": False}))
  for argv in (["--claims=C1"], ["--seeds=0,1"]):
    C.main(argv + [f"--workroot={tmp_path}"])
    assert json.loads(whole.read_text())["runs"] == []      # untouched
    subset = json.loads((tmp_path / "claims_subset.json").read_text())
    assert subset["runs"] and (tmp_path / "claims_subset.md").exists()
  assert C.default_out(C.argparse.Namespace(runlocal=False, summarise_only=True,
                                            workroot="w"), whole=False) == str(whole)


def test_remaining_time_from_each_arms_finished_runs(tmp_path):
  import json
  plan = [("ccnn_it", s) for s in range(4)] + [("ml", 0), ("hm_single", 0)]
  plans = {a: {"images": 64_000, "needs": ""} for a, _ in plan}
  for seed, wall in ((0, 100.0), (1, 300.0), (2, 250.0)):   # 3 of ccnn_it's 4 finished
    wd = tmp_path / f"ccnn_it_s{seed}"
    wd.mkdir()
    (wd / "report.json").write_text("{}")
    (wd / "compare_wall.json").write_text(json.dumps({"wall_s": wall}))
  (tmp_path / "ml_s0").mkdir()          # interrupted: no report.json, so left
  tp = tmp_path / "compare_methods.json"
  tp.write_text(json.dumps({
      "throughput": {"multilabel": {"train_step_images_per_s": 640.0, "batch_size": 64}},
      "runs": [{"method": "multilabel", "wall_s": 150.0, "steps": 1000}]}))
  r = C.remaining(plan, plans, str(tmp_path), str(tp))
  assert r["finished"] == 3
  assert r["left"] == [("ccnn_it", 3), ("ml", 0), ("hm_single", 0)]
  # ccnn_it_s3: the median of 100, 300, 250; ml: 64,000 / 640 + (150 - 1000 * 64 / 640)
  assert r["seconds"] == pytest.approx(250.0 + 100.0 + 50.0)
  assert r["unestimated"] == [("hm_single", 0)]


def test_markdown_table_rows_keep_their_columns_when_a_label_has_a_pipe():
  sig = [0.0, 5.0, 20.0]
  recs = [_rec("hm_joint", s, robustness={
      "sigmas": sig, "icc": [0.6, 0.59, 0.4],
      "icc_by_yaw": {"0-10": [0.7, 0.69, 0.5 - 0.01 * s]}}) for s in range(3)]
  summary = {"claims": [C.evaluate_claim(C.CLAIMS["H1"], _by_seed(recs), [0, 1, 2], {})],
             "arms": {}}
  md = C.markdown(summary, 64000, False)
  rows = [l for l in md.splitlines() if l.startswith("| ") and "yaw" in l]
  assert rows
  for line in rows:   # 8 columns: 9 unescaped pipes
    assert line.replace("\\|", "").count("|") == 9, line
  assert "mean over mean" not in md


def test_arms_flag_plans_only_those_arms_of_the_claims():
  plan = C.run_plan([C.CLAIMS["S1"]], None, ["ccnn_it_large", "ocnn_it_large"])
  assert sorted(plan) == sorted(itertools.product(("ccnn_it_large", "ocnn_it_large"), range(10)))
  with pytest.raises(C.ClaimError, match="dsin_t10"):
    C.run_plan([C.CLAIMS["C1"]], None, ["dsin_t10"])


def test_records_of_the_summary_are_reused_when_their_workdirs_are_gone(tmp_path, monkeypatch):
  import json
  trained = []

  def run_one(workroot, arm, seed, plan, runlocal, train=True):
    if not train:
      return None                    # no workdir on this machine
    trained.append((arm, seed))
    a = C.ARMS[arm]
    cmd = ceb.launch_command(a.config, a.arg, seed, C.workdir(workroot, arm, seed),
                             plan["overrides"], runlocal)
    return _rec(arm, seed, {"AU01": {"icc": 0.5 if arm == "ocnn_it" else 0.4}},
                command=" ".join(cmd[1:]), images_seen=64_000)
  monkeypatch.setattr(C, "run_one", run_one)
  out = tmp_path / "s.json"
  argv = ["--claims=C1", "--seeds=0,1", "--arms=ocnn_it", f"--workroot={tmp_path}",
          f"--out={out}"]
  C.main(argv)
  assert sorted(trained) == [("ocnn_it", 0), ("ocnn_it", 1)]
  rows = json.loads(out.read_text())["summary"]["claims"][0]["rows"]
  assert rows[0]["verdict"].startswith("incomplete")        # cnn_it not run
  # a second machine: the records are reused, not trained again; the other arm trains
  trained.clear()
  C.main(argv[:2] + argv[3:])
  assert sorted(trained) == [("cnn_it", 0), ("cnn_it", 1)]
  assert len(json.loads(out.read_text())["runs"]) == 4
  # another budget is another run: trained again
  trained.clear()
  C.main(argv + ["--budget=32000"])
  assert sorted(trained) == [("ocnn_it", 0), ("ocnn_it", 1)]
