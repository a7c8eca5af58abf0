"""AU heatmap regression against Sanchez et al. (BMVC 2018): Eq. 1, Eq. 2,
the adaptive AU weights, the network's size and an end-to-end run."""
import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from au_jax.data.sources import DataInfo
from au_jax.face.template import CANONICAL_68
from au_jax.models import get_spec
from au_jax.models.heatmaps import loss as L
from au_jax.models.heatmaps import targets as T
from au_jax.models.heatmaps.network import HeatmapHourglass
from tests.conftest import tiny_config

AUS = (6, 10, 12, 14, 17)


def _info(aus=AUS, intensity_coded=None):
  return DataInfo(aus=aus, intensity_coded=intensity_coded or (True,) * len(aus),
                  occurrence_coded=(True,) * len(aus), datasets=("synthetic_au/bp4d_like",),
                  metadata=({},))


def _loop_maps(centres, ok, intensity, size, sigma, support):
  """Eq. 1 with pixel loops: one Gaussian per centre, max over centres."""
  b_n, a_n, k_n = ok.shape
  out = np.zeros((b_n, size, size, a_n))
  for b in range(b_n):
    for a in range(a_n):
      amp = max(float(intensity[b, a]), 0.0)
      for k in range(k_n):
        if not ok[b, a, k]:
          continue
        cx, cy = np.round(centres[b, a, k])
        for y in range(size):
          for x in range(size):
            i, j = x - cx, y - cy
            if abs(i) <= support * amp and abs(j) <= support * amp:
              g = amp * np.exp(-(i * i + j * j) / (2 * sigma ** 2))
              out[b, y, x, a] = max(out[b, y, x, a], g)
  return out


def _landmarks(rng, n, side):
  """Template faces jittered by a few pixels, at `side` pixels."""
  return (CANONICAL_68[None] * side + rng.normal(0, 2.0, (n, 68, 2))).astype(np.float32)


def test_render_matches_a_pixel_loop_renderer():
  rng = np.random.default_rng(0)
  table = T.centre_table(AUS, T.JAANET_68)
  lm = _landmarks(rng, 3, 256)
  intensity = rng.integers(0, 6, (3, len(AUS))).astype(np.float32)
  intensity[0, 1] = 0.0
  centres, ok = T.au_centres(lm, table)
  centres = T.to_map(centres, 256, 64)
  got = np.asarray(T.render_heatmaps(centres, ok, intensity, size=64, sigma=3.0, support=6.0))
  want = _loop_maps(np.asarray(centres), np.asarray(ok), intensity, 64, 3.0, 6.0)
  np.testing.assert_allclose(got, want, atol=1e-5)
  # peak = intensity, at the rounded centre; support box grows with intensity
  np.testing.assert_allclose(got.max(axis=(1, 2)), intensity, atol=1e-6)
  assert got.shape == (3, 64, 64, len(AUS)) and np.isfinite(got).all()


def test_centres_follow_the_jaanet_rule_on_the_template():
  lm = (CANONICAL_68 * 256)[None].astype(np.float32)
  table = T.centre_table((6, 12, 17), T.JAANET_68)
  c, ok = T.au_centres(lm, table)
  ruler = np.linalg.norm(lm[0, 42] - lm[0, 39])
  np.testing.assert_allclose(c[0, 0, 0], lm[0, 41] + [0, ruler], rtol=1e-6)   # AU6: 1 below
  np.testing.assert_allclose(c[0, 1], lm[0, [48, 54]], rtol=1e-6)             # AU12 corners
  np.testing.assert_allclose(c[0, 2, 1], lm[0, 58] + [0, ruler / 2], rtol=1e-6)
  assert np.asarray(ok).all()


def test_zero_intensity_gives_an_all_zero_map():
  table = T.centre_table(AUS, T.JAANET_68)
  lm = (CANONICAL_68 * 64)[None].astype(np.float32)
  c, ok = T.au_centres(lm, table)
  maps = T.render_heatmaps(c, ok, jnp.zeros((1, len(AUS))), size=16, sigma=1.0)
  assert float(jnp.abs(maps).max()) == 0.0
  unknown = T.render_heatmaps(c, ok, -jnp.ones((1, len(AUS))), size=16, sigma=1.0)
  assert float(jnp.abs(unknown).max()) == 0.0


