"""Multi-label CNN + QDA against Ghosh et al. (ACII 2015): Eqs. 1-2, Fig. 1,
Sec. V preprocessing, the QDA head through the engine and the Predictor."""
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from au_jax.data import sources, transforms
from au_jax.data.sources import DataInfo
from au_jax.errors import ConfigValueError
from au_jax.face.template import CANONICAL_68
from au_jax.models import get_spec
from au_jax.models.multilabel.loss import multilabel_softmax_loss
from au_jax.models.multilabel.model import MultiLabelCNN, MultiLabelTransform
from au_jax.predict import Predictor
from au_jax import experiment
from au_jax.train import fitted
from tests.conftest import tiny_config

# ------------------------------------------------------------------ Eqs. 1-2


def _loss_by_loops(logits, occ, mask, neutral):
  """Eq. 1 written out: -1/N sum_i sum_{j present} log p_ij, p = Eq. 2."""
  total, n = 0.0, 0.0
  for i in range(len(logits)):
    if mask[i] == 0:
      continue
    n += 1
    z = np.exp(logits[i] - logits[i].max())
    p = z / z.sum()
    present = [j for j in range(occ.shape[1]) if occ[i, j] == 1]
    if neutral and not present and any(occ[i, j] >= 0 for j in range(occ.shape[1])):
      present = [occ.shape[1]]                     # the neutral label, last output
    for j in present:
      total -= np.log(p[j])
  return total / max(n, 1.0)


@pytest.mark.parametrize("neutral", [False, True])
def test_multilabel_softmax_loss_equals_the_papers_formula(neutral):
  rng = np.random.default_rng(0)
  b, a = 9, 5
  logits = rng.normal(size=(b, a + int(neutral))) * 2
  occ = rng.integers(0, 2, size=(b, a))
  occ[rng.random((b, a)) < 0.2] = -1               # uncoded AUs: no term
  occ[0] = 0                                       # no AU present: neutral (or nothing)
  occ[1] = [0, -1, 0, -1, 0]                       # no AU present, some uncoded
  occ[2] = -1                                      # nothing coded: never neutral
  occ[3] = [1, 1, 1, 0, 1]
  mask = np.ones(b)
  mask[-1] = 0                                     # padding
  got = float(multilabel_softmax_loss(jnp.asarray(logits), jnp.asarray(occ), jnp.asarray(mask),
                                      neutral))
  assert got == pytest.approx(_loss_by_loops(logits, occ, mask, neutral), rel=1e-5)
  # an uncoded AU adds no term, a padded row does not count
  occ2 = occ.copy()
  occ2[4, 0] = -1
  logits2 = logits.copy()
  logits2[-1] += 100.0
  got2 = float(multilabel_softmax_loss(jnp.asarray(logits2), jnp.asarray(occ2),
                                       jnp.asarray(mask), neutral))
  assert got2 == pytest.approx(_loss_by_loops(logits2, occ2, mask, neutral), rel=1e-5)


def test_no_au_frames_contribute_only_through_the_neutral_label():
  logits = jnp.array([[0.0, 1.0, 2.0]])
  occ = jnp.array([[0, 0]])
  assert float(multilabel_softmax_loss(logits[:, :2], occ, jnp.ones(1), False)) == 0.0
  neutral = float(multilabel_softmax_loss(logits, occ, jnp.ones(1), True))
  assert neutral == pytest.approx(-np.log(np.exp(2) / np.exp([0, 1, 2]).sum()), rel=1e-6)
  with pytest.raises(ValueError, match="neutral need 3"):
    multilabel_softmax_loss(logits[:, :2], occ, jnp.ones(1), True)


# ------------------------------------------------------------------ Fig. 1


@pytest.mark.slow
def test_network_has_two_mega_layers_two_fc_and_about_100k_weights():
  model = MultiLabelCNN(num_outputs=13)            # 12 DISFA AUs + neutral
  x = jnp.zeros((2, 42, 42, 1))
  v = model.init(jax.random.PRNGKey(0), x, train=False)
  logits, hidden = model.apply(v, x, train=False)
  assert logits.shape == (2, 13) and hidden.shape == (2, 160)
  assert sorted(v["params"]) == ["conv1", "conv2", "fc1", "fc2"]
  assert v["params"]["conv1"]["kernel"].shape == (7, 7, 1, 16)
  # 42 -conv7-> 36 -pool3-> 12 -conv5-> 8 -pool2-> 4: 4 * 4 * 32 inputs to fc1
  assert v["params"]["fc1"]["kernel"].shape == (4 * 4 * 32, 160)
  n = sum(p.size for p in jax.tree.leaves(v["params"]))
  assert 80_000 < n < 120_000                      # "~100,000" (Sec. V)
  a = model.apply(v, x + 1.0, train=True, rngs={"dropout": jax.random.PRNGKey(1)})[0]
  assert np.isfinite(np.asarray(a)).all()


