"""DSIN against Corneanu et al. (ECCV 2018): the SIU of Eqs. 6-10 against a
plain loop, vmapped patch CNNs and fusion units, stage-weighted losses, the
patch transform, and a tiny five-stage run."""
import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from au_jax.data.sources import DataInfo
from au_jax.face.template import CANONICAL_68
from au_jax.models import get_spec
from au_jax.models.dsin.model import DSIN, SIUCell
from au_jax.models.dsin.transform import DSINTransform
from tests.conftest import tiny_config

AUS = (1, 2, 4, 6, 12)
# patch_conv="grouped": the tiny nets here are compile-bound, and the looped
# lowering (more ops to compile) is tested on its own below
TINY = dict(features=(4, 8), kernels=(3, 3), fc_units=(8,), fusion_units=4,
            patch_conv="grouped")


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def _siu_reference(params, f, iterations, use_correction):
  """Eqs. 6-10 by loops over iterations, AUs and senders (float64 numpy)."""
  p = {k: np.asarray(v, np.float64) for k, v in params.items()}
  f = np.asarray(f, np.float64)
  b, n = f.shape
  m_prev, y_prev = f.copy(), f.copy()
  ys, chis = [], []
  for _ in range(iterations):
    m, chi, y = np.zeros((b, n)), np.ones((b, n)), np.zeros((b, n))
    for j in range(n):   # Eq. 7
      x = np.stack([m_prev.mean(1), f[:, j], y_prev[:, j]], 1)
      m[:, j] = _sigmoid(x @ p["omega_m"][j] + p["beta_m"][j])
    if use_correction:
      for j in range(n):   # Eq. 8
        x = np.stack([m.mean(1), f[:, j], y_prev[:, j]], 1)
        chi[:, j] = _sigmoid(x @ p["omega_g"][j] + p["beta_g"][j])
    logits = np.zeros((b, n))
    for j in range(n):
      incoming = np.zeros(b)
      for i in range(n):   # Eq. 9: m_{i->j} = m_i gated by mu(chi_i, chi_j)
        gate = 0.5 * (chi[:, i] + chi[:, j]) if use_correction else 1.0
        incoming += gate * m[:, i]
      incoming /= n
      x = np.stack([incoming, f[:, j]], 1)   # Eq. 10
      logits[:, j] = x @ p["omega_y"][j] + p["beta_y"][j]
      y[:, j] = _sigmoid(logits[:, j])
    ys.append(logits)
    chis.append(chi)
    m_prev, y_prev = m, y
  return np.stack(ys, 1), np.stack(chis, 1)


@pytest.mark.parametrize("iterations", [1, 3])
@pytest.mark.parametrize("use_correction", [True, False])
def test_siu_matches_a_plain_loop_of_eqs_6_to_10(iterations, use_correction):
  n, b = 5, 4
  model = DSIN(num_aus=n, num_inputs=2, iterations=iterations, use_correction=use_correction,
               **TINY)
  x = jax.random.normal(jax.random.PRNGKey(0), (b, 2, 8, 8, 3))
  v = jax.jit(functools.partial(model.init, train=False))(jax.random.PRNGKey(1), x)
  # random parameters well away from the initialisation's small values
  leaves, tree = jax.tree.flatten(v["params"]["structure"])
  keys = jax.random.split(jax.random.PRNGKey(2), len(leaves))
  si_params = jax.tree.unflatten(tree, [jax.random.normal(k, l.shape) * 2.0
                                        for k, l in zip(keys, leaves)])
  assert set(si_params) == ({"omega_m", "beta_m", "omega_g", "beta_g", "omega_y", "beta_y"}
                            if use_correction else {"omega_m", "beta_m", "omega_y", "beta_y"})
  assert si_params["omega_m"].shape == (n, 3) and si_params["omega_y"].shape == (n, 2)
  v = {**v, "params": {**v["params"], "structure": si_params}}
  out = jax.jit(functools.partial(model.apply, train=False))(v, x)
  f = np.asarray(out["fusion"])
  assert f.std() > 0
  logits, chi = _siu_reference(si_params, f, iterations, use_correction)
  assert out["si_logits"].shape == (b, iterations, n)
  np.testing.assert_allclose(out["si_logits"], logits, atol=1e-5)
  np.testing.assert_allclose(out["chi"], chi, atol=1e-5)
  np.testing.assert_allclose(out["si"], _sigmoid(logits), atol=1e-5)