def test_missing_centre_skips_it_and_never_gives_nan():
  table = T.centre_table((12, 17), T.JAANET_68)
  lm = (CANONICAL_68 * 256)[None].astype(np.float32).copy()
  lm[0, 48] = np.nan                       # one AU12 lip corner
  lm[0, 39] = np.nan                       # the ruler: AU17's offset centres go
  c, ok = T.au_centres(lm, table)
  assert np.asarray(ok).tolist() == [[[False, True], [False, False]]]
  c = T.to_map(c, 256, 64)
  maps = np.asarray(T.render_heatmaps(c, ok, jnp.array([[3.0, 4.0]]), size=64, sigma=3.0))
  assert np.isfinite(maps).all()
  want = _loop_maps(np.asarray(c), np.asarray(ok), np.array([[3.0, 4.0]]), 64, 3.0, 6.0)
  np.testing.assert_allclose(maps, want, atol=1e-5)    # AU12 from its other corner
  assert maps[..., 0].max() == pytest.approx(3.0) and maps[..., 1].max() == 0.0
  with pytest.raises(ValueError, match=r"AU12 centre 0 needs landmarks \[48\]"):
    T.check_centres(lm[0], table, (12, 17), np.array([True, True]))
  T.check_centres(lm[0], table, (12, 17), np.array([False, False]))   # no label: no target


@pytest.mark.slow
def test_missing_centre_modes_in_the_method():
  rng = np.random.default_rng(1)
  from tfds_builders.common import encode_png
  lm = (CANONICAL_68 * 96).astype(np.float32)
  lm[61] = np.nan                                  # AU10's first centre
  rec = dict(image=encode_png((rng.random((96, 96, 3)) * 255).astype(np.uint8)), landmarks=lm,
             intensity=np.array([1, 2, 3, 0, 1], np.int32),
             occurrence=np.array([1, 1, 1, 0, 1], np.int32), dataset=np.int32(0))
  cfg = dict(name="heatmaps", input_size=64, features=16, landmark_noise=0.0)   # exact landmarks
  method = get_spec("heatmaps").build(dict(cfg, missing_centre="error"), _info())
  with pytest.raises(ValueError, match="AU10 centre 0"):
    method.transform(rec, rng, True)
  method = get_spec("heatmaps").build(cfg, _info())
  ex = method.transform(rec, rng, True)
  assert ex["image"].shape == (64, 64, 3) and ex["image"].max() <= 1.0
  np.testing.assert_allclose(ex["landmarks"][0], (lm[0] + 0.5) * 64 / 96 - 0.5, rtol=1e-6)
  batch = {k: np.stack([v, v]) for k, v in ex.items()}
  batch["mask"] = np.ones(2, np.float32)
  variables = method.init(jax.random.key(0), batch)
  value, aux = jax.jit(method.loss, static_argnums=3)(variables, batch, jax.random.key(1), True)
  assert np.isfinite(float(value))
  assert np.isfinite(np.asarray(aux["model_state"]["au_weights"]["weights"])).all()


def test_huber_is_eq2():
  d = np.linspace(-3, 3, 61)
  want = np.where(np.abs(d) < 1, 0.5 * d ** 2, np.abs(d) - 0.5)
  np.testing.assert_allclose(L.huber(jnp.asarray(d), 0.0), want, atol=1e-6)


def test_per_au_huber_averages_pixels_and_known_examples():
  rng = np.random.default_rng(2)
  pred, target = rng.normal(0, 2, (2, 2, 4, 4, 3))
  valid = np.array([[1, 0, 1], [1, 1, 0]], np.float32)
  got, has = L.per_au_huber(jnp.asarray(pred), jnp.asarray(target), jnp.asarray(valid))
  d = np.abs(pred - target)
  h = np.where(d < 1, 0.5 * d ** 2, d - 0.5).mean(axis=(1, 2))
  want = [(h[:, a] * valid[:, a]).sum() / valid[:, a].sum() for a in range(3)]
  np.testing.assert_allclose(got, want, rtol=1e-5)
  assert np.asarray(has).all()


