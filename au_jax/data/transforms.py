"""Per-example input transforms: pure numpy functions of one record.

Models compose these into their `input_transform` (their paper's
preprocessing). Randomness comes only from the `rng` argument
(np.random.Generator), which the pipeline derives from (seed, stage, step,
slot), so augmentation is reproducible and resumable.
"""
from __future__ import annotations

import cv2
import numpy as np

from au_jax.face.template import CANONICAL_68

# iBUG-68 index of each point's mirror image (horizontal flip swaps sides).
MIRROR_68 = np.array(
    list(range(16, -1, -1))                        # jaw
    + list(range(26, 21, -1)) + list(range(21, 16, -1))  # brows
    + [27, 28, 29, 30] + [35, 34, 33, 32, 31]      # nose
    + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]  # eyes
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]     # outer lip
    + [64, 63, 62, 61, 60, 67, 66, 65])            # inner lip


def decode(data) -> np.ndarray:
  """RGB uint8 image from encoded bytes (or pass an array through)."""
  if isinstance(data, np.ndarray) and data.ndim == 3:
    return data
  buf = np.frombuffer(bytes(data), np.uint8)
  bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
  if bgr is None:
    raise ValueError("could not decode the record's image bytes")
  return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def to_grey(rgb: np.ndarray) -> np.ndarray:
  """float32 [H, W] grey in [0, 1] (ITU-R 601 luma, as OpenCV)."""
  return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0


def resize(image: np.ndarray, size: int) -> np.ndarray:
  if image.shape[0] == size and image.shape[1] == size:
    return image
  interp = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_LINEAR
  return cv2.resize(image, (size, size), interpolation=interp)


def mirror(image: np.ndarray, landmarks: np.ndarray | None = None):
  """Horizontal flip of an image [H, W, ...] and its landmarks [68, 2]."""
  flipped = np.ascontiguousarray(image[:, ::-1])
  if landmarks is None:
    return flipped, None
  lm = landmarks[MIRROR_68].copy()
  lm[:, 0] = image.shape[1] - 1 - lm[:, 0]
  return flipped, lm


def crop_side(side: int, fraction: float) -> int:
  """Side of a `random_crop` of `fraction` of `side` pixels."""
  return int(round(side * fraction))


def random_crop(image: np.ndarray, fraction: float, rng: np.random.Generator | None,
                landmarks: np.ndarray | None = None):
  """Crop a square of `fraction` of the side: random in training (rng given),
  central otherwise. Returns (crop, landmarks shifted into the crop)."""
  h, w = image.shape[:2]
  ch, cw = crop_side(h, fraction), crop_side(w, fraction)
  if rng is None:
    y, x = (h - ch) // 2, (w - cw) // 2
  else:
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
  crop = image[y:y + ch, x:x + cw]
  if landmarks is not None:
    landmarks = landmarks - np.array([x, y], np.float32)
  return crop, landmarks


def crop_safe_box(size: int, fraction: float) -> tuple[int, int]:
  """Pixel range [lo, hi] (both axes) kept by EVERY `random_crop` of a
  size x size image: a point p of it lands at p - offset in [0, crop - 1]
  for every offset 0..size - crop (pixel centres at integers)."""
  c = crop_side(size, fraction)
  return size - c, c - 1


def face_frame(size: int, fraction: float = 1.0, margin: float = 0.1
               ) -> tuple[float, tuple[float, float]]:
  """Zoom and shift of the canonical template (`align.template_pixels`) that
  keeps the whole face in every crop.

  The box of the 68 template points, padded by `margin` of its side on every
  side, is scaled to fit `crop_safe_box(size, fraction)` (the tighter axis
  fills it) and centred in it.

  Returns:
    (scale, (shift_x, shift_y)) for `align_face(..., scale=, shift=)`.
  """
  lo, hi = crop_safe_box(size, fraction)
  box_lo, box_hi = CANONICAL_68.min(0), CANONICAL_68.max(0)
  padded = (box_hi - box_lo) * (1.0 + 2.0 * margin) * size   # px at zoom 1
  scale = float(np.min((hi - lo) / padded))
  shift = (lo + hi) / 2.0 / size - 0.5 - ((box_lo + box_hi) / 2.0 - 0.5) * scale
  return scale, (float(shift[0]), float(shift[1]))


def standardise(image: np.ndarray, eps: float = 1e-6) -> np.ndarray:
  """Per-image contrast normalisation: zero mean, unit std over all pixels."""
  image = image.astype(np.float32)
  return (image - image.mean()) / max(float(image.std()), eps)


def labels(record: dict) -> dict:
  """The label fields every batch carries, unchanged."""
  return dict(intensity=np.asarray(record["intensity"], np.int32),
              occurrence=np.asarray(record["occurrence"], np.int32),
              dataset=np.int32(record["dataset"]))
