"""synthetic_au: schema, nuisance fields, protocols, determinism, label coding, metadata."""
import dataclasses

import numpy as np
import pytest
import tensorflow_datasets as tfds

import tfds_builders.synthetic_au as sa
from au_jax.aus import DISFA_AUS, FERA2015_INT_AUS, FERA2015_OCC_AUS, SYNTHETIC_AUS
from tfds_builders import common
from tfds_builders.synthetic_au import expressions, render
from tfds_builders.synthetic_au import synthetic_au as sau

# Occluders on half of the frames, so that a tiny build has some.
TINY = dict(num_subjects=4, sequences_per_subject=2, frames_per_sequence=5, hand_rate=0.2,
            hair_rate=0.1, glasses_rate=0.1, mask_rate=0.1, occluder_frames=2.0, image_size=64)


def _build(data_dir, preset="disfa_like", **fields):
  base = {c.name: c for c in sa.SyntheticAu.BUILDER_CONFIGS}[preset]
  fields = {**TINY, **fields}
  config = dataclasses.replace(base, name=f"tiny_{preset}", **fields)
  builder = sa.SyntheticAu(config=config, data_dir=str(data_dir))
  builder.download_and_prepare()
  return sa.SyntheticAu(config=config, data_dir=str(data_dir))


def _records(builder):
  out = []
  for split in sorted(builder.info.splits):
    ds = builder.as_data_source(split=split)
    out += [ds[i] for i in range(len(ds))]
  return out


@pytest.fixture(scope="module")
def disfa(tmp_path_factory):
  return _build(tmp_path_factory.mktemp("disfa"))


@pytest.fixture(scope="module")
def bp4d(tmp_path_factory):
  return _build(tmp_path_factory.mktemp("bp4d"), "bp4d_like")


def test_registered_and_loadable_by_name(tmp_path):
  builder = tfds.builder("synthetic_au/bp4d_like", data_dir=str(tmp_path))
  assert isinstance(builder, sa.SyntheticAu)
  assert str(builder.version) == "2.1.0"
  assert builder.info.metadata["aus"] == list(FERA2015_OCC_AUS)
  names = {c.name for c in sa.SyntheticAu.BUILDER_CONFIGS}
  assert names == {"disfa_like", "bp4d_like", "disfa_like_large", "disfa_like_tiny",
                   "bp4d_like_tiny"}
  # the large config differs from disfa_like in its number of subjects only
  by_name = {c.name: dataclasses.asdict(c) for c in sa.SyntheticAu.BUILDER_CONFIGS}
  large, default = by_name["disfa_like_large"], by_name["disfa_like"]
  assert {k for k in large if large[k] != default[k]} == {"name", "description", "num_subjects"}
  assert tfds.builder("synthetic_au", data_dir=str(tmp_path)).builder_config.name == "disfa_like"


def test_schema_and_frame_order(disfa):
  assert sorted(disfa.info.splits) == ["D01", "D02", "D03", "D04"]
  ds = disfa.as_data_source(split="D02")
  assert len(ds) == 2 * 5
  r = ds[0]
  assert r["image"].shape == (64, 64, 3) and r["image"].dtype == np.uint8
  assert r["landmarks"].shape == (68, 2) and r["landmarks"].dtype == np.float32
  assert np.isfinite(r["landmarks"]).all()
  for key in ("au_intensity", "au_occurrence"):
    assert r[key].shape == (len(DISFA_AUS),) and r[key].dtype == np.int32
  assert r["subject"] == b"D02"
  assert set(r) == set(common.FEATURE_KEYS)
  order = [(ds[i]["sequence"], ds[i]["frame"]) for i in range(len(ds))]
  assert order == [(f"seq{q}".encode(), t) for q in (1, 2) for t in range(5)]
  # Aligned landmarks sit near the template (similarity on stable points).
  from au_jax.face.template import CANONICAL_68, STABLE
  lm = np.stack([ds[i]["landmarks"] for i in range(len(ds))])
  err = np.abs(lm[:, STABLE] - CANONICAL_68[list(STABLE)] * 64).mean()
  assert err < 0.05 * 64


