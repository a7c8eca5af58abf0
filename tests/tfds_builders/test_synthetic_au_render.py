"""synthetic_au renderer: 3-D pose and projection, occluders and their per-AU
coverage, cue strength against the between-subject variation, config checks."""
import dataclasses

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import tfds_builders.synthetic_au as sa
from au_jax.aus import SYNTHETIC_AUS
from tfds_builders.synthetic_au import render
from tfds_builders.synthetic_au import synthetic_au as sau

SIZE = 160
AU = {a: k for k, a in enumerate(SYNTHETIC_AUS)}


@pytest.fixture(scope="module")
def ident():
  return render.make_identity(np.random.default_rng(3), render.STYLES["disfa_like"], SIZE)


def _reference_projection(pts, yaw, pitch, roll, distance):
  """Independent reference: scipy rotations (extrinsic x, then y, then z) and
  a pinhole camera at `distance` on the z axis looking at -z."""
  c = render.HEAD_CENTRE
  # Our axes: x right, y down, z toward the camera. A right-handed frame with
  # y up and z toward the camera is (x, -y, z): yaw is a turn about +y_up
  # (nose toward +x), pitch a turn about +x that moves the nose down, roll a
  # counter-clockwise turn in the image (about +z).
  p = np.asarray(pts, float).copy()
  q = np.stack([p[:, 0] - c[0], -(p[:, 1] - c[1]), p[:, 2]], 1)
  rot = Rotation.from_euler("xyz", [pitch, yaw, roll], degrees=True)
  q = rot.apply(q)
  s = distance / (distance - q[:, 2])
  return np.stack([q[:, 0] * s + c[0], -q[:, 1] * s + c[1]], 1)


@pytest.mark.parametrize("yaw,pitch,roll", [(30, 0, 0), (0, 20, 0), (0, 0, 10),
                                            (-35, 12, -7), (89, -40, 3)])
def test_projection_matches_a_numpy_rotation(yaw, pitch, roll):
  pts = np.random.default_rng(0).uniform([0, 0, 0], [1, 1, 0.4], (50, 3))
  got = render.project(pts, yaw, pitch, roll, distance=4.0)
  np.testing.assert_allclose(got, _reference_projection(pts, yaw, pitch, roll, 4.0), atol=1e-9)


def test_yaw_turns_the_nose_and_foreshortens_the_far_side(ident):
  lm3 = render.landmarks_3d(ident, ident.shape, SIZE)
  assert lm3[30, 2] > lm3[36, 2] + 0.05 > lm3[0, 2]   # nose tip in front of eyes, jaw behind
  front = render.project(lm3, 0, 0)
  right = render.project(lm3, 25, 0)
  # The nose tip moves toward +x relative to the eyes' midpoint.
  rel = lambda p: p[30, 0] - (p[36, 0] + p[45, 0]) / 2
  assert rel(right) > rel(front) + 0.05
  # At yaw > 0 the face turns toward +x: its +x half turns away (shorter),
  # its -x half toward the camera (wider).
  width = lambda p, a, b: abs(p[b, 0] - p[a, 0])
  assert width(right, 27, 16) < 0.9 * width(front, 27, 16)
  assert width(right, 0, 27) > width(front, 0, 27)
  # Pitch > 0 moves the nose tip down relative to the eyes.
  down = render.project(lm3, 0, 20)
  assert down[30, 1] - down[39, 1] > front[30, 1] - front[39, 1]


@pytest.mark.parametrize("yaw,pitch", [(0, 0), (25, 0), (-20, 15)])
def test_image_warp_agrees_with_the_landmark_projection(ident, yaw, pitch):
  """Ray casting (image) and forward projection (landmarks) see the same
  surface: at a visible landmark's projected pixel, the backward map points
  back to that landmark on the canvas."""
  nuis = render.Nuisance(yaw=yaw, pitch=pitch, roll=5.0, scale=0.95, shift=(0.02, -0.01))
  affine = render.pose_matrix(nuis, SIZE)
  mx, my = render.pose_maps(ident.depth, yaw, pitch, nuis.distance, affine, SIZE)
  m = render.canvas_matrix(SIZE)
  lm3 = render.landmarks_3d(ident, ident.shape, SIZE)
  raw = (render.project(lm3, yaw, pitch, 0, nuis.distance) * m[0, 0] + m[:, 2]) \
      @ affine[:, :2].T + affine[:, 2]
  canvas = ident.shape * m[0, 0] + m[:, 2]
  visible = [27, 28, 30, 33, 39, 42, 51, 57, 62]    # central points, never self-occluded here
  back = np.stack([render._sample(mx, raw[visible]), render._sample(my, raw[visible])], 1)
  err = np.hypot(*(back - canvas[visible]).T)
  assert err.max() < 1.5, err


def test_covered_fraction_against_brute_force():
  rng = np.random.default_rng(0)
  bits = rng.integers(0, 2 ** 16, (20, 30)).astype(np.uint16)
  bits[:, :5] = 0
  occ = rng.uniform(size=(20, 30)) < 0.3
  got = render.covered_fraction(bits, occ)
  for k in range(16):
    inside = [(i, j) for i in range(20) for j in range(30) if bits[i, j] >> k & 1]
    want = sum(occ[i, j] for i, j in inside) / len(inside)
    assert got[k] == pytest.approx(want)


def _frame(ident, **kw):
  nuis = render.Nuisance(**kw)
  return render.render_frame(ident, np.zeros(16), nuis, render.STYLES["disfa_like"], SIZE,
                             np.random.default_rng(0))


