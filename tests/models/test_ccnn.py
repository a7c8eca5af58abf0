"""Copula CNN (au_jax/models/ccnn.py): shapes per variant, loss masks, param
groups, predict outputs and decoding path, the Alg. 1 schedule of every
variant, the report helpers, and CCNN-IT / CNN end to end on tiny data."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from au_jax import decode
from au_jax.data.sources import DataInfo
from au_jax.models import get_spec, ordinal
from au_jax.models.ccnn import model as ccnn
from au_jax.models.ccnn import report as ccnn_report
from au_jax import experiment
from au_jax.train import schedule
from tests.conftest import tiny_config

A, L, B = 4, 6, 3


def _info(num_aus=A, datasets=("d0",)):
  aus = (1, 2, 4, 6, 12, 25, 26, 9)[:num_aus]
  return DataInfo(aus=aus, intensity_coded=(True,) * num_aus, occurrence_coded=(True,) * num_aus,
                  datasets=datasets, metadata=({},) * len(datasets))


def _method(variant, num_aus=A, datasets=("d0",), **kw):
  cfg = dict(dict(name="ccnn", variant=variant, input_size=20, crop=0.85, features=(4, 4, 8),
                  kernel=3, fc_units=8, unary_l2=0.0), **kw)
  return get_spec("ccnn").build(cfg, _info(num_aus, datasets))


def _batch(num_aus=A, dataset=None, seed=0):
  rng = np.random.default_rng(seed)
  return {"image": jnp.asarray(rng.normal(size=(B, 17, 17, 1)), jnp.float32),
          "intensity": jnp.asarray(rng.integers(0, L, size=(B, num_aus)), jnp.int32),
          "occurrence": jnp.zeros((B, num_aus), jnp.int32),
          "dataset": jnp.asarray(np.zeros(B) if dataset is None else dataset, jnp.int32),
          "mask": jnp.ones((B,), jnp.float32)}


@pytest.fixture(scope="module")
def methods():
  out = {}
  for v in ccnn.VARIANTS:
    m = _method(v)
    out[v] = (m, m.init(jax.random.PRNGKey(0), _batch()))
  return out


def test_output_shapes_and_groups_per_variant(methods):
  p = A * (A - 1) // 2
  for v, (m, variables) in methods.items():
    out = jax.jit(m.module.apply)(variables, _batch()["image"], _batch()["dataset"])
    assert out["log_probs"].shape == (B, A, L)
    np.testing.assert_allclose(jax.nn.logsumexp(out["log_probs"], -1), 0.0, atol=1e-5)
    top = set(variables["params"])
    if v in ccnn.PAIRWISE_VARIANTS:
      assert out["pair_log_probs"].shape == (B, p, L, L)
      assert out["pairwise"].shape == (B, p, L, L)
      assert top == {"backbone", "unary", "pairwise"} and m.groups == ("cnn", "unary", "pairwise")
    else:
      assert "pair_log_probs" not in out
      assert top == {"backbone", "unary"} and m.groups == ("cnn", "unary")
    assert m.param_group(("backbone", "conv1", "kernel")) == "cnn"
    assert m.param_group(("unary", "psi_raw" if v != "cnn" else "kernel")) == "unary"
  # CCNN's copula parameters: one theta per pair, initialised at independence.
  theta_raw = methods["ccnn"][1]["params"]["pairwise"]["theta_raw"]
  assert theta_raw.shape == (1, p) and not np.any(np.asarray(theta_raw))


def test_backbone_is_three_conv_pool_blocks_and_fc128():
  bb = ccnn.CCNNBackbone()
  x = jnp.zeros((1, 108, 108, 1))
  params = jax.eval_shape(bb.init, jax.random.PRNGKey(0), x)["params"]
  assert [params[f"conv{i}"]["kernel"].shape for i in (1, 2, 3)] == [
      (9, 9, 1, 32), (9, 9, 32, 64), (9, 9, 64, 128)]
  assert params["fc"]["kernel"].shape == (13 * 13 * 128, 128)   # 108 -> 54 -> 27 -> 13


def test_loss_drops_unlabelled_aus_and_their_pairs(methods):
  for v in ("ocnn", "ccnn"):
    m, variables = methods[v]
    loss = jax.jit(m.loss, static_argnums=3)
    batch = _batch()
    lab = np.asarray(batch["intensity"]).copy()
    lab[:, 2] = -1                                       # AU index 2 not coded
    _, aux = loss(variables, dict(batch, intensity=jnp.asarray(lab)), None, True, None)
    metrics = aux["metrics"]
    assert float(metrics["unary_terms"]) == B * (A - 1)
    if v == "ccnn":
      assert float(metrics["pair_terms"]) == B * (A - 1) * (A - 2) // 2
    # the loss does not depend on the (masked) value of the uncoded AU's image evidence
    lab2 = lab.copy()
    lab2[:, 2] = -1
    l1, _ = loss(variables, dict(batch, intensity=jnp.asarray(lab)), None, True, None)
    mask = dict(batch, intensity=jnp.asarray(lab2), mask=jnp.asarray([1.0, 1.0, 0.0]))
    l2, aux2 = loss(variables, mask, None, True, None)
    assert float(aux2["metrics"]["unary_terms"]) == 2 * (A - 1)   # padding row dropped
    assert np.isfinite(float(l1)) and np.isfinite(float(l2))


def test_stage_loss_weights_select_the_alg1_terms(methods):
  m, variables = methods["ccnn"]
  batch = _batch()
  full, aux = m.loss(variables, batch, None, True, None)
  unary_only, _ = m.loss(variables, batch, None, True, {"pair": 0.0})
  pair_only, _ = m.loss(variables, batch, None, True, {"unary": 0.0})
  met = aux["metrics"]
  np.testing.assert_allclose(float(unary_only), float(met["unary_nll"]) * A, rtol=1e-5)
  np.testing.assert_allclose(float(pair_only), float(met["pair_nll"]) * A * (A - 1) / 2,
                             rtol=1e-5)
  np.testing.assert_allclose(float(full), float(unary_only) + float(pair_only), rtol=1e-5)


def test_predict_outputs_and_decoding_paths(methods):
  for v, (m, variables) in methods.items():
    out = m.predict(variables, _batch())
    for k in ("intensity", "intensity_map", "intensity_expected", "occurrence"):
      assert out[k].shape == (B, A), (v, k)
    y = np.asarray(out["intensity_map"])
    assert np.all((y >= 0) & (y <= L - 1)) and np.all(y == np.round(y))
    assert np.all((np.asarray(out["occurrence"]) >= 0) & (np.asarray(out["occurrence"]) <= 1 + 1e-6))
    np.testing.assert_array_equal(out["intensity"], out["intensity_map"])  # decode="map"
  # Independent variants: MAP = per-AU argmax, expected = sum_l l p(l).
  m, variables = methods["ocnn"]
  lp = m.module.apply(variables, _batch()["image"])["log_probs"]
  out = m.predict(variables, _batch())
  np.testing.assert_array_equal(out["intensity_map"], np.argmax(lp, -1))
  np.testing.assert_allclose(out["intensity_expected"], decode.expected_intensity(lp), atol=1e-5)


def test_ccnn_map_is_exact_for_few_aus_and_bp_for_many():
  # A = 4 <= exact_max_aus: the MAP labelling maximises the CRF score over all 6^4.
  m = _method("ccnn")
  variables = m.init(jax.random.PRNGKey(0), _batch())
  raw = variables["params"]["pairwise"]["theta_raw"]
  variables["params"]["pairwise"]["theta_raw"] = jnp.linspace(-1.0, 1.0, raw.size).reshape(raw.shape)
  batch = _batch(seed=3)
  out = m.module.apply(variables, batch["image"], batch["dataset"])
  edges = m.module.edge_list()
  y_exact, s_exact = decode.exact_map(out["log_probs"], out["pairwise"], edges)
  np.testing.assert_array_equal(m.predict(variables, batch)["intensity_map"], y_exact)
  # map_decoder="bp" (the default above exact_max_aus AUs) is decode.bp_map's labelling.
  mb = _method("ccnn", map_decoder="bp")
  y_bp, _ = decode.bp_map(out["log_probs"], out["pairwise"], edges)
  np.testing.assert_array_equal(mb.predict(variables, batch)["intensity_map"], y_bp)
  s_bp = decode.score(out["log_probs"], out["pairwise"], edges, y_bp)
  assert np.all(np.asarray(s_bp) <= np.asarray(s_exact) + 1e-4)
  # decode="expected" reports the expected intensity as `intensity`.
  me = _method("ccnn", decode="expected")
  out_e = me.predict(variables, batch)
  np.testing.assert_array_equal(out_e["intensity"], out_e["intensity_expected"])


def test_multi_dataset_pairwise_is_per_dataset_unary_shared():
  m = _method("ccnn", datasets=("a", "b"))
  batch = _batch(dataset=[0, 1, 1])
  variables = m.init(jax.random.PRNGKey(0), batch)
  p = A * (A - 1) // 2
  assert variables["params"]["pairwise"]["theta_raw"].shape == (2, p)
  assert variables["params"]["unary"]["psi_raw"].shape == (A, L - 1)   # shared
  raw = np.zeros((2, p), np.float32)
  raw[1] = 0.5
  variables["params"]["pairwise"]["theta_raw"] = jnp.asarray(raw)
  theta = m.module.apply(variables, batch["image"], batch["dataset"])["theta"]
  np.testing.assert_allclose(theta[0], 0.0)
  np.testing.assert_allclose(theta[1:], 20.0 * np.tanh(0.5), rtol=1e-5)


def test_transform_two_eye_grey_contrast_normalised_crops():
  from tests.fixtures import raw_trees as rt
  import cv2
  t = ccnn.CCNNTransform(size=40, crop=0.85)
  img = np.random.default_rng(0).integers(0, 256, (96, 96, 3)).astype(np.uint8)
  rec = {"image": cv2.imencode(".png", img)[1].tobytes(),
         "landmarks": rt.face_landmarks().astype(np.float32) * 96 / 256,
         "intensity": np.zeros(4, np.int32), "occurrence": np.zeros(4, np.int32), "dataset": 0}
  ev = t(rec, None, False)
  assert ev["image"].shape == (34, 34, 1) and ev["image"].dtype == np.float32
  assert set(ev) >= {"image", "intensity", "occurrence", "dataset"}
  np.testing.assert_allclose([ev["image"].mean(), ev["image"].std()], [0, 1], atol=0.15)
  crops = [t(rec, np.random.default_rng(s), True)["image"] for s in range(4)]
  assert any(not np.array_equal(crops[0], c) for c in crops[1:])       # random crop in training
  np.testing.assert_array_equal(ev["image"], t(rec, None, False)["image"])  # centre in eval


@pytest.mark.parametrize("variant", ccnn.VARIANTS)
@pytest.mark.parametrize("it", [True, False])
def test_every_variant_schedule_fits_its_groups(variant, it):
  from configs import ccnn_synthetic
  config = ccnn_synthetic.get_config(f"variant={variant},it={it},steps=600")
  m = _method(variant)
  segs = schedule.build_schedule(config.train, m.groups)
  assert segs[-1].end == 600                                          # same steps for every variant
  if it:
    names = [s.sampler for s in segs[:3]]
    assert names[0] == "subject_balanced" and names[1] == "level_balanced"
    assert segs[0].trainable == ("cnn",) and segs[1].trainable == ("unary",)
    if variant in ccnn.PAIRWISE_VARIANTS:
      assert names[2] == "cooccurrence_balanced" and segs[2].trainable == ("pairwise",)
      assert dict(segs[2].loss_weights) == {"unary": 0.0}
  else:
    assert len(segs) == 1 and set(segs[0].trainable) == set(m.groups)


def test_table1_and_theta_vs_truth():
  rows = {"CCNN": {"per_au": {"AU01": {"icc": 0.5, "mae": 0.25}}, "mean": {"icc": 0.5, "mae": 0.25}}}
  md = ccnn_report.table1(rows, spreads={"CCNN": {"per_au": {"AU01": {"icc": 0.1}},
                                                   "mean": {"icc": 0.1}}})
  assert "| CCNN | .50±.10 | .50±.10 |" in md and "| CCNN | .25 | .25 |" in md
  dep = {"frank_theta": [[0, 8.0, -2.0], [8.0, 0, 1.0], [-2.0, 1.0, 0]],
         "kendall_tau": [[1, .6, -.2], [.6, 1, .1], [-.2, .1, 1]]}
  cmp = ccnn_report.theta_vs_truth(np.array([5.0, -1.0, 0.5]), np.array([[0, 1], [0, 2], [1, 2]]),
                                   (1, 2, 4), dep, (1, 2, 4))
  assert [r["pair"] for r in cmp["rows"]] == ["1-2", "1-4", "2-4"]
  assert cmp["spearman_theta"] == pytest.approx(1.0)


@pytest.mark.slow
def test_ccnn_it_runlocal_end_to_end(tiny_data_dir, tmp_path):
  config = tiny_config("configs.ccnn_synthetic", tiny_data_dir)
  report = experiment.train_and_evaluate(config, str(tmp_path))
  assert report["model"] == "ccnn" and "icc" in report["test"]["mean"]
  stages = {json.loads(x).get("stage") for x in open(tmp_path / "metrics.jsonl")}
  assert {"cnn", "unary", "pairwise"} <= stages
  npz = np.load(tmp_path / "test_predictions.npz")
  assert npz["intensity_map"].shape == npz["intensity_expected"].shape == npz["intensity_true"].shape
  # written by the method's report hook at the end of training
  out = json.load(open(tmp_path / "ccnn_report.json"))
  theta = np.asarray(out["theta"]["theta"])
  assert theta.shape == (1, 66) and np.any(theta != 0)                  # the copula stage ran
  assert np.isfinite(out["theta_vs_truth"]["synthetic_au/disfa_like_tiny"]["spearman_theta"])
  assert os.path.exists(tmp_path / "plots" / "dependency_graph_0.png")
  assert "avr." in open(tmp_path / "ccnn_report.md").read()


@pytest.mark.slow
def test_cnn_softmax_runlocal_end_to_end(tiny_data_dir, tmp_path):
  config = tiny_config("configs.ccnn_synthetic", tiny_data_dir, "runlocal,variant=cnn,it=false")
  report = experiment.train_and_evaluate(config, str(tmp_path))
  assert np.isfinite(report["test"]["mean"]["mae"])


class _ExtremeRng:
  """Stands in for np.random.Generator in `random_crop`: always the lowest
  (or highest) offset."""

  def __init__(self, high: bool):
    self.high = high

  def integers(self, lo, hi):
    return hi - 1 if self.high else lo


@pytest.mark.parametrize("size", [48, 64, 128])     # ccnn_synthetic, the transform, the paper
def test_default_framing_keeps_every_template_landmark_in_every_crop(size):
  from au_jax.data import transforms as T
  from au_jax.face.align import registration_matrix, transform_points
  from au_jax.face.template import CANONICAL_68
  # A raw face: the template rotated, scaled and moved in a 300 px frame.
  c, s = np.cos(0.2), np.sin(0.2)
  raw = (CANONICAL_68 - 0.5) @ (170 * np.array([[c, -s], [s, c]])).T + [140, 160]
  image = np.zeros((size, size))

  def lost(t):
    M = registration_matrix(raw, size=size, method="two_eye", scale=t.scale, shift=t.shift)
    pts = transform_points(raw, M)
    out = []
    for rng in (_ExtremeRng(False), None, _ExtremeRng(True)):   # top-left, centre, bottom-right
      crop, p = T.random_crop(image, t.crop, rng, pts)
      out.append(np.where(((p < 0) | (p > crop.shape[0] - 1)).any(1))[0].tolist())
    return out

  assert lost(ccnn.CCNNTransform(size=size)) == [[], [], []]
  # The template itself (no margin) loses the chin (landmark 8) at the top-left offset.
  assert 8 in lost(ccnn.CCNNTransform(size=size, face_margin=None))[0]


def test_per_au_lambda_weights_each_aus_unary_parameters():
  lam = [0.5, 0.0, 2.0, 1e-3]
  batch = _batch()
  for v in ("ocnn", "cnn"):
    m0 = _method(v)
    variables = m0.init(jax.random.PRNGKey(0), batch)
    base, _ = m0.loss(variables, batch, None, True, None)
    reg_loss, aux = _method(v, unary_l2=lam).loss(variables, batch, None, True, None)
    up = jax.tree.map(np.asarray, variables["params"]["unary"])
    if v == "ocnn":   # phi_q = {beta_q, psi_q, sigma_q} (Eq. 5), constrained values
      per_au = [np.sum(up["beta"]["kernel"][:, q] ** 2)
                + np.sum(np.asarray(ordinal.thresholds(up["psi_raw"]))[q] ** 2)
                + float(ordinal.scale(up["sigma_raw"])[q]) ** 2 for q in range(A)]
    else:             # the softmax layer's kernel / bias columns of AU q
      cols = lambda q: slice(q * L, (q + 1) * L)
      per_au = [np.sum(up["kernel"][:, cols(q)] ** 2) + np.sum(up["bias"][cols(q)] ** 2)
                for q in range(A)]
    manual = sum(l * r for l, r in zip(lam, per_au))
    np.testing.assert_allclose(float(reg_loss) - float(base), manual, rtol=1e-4)
    np.testing.assert_allclose(float(aux["metrics"]["unary_l2"]), manual, rtol=1e-4)
  with pytest.raises(ValueError, match="4 AUs"):
    _method("ocnn", unary_l2=[0.1, 0.2])


def test_lambda_selection_reads_validation_never_test():
  import importlib.util
  path = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "ccnn_tune_lambda.py")
  spec = importlib.util.spec_from_file_location("ccnn_tune_lambda", path)
  tune = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(tune)

  def report(val, test):
    split = lambda icc: {"per_au": {f"AU{a:02d}": {"icc": x} for a, x in zip((1, 2, 4), icc)}}
    return {"aus": [1, 2, 4], "validation": split(val), "test": split(test)}
  # validation and test disagree on every AU; AU04 ties on validation
  reports = {1e-4: report([0.5, 0.1, 0.3], [0.1, 0.9, 0.9]),
             1e-2: report([0.2, 0.4, 0.3], [0.9, 0.1, 0.1])}
  sel = tune.select_lambdas(reports)
  assert sel["aus"] == [1, 2, 4]
  assert sel["lambda"] == [1e-4, 1e-2, 1e-4]                  # validation's argmax; tie -> smaller
  assert sel["validation"]["AU02"] == {1e-4: 0.1, 1e-2: 0.4}
  # with the test ICCs swapped into validation, the choice follows them
  swapped = {k: dict(r, validation=r["test"]) for k, r in reports.items()}
  assert tune.select_lambdas(swapped)["lambda"] == [1e-2, 1e-4, 1e-4]


@pytest.mark.parametrize("key,value,match", [
    ("pool_impl", "avg", r"config.model.pool_impl 'avg'"),
    ("conv_impl", ("xla", "im2col"), r"config.model.conv_impl must be one of .* or 3 of them")])
def test_unknown_layer_lowering_is_named_before_tracing(key, value, match):
  from au_jax.errors import ConfigValueError
  with pytest.raises(ConfigValueError, match=match):
    _method("ccnn", **{key: value})
