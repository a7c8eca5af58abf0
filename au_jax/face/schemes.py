"""Landmark schemes of the AU datasets, mapped onto the iBUG-68 markup.

Every dataset's landmarks are stored in iBUG-68 order (0-based indices) with
NaN rows where the dataset's scheme has no such point, so that alignment and
models index one layout:

- 68: iBUG-300W / Multi-PIE 68 points (DISFA, UNBC-McMaster via AAM, dlib).
- 66: iBUG-68 without the inner mouth corners 60 and 64 (UNBC-McMaster AAM
  markup, SEMAINE/CK+ trackers).
- 49: IntraFace / BP4D 49 points = iBUG-68 without the 17 jaw points (0-16)
  and without the inner mouth corners 60 and 64.

`SCHEMES[n]` lists, for each of the scheme's n points in order, its iBUG-68
index.
"""
from __future__ import annotations

import numpy as np

_INNER_MOUTH_CORNERS = (60, 64)

SCHEMES: dict[int, np.ndarray] = {
    68: np.arange(68),
    66: np.array([i for i in range(68) if i not in _INNER_MOUTH_CORNERS]),
    49: np.array([i for i in range(17, 68) if i not in _INNER_MOUTH_CORNERS]),
}
for _idx in SCHEMES.values():
  _idx.setflags(write=False)


def to_68(points, scheme: int | None = None) -> np.ndarray:
  """Maps landmarks of a dataset scheme to iBUG-68 order, NaN where missing.

  Args:
    points: [..., n, 2] landmarks (x, y) in the scheme's own order.
    scheme: number of points of the scheme (68, 66 or 49); None infers it
      from `n`.

  Returns:
    float32 [..., 68, 2] landmarks; rows absent from the scheme are NaN.

  Raises:
    ValueError: if `points` is not [..., n, 2] with n a known scheme, or `n`
      disagrees with `scheme`.
  """
  pts = np.asarray(points, np.float32)
  if pts.ndim < 2 or pts.shape[-1] != 2:
    raise ValueError(f"landmarks must be [..., n, 2], got shape {pts.shape}")
  n = pts.shape[-2]
  if scheme is None:
    scheme = n
  if scheme not in SCHEMES:
    raise ValueError(f"unknown landmark scheme {scheme!r} for landmarks of shape "
                     f"{pts.shape}; known schemes: {sorted(SCHEMES)} points")
  if n != scheme:
    raise ValueError(f"the {scheme}-point scheme needs [..., {scheme}, 2] landmarks, "
                     f"got shape {pts.shape}")
  out = np.full(pts.shape[:-2] + (68, 2), np.nan, np.float32)
  out[..., SCHEMES[scheme], :] = pts
  return out
