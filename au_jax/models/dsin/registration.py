"""DSIN's face registration (Sec. 4.1, "Preprocessing") as pure functions.

"From all neutral faces we compute 3 reference anchors as the mean of the
eyes and the mouth landmarks. Faces are resized to 224 x 224 x 3 and a rigid
transformation is applied for registering to the anchors, reducing variance
to scale and rotation."

  anchors       the three anchor points of a face: the centres of the right
                eye (iBUG 36-41), the left eye (42-47) and the outer mouth
                (48-59; the outer contour exists in every landmark scheme we
                read, the inner one not in the 66-point scheme), [..., 3, 2]
  reference     the mean anchors over the TRAINING split's neutral frames
                (`fit_reference`; fitted state "anchors", see model.py)
  registration  `similarity`: the least-squares similarity (rotation, uniform
                scale, translation) mapping a face's anchors onto the
                reference. "Rigid" in the paper cannot mean rotation and
                translation only, since the registration is said to reduce
                the variance in scale; an affine map (which would send the
                three anchors exactly onto the reference) would also shear
                and stretch the face, and the mouth anchor moves with AUs
                25-27, so part of their deformation would be aligned away.
                A similarity is the rigid map plus the scale the paper names.
  warp          `warp`: bilinear resampling of the face under that similarity
                (border replicated, as au_jax.face.transforms.warp_image)

All of it is jnp on batches, so it runs inside the jitted loss and predict
with the reference read from the fitted state: training, evaluation and the
Predictor register with the same anchors.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from au_jax.face import template as tpl

ANCHOR_GROUPS = (("right_eye", tuple(tpl.RIGHT_EYE)), ("left_eye", tuple(tpl.LEFT_EYE)),
                 ("mouth", tuple(tpl.MOUTH_OUTER)))
ANCHOR_NAMES = tuple(name for name, _ in ANCHOR_GROUPS)


def anchor_matrix(num_landmarks: int = 68) -> np.ndarray:
  """[3, L] averaging weights: anchors = anchor_matrix() @ landmarks."""
  w = np.zeros((len(ANCHOR_GROUPS), num_landmarks), np.float32)
  for a, (_, idx) in enumerate(ANCHOR_GROUPS):
    w[a, list(idx)] = 1.0 / len(idx)
  return w


def anchors(landmarks) -> jax.Array:
  """[..., 3, 2] anchor points of landmarks [..., 68, 2] (NaN rows outside the
  anchor groups are ignored; the transform checks the groups are complete)."""
  lm = jnp.nan_to_num(jnp.asarray(landmarks, jnp.float32))
  return jnp.einsum("al,...lc->...ac", anchor_matrix(lm.shape[-2]), lm)


def template_reference(face_size: int) -> np.ndarray:
  """[3, 2] anchors of the canonical template face at face_size pixels: the
  reference before it is fitted (only used to initialise the model)."""
  return anchor_matrix() @ (tpl.CANONICAL_68 * face_size)


def neutral_rows(occurrence: np.ndarray) -> np.ndarray:
  """[N] bool: frames with every AU coded and none active (occurrence == 0)."""
  occ = np.asarray(occurrence)
  return np.all(occ == 0, axis=1)


def fit_reference(points: np.ndarray, occurrence: np.ndarray) -> dict:
  """The reference anchors of Sec. 4.1 from the TRAINING split.

  Args:
    points: [N, 3, 2] (or [N, 6]) anchor points of every training frame.
    occurrence: [N, A] occurrence labels (-1 = unknown).

  Returns {"reference": [3, 2] mean anchors over the neutral frames (every
  AU coded and none active), "neutral_frames": their number}. When the
  training split has no neutral frame, the mean over ALL frames is used and
  `neutral_frames` is 0 (a documented fallback, printed).
  """
  pts = np.asarray(points, np.float64).reshape(len(points), 3, 2)
  neutral = neutral_rows(occurrence)
  if not neutral.any():
    print(f"[dsin] no neutral training frame (no AU active, all coded) among {len(pts)}: the "
          "reference anchors are the mean over all training frames", flush=True)
    return {"reference": pts.mean(0), "neutral_frames": np.float32(0)}
  return {"reference": pts[neutral].mean(0), "neutral_frames": np.float32(neutral.sum())}


def similarity(src: jax.Array, dst: jax.Array) -> jax.Array:
  """Least-squares similarity src -> dst: [..., K, 2], [K, 2] -> M [..., 2, 3].

  In complex numbers z' = a z + b; a = sum(conj(src_c) dst_c) / sum|src_c|^2
  on the centred points, b = mean(dst) - a mean(src): Umeyama's similarity
  (no reflection) in closed form, batched.
  """
  zs = src[..., 0] + 1j * src[..., 1]
  zd = dst[..., 0] + 1j * dst[..., 1]
  ms, md = jnp.mean(zs, -1, keepdims=True), jnp.mean(zd, -1, keepdims=True)
  sc, dc = zs - ms, zd - md
  a = jnp.sum(jnp.conj(sc) * dc, -1) / jnp.maximum(jnp.sum(jnp.abs(sc) ** 2, -1), 1e-12)
  b = md[..., 0] - a * ms[..., 0]
  row0 = jnp.stack([a.real, -a.imag, b.real], -1)
  row1 = jnp.stack([a.imag, a.real, b.imag], -1)
  return jnp.stack([row0, row1], -2).astype(jnp.float32)


def apply(matrix: jax.Array, points: jax.Array) -> jax.Array:
  """Points [..., K, 2] mapped by M [..., 2, 3]."""
  return jnp.einsum("...ij,...kj->...ki", matrix[..., :2], points) + matrix[..., None, :, 2]


def invert(matrix: jax.Array) -> jax.Array:
  """Inverse of a similarity / affine M [..., 2, 3]."""
  lin = jnp.linalg.inv(matrix[..., :2])
  return jnp.concatenate([lin, -(lin @ matrix[..., 2:])], -1)


def warp(image: jax.Array, matrix: jax.Array) -> jax.Array:
  """One image [H, W, C] warped by M [2, 3] (source -> output pixels), same
  size: output(x, y) = bilinear image(M^-1 (x, y)), border replicated."""
  h, w = image.shape[:2]
  ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32),
                        indexing="ij")
  src = apply(invert(matrix), jnp.stack([xs.ravel(), ys.ravel()], -1))
  x = jnp.clip(src[:, 0], 0.0, w - 1.0)
  y = jnp.clip(src[:, 1], 0.0, h - 1.0)
  x0 = jnp.clip(jnp.floor(x), 0, w - 2).astype(jnp.int32)
  y0 = jnp.clip(jnp.floor(y), 0, h - 2).astype(jnp.int32)
  fx, fy = (x - x0)[:, None], (y - y0)[:, None]
  flat = image.reshape(h * w, -1).astype(jnp.float32)

  def at(yy, xx):
    return flat[yy * w + xx]
  out = ((1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1))
         + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1)))
  return out.reshape(image.shape)