def test_au_weights_are_the_previous_batchs_error_shares_with_a_floor():
  prev = jnp.full((4,), 0.25)
  w = L.next_au_weights(jnp.array([6.0, 3.0, 0.9, 0.1]), jnp.ones(4, bool), prev, 0.1)
  np.testing.assert_allclose(w, [0.6, 0.3, 0.1, 0.1], rtol=1e-6)    # 0.09, 0.01 -> 0.1
  # an AU without labels in the batch keeps its weight; zero error changes nothing
  w2 = L.next_au_weights(jnp.array([1.0, 1.0, 0.0, 0.0]), jnp.array([1, 1, 0, 1], bool), w, 0.1)
  np.testing.assert_allclose(w2, [0.5, 0.5, 0.1, 0.1], rtol=1e-6)
  np.testing.assert_allclose(L.next_au_weights(jnp.zeros(4), jnp.ones(4, bool), w, 0.1), w)


@pytest.mark.slow
def test_loss_weights_this_batch_by_the_previous_one_and_carry_the_next():
  """Two training steps of the method's loss: step 2 uses the weights step 1 returned
  (Eq. 3 off: the reference errors use the annotated labels)."""
  method = get_spec("heatmaps").build(dict(name="heatmaps", input_size=64, features=16,
                                           label_noise=0.0), _info())
  rng = np.random.default_rng(3)
  batch = dict(image=rng.random((4, 64, 64, 3)).astype(np.float32),
               landmarks=_landmarks(rng, 4, 64),
               intensity=np.array([[5, 0, 0, 0, 0]] * 3 + [[-1, 0, 0, 0, 1]], np.int32),
               occurrence=np.zeros((4, 5), np.int32), mask=np.ones(4, np.float32))
  v = method.init(jax.random.key(0), batch)
  w0 = np.asarray(v["au_weights"]["weights"])
  np.testing.assert_allclose(w0, 0.2)                      # equal shares of 5 AUs
  batch2 = dict(batch, intensity=batch["intensity"][:, ::-1].copy())
  for b in (batch, batch2):                                # two steps: w0 -> w1 -> w2
    w = np.asarray(v["au_weights"]["weights"])
    value, aux = jax.jit(method.loss, static_argnums=3)(v, b, jax.random.key(1), True)
    assert set(aux["model_state"]) == {"batch_stats", "au_weights"}
    errs = _per_au_errors(method, v, b)
    # this batch's loss: its per-AU Huber errors weighted by the previous batch's shares
    np.testing.assert_allclose(float(value), float((w * errs).sum()), rtol=1e-5)
    w_next = np.asarray(aux["model_state"]["au_weights"]["weights"])
    np.testing.assert_allclose(w_next, np.maximum(errs / errs.sum(), 0.1), rtol=1e-5)
    assert (w_next >= 0.1 - 1e-7).all() and not np.allclose(w_next, w)
    v = {**v, **aux["model_state"]}


def _per_au_errors(method, variables, batch):
  """Per-AU errors of a training-mode forward pass, from the loss's own pieces."""
  maps, _ = jax.jit(functools.partial(method.module.apply, train=True, mutable=["batch_stats"]))(
      variables, batch["image"])
  table = T.centre_table(AUS, T.JAANET_68)
  c, ok = T.au_centres(batch["landmarks"], table)
  c = T.to_map(c, 64, 16)
  target = T.render_heatmaps(c, ok, batch["intensity"], size=16, sigma=3.0 * 16 / 64,
                             support=6.0 * 16 / 64)
  valid = ((batch["intensity"] >= 0) & np.asarray(ok).any(-1)).astype(np.float32)
  return np.asarray(L.per_au_huber(maps, target, jnp.asarray(valid))[0])


def test_predict_is_the_clipped_map_maximum():
  method = get_spec("heatmaps").build(dict(name="heatmaps", input_size=64, features=16),
                                      _info())
  x = np.random.default_rng(4).random((2, 64, 64, 3)).astype(np.float32)
  v = method.init(jax.random.key(0), {"image": x})
  # make the output conv's bias push every map far up / down
  params = jax.tree.map(lambda a: a, v["params"])
  params["maps"]["bias"] = jnp.array([9.0, -9.0, 0.0, 0.0, 0.0])
  out = method.predict({**v, "params": params}, {"image": x})
  maps = np.asarray(out["heatmaps"])
  assert maps.shape == (2, 16, 16, 5)
  np.testing.assert_allclose(out["intensity"], np.clip(maps.max(axis=(1, 2)), 0, 5), rtol=1e-6)
  assert (np.asarray(out["intensity"])[:, 0] == 5).all()
  assert (np.asarray(out["intensity"])[:, 1] == 0).all()
  np.testing.assert_allclose(out["occurrence"], np.asarray(out["intensity"]) / 5, rtol=1e-6)


