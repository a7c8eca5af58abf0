"""Engine seams: fitted state (session statistics, fitted heads), model selection
on validation, early stopping and init_from."""
import dataclasses
import json
import os
import shutil

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis

from au_jax import models
from au_jax.data import sources, transforms
from au_jax.io import read_jsonl
from au_jax.models import qda
from au_jax.models.gudi import model as gudi_model
from au_jax.models.spec import FittedHead, ModelSpec
from au_jax.predict import Predictor
from au_jax import experiment
from au_jax.train import fitted, loop, transfer
from tests.conftest import tiny_config

# --------------------------------------------------------------------- QDA


def test_qda_log_odds_equal_sklearn_predict_proba():
  rng = np.random.default_rng(0)
  n, d = 400, 6
  x = rng.normal(size=(n, d))
  y = np.stack([(x[:, 0] + 0.5 * x[:, 1] ** 2 + rng.normal(size=n) > 0.8),
                (x[:, 2] * x[:, 3] + rng.normal(size=n) > 0.0)], 1).astype(np.int32)
  y[rng.random(n) < 0.1, 1] = -1                     # uncoded labels are skipped
  fit = qda.fit(x, y, reg=0.05)
  lo = np.asarray(jax.jit(qda.log_odds)(jax.tree.map(jnp.asarray, fit), jnp.asarray(x)))
  for k in range(2):
    ok = y[:, k] >= 0
    ref = QuadraticDiscriminantAnalysis(reg_param=0.05).fit(x[ok], y[ok, k])
    np.testing.assert_allclose(1 / (1 + np.exp(-lo[:, k])), ref.predict_proba(x)[:, 1],
                               atol=2e-5)


def test_qda_with_a_one_example_class_falls_back_to_the_prior_with_a_warning():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(50, 3))
  y = np.zeros((50, 2), np.int32)
  y[:25, 0] = 1
  y[7, 1] = 1                                         # AU column 1: one positive
  with pytest.warns(UserWarning, match="AU12 has 1 positive"):
    fit = qda.fit(x, y, au_names=["AU06", "AU12"])
  lo = np.asarray(qda.log_odds(jax.tree.map(jnp.asarray, fit), jnp.asarray(x, jnp.float32)))
  assert np.all(np.isfinite(lo))
  assert np.ptp(lo[:, 1]) == 0 and lo[0, 1] < 0      # prior only: a constant, low score
  assert np.ptp(lo[:, 0]) > 0


# ------------------------------------------------ a test method with a QDA head

FIT_CALLS: list = []


def _build_with_qda(model_cfg, info):
  """The FERA 2015 CNN whose occurrence comes from a QDA on its output logits."""
  cfg = ml_collections.ConfigDict(dict(model_cfg))
  cfg.name = "gudi_fera2015"
  m = gudi_model.build(cfg, info)
  a = info.num_aus

  def features(v, batch):
    return m.module.apply({"params": v["params"]}, batch["image"], train=False)

  def fit(feats, labels):
    FIT_CALLS.append(labels)
    return qda.fit(feats, labels["occurrence"], reg=0.1)

  def predict(v, batch):
    return {**m.predict(v, batch),
            "occurrence": jax.nn.sigmoid(qda.log_odds(v["fitted"]["qda"], features(v, batch)))}

  return dataclasses.replace(m, name="gudi_qda_test", predict=predict, heads={
      "qda": FittedHead(init=lambda: qda.init(a, a), features=features, fit=fit)})


@pytest.fixture
def qda_model(monkeypatch):
  monkeypatch.setitem(models.MODELS, "gudi_qda_test",
                      ModelSpec(name="gudi_qda_test", build=_build_with_qda))
  FIT_CALLS.clear()


def _qda_config(data_dir):
  config = tiny_config("configs.gudi_synthetic", data_dir)
  config.model.name = "gudi_qda_test"
  config.train.stages = [dict(name="sgd", trainable="all", sampler="uniform", steps=4),
                         dict(name="qda", fit="qda")]
  config.train.checkpoint_every = 2
  config.train.eval_every = 2
  return config


