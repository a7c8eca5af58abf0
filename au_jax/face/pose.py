"""Head pose from the 68 landmarks, in OpenFace 2.x's terms (pose_Tx .. pose_Rz).

  from au_jax.face import pose
  p = pose.estimate(landmarks68, width, height)    # [6]: Tx, Ty, Tz (mm), Rx, Ry, Rz (rad)

A rigid 3-D face template (`TEMPLATE_3D`, 68 iBUG points in millimetres) is fitted
to the landmarks with `cv2.solvePnP`; the result is given as OpenFace defines its
pose columns:

- frames: camera at the origin, x right and y down in the image, z away from the
  camera; the template in the same axes when the face looks straight into the
  camera (so a frontal face has rotation 0), centred on its landmarks' mean.
- pose_Tx, pose_Ty, pose_Tz: where that centre is, in millimetres of the camera
  frame (pose_Tz: the distance along the optical axis).
- pose_Rx, pose_Ry, pose_Rz: Euler angles in radians with R = Rx @ Ry @ Rz
  (OpenFace's "XYZ convention, left-handed positive sign": Euler2RotationMatrix
  in its LandmarkDetector utilities); Rx pitch, Ry yaw, Rz roll.
- camera: when the intrinsics are unknown, OpenFace's guess from the frame size:
  fx = fy = (500 w / 640 + 500 h / 480) / 2, cx = w / 2, cy = h / 2
  (`camera_matrix`).

The template is a generic adult face: the canonical 2-D template of
au_jax/face/template.py scaled to a 63 mm distance between the eye centres, with
a depth per point (nose tip 30 mm in front of the eyes, ears 40-46 mm behind).
A person's own face differs from it, so the absolute distance (pose_Tz) scales
with their face size and the angles carry a few degrees of shape bias; the
error of the fit itself (template projected at known poses, landmark noise) is
measured in tests/test_pose.py and benchmarks/pose_accuracy.py, which also
measures it on raw synthetic_au frames rendered at known poses (checked in
tests/test_pose_rendered.py; the figures in docs/performance.md). The pose is
only as good as the landmarks: the Haar approximation of au_jax/face/detect.py
(no dlib) places a template in the face box, so its landmarks, and the pose
fitted to them, carry no head turn.

`PoseSmoother` smooths each track's pose over consecutive frames (exponential,
restarted when a face id reappears after a gap).
"""
from __future__ import annotations

import cv2
import numpy as np

from au_jax.face import template as tpl

COLUMNS = ("pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz")
EYE_DISTANCE_MM = 63.0

# Depth (mm, + away from the camera) of each iBUG-68 point relative to the eye centres.
_JAW_Z = (44, 45, 46, 45, 40, 31, 19, 8, 4, 8, 19, 31, 40, 45, 46, 45, 44)
_BROW_Z = (12, 4, -3, -8, -10)                    # right brow, outer -> inner
_NOSE_Z = (-12, -18, -24, -30, -12, -16, -19, -16, -12)
_EYE_Z = (6, -1, -1, 2, 0, 0)                     # right eye: outer corner, upper lid, ...
_MOUTH_OUTER_Z = (10, -2, -8, -10, -8, -2, 10, -2, -7, -9, -7, -2)
_MOUTH_INNER_Z = (6, -5, -7, -5, 6, -5, -7, -5)


def _template_3d() -> np.ndarray:
  xy = np.asarray(tpl.CANONICAL_68, np.float64)
  scale = EYE_DISTANCE_MM / 0.4                    # the canonical eye centres are 0.4 apart
  eye_mid = np.array([0.5, 0.4])
  left_eye_z = tuple(_EYE_Z[i] for i in (3, 2, 1, 0, 5, 4))   # mirrored to iBUG order
  z = np.array(_JAW_Z + _BROW_Z + _BROW_Z[::-1] + _NOSE_Z + _EYE_Z + left_eye_z
               + _MOUTH_OUTER_Z + _MOUTH_INNER_Z, np.float64)
  pts = np.concatenate([(xy - eye_mid) * scale, z[:, None]], axis=1)
  return pts - pts.mean(0)


TEMPLATE_3D: np.ndarray = _template_3d()
TEMPLATE_3D.setflags(write=False)


def camera_matrix(width: float, height: float, focal: float | None = None) -> np.ndarray:
  """3x3 intrinsics; without `focal`, OpenFace's guess from the frame size."""
  if focal is None:
    focal = (500.0 * width / 640.0 + 500.0 * height / 480.0) / 2.0
  return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])


def euler_to_matrix(euler) -> np.ndarray:
  """R = Rx(a) @ Ry(b) @ Rz(c) for euler = (a, b, c) radians (OpenFace's convention)."""
  a, b, c = (float(v) for v in euler)
  ca, sa, cb, sb, cc, sc = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(c), np.sin(c)
  rx = np.array([[1, 0, 0], [0, ca, -sa], [0, sa, ca]])
  ry = np.array([[cb, 0, sb], [0, 1, 0], [-sb, 0, cb]])
  rz = np.array([[cc, -sc, 0], [sc, cc, 0], [0, 0, 1]])
  return rx @ ry @ rz


def matrix_to_euler(r: np.ndarray) -> np.ndarray:
  """(a, b, c) with r = Rx(a) @ Ry(b) @ Rz(c), b in [-pi/2, pi/2]."""
  r = np.asarray(r, np.float64)
  b = np.arcsin(np.clip(r[0, 2], -1.0, 1.0))
  a = np.arctan2(-r[1, 2], r[2, 2])
  c = np.arctan2(-r[0, 1], r[0, 0])
  return np.array([a, b, c])


