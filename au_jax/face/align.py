"""Registration of a face to the canonical template, and the aligned crop.

`align_face(image, landmarks, size=S, method=...)` estimates a transform from
raw-image pixels to the S x S crop in which the canonical template sits at
`CANONICAL_68 * S`, warps the image and maps the landmarks. The papers
register faces differently; each way is a `method` in `REGISTRATIONS`:

- "similarity": least-squares similarity of the available STABLE points (eyes,
  nose, upper jaw; they move little with expression, so AU deformation is
  not aligned away) to the template; falls back to all available points when
  fewer than 2 stable points are present.
- "two_eye": similarity that maps the two eye centres exactly.
- "eyes_horizontal": Gudi et al. (FG 2015): rotate so the eye line is
  horizontal, scale so the inter-ocular distance equals the template's, and
  translate so the centre of the landmarks' bounding box lands on the centre
  of the template's bounding box (same points).
- "three_anchor": affine that maps the two eye centres and the outer-mouth
  centre exactly (anisotropic scale and shear allowed).
- "affine": least-squares affine on all available points.

A registration is a function `(landmarks [68, 2] raw px, template [68, 2] crop
px) -> M [2, 3]`; landmarks may have NaN rows. To add one, write such a
function and register it in `REGISTRATIONS`.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from au_jax.face import template as tpl
from au_jax.face.schemes import to_68
from au_jax.face.transforms import (estimate_affine, estimate_similarity, transform_points,
                                    warp_image)


class AlignedFace(NamedTuple):
  """A face registered to the canonical template.

  Attributes:
    image: uint8 [S, S, 3] aligned crop.
    landmarks: float32 [68, 2] landmarks in crop pixels; NaN rows preserved.
    matrix: float64 [2, 3] transform from raw-image to crop pixels.
  """
  image: np.ndarray
  landmarks: np.ndarray
  matrix: np.ndarray


def template_pixels(size: int, scale: float = 1.0, shift=(0.0, 0.0)) -> np.ndarray:
  """Template landmarks [68, 2] in pixels of an S x S crop.

  Args:
    size: crop side S.
    scale: zoom of the template about the crop centre; < 1 leaves more
      context (e.g. 0.8 pads the face by 25%), > 1 crops tighter.
    shift: (x, y) translation of the zoomed template, in units of S.
  """
  return ((tpl.CANONICAL_68 - 0.5) * scale + 0.5 + np.asarray(shift, np.float64)) * size


def _available(lm: np.ndarray, idx) -> np.ndarray:
  idx = np.asarray(idx)
  return idx[np.isfinite(lm[idx]).all(1)]


def _group_centre(lm, ref, idx, name):
  """Centres [2] of the available points of a group in lm and in ref.

  The reference centre averages the same points, so a partially annotated
  eye still maps onto the matching part of the template.
  """
  ok = _available(lm, idx)
  if len(ok) == 0:
    raise ValueError(f"no {name} points (iBUG indices {idx[0]}-{idx[-1]}) are available; "
                     f"this registration needs them")
  return lm[ok].mean(0), ref[ok].mean(0)


def _eye_anchors(lm, ref):
  (r_src, r_dst) = _group_centre(lm, ref, tpl.RIGHT_EYE, "right-eye")
  (l_src, l_dst) = _group_centre(lm, ref, tpl.LEFT_EYE, "left-eye")
  return np.stack([r_src, l_src]), np.stack([r_dst, l_dst])


def register_similarity(lm: np.ndarray, ref: np.ndarray) -> np.ndarray:
  """Least-squares similarity of the STABLE points (or all points) to ref."""
  stable = _available(lm, tpl.STABLE)
  idx = stable if len(stable) >= 2 else _available(lm, range(68))
  if len(idx) < 2:
    raise ValueError(f"similarity registration needs >= 2 landmarks, {len(idx)} available")
  return estimate_similarity(lm[idx], ref[idx])


def register_two_eye(lm: np.ndarray, ref: np.ndarray) -> np.ndarray:
  """Similarity mapping the two eye centres exactly."""
  src, dst = _eye_anchors(lm, ref)
  return estimate_similarity(src, dst)


def register_eyes_horizontal(lm: np.ndarray, ref: np.ndarray) -> np.ndarray:
  """Gudi et al. 2015: level eyes, fixed inter-ocular distance, face centred."""
  src, dst = _eye_anchors(lm, ref)
  d_src, d_dst = src[1] - src[0], dst[1] - dst[0]
  iod = np.hypot(*d_src)
  if iod == 0:
    raise ValueError("eyes_horizontal registration: the two eye centres coincide")
  # Rotate the raw eye line onto the template's (horizontal) eye line.
  angle = np.arctan2(d_dst[1], d_dst[0]) - np.arctan2(d_src[1], d_src[0])
  scale = np.hypot(*d_dst) / iod
  c, s = scale * np.cos(angle), scale * np.sin(angle)
  lin = np.array([[c, -s], [s, c]])
  ok = _available(lm, range(68))
  moved = lm[ok] @ lin.T
  box_centre = (moved.min(0) + moved.max(0)) / 2
  ref_centre = (ref[ok].min(0) + ref[ok].max(0)) / 2
  return np.concatenate([lin, (ref_centre - box_centre)[:, None]], 1)


def register_three_anchor(lm: np.ndarray, ref: np.ndarray) -> np.ndarray:
  """Affine mapping both eye centres and the outer-mouth centre exactly."""
  eyes_src, eyes_dst = _eye_anchors(lm, ref)
  m_src, m_dst = _group_centre(lm, ref, tpl.MOUTH_OUTER, "outer-mouth")
  return estimate_affine(np.vstack([eyes_src, m_src]), np.vstack([eyes_dst, m_dst]))


def register_affine(lm: np.ndarray, ref: np.ndarray) -> np.ndarray:
  """Least-squares affine on all available points."""
  return estimate_affine(lm, ref)


REGISTRATIONS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "similarity": register_similarity,
    "two_eye": register_two_eye,
    "eyes_horizontal": register_eyes_horizontal,
    "three_anchor": register_three_anchor,
    "affine": register_affine,
}


def registration_matrix(landmarks, *, size: int, method: str = "similarity",
                        scale: float = 1.0, shift=(0.0, 0.0)) -> np.ndarray:
  """Transform [2, 3] from raw pixels to the S x S aligned crop (no warping).

  Args: as `align_face`.
  """
  if method not in REGISTRATIONS:
    raise ValueError(f"unknown registration {method!r}; choose from {sorted(REGISTRATIONS)}")
  lm = to_68(landmarks).astype(np.float64)
  return REGISTRATIONS[method](lm, template_pixels(size, scale, shift))


def align_face(image, landmarks, *, size: int, method: str = "similarity",
               scale: float = 1.0, shift=(0.0, 0.0), border: str = "replicate"
               ) -> AlignedFace:
  """Registers a face to the canonical template and crops it.

  Args:
    image: uint8 [H, W, 3] (RGB or BGR, kept as is) or [H, W] / [H, W, 1]
      grayscale (replicated to 3 channels).
    landmarks: [n, 2] raw-image landmarks (x, y) in a known scheme (68, 66 or
      49 points, see `schemes.to_68`); NaN rows are allowed.
    size: side S of the square crop.
    method: a key of `REGISTRATIONS`.
    scale: template zoom about the crop centre (see `template_pixels`); 1.0
      puts the template at CANONICAL_68 * S.
    shift: (x, y) translation of the template after the zoom, in units of S
      (see `template_pixels`).
    border: border mode of `warp_image`.

  Returns:
    AlignedFace(image uint8 [S, S, 3], landmarks float32 [68, 2], matrix [2, 3]).

  Raises:
    ValueError: unknown method, bad shapes, or landmarks that the method
      needs are missing (the message names them).
  """
  img = np.asarray(image)
  if img.ndim == 3 and img.shape[2] == 1:
    img = img[..., 0]
  if img.ndim == 2:
    img = np.repeat(img[..., None], 3, axis=2)
  if img.ndim != 3 or img.shape[2] != 3:
    raise ValueError(f"image must be [H, W, 3] or [H, W], got shape {np.shape(image)}")
  if img.dtype != np.uint8:
    raise ValueError(f"image must be uint8, got {img.dtype}")
  M = registration_matrix(landmarks, size=size, method=method, scale=scale, shift=shift)
  lm = transform_points(to_68(landmarks), M).astype(np.float32)
  return AlignedFace(warp_image(img, M, size, border=border), lm, M)