def test_siu_cell_shares_parameters_across_iterations():
  """nn.scan: one parameter set however many iterations are unrolled."""
  shapes = []
  for t in (1, 4):
    model = DSIN(num_aus=3, num_inputs=2, iterations=t, **TINY)
    v = jax.eval_shape(lambda m=model: m.init(jax.random.PRNGKey(0), jnp.zeros((2, 2, 8, 8, 3)),
                                              train=False))
    shapes.append(jax.tree.map(jnp.shape, v["params"]["structure"]))
  assert shapes[0] == shapes[1]
  # and a one-step scan equals the cell applied once
  cell = SIUCell(num_aus=3)
  f = jnp.array([[0.2, 0.7, 0.9]])
  cv = cell.init(jax.random.PRNGKey(3), (f, f), f)
  (_, _), (logit, _) = cell.apply(cv, (f, f), f)
  ref, _ = _siu_reference(cv["params"], f, 1, True)
  np.testing.assert_allclose(logit, ref[:, 0], atol=1e-5)


@pytest.mark.slow
def test_patch_cnns_are_one_vmapped_module_with_separate_parameters():
  p, a = 6, 5
  model = DSIN(num_aus=a, num_inputs=p, iterations=2, **TINY)
  x = jax.random.normal(jax.random.PRNGKey(0), (3, p, 16, 16, 3))
  v = model.init(jax.random.PRNGKey(1), x, train=False)
  patch = v["params"]["patch"]
  assert patch["conv1"]["kernel"].shape == (p, 3, 3, 3, 4)
  assert patch["out"]["kernel"].shape == (p, 8, a)
  assert all(leaf.shape[0] == p for leaf in jax.tree.leaves(patch))
  assert all(leaf.shape[0] == p for leaf in jax.tree.leaves(v["batch_stats"]["patch"]))
  # separate parameters: the P kernels differ
  k = np.asarray(patch["conv1"]["kernel"])
  assert all(not np.allclose(k[0], k[i]) for i in range(1, p))
  # one module mapped by nn.vmap: JAX's batching makes one (grouped) conv op
  # per layer, not one per patch
  jaxpr = str(jax.make_jaxpr(lambda v, x: model.apply(v, x, train=False))(v, x))
  assert jaxpr.count("conv_general_dilated") == len(TINY["features"])
  # patch i's output depends only on input i
  out = model.apply(v, x, train=False)["patch_logits"]
  x2 = x.at[:, 2].set(0.0)
  out2 = model.apply(v, x2, train=False)["patch_logits"]
  changed = np.abs(np.asarray(out2 - out)).max(axis=(0, 2)) > 1e-6
  assert changed.tolist() == [i == 2 for i in range(p)]


def test_looped_conv_is_the_convolution_with_its_gradients_under_vmap():
  """The CPU lowering of the vmapped patch CNNs' convolutions (P ordinary
  convolutions instead of one grouped one): same outputs and gradients."""
  from au_jax.models.looped import looped_conv_fn, plain_conv_fn
  _conv, looped_conv = plain_conv_fn((2, 2), "SAME"), looped_conv_fn((2, 2), "SAME")
  x = jax.random.normal(jax.random.PRNGKey(0), (3, 2, 9, 9, 2))     # [P, B, H, W, C]
  k = jax.random.normal(jax.random.PRNGKey(1), (3, 3, 3, 2, 4))     # [P, k, k, C, F]

  def loss(conv):
    return lambda x, k: jnp.sum(jnp.sin(jax.vmap(conv)(x, k)))
  np.testing.assert_allclose(jax.vmap(looped_conv)(x, k), jax.vmap(_conv)(x, k), atol=1e-5)
  for a, b in zip(jax.grad(loss(looped_conv), (0, 1))(x, k), jax.grad(loss(_conv), (0, 1))(x, k)):
    np.testing.assert_allclose(a, b, atol=1e-4)
  jaxpr = str(jax.make_jaxpr(jax.vmap(looped_conv))(x, k))
  assert jaxpr.count("conv_general_dilated") == 3 and "feature_group_count=3" not in jaxpr


