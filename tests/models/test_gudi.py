"""FERA 2015 CNN against Gudi et al. (FG 2015), Sec. IV and Fig. 2."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from au_jax.data.sources import DataInfo
from au_jax.face.template import CANONICAL_68, eye_centres
from au_jax.models import get_spec
from au_jax.models.gudi.model import GudiCNN, GudiTransform
from au_jax.models.layers import LocalContrastNorm


@pytest.mark.slow
def test_feature_map_sizes_are_the_papers():
  model = GudiCNN(num_outputs=11)
  x = jnp.zeros((2, 48, 48, 1))
  # shapes only: traced, not computed
  variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), x, train=False))
  out, state = jax.eval_shape(
      lambda v: model.apply(v, x, train=False, mutable=["intermediates"]), variables)
  inter = {k: v[0].shape for k, v in state["intermediates"].items()}
  assert inter["conv1_out"] == (2, 44, 44, 64)     # conv 5x5x64
  assert inter["pool1_out"] == (2, 22, 22, 64)     # max-pool 3x3 stride 2
  assert inter["conv2_out"] == (2, 18, 18, 64)     # conv 5x5x64
  assert inter["conv3_out"] == (2, 15, 15, 128)    # conv 4x4x128
  assert variables["params"]["fc"]["kernel"].shape == (15 * 15 * 128, 3072)
  assert out.shape == (2, 11)                  # one output per AU (11 for BP4D)


@pytest.mark.slow
def test_dropout_only_in_training():
  model = GudiCNN(num_outputs=3, features=(4, 4, 8), fc_units=32)
  x = jax.random.normal(jax.random.PRNGKey(1), (4, 48, 48, 1))
  v = model.init(jax.random.PRNGKey(0), x, train=False)
  a = model.apply(v, x, train=False)
  np.testing.assert_array_equal(a, model.apply(v, x, train=False))
  b = model.apply(v, x, train=True, rngs={"dropout": jax.random.PRNGKey(2)})
  assert not np.allclose(a, b)


def test_local_contrast_norm_removes_local_mean_and_scale():
  x = jax.random.normal(jax.random.PRNGKey(0), (1, 32, 32, 4)) * 7.0 + 3.0
  y = LocalContrastNorm().apply({}, x)
  assert abs(float(y[:, 8:-8, 8:-8].mean())) < 0.1
  # invariant to a global affine change of contrast
  y2 = LocalContrastNorm().apply({}, 5.0 * x - 2.0)
  np.testing.assert_allclose(y, y2, atol=1e-3)


@pytest.mark.parametrize("size,k", [((44, 44), 9), ((7, 12), 9), ((10, 6), 4)])
def test_banded_blur_is_scipys_zero_padded_correlation(size, k):
  from scipy import ndimage

  from au_jax.models.layers import _blur, gaussian_kernel_1d
  k1 = gaussian_kernel_1d(k, 2.0)
  x = np.random.default_rng(k).standard_normal((3, *size, 1)).astype(np.float32)
  # lax's 'SAME': (K - 1) // 2 zeros before, K // 2 after; scipy's origin puts
  # the window's start at -(K - 1) // 2 for both odd and even K
  origin = -1 if k % 2 == 0 else 0
  ref = ndimage.correlate1d(x.astype(np.float64), k1.astype(np.float64), axis=1, mode="constant",
                            origin=origin)
  ref = ndimage.correlate1d(ref, k1.astype(np.float64), axis=2, mode="constant", origin=origin)
  for impl in ("banded", "conv"):
    np.testing.assert_allclose(np.asarray(_blur(jnp.asarray(x), k1, impl)), ref,
                               rtol=1e-5, atol=1e-6)


def test_lcn_banded_and_conv_blur_give_the_same_outputs_and_gradients():
  x = jax.random.normal(jax.random.PRNGKey(3), (4, 44, 44, 64)) * 3.0 + 1.0
  g = jax.random.normal(jax.random.PRNGKey(4), x.shape)
  outs, grads = {}, {}
  for impl in ("banded", "conv"):
    f = lambda x, impl=impl: LocalContrastNorm(blur_impl=impl).apply({}, x)
    y, vjp = jax.vjp(f, x)
    outs[impl], grads[impl] = np.asarray(y), np.asarray(vjp(g)[0])
  np.testing.assert_allclose(outs["banded"], outs["conv"], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(grads["banded"], grads["conv"], rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="blur_impl 'fft'"):
    LocalContrastNorm(blur_impl="fft").apply({}, x[:1, :8, :8])


@pytest.mark.slow
def test_gudi_lcn_impl_is_a_config_choice_with_the_same_logits():
  x = jax.random.normal(jax.random.PRNGKey(1), (3, 48, 48, 1))
  nets = {impl: GudiCNN(num_outputs=2, features=(8, 8, 16), fc_units=16, lcn_impl=impl)
          for impl in ("banded", "conv")}
  v = nets["conv"].init(jax.random.PRNGKey(0), x, train=False)
  np.testing.assert_allclose(nets["banded"].apply(v, x, train=False),
                             nets["conv"].apply(v, x, train=False), rtol=1e-5, atol=1e-5)


def _record(image_value=128, subject="s", sequence="q"):
  rng = np.random.default_rng(image_value)
  img = (rng.random((96, 96, 3)) * image_value).astype(np.uint8)
  from tfds_builders.common import encode_png
  return dict(image=encode_png(img), landmarks=(CANONICAL_68 * 96).astype(np.float32),
              intensity=np.array([3, 0], np.int32), occurrence=np.array([1, 0], np.int32),
              dataset=np.int32(0), subject=subject, sequence=sequence)


def test_transform_crop_is_48_grey_with_eyes_horizontal():
  t = GudiTransform()
  out = t(_record(), None, False, 1.0)
  assert out["image"].shape == (48, 48, 1) and out["image"].dtype == np.float32
  # eyes_horizontal registration of a template face keeps the eyes level
  from au_jax.face.align import align_face
  rgb = np.zeros((96, 96, 3), np.uint8)
  tilted = CANONICAL_68 * 96
  c, s = np.cos(0.3), np.sin(0.3)
  tilted = (tilted - 48) @ np.array([[c, -s], [s, c]]).T + 48
  aligned = align_face(rgb, tilted, size=48, method="eyes_horizontal")
  r, l = eye_centres(aligned.landmarks)
  assert abs(r[1] - l[1]) < 1e-3


def test_session_gcn_divides_by_session_std():
  t = GudiTransform()
  rec, other = _record(), _record(subject="S2")
  crop = t.crop(rec)
  np.testing.assert_allclose(t(rec, None, False, 0.5)["image"][..., 0], crop / 0.5, rtol=1e-6)
  sessions = t.sessions()
  assert sessions.level == "sequence" and sessions.key(rec) != sessions.key(other)
  std = np.stack([t.crop(rec), t.crop(other)]).std()
  assert sessions.fit([rec, other]) == pytest.approx(std)
  with pytest.raises(ValueError, match="session"):
    t(rec, None, False)                    # no silent fallback to per-image statistics


def test_mirroring_is_horizontal_flip():
  t = GudiTransform(mirror_prob=1.0, gcn="none")
  rec = _record()
  flipped = t(rec, np.random.default_rng(0), True)["image"]
  plain = t(rec, None, False)["image"]
  np.testing.assert_array_equal(flipped, plain[:, ::-1])


def test_joint_loss_uses_intensity_for_intensity_aus():
  info = DataInfo(aus=(1, 6), intensity_coded=(False, True), occurrence_coded=(True, True),
                  datasets=("x",), metadata=({},))
  method = get_spec("gudi_fera2015").build(
      {"features": (4, 4, 8), "fc_units": 16, "dropout": 0.0}, info)
  batch = {"image": jnp.zeros((2, 48, 48, 1)), "intensity": jnp.array([[-1, 5], [-1, 0]]),
           "occurrence": jnp.array([[1, 1], [-1, 0]]), "dataset": jnp.zeros(2, jnp.int32),
           "mask": jnp.ones(2)}
  v = method.init(jax.random.PRNGKey(0), batch)
  # zero the output layer: every prediction is sigmoid(0) = 0.5
  v = jax.tree_util.tree_map_with_path(
      lambda p, x: jnp.zeros_like(x) if "out" in str(p) else x, v)
  loss, _ = method.loss(v, batch, jax.random.PRNGKey(1), False)
  # 3 valid targets (AU1 of row 0; AU6 = 5/5 and 0/5): each -log 0.5
  np.testing.assert_allclose(loss, np.log(2.0), rtol=1e-5)
  pred = method.predict(v, batch)
  np.testing.assert_allclose(pred["intensity"], 2.5, rtol=1e-6)


def test_unknown_intensity_au_is_named():
  info = DataInfo(aus=(1, 6), intensity_coded=(False, True), occurrence_coded=(True, True),
                  datasets=("x",), metadata=({},))
  with pytest.raises(KeyError, match="17"):
    get_spec("gudi_fera2015").build({"intensity_aus": (17,)}, info)


@pytest.mark.parametrize("key,value,match", [
    ("lcn_impl", "fft", r"config.model.lcn_impl 'fft'"),
    ("pool_impl", "avg", r"config.model.pool_impl 'avg'"),
    ("conv_impl", ("xla", "im2col"), r"config.model.conv_impl must be one of .* or 3 of them")])
def test_unknown_layer_lowering_is_named_before_tracing(key, value, match):
  from au_jax.errors import ConfigValueError
  info = DataInfo(aus=(1, 6), intensity_coded=(False, True), occurrence_coded=(True, True),
                  datasets=("x",), metadata=({},))
  with pytest.raises(ConfigValueError, match=match):
    get_spec("gudi_fera2015").build({key: value}, info)


def test_both_copies_put_every_image_and_its_mirror_in_the_batch():
  """Sec. IV-A: "a horizontally mirrored copy of all training images"."""
  from au_jax.data import pipeline
  from au_jax.data.samplers import UniformSampler
  from tests.data.test_samplers import make_index
  index = make_index()
  records = [_record(image_value=40 + i) for i in range(len(index))]
  t = GudiTransform(gcn="image", train_copies=2)
  make_sampler = lambda: UniformSampler(index, pipeline.records_per_step(8, 2), seed=3)

  def dataset():
    return pipeline.train_dataset(records, make_sampler(), t, num_steps=2, seed=0, segment=0,
                                  copies=t.train_copies)

  ds, sampler = dataset(), make_sampler()
  for step in (0, 1):
    images = ds[step]["image"]
    assert images.shape == (8, 48, 48, 1)
    for k, r in enumerate(sampler(step)):
      plain = t(records[r], None, False)["image"]          # the record, not mirrored
      np.testing.assert_array_equal(images[2 * k], plain)
      np.testing.assert_array_equal(images[2 * k + 1], plain[:, ::-1])
    # the same (seed, step) -> the same batch, pixel for pixel
    np.testing.assert_array_equal(dataset()[step]["image"], images)
  with pytest.raises(ValueError, match="train_copies"):
    GudiTransform(train_copies=3)


def test_default_framing_keeps_a_long_face_chin_in_the_crop():
  from au_jax.face.align import registration_matrix, transform_points
  # a face 15% longer below the eyes than the template (eyes at y = 0.4)
  long_face = CANONICAL_68.copy()
  below = long_face[:, 1] > 0.4
  long_face[below, 1] = 0.4 + 1.15 * (long_face[below, 1] - 0.4)
  raw = long_face * 96 + 20

  def outside(t):
    M = registration_matrix(raw, size=48, method="eyes_horizontal", scale=t.scale, shift=t.shift)
    p = transform_points(raw, M)
    return np.where(((p < 0) | (p > 47)).any(1))[0].tolist()

  assert outside(GudiTransform()) == []
  assert 8 in outside(GudiTransform(face_margin=None))      # the template as is: chin lost