def test_mvn_layer_makes_the_network_invariant_to_a_global_contrast_change():
  model = MultiLabelCNN(num_outputs=3, features=(4, 8), fc_units=8)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 42, 42, 1))
  v = model.init(jax.random.PRNGKey(1), x, train=False)
  np.testing.assert_allclose(model.apply(v, x, train=False)[0],
                             model.apply(v, 3.0 * x + 0.7, train=False)[0], atol=1e-4)
  zero = model.apply(v, jnp.zeros_like(x), train=False)[0]  # a one-frame subject: finite
  assert np.isfinite(np.asarray(zero)).all()


# ------------------------------------------------------------- preprocessing


def _record(seed, subject="s", lm_shift=0.0):
  rng = np.random.default_rng(seed)
  img = (rng.random((96, 96, 3)) * 255).astype(np.uint8)
  from tfds_builders.common import encode_png
  return dict(image=encode_png(img), landmarks=(CANONICAL_68 * 96 + lm_shift).astype(np.float32),
              intensity=np.array([3, 0], np.int32), occurrence=np.array([1, 0], np.int32),
              dataset=np.int32(0), subject=subject, sequence="q", frame=np.int32(seed))


def test_face_box_crop_follows_the_landmarks_box():
  t = MultiLabelTransform(size=48, box_margin=0.0, mean_face="none", crop_fraction=1.0)
  lm = np.full((68, 2), np.nan, np.float32)
  lm[:2] = [[20, 30], [60, 50]]                    # box 40 x 20 -> square side 40
  assert t.face_box(lm, (96, 96)) == (20.0, 20.0, 40.0)
  img = np.zeros((96, 96, 3), np.uint8)
  img[18:62, 18:62] = 255                          # the box and a margin: all white after the crop
  from tfds_builders.common import encode_png
  rec = dict(image=encode_png(img), landmarks=lm, intensity=np.zeros(2, np.int32),
             occurrence=np.zeros(2, np.int32), dataset=np.int32(0))
  x = t(rec, None, False)["image"]
  assert x.shape == (48, 48, 1) and x.min() > 0.99   # pixels / 255
  img[18:62, 18:62] = 0
  img[22:58, 22:58] = 255                          # a white square well inside the box
  rec["image"] = encode_png(img)
  x = t(rec, None, False)["image"][..., 0]
  assert x[24, 24] > 0.99 and x[0, 24] < 0.01 and x[24, 47] < 0.01   # 22..57 of 20..60
  assert MultiLabelTransform(colour="rgb", mean_face="none")(rec, None, False)["image"].shape \
      == (42, 42, 3)


def test_subject_mean_face_is_subtracted_and_one_frame_subjects_become_zero():
  t = MultiLabelTransform(crop_fraction=1.0)
  recs = [_record(k) for k in range(4)]
  sessions = t.sessions()
  assert sessions.level == "subject"
  mean = sessions.fit([fitted.strip_labels(r) for r in recs])
  out = np.stack([t(r, None, False, mean)["image"] for r in recs])
  np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-6)       # residuals average to 0
  np.testing.assert_allclose(out[0], t.crop(recs[0]) - mean, atol=1e-6)
  one = t(recs[0], None, False, sessions.fit([recs[0]]))["image"]
  assert np.all(one == 0.0)                                      # defined, not NaN
  with pytest.raises(ValueError, match="mean face"):
    t(recs[0], None, False)


def test_training_augmentation_is_random_crop_and_mirror_from_the_rng():
  t = MultiLabelTransform(mean_face="none")
  rec = _record(3)
  ev = t(rec, None, False)["image"]
  a = t(rec, np.random.default_rng(1), True)["image"]
  np.testing.assert_array_equal(a, t(rec, np.random.default_rng(1), True)["image"])
  assert a.shape == ev.shape == (42, 42, 1)
  crops = {t(rec, np.random.default_rng(s), True)["image"].tobytes() for s in range(12)}
  assert len(crops) > 3


