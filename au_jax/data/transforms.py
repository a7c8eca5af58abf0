"""Per-example input transforms: pure numpy functions of one record.

Models compose these into their `input_transform` (their paper's
preprocessing). Randomness comes only from the `rng` argument
(np.random.Generator), which the pipeline derives from (seed, stage, step,
slot), so augmentation is reproducible and resumable.
"""
from __future__ import annotations

import cv2
import numpy as np

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


def random_crop(image: np.ndarray, fraction: float, rng: np.random.Generator | None,
                landmarks: np.ndarray | None = None):
  """Crop a square of `fraction` of the side: random in training (rng given),
  central otherwise. Returns (crop, landmarks shifted into the crop)."""
  h, w = image.shape[:2]
  ch, cw = int(round(h * fraction)), int(round(w * fraction))
  if rng is None:
    y, x = (h - ch) // 2, (w - cw) // 2
  else:
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
  crop = image[y:y + ch, x:x + cw]
  if landmarks is not None:
    landmarks = landmarks - np.array([x, y], np.float32)
  return crop, landmarks


def standardise(image: np.ndarray, eps: float = 1e-6) -> np.ndarray:
  """Per-image contrast normalisation: zero mean, unit std over all pixels."""
  image = image.astype(np.float32)
  return (image - image.mean()) / max(float(image.std()), eps)


def labels(record: dict) -> dict:
  """The label fields every batch carries, unchanged."""
  return dict(intensity=np.asarray(record["intensity"], np.int32),
              occurrence=np.asarray(record["occurrence"], np.int32),
              dataset=np.int32(record["dataset"]))
