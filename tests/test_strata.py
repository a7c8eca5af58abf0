"""Stratified evaluation (au_jax.strata) against a hand computation: plain
loops over the records pick each stratum's cells, sklearn / scipy / a loop
ICC(3,1) score them; the label index's nuisance fields; missing fields."""
import json
import os
import types

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from au_jax import strata
from au_jax.data import label_index as li
from au_jax.data.label_index import LabelIndex

AUS = (1, 12, 25)
INTENSITY_CODED = (True, True, False)   # AU25: occurrence only


def _index(n_subjects, per_subject, seed, nuisance=True, expressivity=None):
  rng = np.random.default_rng(seed)
  n = n_subjects * per_subject
  subject = np.repeat(np.arange(n_subjects), per_subject).astype(np.int32)
  inten = rng.choice(6, size=(n, 3), p=[.4, .15, .15, .12, .1, .08]).astype(np.int32)
  inten[rng.random((n, 3)) < .05] = -1                  # unknown labels
  occ = np.where(inten >= 0, (inten >= 2).astype(np.int32), -1)
  nuis = None
  if nuisance:
    yaw = rng.uniform(-50, 50, n).astype(np.float32)
    yaw[rng.random(n) < .05] = np.nan
    yaw[:4] = [10.0, -25.0, 40.0, -0.0]                 # bin edges
    covered = rng.choice([0.0, .05, .099, .1, .3, .5, .8, 1.0, np.nan], size=(n, 3))
    expr = (expressivity if expressivity is not None
            else rng.uniform(.5, 1.5, n_subjects))[subject].astype(np.float32)
    expr[subject == 0] = np.nan                          # one subject without a value
    occluder = rng.choice(["none", "none", "hand", "unspecified", ""], size=n)
    nuis = {"yaw": yaw, "au_covered": covered.astype(np.float32), "expressivity": expr,
            "occluder": occluder}
  return LabelIndex(intensity=inten, occurrence=occ, subject=subject, sequence=subject.copy(),
                    frame=np.arange(n, dtype=np.int32), dataset=np.zeros(n, np.int32),
                    subjects=tuple(f"s{i}" for i in range(n_subjects)),
                    sequences=tuple(f"q{i}" for i in range(n_subjects)), nuisance=nuis)


def _preds(index, seed):
  rng = np.random.default_rng(seed)
  truth = np.clip(index.intensity, 0, 5).astype(np.float64)
  return {"intensity": truth + rng.normal(0, 1.2, truth.shape),
          "occurrence": 1 / (1 + np.exp(-(2 * (truth >= 2) - 1 + rng.normal(0, 1.5, truth.shape))))}


def _icc31_loop(y, p):
  n = len(y)
  rows = [(y[i] + p[i]) / 2 for i in range(n)]
  grand = sum(rows) / n
  col = [sum(y) / n, sum(p) / n]
  ss_rows = 2 * sum((r - grand) ** 2 for r in rows)
  ss_cols = n * sum((c - grand) ** 2 for c in col)
  ss_tot = sum((v - grand) ** 2 for v in list(y) + list(p))
  ems = (ss_tot - ss_rows - ss_cols) / (n - 1)
  bms = ss_rows / (n - 1)
  return (bms - ems) / (bms + ems)