def project(pose6, k: np.ndarray, points: np.ndarray = TEMPLATE_3D) -> np.ndarray:
  """Image points [N, 2] of model `points` [N, 3] (mm) seen at pose6 =
  (Tx, Ty, Tz, Rx, Ry, Rz) by a pinhole camera `k` (no distortion)."""
  pose6 = np.asarray(pose6, np.float64)
  cam = points @ euler_to_matrix(pose6[3:]).T + pose6[:3]
  uv = cam[:, :2] / cam[:, 2:3]
  return uv * [k[0, 0], k[1, 1]] + [k[0, 2], k[1, 2]]


def estimate(landmarks: np.ndarray, width: float, height: float, k: np.ndarray | None = None,
             guess=None) -> np.ndarray:
  """The pose [6] (Tx, Ty, Tz mm; Rx, Ry, Rz rad) of 68 landmarks in frame pixels.

  Args:
    landmarks: float [68, 2]; NaN rows are left out (at least 6 points needed).
    width, height: the frame's size (the camera guess; see `camera_matrix`).
    k: 3x3 intrinsics when the camera is known.
    guess: a pose [6] to start from (the track's previous one), or None.
  Returns:
    float64 [6]; NaN when the fit fails or the face would lie behind the camera.
  """
  lm = np.asarray(landmarks, np.float64).reshape(-1, 2)
  ok = np.isfinite(lm).all(1)
  out = np.full(6, np.nan)
  if ok.sum() < 6:
    return out
  k = camera_matrix(width, height) if k is None else np.asarray(k, np.float64)
  obj, img = TEMPLATE_3D[ok], lm[ok]
  try:
    if guess is not None and np.isfinite(guess).all():
      rvec = cv2.Rodrigues(euler_to_matrix(guess[3:]))[0]
      tvec = np.array(guess[:3], np.float64).reshape(3, 1)   # a copy: solvePnP writes into it
      found, rvec, tvec = cv2.solvePnP(obj, img, k, None, rvec, tvec, useExtrinsicGuess=True,
                                       flags=cv2.SOLVEPNP_ITERATIVE)
    else:
      found, rvec, tvec = cv2.solvePnP(obj, img, k, None, flags=cv2.SOLVEPNP_EPNP)
      if found:
        found, rvec, tvec = cv2.solvePnP(obj, img, k, None, rvec, tvec, useExtrinsicGuess=True,
                                         flags=cv2.SOLVEPNP_ITERATIVE)
  except cv2.error:
    return out
  if not found or not np.isfinite(tvec).all() or tvec[2, 0] <= 0:
    return out
  out[:3] = tvec[:, 0]
  out[3:] = matrix_to_euler(cv2.Rodrigues(rvec)[0])
  return out


def head_angles(pose6) -> np.ndarray:
  """(yaw, pitch, roll) in degrees, as the dataset records give head pose
  (tfds_builders/common.py: yaw > 0 turns the face toward the image's right,
  pitch > 0 moves the chin down, roll > 0 tilts the head counter-clockwise in
  the image), from a pose [6] of `estimate` (OpenFace's Rx, Ry, Rz, radians).

  OpenFace's rotation has z away from the camera; in the records' axes (z
  toward it) the same rotation is R = F R_openface F, F = diag(1, 1, -1), and
  R = Rz(-roll) Ry(yaw) Rx(-pitch). NaN in, NaN out."""
  euler = np.asarray(pose6, np.float64)[3:6]
  if not np.isfinite(euler).all():
    return np.full(3, np.nan)
  f = np.diag([1.0, 1.0, -1.0])
  r = f @ euler_to_matrix(euler) @ f
  yaw = np.arcsin(np.clip(-r[2, 0], -1.0, 1.0))
  pitch = -np.arctan2(r[2, 1], r[2, 2])
  roll = -np.arctan2(r[1, 0], r[0, 0])
  return np.rad2deg([yaw, pitch, roll])


class PoseSmoother:
  """Exponential smoothing of each face id's pose over consecutive frames.

  `smooth(face_id, frame, pose6)` returns alpha * pose + (1 - alpha) * the id's
  previous smoothed pose when that id had a pose on frame - 1; otherwise (a new
  track, a gap, a NaN) the pose itself. alpha = 1 turns smoothing off.
  """

  def __init__(self, alpha: float = 0.5):
    if not 0 < alpha <= 1:
      raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    self.alpha = alpha
    self._last: dict[int, tuple[int, np.ndarray]] = {}

  def reset(self) -> None:
    self._last.clear()

  def previous(self, face_id: int, frame: int) -> np.ndarray | None:
    """The id's smoothed pose on frame - 1 (a starting guess), or None."""
    last = self._last.get(face_id)
    return last[1] if last is not None and last[0] == frame - 1 else None

  def smooth(self, face_id: int, frame: int, pose6: np.ndarray) -> np.ndarray:
    pose6 = np.asarray(pose6, np.float64)
    prev = self.previous(face_id, frame)
    if not np.isfinite(pose6).all():
      self._last.pop(face_id, None)
      return pose6
    if prev is not None:
      step = pose6 - prev
      step[3:] = np.angle(np.exp(1j * step[3:]))        # angles: the short way round
      pose6 = prev + self.alpha * step
    self._last[face_id] = (frame, pose6)
    return pose6
