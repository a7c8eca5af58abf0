"""Every face of a video, with stable ids: detect now and then, track in between.

`FaceTracker(backend, detect_every=k)` is called on consecutive frames and
returns the faces of each frame (`TrackedFace`: id, box, score, 68
landmarks). Per frame it does one of two things:

- **full detection** (every `detect_every`-th frame, and on the frame after a
  track was lost): the backend's detector on the frame downscaled to at most
  `detect_width` pixels wide; detections are matched to the tracks by IoU
  (greedy, best overlap first, at least `iou_match`), unmatched detections
  start new tracks, and a face that disappeared less than `keep_lost` frames
  ago gets its id back when a detection overlaps its last box;
- **tracking** (the other frames): each track is re-detected in a window
  around its last box (1.8x its side), rescaled so the face is
  `roi_face` pixels wide, where the detector runs at a small fixed cost
  whatever the frame size. The score is the detector's own on this frame;
  a track not found in its window is lost, and the next frame is a full
  detection.

Landmarks are fitted on every frame in the frame's own pixels: dlib's 68-point
model in the box (backend "dlib"), or the Haar approximation (template in
the box, eyes moved onto the eye cascade's eyes).

`detect_every=1` detects on every frame (the reference that tracking is
measured against in benchmarks/inference_speed.py).
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from au_jax.face import detect

@dataclasses.dataclass
class TrackedFace:
  """One face in one frame.

  Attributes:
    face_id: stable id of the track (0, 1, ... in order of appearance).
    box: float32 [4] (x, y, width, height) in frame pixels.
    score: the detector's score on this frame (see `detect.haar_faces` and
      `detect.dlib_faces` for each backend's scale).
    landmarks68: float32 [68, 2] in frame pixels.
    detected: True when found by a full-frame detection, False when tracked.
    aligned: the face registered to the model's template (set by the Predictor).
    pose: head pose [6] (pose_Tx .. pose_Rz, au_jax/face/pose.py), smoothed over
      the track (set by the Predictor).
  """
  face_id: int
  box: np.ndarray
  score: float
  landmarks68: np.ndarray
  detected: bool
  aligned: object = None
  pose: object = None


class _Backend:
  """A detector (boxes and scores on an image) and a landmark fitter."""
  name: str
  roi_face: int          # face width (px) at which a track's window is searched
  min_face: int          # smallest face (px) the detector finds in its input
  min_score: float       # default score below which a detection is dropped
  detect_width: int      # default width of the frame for full detection

  def prepare(self, rgb):   # the image both methods below take
    raise NotImplementedError

  def faces(self, img, *, min_size=0, max_size=0) -> list[tuple[np.ndarray, float]]:
    raise NotImplementedError

  def landmarks(self, img, box) -> np.ndarray:
    raise NotImplementedError


class _Haar(_Backend):
  # min_score 1.5: real faces scored >= 1.53 (5th percentile 2.9) on the 100
  # faces of skimage's lfw_subset, the look-alikes of the demo clip <= 1.3.
  name, roi_face, min_face, min_score, detect_width = "haar", 48, 30, 1.5, 320

  def prepare(self, rgb):
    return cv2.equalizeHist(detect._gray(rgb))

  def faces(self, img, *, min_size=0, max_size=0):
    return detect.haar_faces(img, min_size=max(min_size, self.min_face), max_size=max_size)

  def landmarks(self, img, box):
    return detect.haar_eye_landmarks(img, box)


class _Dlib(_Backend):
  # min_score 0: dlib's own threshold (lfw_subset faces: >= 0.04, 5th percentile 0.31).
  name, roi_face, min_face, min_score, detect_width = "dlib", 100, 80, 0.0, 640

  def prepare(self, rgb):
    return detect._gray(rgb)   # HOG on grey: the same faces, a third of the cost

  def faces(self, img, *, min_size=0, max_size=0):
    return detect.dlib_faces(img, upsample=0)

  def landmarks(self, img, box):
    return detect.dlib_landmarks(img, box)


def make_backend(name: str = "auto") -> _Backend:
  if name not in detect.BACKENDS:
    raise ValueError(f"unknown face detector backend {name!r}; choose from {detect.BACKENDS}")
  if name == "dlib" or (name == "auto" and detect.dlib_available()):
    if not detect.dlib_available():
      raise ImportError("the dlib backend needs dlib and face_recognition_models: "
                        "pip install '.[face]'")
    return _Dlib()
  detect.warn_haar_once()
  return _Haar()


def iou(a, b) -> float:
  """Intersection over union of two (x, y, w, h) boxes."""
  ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
  iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
  inter = ix * iy
  union = a[2] * a[3] + b[2] * b[3] - inter
  return float(inter / union) if union > 0 else 0.0


@dataclasses.dataclass
class _Track:
  face_id: int
  box: np.ndarray
  last_seen: int


class FaceTracker:
  """Faces of consecutive frames with stable ids (see the module docstring).

  Args:
    backend: "auto" (dlib when installed, else Haar), "dlib" or "haar".
    detect_every: full detection every k frames (1: every frame).
    detect_width: full detection runs on the frame downscaled to at most this
      width (None: dlib 640, Haar 320). Faces narrower than the detector's
      minimum x the downscale factor are missed (on a 640-wide frame: 80 px
      for dlib at 640, 60 px for Haar at 320); tracking then follows them
      at any size.
    max_faces: keep at most this many faces per frame (the largest); 0: all.
    min_score: detections scoring below are dropped (None: the backend's
      default, Haar 1.5, dlib 0).
    iou_match: least IoU for a detection to continue a track.
    keep_lost: frames a lost track's id is kept for a detection that
      reappears over its last box.
  """

  def __init__(self, backend: str = "auto", *, detect_every: int = 10,
               detect_width: int | None = None, max_faces: int = 0,
               min_score: float | None = None, iou_match: float = 0.3, keep_lost: int = 30):
    if detect_every < 1 or (detect_width or 32) < 32 or max_faces < 0:
      raise ValueError("detect_every >= 1, detect_width >= 32 and max_faces >= 0 are needed")
    self.backend = make_backend(backend)
    detect_width = detect_width or self.backend.detect_width
    self.min_score = self.backend.min_score if min_score is None else float(min_score)
    self.detect_every, self.detect_width = detect_every, detect_width
    self.max_faces, self.iou_match, self.keep_lost = max_faces, iou_match, keep_lost
    self.reset()

  def reset(self) -> None:
    """Forgets every track (a new video); ids restart at 0."""
    self._active: list[_Track] = []
    self._lost: list[_Track] = []
    self._next_id, self._frame, self._redetect = 0, -1, True
    self.full_detections = 0

  def __call__(self, rgb: np.ndarray) -> list[TrackedFace]:
    """The faces of the next frame (uint8 RGB [H, W, 3] or grey [H, W])."""
    self._frame += 1
    img = self.backend.prepare(rgb)
    full = self._redetect or self._frame % self.detect_every == 0
    self._redetect = False
    if full:
      self.full_detections += 1
      found = self._detect_full(img)
    else:
      found = []
      for t in self._active:
        hit = self._track(img, t.box)
        if hit is None:
          self._redetect = True
        found.append((t, hit))
    out = []
    active = []
    for t, hit in found:
      if hit is None:          # lost: its id is kept for `keep_lost` frames
        self._lost.append(t)
        continue
      t.box, t.last_seen = hit[0], self._frame
      active.append(t)
      lm = self.backend.landmarks(img, hit[0])
      out.append(TrackedFace(t.face_id, hit[0], hit[1], lm, full))
    self._active = active
    self._lost = [t for t in self._lost if self._frame - t.last_seen <= self.keep_lost]
    return sorted(out, key=lambda f: f.face_id)

  # -------------------------------------------------------------- internals

  def _detect_full(self, img) -> list[tuple[_Track, tuple | None]]:
    h, w = img.shape[:2]
    s = min(1.0, self.detect_width / w)
    small = img if s == 1.0 else cv2.resize(img, (round(w * s), round(h * s)),
                                            interpolation=cv2.INTER_AREA)
    dets = [(box / s, score) for box, score in self.backend.faces(small)
            if score >= self.min_score]
    dets.sort(key=lambda d: -float(d[0][2] * d[0][3]))        # largest first
    pairs = sorted(((iou(t.box, d[0]), i, j) for i, t in enumerate(self._active)
                    for j, d in enumerate(dets)), reverse=True)
    matched_t, matched_d, found = set(), set(), []
    for o, i, j in pairs:
      if o < self.iou_match or i in matched_t or j in matched_d:
        continue
      matched_t.add(i)
      matched_d.add(j)
      found.append((self._active[i], dets[j]))
    # A track the full detection missed is searched in its window (same
    # detector at its normalised scale) before it is given up.
    for i, t in enumerate(self._active):
      if i not in matched_t:
        found.append((t, self._track(img, t.box)))
    for j, d in enumerate(dets):
      if j in matched_d or any(iou(d[0], f[1][0]) >= self.iou_match
                               for f in found if f[1] is not None):
        continue
      found.append((self._revive(d[0]), d))
    if self.max_faces:
      alive = sorted((f for f in found if f[1] is not None),
                     key=lambda f: -float(f[1][0][2] * f[1][0][3]))
      keep = {id(f[0]) for f in alive[:self.max_faces]}
      found = [f for f in found if f[1] is None or id(f[0]) in keep]
    return found

  def _revive(self, box) -> _Track:
    """A lost track over `box` (its id back), or a new track."""
    best = max(self._lost, key=lambda t: iou(t.box, box), default=None)
    if best is not None and iou(best.box, box) >= self.iou_match:
      self._lost.remove(best)
      return best
    t = _Track(self._next_id, box, self._frame)
    self._next_id += 1
    return t

  def _track(self, img, box) -> tuple[np.ndarray, float] | None:
    """(box, score) of the face re-detected in a window around `box`, or None."""
    x, y, w, h = (float(v) for v in box)
    side = 1.8 * max(w, h)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    x1, y1 = int(min(img.shape[1], cx + side / 2)), int(min(img.shape[0], cy + side / 2))
    if x1 - x0 < 8 or y1 - y0 < 8:
      return None
    s = self.backend.roi_face / max(w, h)
    size = (max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s)))
    roi = cv2.resize(img[y0:y1, x0:x1], size,
                     interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    f = self.backend.roi_face
    hits = self.backend.faces(roi, min_size=int(0.6 * f), max_size=int(1.7 * f))
    best, best_iou = None, self.iou_match
    for b, score in hits:
      if score < self.min_score:
        continue
      full = np.array([b[0] / s + x0, b[1] / s + y0, b[2] / s, b[3] / s], np.float32)
      o = iou(full, box)
      if o >= best_iou:
        best, best_iou = (full, score), o
    return best