def test_network_has_the_papers_size_and_map_shape():
  """Sec. 4: ~3.5M parameters, "almost 4 times" fewer than ResNet-18 (~11M)."""
  net = HeatmapHourglass(num_maps=5)
  x = jnp.zeros((1, 256, 256, 3))
  shapes = jax.eval_shape(lambda: net.init(jax.random.key(0), x, train=False))
  n = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(shapes["params"]))
  assert 2.5e6 <= n <= 4.5e6, n
  assert 11.7e6 / n > 3.0                 # ResNet-18: 11.69M with its 1000-way FC
  out = jax.eval_shape(lambda: net.apply(
      jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes), x, train=False))
  assert out.shape == (1, 64, 64, 5)      # one 64 x 64 map per AU
  assert set(shapes) == {"params", "batch_stats", "au_weights"}
  with pytest.raises(ValueError, match="multiple of 64"):
    HeatmapHourglass(num_maps=5, features=16).init(jax.random.key(0), jnp.zeros((1, 96, 96, 3)),
                                                   train=False)


def test_unknown_keys_missing_rules_and_occurrence_only_aus_fail():
  build = get_spec("heatmaps").build
  with pytest.raises(KeyError, match="sigmaa"):
    build(dict(name="heatmaps", sigmaa=2.0), _info())
  with pytest.raises(KeyError, match=r"no centre for AU\(s\) \[43\]"):
    build(dict(name="heatmaps"), _info((6, 43)))
  with pytest.raises(ValueError, match=r"AU\(s\) \[10\] are not coded for intensity"):
    build(dict(name="heatmaps"), _info((6, 10), (True, False)))
  with pytest.raises(ValueError, match="missing_centre"):
    build(dict(name="heatmaps", missing_centre="drop"), _info())


@pytest.fixture(scope="module")
def runlocal_run(tiny_data_dir, tmp_path_factory):
  """One runlocal training for the module (the end-to-end checks and the
  figures / robustness command read the same workdir): (report, workdir)."""
  from au_jax import experiment
  wd = tmp_path_factory.mktemp("heatmaps_runlocal")
  config = tiny_config("configs.heatmaps_synthetic", tiny_data_dir, plots=True)   # its figures
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    report = experiment.train_and_evaluate(config, str(wd))
  return report, wd


@pytest.mark.slow
def test_runlocal_trains_end_to_end(runlocal_run):
  report, tmp_path = runlocal_run
  assert report["selection"]["metric"] == "icc"
  assert report["aus"] == list(AUS)
  assert "diverged" not in report
  assert all(np.isfinite(report[s]["mean"][k]) for s in ("validation", "test")
             for k in ("icc", "mae", "mse", "pcc", "f1"))
  saved = np.load(tmp_path / "test_predictions.npz")
  assert saved["heatmaps"].shape[1:] == (16, 16, 5)
  np.testing.assert_allclose(saved["intensity"],
                             np.clip(saved["heatmaps"].max(axis=(1, 2)), 0, 5), rtol=1e-5)
  # the adaptive weights were carried and updated in the train state (and checkpointed)
  from au_jax.predict import Predictor
  w = np.asarray(Predictor.from_workdir(str(tmp_path), batch_size=16)
                 .model_state["au_weights"]["weights"])
  assert (w >= 0.1 - 1e-7).all() and not np.allclose(w, 0.2)


# --- augmentation (Sec. 3.4), baselines (Table 1), figures, robustness (Fig. 4) ---


