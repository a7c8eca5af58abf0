"""Face detection: graceful on faceless images, coarse Haar landmarks."""
import cv2
import numpy as np
import pytest

from au_jax.face import (CANONICAL_68, LEFT_EYE, MOUTH_OUTER, RIGHT_EYE, detect_faces,
                         detect_landmarks, eye_centres)
from au_jax.face.detect import dlib_available, haar_landmarks
from au_jax.face.template import LEFT_BROW, NOSE_BOTTOM, RIGHT_BROW


def _drawn_face(size=160, offset=(60, 40)):
  """A cartoon face (skin ellipse, dark brows/eyes, red lips) and its landmarks."""
  img = np.full((260, 280, 3), 90, np.uint8)
  lm = CANONICAL_68 * size + offset
  centre = (int(offset[0] + size / 2), int(offset[1] + size / 2))
  cv2.ellipse(img, centre, (int(0.42 * size), int(0.55 * size)), 0, 0, 360, (200, 180, 170), -1)
  for group in (RIGHT_BROW, LEFT_BROW):
    cv2.polylines(img, [lm[list(group)].astype(np.int32)], False, (40, 30, 30), 4)
  for group in (RIGHT_EYE, LEFT_EYE):
    cv2.fillPoly(img, [lm[list(group)].astype(np.int32)], (30, 20, 20))
  cv2.polylines(img, [lm[list(NOSE_BOTTOM)].astype(np.int32)], False, (120, 90, 80), 2)
  cv2.fillPoly(img, [lm[list(MOUTH_OUTER)].astype(np.int32)], (110, 50, 60))
  return cv2.GaussianBlur(img, (5, 5), 1.5), lm


@pytest.mark.parametrize("backend", ["haar", "auto"])
def test_no_face_in_noise_or_blank(backend):
  noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
  for img in (noise, np.zeros((240, 320, 3), np.uint8), noise[..., 0], noise[:10, :10]):
    assert detect_faces(img, backend=backend) == []
    assert detect_landmarks(img, backend=backend) is None


def test_haar_finds_a_drawn_face_with_coarse_landmarks():
  img, truth = _drawn_face()
  faces = detect_faces(img, backend="haar")
  assert len(faces) == 1
  x, y, w, h = faces[0].box
  assert x < truth[:, 0].mean() < x + w and y < truth[:, 1].mean() < y + h
  found = detect_landmarks(img, backend="haar")
  assert found.shape == (68, 2) and found.dtype == np.float32
  iod = 0.4 * 160
  for est, true in zip(eye_centres(found), eye_centres(truth)):
    assert np.linalg.norm(est - true) < 0.2 * iod


def test_haar_landmarks_place_template_and_move_eyes():
  box = (100, 50, 200, 200)
  lm = haar_landmarks(box)
  np.testing.assert_allclose(lm, CANONICAL_68 * 200 + [100, 50], rtol=1e-6)
  # Eye boxes: one in each half of the face; the larger of two candidates wins.
  eyes = [(150, 120, 30, 20), (140, 100, 10, 10), (230, 125, 30, 20)]
  lm = haar_landmarks(box, eyes)
  np.testing.assert_allclose(lm[list(RIGHT_EYE)].mean(0), [165, 130], atol=1e-4)
  np.testing.assert_allclose(lm[list(LEFT_EYE)].mean(0), [245, 135], atol=1e-4)
  # The eye's shape is kept, only shifted; other points stay on the template.
  shape = CANONICAL_68[list(RIGHT_EYE)] * 200
  np.testing.assert_allclose(lm[list(RIGHT_EYE)] - lm[list(RIGHT_EYE)].mean(0),
                             shape - shape.mean(0), atol=1e-4)
  np.testing.assert_allclose(lm[:36], CANONICAL_68[:36] * 200 + [100, 50], rtol=1e-6)


def test_bad_backend_and_shape():
  with pytest.raises(ValueError, match="backend"):
    detect_faces(np.zeros((50, 50, 3), np.uint8), backend="mtcnn")
  with pytest.raises(ValueError, match="shape"):
    detect_faces(np.zeros((50, 50, 4), np.uint8), backend="haar")


@pytest.mark.skipif(not dlib_available(), reason="the optional [face] extra is not installed")
def test_dlib_landmarks_on_a_drawn_face():
  img, truth = _drawn_face()
  found = detect_landmarks(img, backend="dlib")
  assert found.shape == (68, 2) and found.dtype == np.float32
  assert np.median(np.linalg.norm(found - truth, axis=1)) < 0.15 * 0.4 * 160
  noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
  assert detect_faces(noise, backend="dlib") == []