def _reference(index, preds, thr, member):
  """member(i, a) -> bool: record i's AU a is in the stratum. Per-AU rows by loops."""
  rows = {}
  for a, au in enumerate(AUS):
    occ_i = [i for i in range(len(index)) if member(i, a) and index.occurrence[i, a] >= 0]
    y = np.array([index.occurrence[i, a] for i in occ_i])
    s = np.array([preds["occurrence"][i, a] for i in occ_i])
    row = {"n_occurrence": len(occ_i), "n_positives": int(sum(y == 1))}
    if len(occ_i):
      yp = (s >= thr[a]).astype(int)
      row["f1"] = skm.f1_score(y, yp, zero_division=np.nan)
      row["accuracy"] = skm.accuracy_score(y, yp)
      row["auc"] = skm.roc_auc_score(y, s) if 0 < y.sum() < len(y) else np.nan
      row["phi"] = (skm.matthews_corrcoef(y, yp) if len(set(y)) > 1 and len(set(yp)) > 1
                    else np.nan)
    int_i = [i for i in range(len(index)) if member(i, a) and index.intensity[i, a] >= 0]
    if INTENSITY_CODED[a] and int_i:
      t = np.array([index.intensity[i, a] for i in int_i], float)
      p = np.array([preds["intensity"][i, a] for i in int_i])
      row["n_intensity"] = len(int_i)
      row["mae"] = skm.mean_absolute_error(t, p)
      row["mse"] = skm.mean_squared_error(t, p)
      row["icc"] = _icc31_loop(t, p) if len(int_i) > 1 else np.nan
      row["pcc"] = stats.pearsonr(t, p)[0] if len(int_i) > 1 and t.std() > 0 else np.nan
    rows[f"AU{au:02d}"] = row
  n = sum(any(member(i, a) and (index.occurrence[i, a] >= 0 or
                                (INTENSITY_CODED[a] and index.intensity[i, a] >= 0))
              for a in range(3)) for i in range(len(index)))
  return rows, n


def _check(table, rows, n):
  assert table["n"] == n
  for au, ref in rows.items():
    got = table["per_au"][au]
    for k, v in ref.items():
      assert k in got, (au, k)
      np.testing.assert_allclose(got[k], v, rtol=1e-9, atol=1e-12, err_msg=f"{au} {k}")
    for k in strata.OCCURRENCE_KEYS + strata.INTENSITY_KEYS:
      assert (k in got) == (k in ref), (au, k)
    few = ref["n_occurrence"] > 0 and ref["n_positives"] < strata.MIN_POSITIVES
    assert (au in table["few_positives"]) == few
  for k in strata.OCCURRENCE_KEYS + strata.INTENSITY_KEYS:
    vals = [r[k] for r in rows.values() if k in r and np.isfinite(r[k])]
    if vals:
      assert table["mean"][k] == pytest.approx(np.mean(vals), rel=1e-9)


def _quantile_by_hand(values, q):
  v = sorted(values)
  pos = q * (len(v) - 1)
  lo = int(pos)
  return v[lo] + (pos - lo) * (v[min(lo + 1, len(v) - 1)] - v[lo])