def test_au_covered(ident):
  clear = _frame(ident)
  assert (clear.au_covered == 0).all()
  assert clear.image.shape == (SIZE, SIZE, 3)
  mask = _frame(ident, occluder="mask", occluder_region="nose+mouth+chin", occluder_seed=1)
  for au in (10, 12, 17, 23, 25, 26):
    assert mask.au_covered[AU[au]] > 0.5, (au, mask.au_covered)
  for au in (1, 2, 4, 5):
    assert mask.au_covered[AU[au]] < 0.05, (au, mask.au_covered)
  # Hair over the brows: the brow AUs, not the mouth.
  hair = _frame(ident, occluder="hair", occluder_region="brows", occluder_seed=2)
  assert hair.au_covered[[AU[1], AU[2], AU[4]]].max() > 0.2, hair.au_covered
  assert hair.au_covered[[AU[17], AU[25], AU[26]]].max() == 0
  # Occluded landmarks are tracked worse.
  assert not np.array_equal(mask.image, clear.image)


def test_degradations_shrink_blur_and_compress(ident):
  small = _frame(ident, face_size=20.0, blur=1.0, jpeg_quality=40)
  native = 0.4 * render.FACE_FRACTION * SIZE
  side = small.image.shape[0]
  assert side == round(SIZE * 20.0 / native)
  iod = np.hypot(*(small.landmarks[36:42].mean(0) - small.landmarks[42:48].mean(0)))
  assert small.face_size == pytest.approx(iod)
  # Frontal: the wanted size, up to the subject's eye spacing and perspective.
  assert 0.85 * 20 < small.face_size < 1.2 * 20
  big = _frame(ident)   # face_size unset: the rendered resolution
  assert big.image.shape[0] == SIZE and big.face_size > 1.5 * small.face_size


def test_expressivity_scales_the_motion(ident):
  full = render.expression_landmarks(ident.shape, {12: 4}) - ident.shape
  half = render.expression_landmarks(ident.shape, {12: 4}, gain=0.5) - ident.shape
  np.testing.assert_allclose(half, 0.5 * full, atol=1e-12)


def test_cue_strength_is_of_the_order_of_subject_variation():
  """Level-1 cues sit at about the between-subject variation of their region
  (median ratio 1, docs/benchmark.md 2.2) and grow with every level."""
  from tfds_builders.synthetic_au import measure_cues
  res = measure_cues.cue_ratios("disfa_like", num_subjects=8)
  r1 = res["ratio"][:, 0]
  assert 0.6 <= np.median(r1) <= 1.6, dict(zip(SYNTHETIC_AUS, r1.round(2)))
  assert r1.max() < 5, dict(zip(SYNTHETIC_AUS, r1.round(2)))
  assert np.median(res["ratio"][:, 1]) > 1.5 * np.median(r1)
  assert (np.diff(res["effect"], axis=1) > 0).all(), res["effect"]


def test_occluder_spans_cover_the_configured_shares():
  cfg = sa.SyntheticAuConfig(name="x", hand_rate=0.2, hair_rate=0.1, glasses_rate=0.05,
                             mask_rate=0.05, occluder_frames=10.0)
  rng = np.random.default_rng(0)
  spans = [o for _ in range(40) for o in render.occluder_spans(rng, cfg, 500)]
  share = {t: np.mean([o[0] == t for o in spans]) for t in render.OCCLUDER_TYPES}
  for t, want in (("hand", 0.2), ("hair", 0.1), ("glasses", 0.05), ("mask", 0.05)):
    assert abs(share[t] - want) < 0.3 * want + 0.01, share
  # Spans: an occluder keeps its placement while it lasts (mean ~10 frames).
  changes = sum(a != b for a, b in zip(spans, spans[1:]))
  assert 0.05 < changes / len(spans) < 0.15


def test_pose_series_within_limits_and_spread():
  cfg = sa.SyntheticAuConfig(name="x")
  style = render.STYLES["disfa_like"]
  rng = np.random.default_rng(1)
  seqs = [render.sample_sequence(rng, cfg, style, 30) for _ in range(150)]
  yaw = np.array([[n.yaw for n in s] for s in seqs])
  assert np.abs(yaw).max() <= cfg.yaw_max
  assert 0.75 * cfg.yaw_sd < yaw.std() < 1.15 * cfg.yaw_sd
  # Smooth within a sequence: frame-to-frame steps far below the spread.
  assert np.abs(np.diff(yaw, axis=1)).mean() < 0.35 * cfg.yaw_sd


@pytest.mark.parametrize("field,value", [
    ("hand_rate", -0.1), ("mask_rate", 1.5), ("yaw_max", 95.0), ("yaw_sd", -1.0),
    ("forehead_lines", (1.2, 0.5)), ("jpeg_quality", (0, 90)), ("unknown_rate", 2.0),
    ("blur_sd", (1.0, 0.5)), ("camera_distance", 0.5), ("label_model", "fera_like")])
def test_bad_config_fields_fail_at_build_time_naming_the_field(tmp_path, field, value):
  tiny = next(c for c in sa.SyntheticAu.BUILDER_CONFIGS if c.name == "disfa_like_tiny")
  config = dataclasses.replace(tiny, name="bad", **{field: value})
  with pytest.raises(ValueError, match=field):
    sa.SyntheticAu(config=config, data_dir=str(tmp_path))
  with pytest.raises(ValueError, match=field):
    sau.subject_records(config, 0)