def test_landmark_perturbation_moves_image_and_landmarks_together():
  """Re-registration with noisy landmarks: the patch around each (moved)
  landmark is the patch around the original one (a landmark's pixel
  neighbourhood is preserved), and the registration itself did move."""
  from au_jax.models.heatmaps import augment
  rng = np.random.default_rng(0)
  size = 96
  yy, xx = np.mgrid[0:size, 0:size]
  # a smooth, non-symmetric image: a landmark's neighbourhood identifies it
  img = np.stack([128 + 100 * np.sin(xx / 7.0), 128 + 100 * np.cos(yy / 9.0),
                  (xx + 2 * yy) % 256 * 0.5 + 60], -1).astype(np.uint8)
  lm = (CANONICAL_68 * size).astype(np.float32)
  out, lm2 = augment.perturb_registration(img, lm, 4.0, rng)
  assert np.abs(lm2 - lm).max() > 1.0                       # moved (rotation/scale/shift)
  inner = [i for i in range(17, 68) if 4 <= lm2[i].min() and lm2[i].max() < size - 5]
  assert len(inner) > 40
  for i in inner:
    (x0, y0), (x1, y1) = np.round(lm[i]).astype(int), np.round(lm2[i]).astype(int)
    a = img[y0 - 2:y0 + 3, x0 - 2:x0 + 3].astype(float)
    b = out[y1 - 2:y1 + 3, x1 - 2:x1 + 3].astype(float)
    assert np.abs(a - b).mean() < 12, i                     # rounding + bilinear only
  # the same noise draw: a deterministic function of the rng
  out_b, lm_b = augment.perturb_registration(img, lm, 4.0, np.random.default_rng(0))
  np.testing.assert_array_equal(out, out_b)
  np.testing.assert_array_equal(lm2, lm_b)


def test_transform_augments_training_records_only():
  method = get_spec("heatmaps").build(dict(name="heatmaps", input_size=64, features=16), _info())
  face = np.random.default_rng(1).integers(0, 255, (96, 96, 3)).astype(np.uint8)
  rec = dict(image=face, landmarks=(CANONICAL_68 * 96).astype(np.float32),
             intensity=np.array([1, 2, 3, 0, 5], np.int32), occurrence=np.ones(5, np.int32),
             dataset=0)
  ev = method.transform(rec, None, False)
  tr = method.transform(rec, np.random.default_rng(0), True)
  assert not np.allclose(ev["landmarks"], tr["landmarks"])
  assert not np.allclose(ev["image"], tr["image"])
  assert tr["image"].min() >= 0 and tr["image"].max() <= 1
  np.testing.assert_array_equal(tr["intensity"], rec["intensity"])   # Eq. 3 is in the loss
  off = get_spec("heatmaps").build(dict(name="heatmaps", input_size=64, features=16,
                                        landmark_noise=0.0, colour_noise=0.0), _info())
  tr0 = off.transform(rec, np.random.default_rng(0), True)
  np.testing.assert_array_equal(tr0["image"], ev["image"])


def test_colour_perturbation_scales_channels_within_the_range():
  from au_jax.models.heatmaps import augment
  img = np.full((8, 8, 3), 0.5, np.float32)
  gains = np.stack([augment.perturb_colour(img, 0.2, np.random.default_rng(s))[0, 0] / 0.5
                    for s in range(300)])
  assert gains.min() >= 0.8 - 1e-6 and gains.max() <= 1.2 + 1e-6
  assert abs(gains.mean() - 1.0) < 0.02 and gains.std(0).min() > 0.1   # ~U(0.8, 1.2): sd 0.115


def test_label_perturbation_is_eq3_as_read():
  """clip(I + 0.2 I z, 0, 5): stays in [0, 5], 0 stays 0, unknown stays -1,
  N(I, (0.2 I)^2) where unclipped (KS test), half the 5s stay 5."""
  from scipy import stats

  from au_jax.models.heatmaps import augment
  n = 20000
  i = jnp.asarray(np.tile([[0, 1, 3, 5, -1]], (n, 1)))
  out = np.asarray(augment.perturb_labels(jax.random.key(0), i, 0.2))
  assert out[:, :4].min() >= 0 and out[:, :4].max() <= 5
  assert (out[:, 0] == 0).all() and (out[:, 4] == -1).all()
  for col, lab in ((1, 1.0), (2, 3.0)):
    assert stats.kstest(out[:, col], "norm", args=(lab, 0.2 * lab)).pvalue > 1e-3
  assert abs((out[:, 3] == 5).mean() - 0.5) < 0.02
  below = out[:, 3][out[:, 3] < 5]
  assert stats.kstest(below, stats.truncnorm(-np.inf, 0, loc=5, scale=1).cdf).pvalue > 1e-3