def test_every_stratum_equals_a_hand_computation():
  test = _index(6, 80, seed=1)
  train_expr = np.array([.4, .7, .8, 1.0, 1.1, 1.3, 1.6, 2.0, .9])
  train = _index(9, 5, seed=2, expressivity=train_expr)
  preds = _preds(test, seed=3)
  thr = np.array([.4, .55, .5])
  out = strata.stratify(preds, test, AUS, INTENSITY_CODED, thr, train_index=train)
  assert out["missing"] is None and out["notes"] == []
  assert set(out["by"]) == {"occlusion", "occluder", "yaw", "intensity", "expressivity"}

  cov = test.nuisance["au_covered"]
  yaw = test.nuisance["yaw"]
  occluder = test.nuisance["occluder"]
  ok = lambda x: not np.isnan(x)
  checks = {
      ("occlusion", "visible"): lambda i, a: ok(cov[i, a]) and cov[i, a] < .1,
      ("occlusion", "occluded"): lambda i, a: ok(cov[i, a]) and cov[i, a] >= .5,
      ("occluder", "none"): lambda i, a: occluder[i] == "none",
      ("occluder", "occluded"): lambda i, a: occluder[i] in ("hand", "unspecified"),
      ("yaw", "0-10"): lambda i, a: ok(yaw[i]) and abs(yaw[i]) < 10,
      ("yaw", "10-25"): lambda i, a: ok(yaw[i]) and 10 <= abs(yaw[i]) < 25,
      ("yaw", "25-40"): lambda i, a: ok(yaw[i]) and 25 <= abs(yaw[i]) <= 40,
      ("yaw", ">40"): lambda i, a: ok(yaw[i]) and abs(yaw[i]) > 40,
      ("intensity", "0"): lambda i, a: INTENSITY_CODED[a] and test.intensity[i, a] == 0,
      ("intensity", "1-2"): lambda i, a: INTENSITY_CODED[a] and 1 <= test.intensity[i, a] <= 2,
      ("intensity", "3-5"): lambda i, a: INTENSITY_CODED[a] and test.intensity[i, a] >= 3,
  }
  # Cut points: one value per training subject (subject 0 has none), by hand.
  per_subject = [float(v) for v in train_expr[1:]]
  cuts = (_quantile_by_hand(per_subject, 1 / 3), _quantile_by_hand(per_subject, 2 / 3))
  assert out["by"]["expressivity"]["cut_points"] == pytest.approx(cuts, rel=1e-6)
  assert out["by"]["expressivity"]["cut_points_from"] == "train"
  e = test.nuisance["expressivity"]
  checks[("expressivity", "low")] = lambda i, a: ok(e[i]) and e[i] < cuts[0]
  checks[("expressivity", "mid")] = lambda i, a: ok(e[i]) and cuts[0] <= e[i] < cuts[1]
  checks[("expressivity", "high")] = lambda i, a: ok(e[i]) and e[i] >= cuts[1]

  for name, s in out["by"].items():
    assert sorted(s["strata"]) == sorted(k for n, k in checks if n == name), name
  for (name, stratum), member in checks.items():
    rows, n = _reference(test, preds, thr, member)
    _check(out["by"][name]["strata"][stratum], rows, n)
  # The flag is exercised both ways: small strata flag AUs, the biggest do not.
  flags = [t["few_positives"] for s in out["by"].values() for t in s["strata"].values()]
  assert any(flags) and not all(flags)


def test_the_unstratified_table_is_the_stratum_of_every_cell():
  test = _index(4, 50, seed=5)
  preds = _preds(test, seed=6)
  every = strata.au_table(test.occurrence, test.intensity, preds, AUS, INTENSITY_CODED, .5)
  rows, n = _reference(test, preds, np.full(3, .5), lambda i, a: True)
  every["few_positives"] = [au for au, r in rows.items() if r["n_positives"] < 30]
  _check(every, rows, n)
  assert every["n"] == len(test)


def test_no_yaw_bin_beyond_40_without_such_records():
  assert list(strata.yaw_records(np.array([0, 12, -40.0, np.nan]))) == ["0-10", "10-25", "25-40"]
  bins = strata.yaw_records(np.array([0, 12, -40.0, 40.5, np.nan]))
  assert list(bins) == ["0-10", "10-25", "25-40", ">40"]
  assert [np.flatnonzero(v).tolist() for v in bins.values()] == [[0], [1], [2], [3]]


def test_missing_fields_give_no_strata_and_one_line():
  test = _index(4, 40, seed=7, nuisance=False)
  preds = _preds(test, seed=8)
  out = strata.stratify(preds, test, AUS, INTENSITY_CODED, .5)
  assert list(out["by"]) == ["intensity"]     # needs no nuisance field
  assert out["missing"] == ("no occlusion, occluder, yaw, expressivity strata: the test records "
                            "lack the nuisance fields au_covered, occluder, yaw, expressivity")
  md = strata.format_strata(out)
  assert md.count("lack the nuisance field") == 1
  # Fields present but holding only their missing value count as missing.
  n = len(test)
  nuis = {"yaw": np.full(n, np.nan, np.float32), "au_covered": np.zeros((n, 3), np.float32),
          "expressivity": np.full(n, np.nan, np.float32)}
  test2 = LabelIndex(**{**test.__dict__, "nuisance": nuis})
  out2 = strata.stratify(preds, test2, AUS, INTENSITY_CODED, .5)
  assert list(out2["by"]) == ["occlusion", "intensity"]
  assert out2["missing"].endswith("lack the nuisance fields occluder, yaw, expressivity")
  # No intensity-coded AU and no field: nothing to stratify, still no error.
  out3 = strata.stratify(preds, test, AUS, (False, False, False), .5)
  assert out3["by"] == {} and out3["missing"]