@pytest.mark.slow
def test_fusion_units_are_per_au_over_that_aus_patch_predictions():
  p, a = 4, 5
  model = DSIN(num_aus=a, num_inputs=p, iterations=0, **TINY)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, p, 8, 8, 3))
  v = model.init(jax.random.PRNGKey(1), x, train=False)
  fus = v["params"]["fusion"]
  assert fus["fc1"]["kernel"].shape == (a, p, 4)      # 64 hidden units in the paper
  assert fus["fc2"]["kernel"].shape == (a, 4, 1)
  assert "structure" not in v["params"]
  out = model.apply(v, x, train=False)
  s = np.asarray(out["patch"])                        # [B, P, A]
  for j in range(a):                                  # f_j = Phi_j(s_j)
    w1, b1 = (np.asarray(fus["fc1"][k][j]) for k in ("kernel", "bias"))
    w2, b2 = (np.asarray(fus["fc2"][k][j]) for k in ("kernel", "bias"))
    h = _sigmoid(s[:, :, j] @ w1 + b1)
    np.testing.assert_allclose(out["fusion_logits"][:, j], (h @ w2 + b2)[:, 0], atol=1e-5)


def _info(aus=AUS):
  return DataInfo(aus=aus, intensity_coded=(True,) * len(aus),
                  occurrence_coded=(True,) * len(aus), datasets=("d",), metadata=({},))


def _method(**model):
  cfg = dict(dict(name="dsin", face_size=32, patch_size=8, iterations=2, **TINY), **model)
  return get_spec("dsin").build(cfg, _info())


def _batch(b=4, size=32, seed=0):
  rng = np.random.default_rng(seed)
  occ = rng.integers(0, 2, (b, len(AUS))).astype(np.int32)
  occ[0, 1] = -1
  lm = CANONICAL_68[None] * size + rng.normal(scale=0.5, size=(b, 68, 2))
  return dict(face=rng.integers(0, 256, (b, size, size, 3)).astype(np.uint8),
              landmarks=lm.astype(np.float32),
              occurrence=occ, intensity=occ * 3, mask=np.array([1, 1, 1, 0], np.float32),
              dataset=np.zeros(b, np.int32))


@pytest.fixture(scope="module")
def small():
  """(method, batch, variables) of a tiny DSIN, built once for the loss tests."""
  method = _method()
  batch = _batch()
  return method, batch, method.init(jax.random.PRNGKey(0), batch)


@pytest.mark.parametrize("weights,nonzero", [
    (dict(pp=1.0), {"patch"}),
    (dict(fusion=1.0), {"patch", "fusion"}),
    (dict(si=1.0), {"patch", "fusion", "structure"}),
    (None, {"patch", "fusion", "structure"}),
])
@pytest.mark.slow
def test_stage_weights_select_the_loss_terms(small, weights, nonzero):
  method, batch, v = small

  def f(params):
    return method.loss({**v, "params": params}, batch, jax.random.PRNGKey(1), True, weights)
  (value, aux), grads = jax.jit(jax.value_and_grad(f, has_aux=True))(v["params"])
  norms = {g: float(sum(jnp.sum(x ** 2) for x in jax.tree.leaves(grads[g]))) for g in grads}
  assert {g for g, n in norms.items() if n > 0} == nonzero
  m = aux["metrics"]
  w = weights or dict(pp=0.25, fusion=0.25, si=0.5)
  expected = (w.get("pp", 0) * m["pp_l2"] + w.get("fusion", 0) * m["fusion_bce"]
              + w.get("si", 0) * (m["si_bce"] + 5e-3 * m["chi_mean"]))
  np.testing.assert_allclose(value, expected, rtol=1e-6)
  # batch norm statistics move only when PP is trained (Alg. 1 steps 1, 3, 5)
  assert bool(aux["model_state"]) == (w.get("pp", 0) > 0)


