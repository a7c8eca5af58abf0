"""DSIN inputs (Sec. 4.1, Fig. 4): a registered face, five landmark-centred patches and the whole face.

Two halves, so that registration can use fitted state:
  `DSINTransform(record, rng, train)` (numpy, per record, in the data
      pipeline): decodes the stored face, resizes it to `face_size` (the
      paper's 224 x 224 x 3) and scales its landmarks to it; checks that every
      landmark a patch or a registration anchor needs is present.
  `DSINTransform.inputs(face, landmarks, reference)` (jnp, batched, inside the
      jitted loss and predict): registers each face with the similarity that
      maps its anchors (eye centres, mouth centre) onto `reference`, the mean
      anchors of the TRAINING split's neutral frames (the fitted state
      "anchors", au_jax/models/dsin/registration.py), maps the landmarks with
      it, and cuts the patches from the registered face. The reference is
      read from the train state, so training, evaluation and the Predictor
      register identically.

Patch centres are DATA: each patch is `dict(name=, landmarks=(iBUG-68
indices, 0-based), offset=(dx, dy))`; its centre is the mean of those
(registered) landmarks plus `offset` times the face side. "Right" is the
subject's right (the image's left), as in au_jax/face/template.py. The
symmetric left eye and left cheek are omitted, as in the paper ("For reducing
redundancy we ignore corresponding, symmetrical patches"). The default
centres on the template face (fractions of the side): right eye (0.30,
0.40), between the eyes (0.50, 0.35: inner brow ends and inner eye corners),
nose (0.50, 0.55), right cheek (0.29, 0.61: jaw point 2, nose wing 31, lower
eyelid 41, mouth corner 48), mouth (0.50, 0.78).

Bad input: a NaN landmark that a patch or an anchor needs raises a ValueError
naming the patch (or anchor) and the landmark; a patch window that would
leave the registered face is moved (clamped) inside it and counted
(`patches_clamped` per example, in the training metrics and the test
predictions), never zero-padded.

Output of `inputs`: patches float32 [B, P, S, S, 3], the configured patches
in order, then the whole registered face resized to S (the sixth input,
`input_names`), RGB scaled to [-0.5, 0.5] (the paper gives no
normalisation; the first batch norm absorbs the scale); clamped int32 [B].
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from au_jax.data import transforms as T
from au_jax.errors import ConfigValueError
from au_jax.models.dsin import registration as R

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


def patch_windows(centres: jax.Array, size: int, side: int) -> tuple[jax.Array, jax.Array]:
  """Top-left (x, y) [..., 2] int32 of the size x size windows centred at
  `centres` [..., 2] in a side x side image, moved inside the image; and
  whether each had to move [...]."""
  start = jnp.floor(centres - size / 2.0 + 0.5).astype(jnp.int32)
  inside = jnp.clip(start, 0, side - size)
  return inside, jnp.any(inside != start, axis=-1)


class DSINTransform:
  """The face, landmarks and (batched, registered) inputs of DSIN (module docstring).

  Args:
    face_size: side the face is resized to and registered at (paper 224).
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
    # centres = weights @ landmarks + offsets: one matmul for all patches
    self._weights = np.zeros((len(self.patches), NUM_LANDMARKS), np.float32)
    for i, p in enumerate(self.patches):
      self._weights[i, list(p.landmarks)] = 1.0 / len(p.landmarks)
    self._offsets = np.asarray([p.offset for p in self.patches], np.float32).reshape(-1, 2)

  @property
  def input_names(self) -> tuple[str, ...]:
    """Names of the P inputs, in the order of the `patches` axis."""
    return tuple(p.name for p in self.patches) + ("face",)

  def check_landmarks(self, landmarks: np.ndarray) -> None:
    """ValueError naming the patch (or anchor) and landmark when one it needs is NaN."""
    ok = np.isfinite(landmarks).all(-1)
    needs = [(f"DSIN patch {p.name!r}", p.landmarks, "config.model.patches") for p in self.patches]
    needs += [(f"DSIN registration anchor {name!r}", idx, "Sec. 4.1, registration.ANCHOR_GROUPS")
              for name, idx in R.ANCHOR_GROUPS]
    for what, idx, where in needs:
      missing = [i for i in idx if not ok[i]]
      if missing:
        raise ValueError(f"{what} needs landmark {missing[0]} (iBUG-68, 0-based), which is NaN "
                         f"in this record; landmarks {list(idx)} define it ({where}). Does the "
                         f"dataset's landmark scheme have these points?")

  def centres(self, landmarks) -> jax.Array:
    """[..., len(patches), 2] patch centres (face_size pixels) from [..., 68, 2] landmarks."""
    lm = jnp.nan_to_num(jnp.asarray(landmarks, jnp.float32))
    return (jnp.einsum("pl,...lc->...pc", self._weights, lm)
            + self._offsets * self.face_size)

  def register(self, face, landmarks, reference):
    """(registered faces float [B, F, F, 3], registered landmarks [B, 68, 2],
    window top-left corners int32 [B, len(patches), 2], clamped bool [B, len(patches)])."""
    m = R.similarity(R.anchors(landmarks), jnp.asarray(reference, jnp.float32))
    faces = jax.vmap(R.warp)(jnp.asarray(face), m)
    lm = R.apply(m, jnp.nan_to_num(jnp.asarray(landmarks, jnp.float32)))
    windows, moved = patch_windows(self.centres(lm), self.patch_size, self.face_size)
    return faces, lm, windows, moved

  def inputs(self, face, landmarks, reference) -> tuple[jax.Array, jax.Array]:
    """(patches float32 [B, P, S, S, 3], patches_clamped int32 [B]) of a batch:
    face uint8 [B, F, F, 3], landmarks [B, 68, 2], reference anchors [3, 2]."""
    faces, _, windows, moved = self.register(face, landmarks, reference)
    s = self.patch_size

    def crop(img, xy):
      return jax.lax.dynamic_slice(img, (xy[1], xy[0], 0), (s, s, img.shape[-1]))
    crops = jax.vmap(jax.vmap(crop, (None, 0)))(faces, windows)          # [B, P-1, S, S, 3]
    whole = jax.image.resize(faces, (faces.shape[0], s, s, faces.shape[-1]), "linear",
                             antialias=True)
    x = jnp.concatenate([crops, whole[:, None]], 1) / 255.0 - 0.5
    return x.astype(jnp.float32), jnp.sum(moved, -1).astype(jnp.int32)

  def __call__(self, record, rng=None, train=False, stats=None):
    del rng, train, stats   # deterministic: the paper names no augmentation
    rgb = T.decode(record["image"])
    lm = np.asarray(record["landmarks"], np.float64).reshape(NUM_LANDMARKS, 2)
    self.check_landmarks(lm)
    lm = lm * (self.face_size / rgb.shape[1], self.face_size / rgb.shape[0])
    face = T.resize(rgb, self.face_size)
    return dict(face=np.ascontiguousarray(face, np.uint8),
                landmarks=np.nan_to_num(lm).astype(np.float32), **T.labels(record))