def test_expressivity_cut_points_fall_back_to_the_test_subjects():
  test = _index(7, 30, seed=9)
  train = _index(5, 10, seed=10, nuisance=False)
  out = strata.stratify(_preds(test, 11), test, AUS, INTENSITY_CODED, .5, train_index=train)
  e = out["by"]["expressivity"]
  assert e["cut_points_from"] == "test"
  values = [float(test.nuisance["expressivity"][test.subject == s][0]) for s in range(1, 7)]
  assert e["cut_points"] == pytest.approx(
      [_quantile_by_hand(values, 1 / 3), _quantile_by_hand(values, 2 / 3)], rel=1e-6)
  assert out["notes"] == [("expressivity tertile cut points come from the test subjects: the "
                           "training records lack the field")]


def _tfds_like_records(n, num_aus, with_fields, rng):
  """Records as a TFDS data source gives them: bytes for text, numpy scalars."""
  out = []
  for i in range(n):
    r = {"au_intensity": np.zeros(num_aus, np.int32), "subject": b"s", "frame": np.int32(i)}
    if with_fields:
      r.update(yaw=np.float32(rng.uniform(-40, 40)), occluder=b"hand" if i % 2 else b"none",
               au_covered=rng.random(num_aus).astype(np.float32),
               jpeg_quality=np.int32(90), expressivity=np.float32(1.2), expression=b"")
    out.append(r)
  return out


def test_label_index_reads_the_fields_a_source_has_and_none_otherwise():
  rng = np.random.default_rng(0)
  with_f = _tfds_like_records(5, 2, True, rng)        # dataset AUs (12, 4) in split (4, 6, 12)
  without = _tfds_like_records(3, 2, False, rng)
  a = li.nuisance_arrays(with_f, 2)
  assert sorted(a) == sorted(li.CACHE_PREFIX + f for f in
                             ("yaw", "occluder", "au_covered", "jpeg_quality", "expressivity",
                              "expression"))
  assert li.nuisance_arrays(without, 2) == {} and li.nuisance_arrays([], 2) == {}
  src, columns = np.array([0, 1]), np.array([2, 0])
  blocks = [(5, li.subject_nuisance(a, src, columns, 3)),
            (3, li.subject_nuisance(li.nuisance_arrays(without, 2), src, columns, 3))]
  nuis = li.concat_nuisance(blocks, 3)
  assert nuis["au_covered"].shape == (8, 3)
  for i, r in enumerate(with_f):   # dataset AU12 -> column 2, AU4 -> column 0, AU6 -> none
    assert nuis["au_covered"][i].tolist() == pytest.approx(
        [r["au_covered"][1], np.nan, r["au_covered"][0]], nan_ok=True)
  assert np.isnan(nuis["au_covered"][5:]).all()
  assert nuis["occluder"].tolist() == ["none", "hand"] * 2 + ["none", "", "", ""]
  assert nuis["jpeg_quality"].tolist() == [90] * 5 + [-1] * 3
  assert "pitch" not in nuis and li.concat_nuisance([(3, {}), (2, {})], 3) is None

  base = _index(2, 4, seed=0, nuisance=False)
  index = LabelIndex(**{**base.__dict__, "nuisance": nuis})
  assert index.field("yaw") is not None and index.field("pitch") is None
  assert index.field("expression") is None              # only "" (missing) values
  assert base.field("yaw") is None and base.nuisance is None
  with pytest.raises(ValueError, match="rows"):
    LabelIndex(**{**base.__dict__, "nuisance": {"yaw": np.zeros(3, np.float32)}})
  with pytest.raises(ValueError, match="unknown field"):
    LabelIndex(**{**base.__dict__, "nuisance": {"tilt": np.zeros(8, np.float32)}})


