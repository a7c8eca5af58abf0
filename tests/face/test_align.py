"""Registration of faces to the canonical template."""
import numpy as np
import pytest

from au_jax.face import (CANONICAL_68, LEFT_EYE, REGISTRATIONS, RIGHT_EYE, align_face,
                         eye_centres, template_pixels, transform_points)

SIZE = 64


def _raw_face(M_raw, seed=0):
  """A raw 200x200 image and the template mapped into it by M_raw [2, 3]."""
  img = np.random.default_rng(seed).integers(0, 256, (200, 200, 3), dtype=np.uint8)
  return img, transform_points(template_pixels(SIZE), M_raw)


def _similarity(angle, scale, t):
  c, s = scale * np.cos(angle), scale * np.sin(angle)
  return np.array([[c, -s, t[0]], [s, c, t[1]]])


@pytest.mark.parametrize("method", sorted(REGISTRATIONS))
@pytest.mark.parametrize("missing", [[], [60, 64], list(range(17)) + [60, 64]])
def test_transformed_template_lands_on_template(method, missing):
  M_raw = _similarity(0.4, 1.7, (40.0, 20.0))
  img, lm = _raw_face(M_raw)
  lm[missing] = np.nan
  out = align_face(img, lm, size=SIZE, method=method)
  assert out.image.shape == (SIZE, SIZE, 3) and out.image.dtype == np.uint8
  assert out.landmarks.shape == (68, 2) and out.landmarks.dtype == np.float32
  assert np.isnan(out.landmarks[missing]).all()
  keep = np.setdiff1d(np.arange(68), missing)
  np.testing.assert_allclose(out.landmarks[keep], CANONICAL_68[keep] * SIZE, atol=1e-3)
  np.testing.assert_allclose(transform_points(lm, out.matrix), out.landmarks, atol=1e-3)


@pytest.mark.parametrize("method", ["three_anchor", "affine"])
def test_affine_methods_undo_shear(method):
  M_raw = np.array([[1.3, 0.4, 30.0], [-0.1, 1.8, 10.0]])
  img, lm = _raw_face(M_raw)
  out = align_face(img, lm, size=SIZE, method=method)
  np.testing.assert_allclose(out.landmarks, CANONICAL_68 * SIZE, atol=1e-3)


def test_image_is_warped_with_the_landmarks():
  # A bright dot on the raw right-eye centre must appear at the template's.
  M_raw = _similarity(-0.3, 2.0, (50.0, 30.0))
  img, lm = _raw_face(M_raw)
  img[:] = 0
  eye = np.rint(np.nanmean(lm[list(RIGHT_EYE)], 0)).astype(int)
  img[eye[1] - 2:eye[1] + 3, eye[0] - 2:eye[0] + 3] = 255
  out = align_face(img, lm, size=SIZE, method="similarity")
  peak = np.unravel_index(out.image[..., 0].argmax(), out.image.shape[:2])[::-1]
  target = np.mean(CANONICAL_68[list(RIGHT_EYE)], 0) * SIZE
  assert np.abs(np.array(peak) - target).max() <= 1.5


def test_eyes_horizontal_levels_eyes_with_constant_iod():
  rng = np.random.default_rng(4)
  for _ in range(5):
    # A face that is not a similarity of the template: affine-distorted and noisy.
    M_raw = np.concatenate([np.eye(2) * 1.5 + rng.normal(scale=0.3, size=(2, 2)),
                            rng.uniform(30, 60, (2, 1))], 1)
    img, lm = _raw_face(M_raw)
    lm += rng.normal(scale=1.0, size=lm.shape)
    out = align_face(img, lm, size=SIZE, method="eyes_horizontal")
    right, left = eye_centres(out.landmarks)
    assert abs(right[1] - left[1]) < 1e-3
    np.testing.assert_allclose(np.linalg.norm(left - right), 0.4 * SIZE, rtol=1e-5)
    assert left[0] > right[0]    # no flip: the subject's left eye stays on image right
    # Centred: the landmarks' bounding box centre is the template's.
    box = (out.landmarks.min(0) + out.landmarks.max(0)) / 2
    np.testing.assert_allclose(box, (CANONICAL_68.min(0) + CANONICAL_68.max(0)) / 2 * SIZE,
                               atol=1e-3)


def test_three_anchor_is_exact_on_anchors():
  rng = np.random.default_rng(5)
  img, lm = _raw_face(np.array([[1.5, 0.3, 40.0], [-0.5, 1.2, 60.0]]))
  lm += rng.normal(scale=2.0, size=lm.shape)
  out = align_face(img, lm, size=SIZE, method="three_anchor")
  for group in (RIGHT_EYE, LEFT_EYE, tuple(range(48, 60))):
    np.testing.assert_allclose(out.landmarks[list(group)].mean(0),
                               CANONICAL_68[list(group)].mean(0) * SIZE, atol=1e-3)


def test_scale_pads_around_centre_and_49_point_input():
  M_raw = _similarity(0.1, 1.5, (30.0, 30.0))
  img, lm = _raw_face(M_raw)
  lm49 = np.delete(lm, list(range(17)) + [60, 64], axis=0)
  out = align_face(img, lm49, size=SIZE, scale=0.8)
  expected = ((CANONICAL_68 - 0.5) * 0.8 + 0.5) * SIZE
  np.testing.assert_allclose(out.landmarks[17:60], expected[17:60], atol=1e-3)
  assert np.isnan(out.landmarks[:17]).all()


def test_grayscale_input_and_errors():
  img, lm = _raw_face(_similarity(0.0, 1.0, (60.0, 60.0)))
  out = align_face(img[..., 0], lm, size=SIZE)
  assert out.image.shape == (SIZE, SIZE, 3)
  no_eyes = lm.copy()
  no_eyes[list(RIGHT_EYE)] = np.nan
  for method in ("two_eye", "eyes_horizontal", "three_anchor"):
    with pytest.raises(ValueError, match="no right-eye points"):
      align_face(img, no_eyes, size=SIZE, method=method)
  with pytest.raises(ValueError, match="unknown registration"):
    align_face(img, lm, size=SIZE, method="procrustes")
  with pytest.raises(ValueError, match=r"\(50, 2\)"):
    align_face(img, lm[:50], size=SIZE)
  with pytest.raises(ValueError, match="uint8"):
    align_face(img.astype(np.float32), lm, size=SIZE)
