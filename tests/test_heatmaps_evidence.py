"""benchmarks/heatmaps_evidence.py: paired claims, the noise-robustness test and
the workdir shared with compare_methods.py, on fake runs (no training)."""
import numpy as np
from scipy import stats

from benchmarks import compare_methods
from benchmarks import heatmaps_evidence as ev

AUS = ["AU06", "AU10", "AU12", "AU14", "AU17"]


def _run(name, seed, icc, mse, curve=None, drop=None):
  r = {"name": name, "seed": seed, "aus": AUS, "steps": 100, "icc": list(icc), "mse": list(mse),
       "wall_s": 10.0}
  if curve is not None:
    r["robustness"] = {"sigmas": [float(s) for s in range(0, 60, 5)], "sigma_scale": 0.375,
                       "icc": list(curve), "mse": [1.0] * 12, "icc_drop_sigma": drop}
  return r


def _t_half(x):
  x = np.asarray(x, float)
  return stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))


def test_paired_claims_against_numpy_and_scipy_t():
  rng = np.random.default_rng(0)
  runs = []
  for s in range(3):
    joint = 0.6 + 0.1 * rng.random(5)
    icc_r18 = joint - 0.05 - 0.01 * rng.random(5)          # joint clearly better
    icc_single = joint + rng.normal(0, 0.05, 5)            # no clear difference
    if s == 1:
      icc_single[3] = np.nan                                # AU14 undefined in one run
    mse = 1.0 + rng.random(5)
    runs += [_run("heatmaps", s, joint, mse), _run("heatmaps_resnet18", s, icc_r18, mse + 0.2),
             _run("heatmaps_single", s, icc_single, mse - 0.3)]
  cl = {c["claim"]: c for c in ev.claims(runs)}
  c = cl["heatmaps beat ResNet-18 (ICC)"]
  by = {(r["name"], r["seed"]): r for r in runs}
  ref = [np.mean(by["heatmaps", s]["icc"]) - np.mean(by["heatmaps_resnet18", s]["icc"])
         for s in range(3)]
  np.testing.assert_allclose(c["diffs"], ref)
  np.testing.assert_allclose(c["ci95"], [np.mean(ref) - _t_half(ref), np.mean(ref) + _t_half(ref)])
  assert c["verdict"] == "holds"
  # MSE: lower is better; joint has 0.2 less than ResNet-18 in every AU -> holds,
  # 0.3 more than single -> reversed
  assert cl["heatmaps beat ResNet-18 (MSE)"]["verdict"] == "holds"
  assert cl["joint maps beat single heatmaps (MSE)"]["verdict"] == "reversed"
  # the NaN AU14 leaves both sides of the joint-vs-single ICC claim, every seed
  c = cl["joint maps beat single heatmaps (ICC)"]
  assert c["aus"] == ["AU06", "AU10", "AU12", "AU17"]
  keep = [0, 1, 2, 4]
  ref = [np.mean(np.asarray(by["heatmaps", s]["icc"])[keep])
         - np.mean(np.asarray(by["heatmaps_single", s]["icc"])[keep]) for s in range(3)]
  np.testing.assert_allclose(c["diffs"], ref)
  assert np.isclose(c["paper"], 0.03)


def _curves(plateau_until, n=3, rise=False):
  """Per seed: flat up to `plateau_until` px, then falling; each sigma > 0 off
  by +-0.002 with mean 0 over the seeds (a wobble that is never significant)."""
  out = []
  sig = np.arange(0, 60, 5)
  for s in range(n):
    base = 0.6 + 0.02 * s
    c = base + 0.002 * np.array([(1, -1, 0)[(s + k) % 3] for k in range(12)]) * (sig > 0)
    c = c - np.where(sig > plateau_until, 0.01 * (sig - plateau_until), 0.0) * (-1 if rise else 1)
    out.append(c)
  return out


def test_robustness_holds_then_degrades_and_threshold():
  curves = _curves(15)
  drops = [17.0, 19.0, None]
  runs = [_run("heatmaps", s, [0.5] * 5, [1] * 5, c, d)
          for s, (c, d) in enumerate(zip(curves, drops))]
  rb = ev.robustness_summary(runs)
  c = np.array(curves)
  for k, row in enumerate(rb["rows"]):
    d = c[:, k] - c[:, 0]
    if k:
      np.testing.assert_allclose(row["icc_minus_sigma0"]["ci95"],
                                 [d.mean() - _t_half(d), d.mean() + _t_half(d)], atol=1e-12)
      assert row["significant_drop"] == (d.mean() + _t_half(d) < 0)
    np.testing.assert_allclose(row["icc"]["mean"], c[:, k].mean())
  assert rb["sigma_drop"] == 20 and rb["sigma_hold"] == 15 and rb["verdict"] == "holds"
  d10 = rb["icc_drop_sigma"]
  assert d10["n"] == 2 and d10["never_dropped"] == 1 and np.isclose(d10["mean"], 18.0)
  assert "inside" in rb["icc_drop_vs_paper"]        # [18 -+ 12.7]: 13 px inside
  md = ev.markdown(ev.document(runs, [0, 1, 2], 0, False))
  assert "**holds**" in md and "never" in md


def test_robustness_not_shown_without_plateau_or_without_drop():
  none = [_run("heatmaps", s, [0.5] * 5, [1] * 5, c, None) for s, c in enumerate(_curves(100))]
  rb = ev.robustness_summary(none)
  assert rb["verdict"] == "not shown" and rb["sigma_drop"] is None and "no significant" in rb["why"]
  early = [_run("heatmaps", s, [0.5] * 5, [1] * 5, c, 3.0) for s, c in enumerate(_curves(0))]
  rb = ev.robustness_summary(early)
  assert rb["verdict"] == "not shown" and rb["sigma_drop"] == 5 and "no plateau" in rb["why"]
  up = [_run("heatmaps", s, [0.5] * 5, [1] * 5, c, None) for s, c in enumerate(_curves(15, rise=True))]
  assert ev.robustness_summary(up)["verdict"] == "reversed"
  one = ev.robustness_summary(none[:1])
  assert one["verdict"] == "not shown"


def test_joint_workdir_and_command_are_compare_methods_own():
  cm = compare_methods
  for runlocal in (False, True):
    wd = "/x/" + ev.workdir_name("heatmaps", 2, 0)
    assert ev.workdir_name("heatmaps", 2, 0) == cm.workdir_name("heatmaps", 2)
    assert ev.command("", 2, wd, 0, runlocal) == cm.command("heatmaps", 2, wd, runlocal)
  assert ev.workdir_name("heatmaps", 2, 5) != cm.workdir_name("heatmaps", 2)
  # the config this script checks a reused workdir against: config.seed set, rest the file's
  cfg = ev.expected_config("arch=single", 3, 4, True)
  assert cfg["seed"] == 3 and cfg["model"]["arch"] == "single"
  assert cfg["train"]["stages"][0]["steps"] == 4