def test_unknown_model_keys_and_values_fail():
  info = DataInfo(aus=(1, 2), intensity_coded=(True, True), occurrence_coded=(True, True),
                  datasets=("x",), metadata=({},))
  build = get_spec("multilabel").build
  with pytest.raises(KeyError, match="kernel_sizes"):
    build({"name": "multilabel", "kernel_sizes": (5, 5)}, info)
  with pytest.raises(ConfigValueError, match="colour"):
    build({"name": "multilabel", "colour": "gray"}, info)
  m = build({"name": "multilabel", "neutral": False}, info)
  assert m.module.num_outputs == 2 and m.heads["qda"].init()["mean"].shape == (2, 2, 2)


# ------------------------------------------- QDA head: engine -> Predictor


@pytest.mark.slow
def test_qda_stage_reaches_the_predictor_with_the_final_evaluation_scores(
    tiny_data_dir, tmp_path):
  config = tiny_config("configs.multilabel_synthetic", tiny_data_dir)
  assert config.train.stages[-1] == dict(name="qda", fit="qda")
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)   # AUs absent from the tiny split: prior only
    report = experiment.train_and_evaluate(config, str(tmp_path))
  assert report["selection"]["metric"] == "auc"
  saved = np.load(tmp_path / "test_predictions.npz")
  # the QDA (not the softmax) gives `occurrence`; both are reported
  assert not np.allclose(saved["occurrence"], saved["occurrence_softmax"])
  np.testing.assert_allclose(saved["intensity"], 5.0 * saved["occurrence"], rtol=1e-6)
  assert (tmp_path / "multilabel_report.md").exists()

  p = Predictor.from_workdir(str(tmp_path), batch_size=16)
  assert float(np.abs(np.asarray(p.fitted["qda"]["precision"])).sum()) > 0
  test = sources.load_split(config.data, "test")
  pred = np.full_like(saved["occurrence"], np.nan)
  for rows in test.index.groups(test.index.subject):  # one predict call per subject
    recs = [test.source[int(i)] for i in rows]
    out = p.predict(np.stack([transforms.decode(r["image"]) for r in recs]),
                    np.stack([r["landmarks"] for r in recs]))
    pred[rows] = out["occurrence"]
  np.testing.assert_allclose(pred, saved["occurrence"], rtol=1e-4, atol=1e-5)

  # Figs. 2-3: the features are the QDA's input; t-SNE of a capped sample per domain
  assert out["features"].shape == (len(recs), 13)          # h_i: the 12 AUs + neutral logits
  from au_jax.models.multilabel import report as ml_report
  fig = ml_report.tsne_figure(str(tmp_path), "AU12", cap=30)
  for name, split in (("train_domain", "validation"), ("test_domain", "test")):
    d = fig[name]
    occ = sources.load_split(config.data, split).index.occurrence[:, list(p.info.aus).index(12)]
    assert len(d["rows"]) == min(30, int((occ >= 0).sum())) == len(d["embedding"])
    np.testing.assert_array_equal(d["present"], occ[d["rows"]])
    assert np.isfinite(d["embedding"]).all() and d["embedding"].std() > 0
  # the test-domain features equal the final evaluation's on the same frames
  np.testing.assert_allclose(fig["test_domain"]["features"],
                             saved["features"][fig["test_domain"]["rows"]], rtol=1e-4, atol=1e-4)
  assert (tmp_path / "plots" / "tsne_AU12.png").exists()


def test_cross_config_needs_two_shared_aus_and_names_both_lists(monkeypatch):
  from configs import multilabel_cross
  monkeypatch.setitem(multilabel_cross.DATASETS, "bp4d_like",
                      (dict(name="synthetic_au/bp4d_like"), (1, 7, 10)))
  with pytest.raises(ConfigValueError, match=r"share 1 .*disfa_like codes \[1, 2.*bp4d_like "
                                             r"codes \[1, 7, 10\]"):
    multilabel_cross.get_config("train=disfa_like,test=bp4d_like")


def test_before_the_qda_fit_occurrence_is_the_softmax_score():
  info = DataInfo(aus=(1, 2, 4), intensity_coded=(True,) * 3, occurrence_coded=(True,) * 3,
                  datasets=("x",), metadata=({},))
  m = get_spec("multilabel").build({"name": "multilabel", "features": (4, 4), "fc_units": 8}, info)
  x = jax.random.normal(jax.random.PRNGKey(0), (5, 42, 42, 1))
  v = {**m.init(jax.random.PRNGKey(1), {"image": x}), "fitted": m.init_fitted()}
  out = m.predict(v, {"image": x})
  np.testing.assert_array_equal(out["occurrence"], out["occurrence_softmax"])
  logits = m.module.apply({"params": v["params"]}, x, train=False)[0]
  np.testing.assert_allclose(out["occurrence_softmax"], jax.nn.softmax(logits)[:, :3], rtol=1e-6)
  assert out["occurrence"].shape == (5, 3)          # no score for the neutral output


