"""Face tracking on real faces (scikit-image / matplotlib photographs): every face,
stable ids, real scores, nothing on faceless frames, tracking agrees with detection."""
import numpy as np
import pytest

from au_jax.face import eye_centres, tracking
from au_jax.face.detect import dlib_available
from au_jax.face.tracking import FaceTracker, iou

demo = pytest.importorskip("au_jax.inference.demo_media")
pytest.importorskip("skimage")

N = 480          # frames of the demo clip; 0-287 two faces, 288-407 one, 408- none
BACKENDS = ["haar"] + (["dlib"] if dlib_available() else [])


def _frames(idx):
  return [demo.demo_frame(i, N) for i in idx]


@pytest.fixture(scope="module")
def two_face_frames():
  return _frames(range(100, 112))


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_face_with_stable_ids_and_real_scores(backend, two_face_frames):
  tracked = FaceTracker(backend, detect_every=6)      # detect_width: dlib 640, Haar 320
  per_frame = FaceTracker(backend, detect_every=1)
  out_t = [tracked(f) for f in two_face_frames]
  out_d = [per_frame(f) for f in two_face_frames]
  # frames 0 and 6, plus at most one re-detection after a lost track
  assert 2 <= tracked.full_detections <= 3
  errors = []
  for faces_t, faces_d in zip(out_t, out_d):
    assert {f.face_id for f in faces_t} <= {0, 1} and [f.face_id for f in faces_d] == [0, 1]
    for a in faces_t:
      (b,) = [f for f in faces_d if f.face_id == a.face_id]
      assert iou(a.box, b.box) > 0.4
      # tracking agrees with per-frame detection where it matters: the eyes
      ra, la = eye_centres(a.landmarks68)
      rb, lb = eye_centres(b.landmarks68)
      errors.append(max(np.linalg.norm(ra - rb), np.linalg.norm(la - lb)) / np.linalg.norm(rb - lb))
  assert sum(len(f) for f in out_t) >= 2 * len(out_t) - 2     # at most 2 faces missed
  assert np.median(errors) < 0.1, errors
  # the astronaut is on the left half, Grace Hopper on the right, in every frame
  lefts = {f.face_id: f.box[0] < 320 for fs in out_t for f in fs}
  assert sorted(lefts.values()) == [False, True]
  scores = np.array([f.score for fs in out_t for f in fs])
  assert scores.min() > tracked.min_score and np.ptp(scores) > 0   # a detector score, not 1.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_face_frames_and_max_faces(backend):
  cat_and_coffee = _frames([420, 440, 460])
  t = FaceTracker(backend, detect_every=1)
  assert all(t(f) == [] for f in cat_and_coffee)
  t = FaceTracker(backend, detect_every=1, max_faces=1)
  (face,) = t(demo.demo_frame(100, N))
  assert face.box[0] > 320          # the larger face (Grace Hopper, right half) is kept


def test_ids_survive_a_gap_and_new_faces_get_new_ids():
  t = FaceTracker("haar", detect_every=1)
  two = demo.demo_frame(100, N)
  blank = np.zeros_like(two)
  ids = [[f.face_id for f in t(img)] for img in (two, blank, two)]
  assert ids == [[0, 1], [], [0, 1]]      # back within keep_lost frames: the same ids
  t.reset()
  assert [f.face_id for f in t(two)] == [0, 1]


def test_haar_warning_once(capsys, monkeypatch):
  monkeypatch.setattr(tracking.detect, "_warned", False)
  FaceTracker("haar")
  FaceTracker("haar")
  err = capsys.readouterr().err
  assert err.count("Haar approximation") == 1 and len(err.strip().splitlines()) == 1


def test_bad_arguments():
  with pytest.raises(ValueError, match="backend"):
    FaceTracker("mtcnn")
  with pytest.raises(ValueError, match="detect_every"):
    FaceTracker("haar", detect_every=0)