@pytest.mark.slow
def test_baselines_resnet18_and_single_heatmaps():
  """Table 1: ResNet-18 ~11M parameters at 256 px (~4x the hourglass); one
  hourglass per AU: map a is the a-th network's own map."""
  from au_jax.models.heatmaps.network import SingleHeatmaps
  from au_jax.models.heatmaps.resnet import ResNet18
  count = lambda t: sum(int(np.prod(p.shape)) for p in jax.tree.leaves(t))
  x = jnp.zeros((1, 256, 256, 3))
  res = jax.eval_shape(lambda: ResNet18(num_maps=5).init(jax.random.key(0), x, train=False))
  assert 10.5e6 <= count(res["params"]) <= 11.8e6
  net = SingleHeatmaps(3, features=8, depth=1)            # tiny: compiling is the cost
  img = jnp.asarray(np.random.default_rng(0).random((2, 16, 16, 3)), jnp.float32)
  v = jax.jit(functools.partial(net.init, train=False))(jax.random.key(1), img)
  hg = jax.eval_shape(lambda: HeatmapHourglass(3, features=8, depth=1).init(
      jax.random.key(0), img, train=False))
  # N networks of one map each: N x the hourglass less (N - 1) x its N-way output layer
  assert count(v["params"]) == 3 * count(hg["params"]) - 2 * 3 * 9
  assert v["au_weights"]["weights"].shape == (3,)
  maps = np.asarray(jax.jit(functools.partial(net.apply, train=False))(v, img))
  assert maps.shape == (2, 4, 4, 3)
  one = {c: jax.tree.map(lambda p: p[1], v[c]["hourglasses"]) for c in ("params", "batch_stats")}
  own = jax.jit(functools.partial(HeatmapHourglass(1, features=8, depth=1, own_au_weights=False
                                                   ).apply, train=False))(one, img)
  np.testing.assert_allclose(maps[..., 1], np.asarray(own)[..., 0], atol=1e-5)
  method = get_spec("heatmaps").build(dict(name="heatmaps", arch="resnet18", input_size=16,
                                           widths=(4, 4, 4, 4)), _info())
  v = method.init(jax.random.key(0), {"image": np.asarray(img)})
  out = jax.eval_shape(method.predict, v, {"image": np.asarray(img)})
  assert out["intensity"].shape == (2, 5) and "heatmaps" not in out
  with pytest.raises(KeyError, match="features"):
    get_spec("heatmaps").build(dict(name="heatmaps", arch="resnet18", features=16), _info())


@pytest.mark.slow
def test_figures_and_noise_robustness_on_a_tiny_run(runlocal_run):
  """A tiny trained workdir: the report hook draws the figures; the Fig. 4
  command writes ICC and MSE curves over two sigmas."""
  import json

  from au_jax.models.heatmaps import robustness
  _, tmp_path = runlocal_run
  assert not (tmp_path / "noise_robustness.json").exists()
  for f in ("targets.png", "heatmaps.png"):
    assert (tmp_path / "plots" / f).stat().st_size > 5000
  robustness.main([f"--workdir={tmp_path}", "--sigmas=0,30"])
  r = json.load(open(tmp_path / "noise_robustness.json"))
  assert r["sigmas_256px"] == [0.0, 30.0] and len(r["icc"]) == len(r["mse"]) == 2
  assert r["mse"][1] != r["mse"][0]                 # the noise changed the predictions
  # every synthetic record has a yaw: the |yaw| bins partition them, a value per sigma each
  assert sum(r["records_by_yaw"].values()) == r["records"]
  assert set(r["icc_by_yaw"]) == set(r["records_by_yaw"])
  assert all(len(v) == 2 for v in r["icc_by_yaw"].values())
  assert (tmp_path / "plots" / "noise_robustness.png").stat().st_size > 5000


def test_icc_drop_level_interpolates_the_first_crossing():
  from au_jax.models.heatmaps.robustness import drop_level
  assert drop_level([0, 10, 20, 30], [0.8, 0.76, 0.64, 0.2]) == pytest.approx(10 + 4 / 12 * 10)
  assert drop_level([0, 10], [0.8, 0.79]) is None