def test_losses_mask_unknown_labels_and_padding_and_balance_by_rate(small):
  from au_jax.models.dsin import loss as L
  occ = jnp.array([[1, 0], [-1, 1], [0, 0]])
  mask = jnp.array([1.0, 1.0, 0.0])
  probs = jnp.full((3, 2, 2), 0.25)
  w = jnp.array([1.0, 3.0])
  # known, unpadded labels: (0,0)=1, (0,1)=0, (1,1)=1 -> errors .5625, .0625, .5625
  expected = (1 * 0.5625 + 3 * 0.0625 + 3 * 0.5625) / 3
  np.testing.assert_allclose(L.patch_l2(probs, occ, mask, w), expected, rtol=1e-6)
  np.testing.assert_allclose(L.balance_weights(jnp.array([0.1, 0.4])), [1.6, 0.4], rtol=1e-6)
  np.testing.assert_allclose(L.batch_rates(occ, mask), [2 / 3, 2 / 4], rtol=1e-6)
  # balance=False: equal weights; pos_rates: fixed weights
  _, batch, v = small
  m_off, m_fix = _method(balance=False), _method(pos_rates=(0.5,) * 5)
  a = jax.jit(lambda v, b: m_off.loss(v, b, None, False, dict(pp=1.0))[0])(v, batch)
  b = jax.jit(lambda v, b: m_fix.loss(v, b, None, False, dict(pp=1.0))[0])(v, batch)
  np.testing.assert_allclose(a, b, rtol=1e-6)      # equal rates = no balancing


def test_predict_is_the_final_si_prediction_or_the_fusion_without_si(small):
  _, batch, v = small
  for iterations in (2, 0):
    method = _method(iterations=iterations)
    assert method.groups == (("patch_conv", "patch_fc", "fusion", "structure") if iterations
                             else ("patch_conv", "patch_fc", "fusion"))
    v = method.init(jax.random.PRNGKey(0), batch)
    ref = method.init_fitted()["anchors"]["reference"]
    patches, _ = jax.jit(method.transform.inputs)(batch["face"], batch["landmarks"], ref)
    out = jax.jit(functools.partial(method.module.apply, train=False))(v, patches)
    pred = jax.jit(method.predict)({**v, "fitted": method.init_fitted()}, batch)
    final = out["si"][:, -1] if iterations else out["fusion"]
    np.testing.assert_allclose(pred["occurrence"], final, atol=1e-6)
    np.testing.assert_allclose(pred["intensity"], 5 * final, atol=1e-5)
  with pytest.raises(ValueError, match="iterations=0"):
    _method(iterations=0).loss(v, batch, None, True, dict(si=1.0))
  with pytest.raises(KeyError, match="sii"):
    _method().loss(v, batch, None, True, dict(sii=1.0))


def _record(size=96, landmarks=None):
  from tfds_builders.common import encode_png
  rng = np.random.default_rng(0)
  img = (rng.random((size, size, 3)) * 255).astype(np.uint8)
  lm = CANONICAL_68 * size if landmarks is None else landmarks
  return dict(image=encode_png(img), landmarks=np.asarray(lm, np.float32),
              intensity=np.array([3, 0], np.int32), occurrence=np.array([1, 0], np.int32),
              dataset=np.int32(0)), img


