"""Face detection (and landmarks) for raw images that come without landmarks.

Backends:

- "haar": OpenCV Haar cascades (frontal face + eyes), always available with
  opencv-python-headless < 5. Its landmarks are COARSE: the canonical template
  placed in the face box, with each eye's six points shifted onto the eye the
  eye cascade found (when it found one in that half of the face). Good enough
  for eye-based registration ("two_eye", "eyes_horizontal"), not for
  landmark-driven models.
- "dlib": dlib's HOG face detector + the 68-point ERT shape predictor of
  `face_recognition_models` (the optional `[face]` extra).
- "auto": "dlib" when importable, else "haar".

Images are uint8 [H, W, 3] (RGB) or [H, W] grayscale.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import sys
from typing import NamedTuple, Optional

import cv2
import numpy as np

from au_jax.face import template as tpl

BACKENDS = ("auto", "haar", "dlib")

# Said once per process, when inference (or "auto" without dlib) uses the
# Haar approximation for landmarks.
HAAR_WARNING = ("[au_jax] landmarks: Haar approximation (template in the face box, eyes "
                "from the eye cascade): eyes ~10% of the inter-ocular distance off vs ~4% with "
                "dlib, all 68 points 14% vs 7% (benchmarks/results/landmark_error.json), so "
                "alignment and AUs suffer, and head rotation is not measured (pose_Rx..pose_Rz "
                "empty); pip install 'au-jax[face]' for dlib's landmarks")
_warned = False


def warn_haar_once() -> None:
  global _warned
  if not _warned:
    _warned = True
    print(HAAR_WARNING, file=sys.stderr)


class Detection(NamedTuple):
  """One detected face.

  Attributes:
    box: float32 [4] (x, y, width, height) in image pixels.
    score: detector confidence (Haar: cascade level weight; dlib: HOG score);
      comparable only within one backend.
    landmarks68: float32 [68, 2] iBUG-68 landmarks in image pixels, or None.
  """
  box: np.ndarray
  score: float
  landmarks68: Optional[np.ndarray]


def _gray(image) -> np.ndarray:
  img = np.asarray(image)
  if img.ndim == 3 and img.shape[2] == 1:
    img = img[..., 0]
  if img.ndim == 3 and img.shape[2] == 3:
    img = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)
  if img.ndim != 2:
    raise ValueError(f"image must be [H, W, 3] or [H, W], got shape {img.shape}")
  if img.dtype != np.uint8:
    raise ValueError(f"image must be uint8, got {img.dtype}")
  return np.ascontiguousarray(img)


# ---------------------------------------------------------------- Haar

@functools.lru_cache(maxsize=None)
def _cascade(name: str) -> cv2.CascadeClassifier:
  path = os.path.join(cv2.data.haarcascades, name)
  clf = cv2.CascadeClassifier(path)
  if clf.empty():
    raise RuntimeError(f"could not load the Haar cascade {path} (opencv-python-headless "
                       f"5.x ships none: install opencv-python-headless<5)")
  return clf


def haar_landmarks(box, eyes=()) -> np.ndarray:
  """Coarse landmarks [68, 2]: the template in the box, eyes moved to `eyes`.

  Args:
    box: (x, y, w, h) face box.
    eyes: eye boxes (x, y, w, h) in image pixels; the one with the largest
      area in the image-left half of the face becomes the subject's right
      eye, likewise for the image-right half.

  Returns:
    float32 [68, 2].
  """
  x, y, w, h = (float(v) for v in box)
  lm = np.asarray(tpl.CANONICAL_68) * [w, h] + [x, y]
  halves = {tpl.RIGHT_EYE: [], tpl.LEFT_EYE: []}
  for ex, ey, ew, eh in eyes:
    centre = np.array([ex + ew / 2, ey + eh / 2], np.float64)
    halves[tpl.RIGHT_EYE if centre[0] < x + w / 2 else tpl.LEFT_EYE].append((ew * eh, centre))
  for idx, found in halves.items():
    if found:
      centre = max(found, key=lambda f: f[0])[1]
      lm[list(idx)] += centre - lm[list(idx)].mean(0)
  return lm.astype(np.float32)


def haar_faces(gray, *, min_size: int = 30, max_size: int = 0,
               scale_factor: float = 1.1) -> list[tuple[np.ndarray, float]]:
  """[(box [4], score)] of the frontal-face cascade on an equalised grey image.

  The score is the cascade's level weight (`detectMultiScale3`, last stage's
  sum of weak-classifier votes): about 3-9 on the real faces we measured,
  lower on the look-alikes that pass all stages (cat eyes, textures).
  """
  if min(gray.shape) < min_size:
    return []
  boxes, _, weights = _cascade("haarcascade_frontalface_default.xml").detectMultiScale3(
      gray, scaleFactor=scale_factor, minNeighbors=5, minSize=(min_size, min_size),
      maxSize=(max_size, max_size), outputRejectLevels=True)
  return [(np.asarray(b, np.float32), float(w))
          for b, w in zip(np.reshape(boxes, (-1, 4)), np.ravel(weights))]


def haar_eye_landmarks(gray, box) -> np.ndarray:
  """`haar_landmarks` of one face box, with the eyes the eye cascade finds in it.

  The eye cascade runs on the upper 60% of the box (where eyes lie in a Haar
  face box) rescaled to a 96 px wide face, so its cost does not grow with
  the face.
  """
  x, y, w, h = (int(round(v)) for v in box)
  x, y = max(x, 0), max(y, 0)
  roi = gray[y:y + int(0.6 * h), x:x + w]
  eyes = ()
  if roi.size and min(roi.shape) >= 10:
    s = 96.0 / roi.shape[1]
    small = cv2.resize(roi, (96, max(1, round(roi.shape[0] * s))), interpolation=cv2.INTER_AREA
                       if s < 1 else cv2.INTER_LINEAR)
    found = _cascade("haarcascade_eye.xml").detectMultiScale(
        small, scaleFactor=1.1, minNeighbors=5, minSize=(10, 10), maxSize=(48, 48))
    eyes = [(ex / s + x, ey / s + y, ew / s, eh / s)
            for ex, ey, ew, eh in np.reshape(found, (-1, 4))]
  return haar_landmarks(box, eyes)


def detect_haar(image, *, min_size: int = 30) -> list[Detection]:
  """Haar-cascade faces, best score first; [] when there is no face."""
  gray = cv2.equalizeHist(_gray(image))
  out = [Detection(box, score, haar_eye_landmarks(gray, box))
         for box, score in haar_faces(gray, min_size=min_size)]
  return sorted(out, key=lambda d: -d.score)


# ---------------------------------------------------------------- dlib

@functools.lru_cache(maxsize=None)
def dlib_available() -> bool:
  """True when dlib and face_recognition_models (the [face] extra) are installed."""
  return (importlib.util.find_spec("dlib") is not None
          and importlib.util.find_spec("face_recognition_models") is not None)


def _shape_predictor_path() -> str:
  # Locate the .dat without importing face_recognition_models: its __init__
  # imports pkg_resources, which recent setuptools no longer ships.
  spec = importlib.util.find_spec("face_recognition_models")
  if spec is None or not spec.submodule_search_locations:
    raise ImportError("face_recognition_models is not installed (pip install '.[face]')")
  folder = list(spec.submodule_search_locations)[0]
  path = os.path.join(folder, "models", "shape_predictor_68_face_landmarks.dat")
  if not os.path.exists(path):
    raise FileNotFoundError(f"face_recognition_models has no 68-point model at {path}")
  return path


@functools.lru_cache(maxsize=None)
def _dlib_models():
  import dlib  # pylint: disable=g-import-not-at-top  (optional dependency)
  return dlib, dlib.get_frontal_face_detector(), dlib.shape_predictor(_shape_predictor_path())


def _dlib_image(image) -> np.ndarray:
  img = np.asarray(image)
  img = _gray(img) if img.ndim == 2 or img.shape[-1] == 1 else np.ascontiguousarray(img)
  if img.dtype != np.uint8:
    raise ValueError(f"image must be uint8, got {img.dtype}")
  return img


def dlib_faces(image, *, upsample: int = 0) -> list[tuple[np.ndarray, float]]:
  """[(box [4], score)] of dlib's HOG detector (score: SVM margin, > 0 detected;
  about 0.7-1.6 on the real frontal faces we measured)."""
  if not dlib_available():
    raise ImportError("the dlib backend needs dlib and face_recognition_models: "
                      "pip install '.[face]'")
  _, detector, _ = _dlib_models()
  rects, scores, _ = detector.run(_dlib_image(image), upsample, 0.0)
  return [(np.array([r.left(), r.top(), r.width(), r.height()], np.float32), float(s))
          for r, s in zip(rects, scores)]


def dlib_landmarks(image, box) -> np.ndarray:
  """float32 [68, 2]: dlib's 68-point ERT model fitted in a dlib-detector box."""
  dlib, _, predictor = _dlib_models()
  x, y, w, h = (int(round(v)) for v in box)
  shape = predictor(_dlib_image(image), dlib.rectangle(x, y, x + w - 1, y + h - 1))
  return np.array([(p.x, p.y) for p in shape.parts()], np.float32)