@pytest.mark.parametrize("arch", ["hourglass", "single", "resnet18"])
def test_every_arch_has_parameters_in_each_of_its_groups(arch):
  """The engine refuses a parameter group without parameters: each arch
  declares exactly the groups its network has (shapes only, no compile)."""
  from au_jax.train.state import flatten, group_labels
  config = tiny_config("configs.heatmaps_synthetic", "/nonexistent", f"runlocal,arch={arch}")
  method = get_spec("heatmaps").build(config.model, _info())
  size = config.model.get("input_size", 64)
  batch = {"image": jnp.zeros((1, size, size, 3), jnp.float32)}
  variables = jax.eval_shape(method.init, jax.random.PRNGKey(0), batch)
  labels = group_labels(flatten(variables["params"]), method.param_group)
  assert set(labels.values()) == set(method.groups)


# --- AU-centre rules of every DISFA AU (JAA-Net's + documented additions) ---


def test_every_rule_centre_lies_on_the_face_and_on_its_aus_region():
  """On the synthetic renderer's canonical face: every centre of the synthetic
  configs' rule is inside the drawn face outline, and each DISFA AU's centres
  sit where the AU acts (JAA-Net's AU17 / AU26 rows too, though they reach
  the short synthetic chin's outline)."""
  from au_jax import aus as au_lists
  from tfds_builders.synthetic_au import render
  size = 256
  m = render.canvas_matrix(size)
  lm = CANONICAL_68 * m[0, 0] + m[:, 2]                     # canvas px, as the renderer draws
  face = render.face_mask(lm, size)
  ruled = sorted({r[0] for r in T.AU_CENTRES_68})
  assert set(au_lists.DISFA_AUS) | set(au_lists.BP4D_AUS) <= set(ruled)
  assert ruled == sorted({r[0] for r in T.SYNTHETIC_CENTRES_68})

  def centres(rows):
    c, ok = T.au_centres(lm[None].astype(np.float32), T.centre_table(ruled, rows))
    assert np.asarray(ok).all()
    return {au: np.asarray(c[0, a]) for a, au in enumerate(ruled)}

  for au, cs in centres(T.SYNTHETIC_CENTRES_68).items():
    for x, y in np.round(cs).astype(int):
      assert face[y, x] == 255, f"AU{au} centre at {(x, y)} is off the face"
  y = lambda *i: lm[list(i), 1].mean()
  mid = lm[27:31, 0].mean()
  at = centres(T.AU_CENTRES_68)
  chin = centres(T.SYNTHETIC_CENTRES_68)
  at[117], at[126] = chin[17], chin[26]   # the synthetic chin rows, checked as 17 / 26
  for au, (cy_min, cy_max) in {
      1: (y(19, 24) - 40, y(21, 22)),     # above the inner brow ends
      2: (y(19, 24) - 40, y(18, 25)),     # above the outer brows
      4: (y(21, 22), y(37, 38, 43, 44)),  # between brows and upper lids (glabella)
      5: (y(19, 24), y(36, 39, 42, 45)),  # upper lid: below the brows, above the eye corners
      6: (y(41, 46), y(48, 54)),          # cheek: below the lower lids, above the lip corners
      9: (y(36, 39), y(31, 35)),          # nose sides: between the eyes and the nostrils
      12: (y(51), y(57)),                 # lip corners
      15: (y(51), y(57)),
      17: (y(57), y(8) + 2),              # chin: below the lower lip (JAA-Net: at the
                                          # template's chin outline, 0.02 ruler past it)
      20: (y(51), y(57)),                 # beside the lip corners
      25: (y(51) - 1, y(57) + 1),         # the lips
      26: (y(57), y(8) + 2),              # below the lower lip (jaw drop)
      117: (y(57), y(8)), 126: (y(57), y(8)),
  }.items():
    cy = at[au][:, 1]
    assert ((cy > cy_min) & (cy < cy_max)).all(), (au, cy, cy_min, cy_max)
    if au != 25:   # two centres, one each side of the midline
      assert (at[au][:, 0] < mid).sum() == 1 and (at[au][:, 0] > mid).sum() == 1, au
  assert np.allclose(at[25][:, 0], mid, atol=2)
  # AU20 lies outside the lip corners (AU12's centres), AU9 inside the nose width
  assert at[20][:, 0].min() < at[12][:, 0].min() and at[20][:, 0].max() > at[12][:, 0].max()
  nose_half = abs(lm[35, 0] - lm[31, 0]) / 2
  assert (np.abs(at[9][:, 0] - mid) < nose_half).all()
  assert (np.abs(at[6][:, 0] - mid) > nose_half).all()                 # AU6 on the cheeks