@pytest.mark.slow
@pytest.mark.parametrize("with_nuisance", [True, False])
def test_engine_report_has_strata_table_and_plots(tmp_path, monkeypatch, with_nuisance):
  """The engine's report step (loop.final_evaluation) on a test split whose
  records carry nuisance (or not): report.json, report.md and the plots."""
  from au_jax import evaluate
  from au_jax.data import sources
  from au_jax.train import loop
  from tests.conftest import tiny_config

  config = tiny_config("configs.gudi_synthetic", str(tmp_path / "data"), plots=True)
  config.eval.save_predictions = False
  info = sources.DataInfo(aus=AUS, intensity_coded=INTENSITY_CODED,
                          occurrence_coded=(True,) * 3, datasets=("d",), metadata=({},))
  splits = {s: sources.Split(s, None, _index(n, 40, seed=k, nuisance=with_nuisance), info)
            for k, (s, n) in enumerate((("train", 6), ("validation", 2), ("test", 3)))}
  monkeypatch.setattr(evaluate, "predict_split",
                      lambda step, state, split, *a, **k: _preds(split.index, len(split.index)))
  workdir = str(tmp_path / "run")
  os.makedirs(workdir)
  report = loop.final_evaluation(config, workdir, None, types.SimpleNamespace(step=3), splits,
                                 {s: None for s in splits}, None, info, None, 1, 3)
  with open(os.path.join(workdir, "report.json")) as f:
    saved = json.load(f)
  assert saved["strata"]["by"].keys() == report["strata"]["by"].keys()
  with open(os.path.join(workdir, "report.md")) as f:
    md = f.read()
  assert "### Strata (test)" in md and "#### intensity" in md
  plots = sorted(os.listdir(os.path.join(workdir, "plots")))
  assert "strata.png" in plots
  if with_nuisance:
    assert list(saved["strata"]["by"]) == ["occlusion", "occluder", "yaw", "intensity",
                                           "expressivity"]
    assert saved["strata"]["missing"] is None and "#### occlusion" in md
    assert saved["strata"]["by"]["expressivity"]["cut_points_from"] == "train"
  else:
    assert list(saved["strata"]["by"]) == ["intensity"]
    assert md.count("lack the nuisance fields au_covered, occluder, yaw, expressivity") == 1


def test_plot_series_are_the_strata_means_and_per_au_values():
  from au_jax import viz
  test = _index(4, 60, seed=12)
  out = strata.stratify(_preds(test, 13), test, AUS, INTENSITY_CODED, .5)
  series = viz.strata_series(out, "icc")
  assert list(series) == list(out["by"])       # every stratification has ICC values
  names, means, per_au, flagged = series["yaw"]
  tables = out["by"]["yaw"]["strata"]
  assert names == list(tables)
  assert means == [tables[k]["mean"]["icc"] for k in names]
  assert per_au["AU12"] == [tables[k]["per_au"]["AU12"]["icc"] for k in names]
  assert np.isnan(per_au["AU25"]).all()         # occurrence only: no ICC
  assert flagged == [bool(tables[k]["few_positives"]) for k in names]
  assert viz.strata_series({"by": {}, "split": "test", "min_positives": 30}, "f1") == {}


def test_occluder_records_read_text_or_bytes():
  got = strata.occluder_records(np.array([b"none", b"hand", b"", b"unspecified"]))
  assert [np.flatnonzero(v).tolist() for v in got.values()] == [[0], [1, 3]]