def detect_dlib(image, *, upsample: int = 1) -> list[Detection]:
  """dlib HOG faces with 68-point landmarks, best score first."""
  img = _dlib_image(image)
  out = [Detection(box, score, dlib_landmarks(img, box))
         for box, score in dlib_faces(img, upsample=upsample)]
  return sorted(out, key=lambda d: -d.score)


# ---------------------------------------------------------------- API

def resolve(backend: str = "auto") -> str:
  """The backend that `backend` runs: "dlib" or "haar"."""
  if backend not in BACKENDS:
    raise ValueError(f"unknown face detector backend {backend!r}; choose from {BACKENDS}")
  return "dlib" if backend == "dlib" or (backend == "auto" and dlib_available()) else "haar"


# Haar's 68 points are a template placed in the face box (eyes moved onto the
# eye cascade's eyes): they follow the face's position and size, not its
# turn, so a head rotation fitted to them is not a measurement.
POSE_FROM_LANDMARKS = {"dlib": True, "haar": False}


def detect_faces(image, backend: str = "auto") -> list[Detection]:
  """All faces in `image`, best score first; [] when there is none.

  Args:
    image: uint8 [H, W, 3] RGB or [H, W] grayscale.
    backend: "auto", "haar" or "dlib" (see the module docstring).
  """
  if backend not in BACKENDS:
    raise ValueError(f"unknown face detector backend {backend!r}; choose from {BACKENDS}")
  if backend == "dlib" or (backend == "auto" and dlib_available()):
    return detect_dlib(image)
  if backend == "auto":
    warn_haar_once()
  return detect_haar(image)


def detect_landmarks(image, backend: str = "auto") -> Optional[np.ndarray]:
  """Landmarks float32 [68, 2] of the largest face, or None without a face.

  The largest box, not the highest score, is taken: in AU data the subject is
  the face nearest the camera, and scores are noisy between similar boxes.
  """
  faces = detect_faces(image, backend)
  if not faces:
    return None
  best = max(faces, key=lambda d: float(d.box[2] * d.box[3]))
  return best.landmarks68