def _inputs(t, examples, reference):
  face = np.stack([e["face"] for e in examples])
  lm = np.stack([e["landmarks"] for e in examples])
  return (np.asarray(x) for x in jax.jit(t.inputs)(face, lm, reference))


def test_transform_crops_patches_centred_on_configured_landmarks():
  from au_jax.models.dsin import registration as R
  lm = CANONICAL_68 * 96
  rec, img = _record(landmarks=lm)
  t = DSINTransform(face_size=96, patch_size=16)
  ex = t(rec, None, False)
  assert ex["face"].shape == (96, 96, 3) and ex["face"].dtype == np.uint8
  assert ex["landmarks"].shape == (68, 2)
  # a face whose anchors are the reference is not moved by the registration
  patches, clamped = _inputs(t, [ex], R.anchor_matrix() @ lm)
  assert patches.shape == (1, 6, 16, 16, 3) and patches.dtype == np.float32
  assert t.input_names == ("right_eye", "between_eyes", "nose", "right_cheek", "mouth", "face")
  assert clamped.tolist() == [0]
  # the right eye patch is the 16 x 16 window around the mean of landmarks 36-41
  c = lm[36:42].mean(0)
  x, y = (int(np.floor(v - 8 + 0.5)) for v in c)
  np.testing.assert_allclose(patches[0, 0], img[y:y + 16, x:x + 16] / 255.0 - 0.5, atol=1e-4)
  # the sixth input is the whole face at 16 x 16
  np.testing.assert_allclose(patches[0, 5].mean(), img.mean() / 255.0 - 0.5, atol=0.01)
  # centres are data: a config's landmark indices and offset move the patch
  t2 = DSINTransform(face_size=96, patch_size=16, patches=(
      dict(name="chin", landmarks=(8,), offset=(0.0, -0.1)),))
  c2 = CANONICAL_68[8] * 96 + np.array([0.0, -9.6])
  np.testing.assert_allclose(t2.centres(lm)[0], c2, rtol=1e-6)
  p2, _ = _inputs(t2, [t2(rec, None, False)], R.anchor_matrix() @ lm)
  assert p2.shape == (1, 2, 16, 16, 3)