def test_tsne_without_scikit_learn_is_skipped_with_a_note(monkeypatch, capsys):
  import sys
  from au_jax.models.multilabel import report as ml_report
  monkeypatch.setitem(sys.modules, "sklearn.manifold", None)
  assert ml_report.tsne_figure("/nonexistent", "AU12") is None
  assert "scikit-learn is not installed" in capsys.readouterr().out


def test_report_phi_of_perfect_predictions_matches_the_truth():
  from au_jax.models.multilabel import report
  rng = np.random.default_rng(0)
  z = rng.normal(size=(200, 1))
  true = (np.hstack([z, z + rng.normal(size=(200, 1)), -z, rng.normal(size=(200, 1))]) > 0)
  true = true.astype(int)
  true[:5, 3] = -1
  cmp = report.phi_comparison(true, np.clip(true, 0, 1))
  np.testing.assert_allclose(cmp["phi_pred"], cmp["phi_truth"])
  assert cmp["pair_correlation"] == pytest.approx(1.0) and cmp["pairs_used"] == 6
  table = report.per_au_table(true, true.clip(0, 1) * 0.9 + 0.05, None)
  np.testing.assert_allclose(table["accuracy"], 1.0)
  np.testing.assert_allclose(table["auc"], 1.0)
  assert np.isnan(table["auc_softmax"]).all()


# ------------------------------------------------ Sec. V model selection


def test_retrain_keeps_the_qda_fit_and_cuts_at_the_parameters_it_was_fitted_on():
  from au_jax.train import retrain
  cfg = dict(repeat=1, stages=[dict(name="sgd", steps=8000), dict(name="qda", fit="qda")])
  # early stop: best at 2000, the fit (step 8001) is then selected by force
  sel = [(250, 250), (500, 500), (2000, 2000), (8001, 8001)]
  assert retrain.retrain_stages(cfg, 8001, sel) == [dict(name="sgd", steps=2000),
                                                    dict(name="qda", fit="qda")]
  # a repeated schedule: the fit is kept once, after the cut
  cfg2 = dict(repeat=2, stages=[dict(name="a", steps=3), dict(name="q", fit="qda")])
  assert retrain.retrain_stages(cfg2, 8, [(2, 2), (4, 4), (6, 6), (8, 8)]) == [
      dict(name="a", steps=3), dict(name="q", fit="qda"), dict(name="a", steps=2),
      dict(name="q", fit="qda")]
  assert retrain.retrain_stages(cfg2, 8, [(2, 2), (4, 4), (7, 2), (8, 8)]) == [
      dict(name="a", steps=2), dict(name="q", fit="qda")]
  # without fit stages (or records) it is the plain cut
  assert retrain.retrain_stages(dict(stages=[dict(name="a", steps=9)]), 5, []) == [
      dict(name="a", steps=5)]


@pytest.mark.slow
def test_select_as_published_stops_1000_iterations_after_the_best_and_retrains_with_the_qda(
    tiny_data_dir, tmp_path):
  import json
  from configs import multilabel_synthetic as ml
  config = tiny_config("configs.multilabel_synthetic", tiny_data_dir, "runlocal,steps=40")
  ml.select_as_published(config.train, eval_every=250)
  assert config.train.patience * config.train.eval_every == 1000
  assert config.train.select_metric == "auc" and config.train.retrain_on_validation
  config.train.update(eval_every=2, patience=2)     # tiny: 2 evaluations of 2 steps
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    report = experiment.train_and_evaluate(config, str(tmp_path))
  rows = [json.loads(x) for x in open(tmp_path / "metrics.jsonl")]
  best = [r["best_step"] for r in rows if r["split"] == "selection" and r["step"] < 41]
  stop = [r for r in rows if r["split"] == "early_stop"]
  assert stop and stop[0]["step"] == best[-1] + 4 and best[-1] < 40   # 2 x 2 steps later
  # the retrain: as many SGD steps as selected, then the QDA refitted on them
  rrows = [json.loads(x) for x in open(tmp_path / "retrain" / "metrics.jsonl")]
  fits = [r for r in rrows if r.get("fit") == "qda"]
  assert len(fits) == 1 and fits[0]["step"] == best[-1] + 1
  assert report["retrain"]["steps"] == best[-1] + 1
  from au_jax.predict import Predictor
  p = Predictor.from_workdir(str(tmp_path / "retrain"), batch_size=16)
  assert float(np.abs(np.asarray(p.fitted["qda"]["precision"])).sum()) > 0