def test_protocols_are_subject_exclusive(disfa):
  subjects = set(disfa.info.splits)
  protocols = disfa.info.metadata["protocols"]
  assert set(protocols) == {"default", "fold1", "fold2", "fold3"}
  for name, p in protocols.items():
    parts = [set(p[s]) for s in ("train", "validation", "test")]
    assert all(parts), name
    assert sum(map(len, parts)) == len(set.union(*parts)) == len(subjects), name
    assert set.union(*parts) == subjects
  tests = [set(protocols[f"fold{k}"]["test"]) for k in (1, 2, 3)]
  assert set.union(*tests) == subjects and sum(map(len, tests)) == len(subjects)
  full = sau.protocols(sau.subject_ids(sa.SyntheticAuConfig(name="x")), 0)
  assert [len(full["default"][s]) for s in ("train", "validation", "test")] == [16, 4, 4]


def test_deterministic(disfa, tmp_path):
  again = _records(_build(tmp_path))
  first = _records(disfa)
  assert len(first) == len(again) == 4 * 2 * 5
  for a, b in zip(first, again):
    for key in a:
      np.testing.assert_array_equal(a[key], b[key])
  # Frames differ from each other (the generator does not repeat itself).
  assert not np.array_equal(first[0]["image"], first[1]["image"])


def test_disfa_like_labels(disfa):
  recs = _records(disfa)
  inten = np.stack([r["au_intensity"] for r in recs])
  occ = np.stack([r["au_occurrence"] for r in recs])
  assert inten.min() >= 0 and inten.max() <= 5
  assert (occ == -1).all()   # DISFA codes intensity only
  # Records carry exactly the label model's intensities of the listed AUs.
  cfg = disfa.builder_config
  y = sau.subject_intensities(cfg, 0)[..., [SYNTHETIC_AUS.index(a) for a in DISFA_AUS]]
  d01 = [r for r in recs if r["subject"] == b"D01"]
  np.testing.assert_array_equal(np.stack([r["au_intensity"] for r in d01]), y.reshape(-1, 12))


def test_records_carry_their_nuisance(disfa, bp4d):
  for builder, cfg in ((disfa, disfa.builder_config), (bp4d, bp4d.builder_config)):
    recs = _records(builder)
    get = lambda k: np.array([r[k] for r in recs])
    for key, limit in (("yaw", cfg.yaw_max), ("pitch", cfg.pitch_max), ("roll", cfg.roll_max)):
      v = get(key)
      assert np.isfinite(v).all() and np.abs(v).max() <= limit + 1e-4, (key, v)
      assert v.std() > 0, key
    occ = [r["occluder"].decode() for r in recs]
    assert set(occ) <= {"none", "hand", "hair", "glasses", "mask"} and "none" in occ
    assert len(set(occ)) > 1, occ   # half of the frames are occluded
    cov = get("au_covered")
    assert cov.shape == (len(recs), len(cfg.aus)) and (cov >= 0).all() and (cov <= 1).all()
    none = np.array([o == "none" for o in occ])
    assert (cov[none] == 0).all()
    light = get("illumination")
    assert light.shape == (len(recs), 3) and np.isfinite(light).all()
    assert (np.abs(light[:, 0]) <= 80).all() and (light[:, 2] >= 0).all()
    assert ((get("blur") >= cfg.blur_sd[0]) & (get("blur") <= cfg.blur_sd[1])).all()
    q = get("jpeg_quality")
    assert ((q >= cfg.jpeg_quality[0]) & (q <= cfg.jpeg_quality[1])).all()
    fs = get("face_size")
    # Measured between the eye centres: smaller under yaw, up to ~20 % larger
    # than the nominal size (eye spacing, perspective).
    assert (fs >= 0.6 * cfg.face_size[0]).all() and (fs <= 1.25 * cfg.face_size[1]).all()
    ex = get("expressivity")
    assert (ex > 0).all()
    names = set(expressions.EXPRESSIONS) | {""}
    assert {r["expression"].decode() for r in recs} <= names
    assert {r["sequence_expression"].decode() for r in recs} <= set(expressions.EXPRESSIONS)
    # Per subject and sequence: one expressivity, one sequence expression.
    by_subject = {}
    for r in recs:
      by_subject.setdefault(r["subject"], set()).add(float(r["expressivity"]))
    assert all(len(v) == 1 for v in by_subject.values())
    # Records agree with the label model's draw of subject 0.
    lab = sau.subject_expressions(cfg, 0)
    first = [r for r in recs if r["subject"] == recs[0]["subject"]]
    assert float(first[0]["expressivity"]) == pytest.approx(lab.expressivity, rel=1e-6)
    want = [expressions.EXPRESSIONS[e] if e >= 0 else "" for e in lab.frame_expression.ravel()]
    assert [r["expression"].decode() for r in first] == want