@pytest.mark.slow
def test_fit_stage_sees_training_labels_only_and_reaches_the_checkpoint_and_predictor(
    qda_model, tiny_data_dir, tmp_path):
  config = _qda_config(tiny_data_dir)
  report = experiment.train_and_evaluate(config, str(tmp_path / "a"))
  train = sources.load_split(config.data, "train")
  assert len(FIT_CALLS) == 1
  np.testing.assert_array_equal(FIT_CALLS[0]["occurrence"], train.index.occurrence)
  assert len(FIT_CALLS[0]["occurrence"]) != len(sources.load_split(config.data, "test").index)
  # the fitted state is the selected model: test was evaluated after the fit
  assert report["selection"]["step"] == 5
  # Predictor restores params AND the fitted head: same scores as the final evaluation
  p = Predictor.from_workdir(str(tmp_path / "a"), batch_size=16)
  assert float(np.abs(np.asarray(p.fitted["qda"]["precision"])).sum()) > 0
  test = sources.load_split(config.data, "test")
  recs = [test.source[i] for i in range(len(test.source))]
  saved = np.load(tmp_path / "a" / "test_predictions.npz")
  got = {"occurrence": [], "intensity": []}
  for rows in test.index.groups(test.index.sequence):   # one predict call per session
    out = p.predict(np.stack([transforms.decode(recs[i]["image"]) for i in rows]),
                    np.stack([recs[i]["landmarks"] for i in rows]))
    for k in got:
      got[k].append((rows, out[k]))
  for k in got:
    pred = np.zeros_like(saved[k])
    for rows, v in got[k]:
      pred[rows] = v
    np.testing.assert_allclose(pred, saved[k], rtol=1e-4, atol=1e-5)

  # A run killed during the fit (its post-fit checkpoint never written) refits on
  # rerun and ends with the same metrics.
  b = tmp_path / "b"
  shutil.copytree(tmp_path / "a", b)
  shutil.rmtree(b / "checkpoints" / "5")
  for f in ("report.json", "test_predictions.npz"):
    os.remove(b / f)
  again = experiment.train_and_evaluate(config, str(b))
  assert len(FIT_CALLS) == 2
  assert json.dumps(again["test"]) == json.dumps(report["test"])   # NaN-safe equality


def test_session_statistics_never_see_labels(tiny_data_dir):
  config = tiny_config("configs.gudi_synthetic", tiny_data_dir)
  _, method, _ = loop.setup(config)
  seen = []
  spy = dataclasses.replace(method.sessions, fit=lambda recs: seen.extend(recs) or 1.0)
  split = sources.load_split(config.data, "validation")
  table = fitted.session_table(spy, split.source, split.index)
  assert seen and not any(k in r for r in seen for k in fitted.LABEL_KEYS)
  assert len(table) == len(split.index.sequences)


