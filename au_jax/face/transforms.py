"""2-D similarity / affine transforms of landmarks and images.

A transform is a float64 [2, 3] matrix `M` in OpenCV's convention: a point
p = (x, y) maps to `M[:, :2] @ p + M[:, 2]`. Landmark arrays may hold NaN
rows (points a dataset's scheme lacks): estimators ignore them, and
`transform_points` keeps them NaN.
"""
from __future__ import annotations

import cv2
import numpy as np

_BORDERS = {
    "replicate": cv2.BORDER_REPLICATE,
    "constant": cv2.BORDER_CONSTANT,
    "reflect": cv2.BORDER_REFLECT_101,
}


def _valid_pairs(src, dst, weights=None):
  """Rows of src/dst [N, 2] (and weights [N]) where everything is finite."""
  src = np.asarray(src, np.float64)
  dst = np.asarray(dst, np.float64)
  if src.ndim != 2 or src.shape[1] != 2 or src.shape != dst.shape:
    raise ValueError(f"src and dst must both be [N, 2], got {src.shape} and {dst.shape}")
  ok = np.isfinite(src).all(1) & np.isfinite(dst).all(1)
  if weights is not None:
    weights = np.asarray(weights, np.float64)
    if weights.shape != (src.shape[0],):
      raise ValueError(f"weights must be [{src.shape[0]}], got {weights.shape}")
    ok &= np.isfinite(weights) & (weights > 0)
    weights = weights[ok]
  return src[ok], dst[ok], weights


def estimate_similarity(src, dst, weights=None) -> np.ndarray:
  """Least-squares similarity (rotation, uniform scale, translation) src -> dst.

  Umeyama (1991), "Least-squares estimation of transformation parameters
  between two point patterns", with the reflection guard of his Eq. 39-40 so
  the result is always a proper rotation.

  Args:
    src: [N, 2] points; NaN rows are ignored.
    dst: [N, 2] corresponding points; NaN rows are ignored.
    weights: optional [N] non-negative point weights (weighted least squares).

  Returns:
    float64 [2, 3] matrix M minimising sum_i w_i |M [src_i; 1] - dst_i|^2.

  Raises:
    ValueError: with fewer than 2 valid (finite in both) points, or when all
      valid source points coincide.
  """
  s, d, w = _valid_pairs(src, dst, weights)
  if len(s) < 2:
    raise ValueError(f"a similarity needs >= 2 valid (non-NaN) point pairs, got {len(s)}")
  w = np.full(len(s), 1.0 / len(s)) if w is None else w / w.sum()
  mu_s, mu_d = w @ s, w @ d
  sc, dc = s - mu_s, d - mu_d
  var_s = w @ (sc ** 2).sum(1)
  if var_s <= 1e-12 * max(1.0, float(np.abs(mu_s).max())) ** 2:
    raise ValueError("a similarity is undefined: all valid source points coincide")
  cov = (dc * w[:, None]).T @ sc                      # [2, 2] Umeyama Eq. 38
  u, sv, vt = np.linalg.svd(cov)
  sign = np.array([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
  rot = (u * sign) @ vt
  scale = (sv * sign).sum() / var_s
  return np.concatenate([scale * rot, (mu_d - scale * rot @ mu_s)[:, None]], 1)


def estimate_affine(src, dst) -> np.ndarray:
  """Least-squares affine transform src -> dst over the valid (non-NaN) rows.

  Args:
    src: [N, 2] points.
    dst: [N, 2] corresponding points.

  Returns:
    float64 [2, 3] matrix; exact when there are exactly 3 valid points.

  Raises:
    ValueError: with fewer than 3 valid points, or when they are collinear.
  """
  s, d, _ = _valid_pairs(src, dst)
  if len(s) < 3:
    raise ValueError(f"an affine transform needs >= 3 valid (non-NaN) point pairs, got {len(s)}")
  # Centre for conditioning (pixel coordinates are in the hundreds).
  mu_s, mu_d = s.mean(0), d.mean(0)
  a = s - mu_s
  if np.linalg.matrix_rank(a, tol=1e-9 * max(1.0, float(np.abs(s).max()))) < 2:
    raise ValueError("an affine transform is undefined: the valid source points are collinear")
  lin = np.linalg.lstsq(a, d - mu_d, rcond=None)[0].T   # [2, 2]
  return np.concatenate([lin, (mu_d - lin @ mu_s)[:, None]], 1)


def transform_points(points, M) -> np.ndarray:
  """Applies M [2, 3] to points [..., 2]; NaN points stay NaN. Returns float64."""
  p = np.asarray(points, np.float64)
  M = np.asarray(M, np.float64)
  return p @ M[:, :2].T + M[:, 2]


def invert(M) -> np.ndarray:
  """Inverse of an invertible affine M [2, 3], as a float64 [2, 3] matrix."""
  M = np.asarray(M, np.float64)
  lin_inv = np.linalg.inv(M[:, :2])
  return np.concatenate([lin_inv, (-lin_inv @ M[:, 2])[:, None]], 1)


def compose(a, b) -> np.ndarray:
  """Matrix [2, 3] of "apply b, then a"."""
  a = np.asarray(a, np.float64)
  b = np.asarray(b, np.float64)
  return np.concatenate([a[:, :2] @ b[:, :2], (a[:, :2] @ b[:, 2] + a[:, 2])[:, None]], 1)


def warp_image(image, M, size, border: str = "replicate") -> np.ndarray:
  """Warps `image` by M (source -> output pixels), bilinear.

  Pixel (x, y) of the output is sampled at M^-1 (x, y) of the input, with
  pixel centres at integer coordinates (OpenCV convention), so it agrees with
  `transform_points(landmarks, M)`.

  Args:
    image: [H, W] or [H, W, C] array (uint8 or float).
    M: [2, 3] transform from input to output pixel coordinates.
    size: output side S (square) or (width, height).
    border: "replicate" (default: no black wedges for the CNN to latch on
      to), "constant" (zeros) or "reflect".

  Returns:
    [h, w] or [h, w, C] array of image's dtype.
  """
  if border not in _BORDERS:
    raise ValueError(f"unknown border {border!r}; choose from {sorted(_BORDERS)}")
  w, h = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
  img = np.asarray(image)
  out = cv2.warpAffine(img, np.asarray(M, np.float64), (w, h), flags=cv2.INTER_LINEAR,
                       borderMode=_BORDERS[border])
  if img.ndim == 3 and out.ndim == 2:   # OpenCV drops a trailing singleton channel
    out = out[..., None]
  return out
