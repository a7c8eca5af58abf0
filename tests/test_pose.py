"""Head pose from 68 landmarks (au_jax/face/pose.py): OpenFace's conventions, and the
error of the fit on the 3-D template projected at known poses."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from au_jax.face import pose


def test_euler_convention_is_openfaces_xyz():
  # OpenFace's Euler2RotationMatrix: R = Rx @ Ry @ Rz, i.e. scipy's intrinsic "XYZ".
  rng = np.random.default_rng(0)
  for _ in range(20):
    e = rng.uniform([-1.2, -1.4, -3.0], [1.2, 1.4, 3.0])
    ref = Rotation.from_euler("XYZ", e).as_matrix()
    np.testing.assert_allclose(pose.euler_to_matrix(e), ref, atol=1e-12)
    np.testing.assert_allclose(pose.matrix_to_euler(ref), e, atol=1e-9)


def test_camera_guess_is_openfaces():
  # fx = fy = (500 w / 640 + 500 h / 480) / 2, principal point at the centre.
  np.testing.assert_allclose(pose.camera_matrix(640, 480),
                             [[500, 0, 320], [0, 500, 240], [0, 0, 1]])
  k = pose.camera_matrix(1280, 720)
  assert k[0, 0] == k[1, 1] == (1000 + 750) / 2 and (k[0, 2], k[1, 2]) == (640, 360)


def test_template_is_a_symmetric_face_centred_on_its_mean():
  t = pose.TEMPLATE_3D
  np.testing.assert_allclose(t.mean(0), 0, atol=1e-9)
  # iBUG pairs mirrored about x = 0: jaw 0<->16, outer eye corners 36<->45, mouth corners 48<->54
  for a, b in ((0, 16), (3, 13), (36, 45), (39, 42), (17, 26), (31, 35), (48, 54)):
    np.testing.assert_allclose(t[a] * [-1, 1, 1], t[b], atol=1e-9)
  eyes = t[36:42].mean(0), t[42:48].mean(0)
  assert abs(np.linalg.norm(eyes[0] - eyes[1]) - pose.EYE_DISTANCE_MM) < 1e-6
  assert t[30, 2] < t[36:48, 2].min() < t[0, 2]     # nose tip in front of the eyes, ears behind


def _random_poses(n, rng):
  e = np.radians(rng.uniform([-25, -40, -20], [25, 40, 20], (n, 3)))   # pitch, yaw, roll
  t = rng.uniform([-60, -40, 400], [60, 40, 900], (n, 3))
  return np.concatenate([t, e], 1)


def test_recovers_known_poses_exactly_without_noise():
  k = pose.camera_matrix(640, 480)
  for p6 in _random_poses(20, np.random.default_rng(1)):
    est = pose.estimate(pose.project(p6, k), 640, 480)
    np.testing.assert_allclose(est[3:], p6[3:], atol=1e-5)
    np.testing.assert_allclose(est[:3], p6[:3], rtol=1e-5, atol=1e-3)


def test_angle_error_with_one_pixel_landmark_noise():
  # The documented figure (docs/performance.md, benchmarks/pose_accuracy.py): 200
  # poses (|pitch| <= 25, |yaw| <= 40, |roll| <= 20 degrees, 400-900 mm away,
  # 640x480 camera), landmarks with Gaussian noise of 1 px.
  rng = np.random.default_rng(0)
  k = pose.camera_matrix(640, 480)
  truth = _random_poses(200, rng)
  est = np.stack([pose.estimate(pose.project(p6, k) + rng.normal(0, 1.0, (68, 2)), 640, 480)
                  for p6 in truth])
  err = np.degrees(np.abs(est[:, 3:] - truth[:, 3:]))
  assert (err.mean(0) < 0.6).all(), err.mean(0)
  assert (err.max(0) < 2.5).all(), err.max(0)
  assert np.median(np.abs(est[:, 2] / truth[:, 2] - 1)) < 0.02     # distance within 2%


def test_missing_landmarks_and_degenerate_input():
  k = pose.camera_matrix(640, 480)
  p6 = np.array([10, -5, 600, 0.1, -0.3, 0.05])
  lm = pose.project(p6, k)
  lm[[0, 1, 2, 14, 15, 16, 60, 61]] = np.nan                  # a few points missing
  np.testing.assert_allclose(pose.estimate(lm, 640, 480)[3:], p6[3:], atol=1e-5)
  few = np.full((68, 2), np.nan)
  few[:5] = lm[30:35]
  assert np.isnan(pose.estimate(few, 640, 480)).all()          # fewer than 6 points: NaN


def test_a_guess_is_used_and_left_unchanged():
  k = pose.camera_matrix(640, 480)
  p6 = np.array([10, -5, 600, 0.1, -0.3, 0.05])
  guess = p6 + [5, 5, 30, 0.05, 0.05, 0.05]
  kept = guess.copy()
  np.testing.assert_allclose(pose.estimate(pose.project(p6, k), 640, 480, guess=guess)[3:],
                             p6[3:], atol=1e-5)
  np.testing.assert_array_equal(guess, kept)     # solvePnP writes into its start values


def test_smoother_follows_a_track_and_restarts_after_a_gap():
  s = pose.PoseSmoother(alpha=0.5)
  a, b = np.zeros(6), np.array([2, 2, 2, 0.2, 0.2, 0.2])
  np.testing.assert_allclose(s.smooth(0, 1, a), a)
  np.testing.assert_allclose(s.smooth(0, 2, b), b / 2)            # halfway
  np.testing.assert_allclose(s.smooth(0, 3, b), 0.75 * b)
  np.testing.assert_allclose(s.smooth(1, 3, a), a)                # another track: its own
  np.testing.assert_allclose(s.smooth(0, 5, a), a)                # a gap: starts again
  # angles wrap the short way: from +179 to -179 degrees is a 2 degree step
  s.reset()
  s.smooth(0, 1, np.r_[0, 0, 0, 0, 0, np.radians(179)])
  rz = s.smooth(0, 2, np.r_[0, 0, 0, 0, 0, np.radians(-179)])[5]
  assert abs(np.degrees(rz) - 180) < 1e-6
  with pytest.raises(ValueError):
    pose.PoseSmoother(alpha=0)


def test_head_angles_are_the_records_yaw_pitch_roll():
  """pose.head_angles inverts the rotation the synthetic renderer uses for the
  records' yaw, pitch and roll (R = Rz(-roll) Ry(yaw) Rx(-pitch) in the
  records' axes; OpenFace's with z flipped)."""
  from tfds_builders.synthetic_au import render
  f = np.diag([1.0, 1.0, -1.0])
  rng = np.random.default_rng(3)
  for yaw, pitch, roll in rng.uniform([-60, -30, -30], [60, 30, 30], (50, 3)):
    euler = pose.matrix_to_euler(f @ render.rotation(yaw, pitch, roll) @ f)
    np.testing.assert_allclose(pose.head_angles(np.r_[0.0, 0.0, 500.0, euler]),
                               [yaw, pitch, roll], atol=1e-9)
  assert np.isnan(pose.head_angles(np.full(6, np.nan))).all()