def test_bp4d_like_masks(bp4d):
  recs = _records(bp4d)
  assert {r["subject"] for r in recs} == {b"B01", b"B02", b"B03", b"B04"}
  inten = np.stack([r["au_intensity"] for r in recs])
  occ = np.stack([r["au_occurrence"] for r in recs])
  is_int = np.isin(FERA2015_OCC_AUS, FERA2015_INT_AUS)
  assert (inten[:, ~is_int] == -1).all()
  assert np.isin(occ, (-1, 0, 1)).all()
  known = (inten >= 0) & (occ >= 0)
  np.testing.assert_array_equal(occ[known], (inten[known] >= 1).astype(np.int32))
  # Unknown codes come in spans, ~2 % of all codes (label-only, larger sample).
  cfg = dataclasses.replace(bp4d.builder_config, num_subjects=24)
  occ_all = np.concatenate([sau.subject_labels(cfg, i)[1].reshape(-1, 11) for i in range(24)])
  rate = (occ_all == -1).mean()
  assert 0.005 < rate < 0.05, rate


def test_brows_rise_with_au1_au2_and_fall_with_au4():
  shape = np.array(render.neutral_shape(np.random.default_rng(0)))
  brows = list(range(17, 27))
  for au, sign in ((1, -1), (2, -1), (4, 1)):
    ys = [render.expression_landmarks(shape, {au: lvl})[brows, 1].mean() for lvl in range(6)]
    assert all(sign * (b - a) > 0 for a, b in zip(ys, ys[1:])), (au, ys)
  # Lips part and the jaw drops with AU25 / AU26.
  gap = lambda lm: (lm[[67, 66, 65], 1] - lm[[61, 62, 63], 1]).mean()
  for au in (25, 26):
    gaps = [gap(render.expression_landmarks(shape, {au: lvl})) for lvl in range(6)]
    assert all(b > a for a, b in zip(gaps, gaps[1:])), (au, gaps)


def test_metadata_dependence(disfa, bp4d):
  for builder in (disfa, bp4d):
    cfg = builder.builder_config
    meta = builder.info.metadata
    aus = meta["aus"]
    # The true dependence is the label model's, over the config's AUs.
    dep = meta["dependence"]
    table = sau.TRUE_DEPENDENCE[cfg.label_model]   # checked against a fresh simulation
    pos = [table["aus"].index(a) for a in aus]      # in test_synthetic_au_stats.py
    assert dep["aus"] == aus and dep["num_frames"] == 96000
    assert dep["kendall_tau"] == [[table["kendall_tau"][i][j] for j in pos] for i in pos]
    tau = np.array(dep["kendall_tau"], dtype=float)
    theta = np.array(dep["frank_theta"], dtype=float)
    assert tau.shape == theta.shape == (len(aus), len(aus))
    np.testing.assert_array_equal(np.isnan(tau), np.isnan(tau.T))
    ok = np.isfinite(tau) & ~np.eye(len(aus), dtype=bool)
    assert (np.sign(tau[ok]) == np.sign(theta[ok])).all()
    # Coupled regions (EMFACS): 6-12, 1-2 and 1-26 depend clearly.
    i = {a: k for k, a in enumerate(aus)}
    for a, b in ((1, 2), (6, 12)):
      assert tau[i[a], i[b]] > 0.1, (cfg.name, a, b, tau[i[a], i[b]])
    # The build's own dependence and marginals, before any -1 masking.
    emp = meta["build_dependence"]
    assert emp["aus"] == aus
    assert emp["num_frames"] == cfg.num_subjects * cfg.sequences_per_subject * \
        cfg.frames_per_sequence
    marg = np.array(emp["marginals"])
    assert marg.shape == (len(aus), 6)
    np.testing.assert_allclose(marg.sum(1), 1.0, atol=1e-3)
    assert meta["label_model"]["preset"] == cfg.label_model
    assert meta["nuisance_fields"] == list(common.NUISANCE_KEYS)
    assert meta["generator"]["yaw_max"] == cfg.yaw_max
  i = {a: k for k, a in enumerate(DISFA_AUS)}
  tau = np.array(disfa.info.metadata["dependence"]["kendall_tau"], dtype=float)
  assert tau[i[1], i[26]] > 0.05 and tau[i[25], i[26]] > 0.05
