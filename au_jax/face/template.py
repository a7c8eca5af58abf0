"""The canonical iBUG-68 face template that every aligned face is registered to.

Coordinates are in a unit frame: an aligned crop of side S has landmark k at
pixel `CANONICAL_68[k] * S` (x right, y down). The template is a frontal,
neutral, symmetric face with eye centres at (0.3, 0.4) and (0.7, 0.4), i.e. an
inter-ocular distance of 0.4 S, and the outer mouth centre near y = 0.785.

Index groups follow the iBUG-300W 68-point markup (0-based); "right" is the
subject's right, which appears on the image's left.
"""
from __future__ import annotations

import numpy as np


def _jaw() -> np.ndarray:
  # Ellipse arc from the subject's right ear (image left), under the chin, to
  # the left ear; y grows downwards so angles in (0, pi) are below the centre.
  a = np.linspace(np.pi + 0.1, -0.1, 17)
  return np.stack([0.5 + 0.42 * np.cos(a), 0.45 + 0.50 * np.sin(a)], -1)


_RIGHT_BROW = [(0.17, 0.315), (0.22, 0.285), (0.28, 0.275), (0.34, 0.282), (0.44, 0.30)]
_NOSE = [(0.5, 0.37), (0.5, 0.44), (0.5, 0.51), (0.5, 0.58),
         (0.41, 0.63), (0.45, 0.645), (0.5, 0.655), (0.55, 0.645), (0.59, 0.63)]
_RIGHT_EYE = [(0.23, 0.40), (0.27, 0.38), (0.33, 0.38), (0.37, 0.40), (0.33, 0.42), (0.27, 0.42)]
_MOUTH_OUTER = [(0.36, 0.78), (0.40, 0.755), (0.45, 0.74), (0.5, 0.745), (0.55, 0.74),
                (0.60, 0.755), (0.64, 0.78), (0.60, 0.81), (0.55, 0.825), (0.5, 0.83),
                (0.45, 0.825), (0.40, 0.81)]
_MOUTH_INNER = [(0.375, 0.78), (0.45, 0.765), (0.5, 0.767), (0.55, 0.765),
                (0.625, 0.78), (0.55, 0.792), (0.5, 0.795), (0.45, 0.792)]


def _mirror(points, order):
  """Mirror points about x = 0.5 and reorder them to iBUG index order."""
  pts = np.asarray(points, np.float64)
  pts = np.stack([1.0 - pts[:, 0], pts[:, 1]], -1)
  return pts[list(order)]


def _build() -> np.ndarray:
  right_brow = np.asarray(_RIGHT_BROW)
  left_brow = _mirror(_RIGHT_BROW, [4, 3, 2, 1, 0])     # 22..26 run inner -> outer
  right_eye = np.asarray(_RIGHT_EYE)
  left_eye = _mirror(_RIGHT_EYE, [3, 2, 1, 0, 5, 4])     # 42 inner corner .. 45 outer
  pts = np.concatenate([_jaw(), right_brow, left_brow, np.asarray(_NOSE),
                        right_eye, left_eye, np.asarray(_MOUTH_OUTER),
                        np.asarray(_MOUTH_INNER)])
  assert pts.shape == (68, 2)
  return pts


CANONICAL_68: np.ndarray = _build()
CANONICAL_68.setflags(write=False)

JAW = tuple(range(0, 17))
RIGHT_BROW = tuple(range(17, 22))
LEFT_BROW = tuple(range(22, 27))
NOSE_BRIDGE = tuple(range(27, 31))
NOSE_BOTTOM = tuple(range(31, 36))
NOSE = NOSE_BRIDGE + NOSE_BOTTOM
RIGHT_EYE = tuple(range(36, 42))
LEFT_EYE = tuple(range(42, 48))
MOUTH_OUTER = tuple(range(48, 60))
MOUTH_INNER = tuple(range(60, 68))
MOUTH = MOUTH_OUTER + MOUTH_INNER
# Points that move little with expression: used to register faces so that
# AU-driven deformation (brows, mouth, jaw) is not "aligned away".
STABLE = NOSE + RIGHT_EYE + LEFT_EYE + (0, 1, 15, 16)

def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(right, left) eye centres [2] of landmarks [..., 68, 2], ignoring NaN."""
  lm = np.asarray(landmarks, np.float64)
  return (np.nanmean(lm[..., RIGHT_EYE, :], axis=-2),
          np.nanmean(lm[..., LEFT_EYE, :], axis=-2))