@pytest.mark.slow
def test_gudi_session_statistics_reach_the_predictor(tiny_data_dir, tmp_path):
  config = tiny_config("configs.gudi_synthetic", tiny_data_dir)
  assert config.model.get("gcn", "session") == "session"
  experiment.train_and_evaluate(config, str(tmp_path))
  p = Predictor.from_workdir(str(tmp_path), batch_size=16)
  assert p.session_sample == gudi_model.GudiTransform().gcn_max_frames
  test = sources.load_split(config.data, "test")
  saved = np.load(tmp_path / "test_predictions.npz")["intensity"]
  for rows in test.index.groups(test.index.sequence):
    recs = [test.source[int(i)] for i in rows]
    faces = np.stack([transforms.decode(r["image"]) for r in recs])
    lms = np.stack([r["landmarks"] for r in recs])
    np.testing.assert_allclose(p.predict(faces, lms)["intensity"], saved[rows],
                               rtol=1e-4, atol=1e-5)
  # one frame predicted with its session's statistics matches the evaluation;
  # alone it is a session of its own, with other statistics
  session = p.fit_session(faces, lms)
  assert p.fit_session(faces[:1], lms[:1]) != session
  np.testing.assert_allclose(p.predict(faces[:1], lms[:1], session=session)["intensity"],
                             saved[rows[:1]], rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------ model selection


@pytest.mark.slow
def test_selection_keeps_the_best_validation_step_and_patience_stops(tiny_data_dir, tmp_path):
  config = tiny_config("configs.gudi_synthetic", tiny_data_dir, "runlocal,steps=12")
  config.train.eval_every = 2
  config.train.select_metric = "auc"
  report = experiment.train_and_evaluate(config, str(tmp_path / "a"))
  recs = read_jsonl(tmp_path / "a" / "metrics.jsonl")
  val = [(r["step"], r["auc"]) for r in recs if r["split"] == "validation"]
  assert [s for s, _ in val] == [2, 4, 6, 8, 10, 12]
  best_step = max(val, key=lambda sv: (sv[1], -sv[0]))[0]   # first of the best
  assert report["selection"]["step"] == best_step
  assert report["selection"]["value"] == pytest.approx(max(v for _, v in val))
  assert f"step {best_step}" in open(tmp_path / "a" / "report.md").read()
  p = Predictor.from_workdir(str(tmp_path / "a"))
  assert p.step == best_step

  config.train.patience = 1
  rep = experiment.train_and_evaluate(config, str(tmp_path / "b"))
  recs = read_jsonl(tmp_path / "b" / "metrics.jsonl")
  stops = [r for r in recs if r["split"] == "early_stop"]
  val_b = [r["step"] for r in recs if r["split"] == "validation"]
  first_worse = next(s for (s, v), (_, prev) in zip(val[1:], val) if not v > prev)
  assert stops and stops[0]["step"] == first_worse and val_b[-1] == first_worse
  assert rep["selection"]["step"] <= first_worse


@pytest.mark.slow
def test_selection_off_uses_the_last_step(tiny_data_dir, tmp_path):
  config = tiny_config("configs.gudi_synthetic", tiny_data_dir)
  config.train.select_metric = "none"
  report = experiment.train_and_evaluate(config, str(tmp_path))
  assert report["selection"]["metric"] is None and report["selection"]["step"] == 6
  assert not os.listdir(tmp_path / "best_checkpoint")


# ------------------------------------------------------------------ init_from


@pytest.mark.slow
def test_init_from_copies_named_groups_and_names_mismatches(tiny_data_dir, tmp_path):
  config = tiny_config("configs.gudi_synthetic", tiny_data_dir)
  experiment.train_and_evaluate(config, str(tmp_path / "src"))
  src = Predictor.from_workdir(str(tmp_path / "src"))
  info_parts, method, _ = loop.setup(config)
  batch = {"image": np.zeros((2, 48, 48, 1), np.float32)}
  state, _, labels = loop.initial_state(method, config.train, batch, seed=5)
  new = transfer.apply(state, dict(workdir=str(tmp_path / "src"), groups=["cnn"]),
                       labels, method.groups)
  for k, g in labels.items():
    same = np.array_equal(np.asarray(new.params[k]), np.asarray(src.params[k]))
    assert same == (g == "cnn"), k

  with pytest.raises(transfer.InitFromError, match="no such directory"):
    transfer.apply(state, dict(workdir=str(tmp_path / "nope")), labels, method.groups)
  config.model.features = (8, 8, 32)
  _, other, _ = loop.setup(config)
  st2, _, lab2 = loop.initial_state(other, config.train, batch)
  with pytest.raises(transfer.InitFromError, match=r"conv3\.(kernel|bias).*shape"):
    transfer.apply(st2, dict(workdir=str(tmp_path / "src"), groups="cnn"), lab2, other.groups)