def test_registration_maps_the_anchors_onto_the_reference_for_a_known_similarity():
  """A face moved by a known similarity S: the registration estimates S^-1,
  its anchors land exactly on the reference, and the registered face is the
  original (inside the border)."""
  import cv2

  from au_jax.face.transforms import estimate_similarity
  from au_jax.models.dsin import registration as R
  size = 64
  lm = CANONICAL_68 * size
  reference = R.anchor_matrix() @ lm
  a, s, t = np.deg2rad(12.0), 0.85, np.array([4.0, -3.0])
  S = np.concatenate([s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]),
                      t[:, None]], 1)
  moved = lm @ S[:, :2].T + S[:, 2]
  m = np.asarray(R.similarity(jnp.asarray(R.anchor_matrix() @ moved)[None],
                              jnp.asarray(reference)))[0]
  inv = np.asarray(R.invert(jnp.asarray(S, jnp.float32)))
  np.testing.assert_allclose(m, inv, atol=1e-4)
  np.testing.assert_allclose(R.anchor_matrix() @ (moved @ m[:, :2].T + m[:, 2]), reference,
                             atol=1e-3)
  # the jnp least-squares similarity is Umeyama's (the project's numpy one)
  rng = np.random.default_rng(0)
  src, dst = rng.normal(size=(3, 2)) * 10 + 30, rng.normal(size=(3, 2)) * 10 + 30
  np.testing.assert_allclose(R.similarity(jnp.asarray(src)[None], jnp.asarray(dst))[0],
                             estimate_similarity(src, dst), atol=1e-4)
  # and the warp: a smooth image moved by S (OpenCV) comes back
  yy, xx = np.mgrid[:size, :size]
  img = np.stack([128 + 100 * np.sin(xx / 7.0), 128 + 100 * np.cos(yy / 9.0),
                  128 + 50 * np.sin((xx + yy) / 11.0)], -1).astype(np.uint8)
  warped = cv2.warpAffine(img, S, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
  t = DSINTransform(face_size=size, patch_size=16)
  faces, lm_reg, _, _ = t.register(warped[None], moved[None].astype(np.float32), reference)
  np.testing.assert_allclose(np.asarray(lm_reg)[0], lm, atol=1e-3)
  inner = slice(12, size - 12)
  err = np.abs(np.asarray(faces)[0, inner, inner] - img[inner, inner].astype(float))
  assert err.mean() < 2.0


def test_reference_anchors_are_the_mean_over_neutral_frames_with_a_fallback(capsys):
  from au_jax.models.dsin import registration as R
  rng = np.random.default_rng(0)
  pts = rng.normal(size=(6, 3, 2))
  occ = np.array([[0, 0], [1, 0], [0, 0], [0, -1], [0, 1], [0, 0]])
  fit = R.fit_reference(pts.reshape(6, 6), occ)
  np.testing.assert_allclose(fit["reference"], pts[[0, 2, 5]].mean(0))
  assert fit["neutral_frames"] == 3
  fit = R.fit_reference(pts, np.ones((6, 2), int))
  np.testing.assert_allclose(fit["reference"], pts.mean(0))
  assert fit["neutral_frames"] == 0 and "mean over all training frames" in capsys.readouterr().out


def test_transform_clamps_and_counts_patches_outside_the_face():
  from au_jax.models.dsin import registration as R
  lm = CANONICAL_68 * 96
  lm[36:42] = lm[36:42] - lm[36:42].mean(0) + [2.0, 2.0]   # right eye at the image corner
  rec, img = _record(landmarks=lm)
  t = DSINTransform(face_size=96, patch_size=16)
  patches, clamped = _inputs(t, [t(rec, None, False)], R.anchor_matrix() @ lm)
  assert clamped.tolist() == [1]
  np.testing.assert_allclose(patches[0, 0], img[:16, :16] / 255.0 - 0.5, atol=1e-4)


def test_transform_names_the_patch_or_anchor_and_landmark_of_a_nan():
  lm = CANONICAL_68 * 96
  lm[21] = np.nan                           # the right inner brow end: between_eyes needs it
  rec, _ = _record(landmarks=lm)
  with pytest.raises(ValueError, match=r"patch 'between_eyes' needs landmark 21"):
    DSINTransform(face_size=96, patch_size=16)(rec, None, False)
  lm = CANONICAL_68 * 96
  lm[55] = np.nan                           # outer mouth: the mouth anchor needs it
  rec, _ = _record(landmarks=lm)
  with pytest.raises(ValueError, match=r"anchor 'mouth' needs landmark 55"):
    DSINTransform(face_size=96, patch_size=16)(rec, None, False)
  with pytest.raises(ValueError, match="within 0..67"):
    DSINTransform(patches=(dict(name="x", landmarks=(68,)),))


@pytest.fixture(scope="module")
def tiny_run(tiny_data_dir, tmp_path_factory):
  """One tiny five-stage run of configs/dsin_synthetic.py:runlocal, shared by
  the tests below; `fits` records what the anchors' fit was given."""
  from au_jax.models.dsin import registration as R
  from au_jax import experiment
  fits, real = [], R.fit_reference

  def spy(points, occurrence):
    fits.append((np.array(points), np.array(occurrence)))
    return real(points, occurrence)
  workdir = str(tmp_path_factory.mktemp("dsin_run"))
  config = tiny_config("configs.dsin_synthetic", tiny_data_dir)
  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(R, "fit_reference", spy)
    report = experiment.train_and_evaluate(config, workdir)
  return dict(workdir=workdir, report=report, config=config, fits=fits)


@pytest.mark.slow
def test_tiny_run_trains_the_five_stages(tiny_run):
  workdir, report = tiny_run["workdir"], tiny_run["report"]
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    lines = [json.loads(line) for line in f]
  stages = [l["stage"] for l in lines if l.get("split") == "train" and "stage" in l]
  assert list(dict.fromkeys(stages)) == ["anchors", "pp", "fusion", "pp_f", "si", "all"]
  # no validation pass for the anchors' fit (step 1): there is no trained model to select
  assert not [l for l in lines if l.get("split") == "validation" and l["step"] == 1]
  si_lines = [l for l in lines if l.get("stage") == "si" and "si_bce" in l]
  assert si_lines and all(np.isfinite(l["si_bce"]) for l in si_lines)
  assert all("patches_clamped" in l for l in lines if l.get("stage") == "pp" and "pp_l2" in l)
  f1 = report["test"]["mean"]["f1"]
  assert np.isfinite(f1)
  preds = np.load(os.path.join(workdir, "test_predictions.npz"))
  assert preds["si"].shape[1:] == (10, 12) and preds["patch"].shape[1:] == (6, 12)
  # The report hook: Tables 2-3 rows from the same model, chi per iteration, plots.
  with open(os.path.join(workdir, "dsin_report.json")) as f:
    out = json.load(f)
  assert list(out["f1"]) == ["PP(right_eye)", "PP(between_eyes)", "PP(nose)", "PP(right_cheek)",
                             "PP(mouth)", "PP(face)", "PP+F", "DSIN_2", "DSIN_5", "DSIN_10",
                             "DSIN^tt"]
  assert len(out["chi"]["mean"]) == 10 and all(0 < m < 1 for m in out["chi"]["mean"])
  assert out["patches_clamped"]["of_examples"] == len(preds["patches_clamped"])
  for name in ("patches", "chi", "si_gain"):
    assert os.path.getsize(os.path.join(workdir, "plots", f"{name}.png")) > 1000


@pytest.mark.slow
def test_anchors_are_fitted_on_the_training_split_only(tiny_run):
  """The fit saw exactly the training split's labels and landmarks (not
  validation or test), and the checkpointed reference is the mean anchors of
  its neutral frames, recomputed here from the records."""
  import ml_collections

  from au_jax.data import sources
  from au_jax.data import transforms as T
  from au_jax.models.dsin import registration as R
  from au_jax.models.dsin.report import fitted_anchors
  config = tiny_run["config"]
  [(points, occ)] = tiny_run["fits"]
  splits = {s: sources.load_split(ml_collections.ConfigDict(config.data.to_dict()), s)
            for s in ("train", "validation", "test")}
  train = splits["train"]
  np.testing.assert_array_equal(occ, np.asarray(train.index.occurrence))
  assert all(len(splits[s].index) != len(occ) or not np.array_equal(
      np.asarray(splits[s].index.occurrence), occ) for s in ("validation", "test"))
  face = config.model.face_size
  lms = []
  for r in range(len(train.index)):
    rec = train.source[r]
    side = T.decode(rec["image"]).shape[0]
    lms.append(np.asarray(rec["landmarks"], np.float64) * face / side)
  anchors = np.einsum("al,nlc->nac", R.anchor_matrix(), np.stack(lms))
  np.testing.assert_allclose(points.reshape(-1, 3, 2), anchors, atol=1e-3)
  neutral = R.neutral_rows(occ)
  assert neutral.any()
  fitted = fitted_anchors(tiny_run["workdir"])
  np.testing.assert_allclose(fitted["reference"], anchors[neutral].mean(0), atol=1e-3)
  assert int(fitted["neutral_frames"]) == int(neutral.sum())


@pytest.mark.slow
def test_predictor_gives_the_final_evaluations_scores(tiny_run):
  """Predictor (restored anchors, same registration) = the test evaluation."""
  import ml_collections

  from au_jax.data import sources
  from au_jax.data import transforms as T
  from au_jax.predict import Predictor
  config = tiny_run["config"]
  test = sources.load_split(ml_collections.ConfigDict(config.data.to_dict()), "test")
  rows = np.arange(min(12, len(test.index)))
  recs = [test.source[int(r)] for r in rows]
  faces = np.stack([T.decode(r["image"]) for r in recs])
  lms = np.stack([np.asarray(r["landmarks"], np.float32) for r in recs])
  out = Predictor.from_workdir(tiny_run["workdir"], batch_size=8).predict(faces, lms)
  preds = np.load(os.path.join(tiny_run["workdir"], "test_predictions.npz"))
  np.testing.assert_allclose(out["occurrence"], preds["occurrence"][rows], atol=1e-5)
  np.testing.assert_allclose(out["si"], preds["si"][rows], atol=1e-5)


def test_report_rows_are_f1_of_each_output_and_chi_is_per_iteration():
  from sklearn.metrics import f1_score

  from au_jax.models.dsin import report
  rng = np.random.default_rng(0)
  n, p, t, a = 40, 3, 4, 2
  true = rng.integers(0, 2, (n, a))
  true[:5, 1] = -1
  npz = dict(occurrence_true=true, patch=rng.random((n, p, a)), fusion=rng.random((n, a)),
             si=rng.random((n, t, a)), chi=rng.random((n, t, a)))
  rows = report.table_rows(npz, ("a", "b", "face"), thresholds=[0.3, 0.7])
  assert list(rows) == ["PP(a)", "PP(b)", "PP(face)", "PP+F", "DSIN_2", "DSIN_4", "DSIN^tt",
                        "_final"]

  def ref(prob, thr):
    return [f1_score(true[true[:, k] >= 0, k], prob[true[:, k] >= 0, k] >= thr[k])
            for k in range(a)]
  np.testing.assert_allclose(rows["PP(b)"], ref(npz["patch"][:, 1], [0.5, 0.5]))
  np.testing.assert_allclose(rows["PP+F"], ref(npz["fusion"], [0.5, 0.5]))
  np.testing.assert_allclose(rows["DSIN_2"], ref(npz["si"][:, 1], [0.5, 0.5]))
  np.testing.assert_allclose(rows["DSIN^tt"], ref(npz["si"][:, -1], [0.3, 0.7]))
  assert rows["_final"] is rows["DSIN_4"]
  stats = report.chi_stats(npz["chi"])
  np.testing.assert_allclose(stats["mean"], [npz["chi"][:, k].mean() for k in range(t)])
  np.testing.assert_allclose(stats["std"], [npz["chi"][:, k].std() for k in range(t)])


def test_param_groups_split_the_patch_cnns_into_conv_and_fc(small):
  from au_jax.train.state import flatten, group_labels
  method, _, variables = small
  labels = group_labels(flatten(variables["params"]), method.param_group)
  assert set(labels.values()) == set(method.groups) == {"patch_conv", "patch_fc", "fusion",
                                                          "structure"}
  for k, g in labels.items():
    if k.startswith("patch."):
      assert g == ("patch_conv" if k.split(".")[1].startswith(("conv", "bn")) else "patch_fc")


def test_disfa_config_transfers_and_never_trains_the_convolutions():
  from configs import dsin_disfa
  config = dsin_disfa.get_config("fold=2,bp4d_workdir=runs/bp4d")
  assert config.data.occurrence_threshold == 4 and tuple(config.data.aus) == (1, 2, 4, 6, 9, 12,
                                                                               25, 26)
  assert config.model.fixed_conv and list(config.train.init_from.groups) == ["patch_conv"]
  assert config.train.stages[0] == dict(name="anchors", fit="anchors")   # Sec. 4.1, fitted first
  assert all("patch_conv" not in s.get("trainable", "") for s in config.train.stages)
  assert "patch_fc" in config.train.stages[1]["trainable"]
  scratch = dsin_disfa.get_config(None)
  assert not scratch.model.fixed_conv and "patch_conv" in scratch.train.stages[1]["trainable"]
