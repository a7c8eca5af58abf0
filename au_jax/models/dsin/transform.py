"""DSIN inputs (Sec. 4.1, simplified): the whole face plus five landmark-centred patches.

SIMPLIFIED for now. The paper registers every face rigidly to three anchors
(eye centres, mouth centre) that are the mean over the training subjects'
neutral frames, at 224 x 224 x 3, and crops five 56 x 56 x 3 patches around
points defined by the detected landmarks (Fig. 4). Here the record's face is
taken as it is stored (already similarity-aligned to the project template by
the dataset builder), resized to `face_size`, and the patches are cut from
that. The mean-neutral-face anchors (issue 10, item 1) come later; they
change where a face lands in the frame, not how patches are defined.

Patch centres are DATA: each patch is `dict(name=, landmarks=(iBUG-68
indices, 0-based), offset=(dx, dy))`; its centre is the mean of those
landmarks plus `offset` times the face side. "Right" is the subject's right
(the image's left), as in au_jax/face/template.py. The symmetric left eye and
left cheek are omitted, as in the paper ("For reducing redundancy we ignore
corresponding, symmetrical patches"). The default centres on the template
face (fractions of the side): right eye (0.30, 0.40), between the eyes
(0.50, 0.35: inner brow ends and inner eye corners), nose (0.50, 0.55),
right cheek (0.29, 0.61: jaw point 2, nose wing 31, lower eyelid 41, mouth
corner 48), mouth (0.50, 0.78).

Bad input: a NaN landmark a patch needs raises a ValueError naming the patch
and the landmark; a patch window that would leave the face is moved (clamped)
inside it and counted in the example's `patches_clamped`, never zero-padded.

Output of `DSINTransform(record, rng, train)`:
  patches          float32 [P, S, S, 3]: the configured patches in order, then
                   the whole face resized to S (the sixth input, `input_names`)
  patches_clamped  int32 number of patch windows moved inside the face
  intensity, occurrence, dataset   the record's labels (transforms.labels)
Pixels are RGB scaled to [-0.5, 0.5] (the paper gives no normalisation; the
first batch norm absorbs the scale).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from au_jax.data import transforms as T
from au_jax.errors import ConfigValueError

NUM_LANDMARKS = 68

DEFAULT_PATCHES = (
    dict(name="right_eye", landmarks=(36, 37, 38, 39, 40, 41), offset=(0.0, 0.0)),
    dict(name="between_eyes", landmarks=(21, 22, 39, 42), offset=(0.0, 0.0)),
    dict(name="nose", landmarks=(29, 30), offset=(0.0, 0.0)),
    dict(name="right_cheek", landmarks=(2, 31, 41, 48), offset=(0.0, 0.0)),
    dict(name="mouth", landmarks=(48, 51, 54, 57), offset=(0.0, 0.0)),
)


@dataclasses.dataclass(frozen=True)
class PatchSpec:
  """One patch: its centre is mean(landmarks[indices]) + offset * face side."""
  name: str
  landmarks: tuple[int, ...]
  offset: tuple[float, float] = (0.0, 0.0)

  @classmethod
  def parse(cls, entry) -> PatchSpec:
    entry = dict(entry)
    unknown = sorted(set(entry) - {"name", "landmarks", "offset"})
    if unknown or "name" not in entry or "landmarks" not in entry:
      raise ConfigValueError(
          f"config.model.patches entry {entry}: give name=, landmarks=(indices) and "
          f"optionally offset=(dx, dy)" + (f"; unknown keys {unknown}" if unknown else ""))
    name = str(entry["name"])
    idx = tuple(int(i) for i in entry["landmarks"])
    bad = [i for i in idx if not 0 <= i < NUM_LANDMARKS]
    if not idx or bad:
      raise ConfigValueError(f"config.model.patches {name!r}: landmark indices {list(idx)} must "
                             f"be a non-empty list within 0..{NUM_LANDMARKS - 1} (iBUG-68)")
    offset = tuple(float(v) for v in entry.get("offset", (0.0, 0.0)))
    if len(offset) != 2:
      raise ConfigValueError(f"config.model.patches {name!r}: offset must be (dx, dy)")
    return cls(name, idx, offset)


def patch_window(centre: np.ndarray, size: int, side: int) -> tuple[int, int, bool]:
  """Top-left (x, y) of the size x size window centred at `centre` in a
  side x side image, moved inside the image; and whether it had to move."""
  x0, y0 = (int(np.floor(c - size / 2.0 + 0.5)) for c in centre)
  x, y = min(max(x0, 0), side - size), min(max(y0, 0), side - size)
  return x, y, (x, y) != (x0, y0)


class DSINTransform:
  """The whole face and landmark-centred patches of one record (module docstring).

  Args:
    face_size: side the aligned face is resized to before cropping (paper 224).
    patch_size: S, side of every input (paper 56); the whole face is resized
      to S as well, so the P inputs stack into one [P, S, S, 3] array that the
      vmapped patch CNNs take.
    patches: the patch definitions (DEFAULT_PATCHES: the paper's five).
  """

  def __init__(self, face_size: int = 224, patch_size: int = 56,
               patches: tuple = DEFAULT_PATCHES):
    self.face_size, self.patch_size = int(face_size), int(patch_size)
    if not 0 < self.patch_size <= self.face_size:
      raise ConfigValueError(f"config.model.patch_size {patch_size} must be in 1..face_size "
                             f"({face_size})")
    self.patches = tuple(PatchSpec.parse(p) for p in patches)
    names = [p.name for p in self.patches]
    if len(set(names)) != len(names) or "face" in names:
      raise ConfigValueError(f"config.model.patches names {names} must be unique and not 'face'")

  @property
  def input_names(self) -> tuple[str, ...]:
    """Names of the P inputs, in the order of the `patches` axis."""
    return tuple(p.name for p in self.patches) + ("face",)

  def centres(self, landmarks: np.ndarray) -> np.ndarray:
    """[len(patches), 2] patch centres (face_size pixels) from [68, 2] landmarks."""
    out = []
    for p in self.patches:
      pts = landmarks[list(p.landmarks)]
      missing = [i for i, ok in zip(p.landmarks, np.isfinite(pts).all(-1)) if not ok]
      if missing:
        raise ValueError(f"DSIN patch {p.name!r} needs landmark {missing[0]} (iBUG-68, 0-based), "
                         f"which is NaN in this record; landmarks {list(p.landmarks)} define "
                         f"its centre (config.model.patches)")
      out.append(pts.mean(0) + np.asarray(p.offset) * self.face_size)
    return np.asarray(out, np.float64).reshape(-1, 2)

  def layout(self, record) -> tuple[np.ndarray, np.ndarray, int]:
    """(face uint8 [F, F, 3], windows int [len(patches), 2] top-left (x, y) of
    each patch_size window, number of windows clamped) of one record."""
    rgb = T.decode(record["image"])
    lm = np.asarray(record["landmarks"], np.float64).reshape(NUM_LANDMARKS, 2)
    lm = lm * (self.face_size / rgb.shape[1], self.face_size / rgb.shape[0])
    face = T.resize(rgb, self.face_size)
    windows, clamped = [], 0
    for centre in self.centres(lm):
      x, y, moved = patch_window(centre, self.patch_size, self.face_size)
      clamped += moved
      windows.append((x, y))
    return face, np.asarray(windows, int).reshape(-1, 2), clamped

  def __call__(self, record, rng=None, train=False, stats=None):
    del rng, train, stats   # deterministic: the paper names no augmentation
    face, windows, clamped = self.layout(record)
    s = self.patch_size
    crops = [face[y:y + s, x:x + s] for x, y in windows]
    crops.append(T.resize(face, s))
    x = np.stack(crops).astype(np.float32) / 255.0 - 0.5
    return dict(patches=x, patches_clamped=np.int32(clamped), **T.labels(record))
