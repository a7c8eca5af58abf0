"""Procedural face renderer of synthetic_au: a 3-D iBUG-68 head -> a camera frame.

A face lives in the *unit face frame* of `au_jax.face.template` (CANONICAL_68,
x right, y down, inter-ocular distance 0.4), with a depth toward the camera
from the subject's head height field (`head_depth`). Rendering a frame:

1. `expression_landmarks`: the subject's neutral shape plus, per AU, a fixed
   landmark displacement (its FACS location and direction, `AU_DISPLACEMENTS`)
   scaled by `strength(level)` (0 at level 0, `level1_strength` at level 1,
   equal steps to 1 at level 5) and by the subject's expressivity, then
   anatomical clamps (lids and lips never cross).
2. `render_face`: the face is drawn with OpenCV on a square canvas fixed to
   the head (unit frame -> canvas by `canvas_matrix`): hair, skin with a fixed
   per-subject texture, brows, eyes, nose, lips, teeth, hairline. Appearance
   cues of the AUs and the identity confounders (forehead folds, glabella
   furrows, crow's feet, cheek and lid bulges, nose wrinkles, nasolabial
   folds, dimples, chin boss and dimpling) form a soft height map (`Relief`:
   grooves and bulges blurred to widths that scale with the face), shaded by
   the frame's light and a soft light from above (a furrow is a dark valley
   with a lit edge on the side facing the light, a bulge a highlight above a
   shadow) and darker at the valleys' floors; the head is lit by a
   directional light (Lambert on the height field's normals). `measure_cues.py` measures each cue against the between-subject
   variation of its region.
3. `render_frame`: a perspective camera sees the head rotated by yaw and pitch
   (`project` for the landmarks, ray casting into the height field for the
   image, `pose_maps`), then roll, scale and shift, over the subject's fixed
   background; then an optional occluder (hand, hair, glasses, mask) and the
   share of each AU's region it covers; exposure and colour cast; the camera's
   resolution (`face_size`), blur, sensor noise and JPEG. Observed landmarks =
   true landmarks + tracker noise (larger under an occluder).

Several AUs act on one region on purpose (6/7 narrow the eyes; 9/10/12 deepen
the nasolabial fold; 12/14/20 move the lip corners; 17/23 thin the lips), so
one AU's evidence can be mistaken for another's.

Everything is a pure function of its arguments; randomness comes in through
explicit `np.random.Generator`s seeded by the builder.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Mapping, NamedTuple

import cv2
import numpy as np

from au_jax.aus import SYNTHETIC_AUS
from au_jax.face import template as tpl

# Share of the canvas width taken by one unit of the face frame.
FACE_FRACTION = 0.6
# Per AU: the between-subject sd of the AU's region at neutral over its
# mean change at level 5 (identities with the default confounders, 24
# subjects, mean of the two styles; `python -m
# tfds_builders.synthetic_au.measure_cues --scale` prints it). The level-1
# strength CUE_RATIO x CUE_SCALE[au] makes the level-1 cue CUE_RATIO times the
# between-subject variation (the builder's `cue_ratio` field).
CUE_SCALE = {1: 0.1498, 2: 0.1246, 4: 0.1683, 5: 0.0471, 6: 0.2413, 7: 0.4483, 9: 0.0799,
             10: 0.0684, 12: 0.0947, 14: 0.1521, 15: 0.0789, 17: 0.1092, 20: 0.1134,
             23: 0.1776, 25: 0.0418, 26: 0.0858}
CUE_RATIO = 1.0
_SHIFT = 4            # OpenCV fixed-point bits for sub-pixel drawing
_ONE = 1 << _SHIFT

# ---------------------------------------------------------------------------
# Looks of the two synthetic "datasets"


@dataclasses.dataclass(frozen=True)
class Style:
  """The look of a synthetic dataset (palette, lighting, drawing style).

  Attributes:
    skin: [n, 3] RGB skin tones to draw from (jittered per subject).
    hair: [n, 3] RGB hair colours.
    background: [n, 3] RGB background colours.
    light_colour: RGB multiplier of the illumination (colour cast).
    shading: depth of a flat rounded face shading (0 = flat), besides the
      directional light on the 3-D head.
    outline: darkness of an ink outline of the face and features (0 = none).
    noise_sd: (min, max) sd of the additive Gaussian sensor noise (0..255).
  """
  skin: tuple
  hair: tuple
  background: tuple
  light_colour: tuple = (1.0, 1.0, 1.0)
  shading: float = 0.15
  outline: float = 0.0
  noise_sd: tuple = (1.0, 6.0)


STYLES: dict[str, Style] = {
    # Warm studio light, soft shading, muted indoor backgrounds.
    "disfa_like": Style(
        skin=((236, 200, 170), (224, 172, 135), (198, 144, 104), (160, 108, 72),
              (112, 74, 50), (246, 214, 190)),
        hair=((40, 28, 20), (90, 60, 35), (20, 20, 22), (150, 110, 60), (190, 160, 110),
              (120, 120, 120)),
        background=((110, 110, 120), (150, 140, 120), (80, 90, 100), (170, 170, 165),
                    (95, 80, 70)),
        light_colour=(1.03, 1.0, 0.96), shading=0.15,
        outline=0.0, noise_sd=(1.0, 6.0)),
    # Cool fluorescent light, a faint ink outline, saturated backgrounds.
    "bp4d_like": Style(
        skin=((230, 196, 176), (205, 160, 130), (178, 128, 96), (130, 90, 66),
              (92, 62, 46)),
        hair=((30, 24, 22), (70, 45, 30), (10, 10, 12), (160, 90, 50)),
        background=((40, 70, 120), (60, 110, 80), (120, 50, 60), (200, 200, 210),
                    (30, 30, 40)),
        light_colour=(0.94, 1.0, 1.08), shading=0.1,
        outline=0.2, noise_sd=(2.0, 9.0)),
}


# ---------------------------------------------------------------------------
# Identities


@dataclasses.dataclass(frozen=True)
class Identity:
  """A synthetic subject: face shape and a fixed look.

  Attributes:
    shape: float64 [68, 2] neutral landmarks in the unit face frame.
    skin, hair, brow, lip, iris: RGB float colours.
    brow_width: brow thickness (unit frame).
    hairline: forehead height of the hairline (unit frame y).
    hair_style: 0 straight fringe, 1 widow's peak, 2 side part, 3 receding.
    hair_length: how far down the sides the hair falls (unit frame y).
    age: strength of the neutral folds (nasolabial, mentolabial), 0..1.
    texture: float32 [C, C] multiplicative skin texture on the head canvas,
      times the rounded shading of the neutral face (darker towards its edge).
    chin_dots: float64 [n, 2] chin dimpling pattern, offsets from landmark 8.
    background: uint8 [C, C, 3] the subject's fixed background (raw frame).
    forehead_lines, glabella_lines, nasolabial_folds, crows_feet: strengths
      (0 = none, 1 = the AU's level-5 cue) of permanent folds that mimic
      AU1+2, AU4, AU10/12 and AU6 (identity confounders).
    brow_shape: the neutral brows' offset toward AU4 (< 0: low-set, drawn
      in) or AU1+2 (> 0: raised, arched), as a share of the level-5 motion.
    depth: float32 [C, C] height of the 3-D head surface over the canvas
      (unit face frame, toward the camera; 0 = the silhouette plane).
    normals: float32 [C, C, 3] unit normals of that surface (x right, y down,
      z toward the camera).
  """
  shape: np.ndarray
  skin: np.ndarray
  hair: np.ndarray
  brow: np.ndarray
  lip: np.ndarray
  iris: np.ndarray
  brow_width: float
  hairline: float
  hair_style: int
  hair_length: float
  age: float
  texture: np.ndarray
  chin_dots: np.ndarray
  background: np.ndarray
  forehead_lines: float = 0.0
  glabella_lines: float = 0.0
  nasolabial_folds: float = 0.0
  crows_feet: float = 0.0
  brow_shape: float = 0.0
  depth: np.ndarray | None = None
  normals: np.ndarray | None = None


def _scale_about(pts, idx, centre, sx, sy):
  idx = list(idx)
  pts[idx] = centre + (pts[idx] - centre) * np.array([sx, sy])


def neutral_shape(rng: np.random.Generator) -> np.ndarray:
  """A subject's neutral landmarks [68, 2]: the template with jittered proportions."""
  s = np.array(tpl.CANONICAL_68, np.float64)
  u = lambda lo, hi: rng.uniform(lo, hi)
  jaw = list(tpl.JAW)
  # Jaw: width and length of the lower face.
  _scale_about(s, jaw, np.array([0.5, 0.45]), u(0.9, 1.06), 1.0)
  low = [i for i in jaw if s[i, 1] > 0.45]
  s[low, 1] = 0.45 + (s[low, 1] - 0.45) * u(0.92, 1.06)
  # Eyes: spacing, size and a taller opening than the template so that lid
  # movements are visible at low resolution.
  spread = u(-0.02, 0.02)
  esize = u(0.9, 1.12)
  for eye, sign in ((tpl.RIGHT_EYE, -1), (tpl.LEFT_EYE, 1)):
    eye = list(eye)
    c = s[eye].mean(0)
    _scale_about(s, eye, c, esize, esize * 1.5)
    s[eye, 0] += sign * spread
  # Brows: height and slope.
  bh, slope = u(-0.02, 0.015), u(-0.015, 0.015)
  for brow in (tpl.RIGHT_BROW, tpl.LEFT_BROW):
    s[list(brow), 1] += bh
  s[[17, 26], 1] += slope
  s[[18, 25], 1] += slope / 2
  # Nose: length and width.
  nl = u(-0.025, 0.025)
  s[[29], 1] += nl / 2
  s[[30, 31, 32, 33, 34, 35], 1] += nl
  _scale_about(s, tpl.NOSE_BOTTOM, np.array([0.5, s[33, 1]]), u(0.85, 1.25), 1.0)
  # Mouth: width, lip thickness, height; lips closed at rest.
  mouth = list(tpl.MOUTH)
  mc = s[mouth].mean(0)
  _scale_about(s, mouth, mc, u(0.88, 1.15), u(0.85, 1.2))
  s[mouth, 1] += u(-0.015, 0.015)
  mid = (s[[61, 62, 63], 1] + s[[67, 66, 65], 1]) / 2
  s[[61, 62, 63], 1] = mid
  s[[67, 66, 65], 1] = mid
  s[60, 0] = s[48, 0] + 0.01
  s[64, 0] = s[54, 0] - 0.01
  return s


def _texture(rng, size):
  """Fixed skin texture [C, C]: blotches, pores and a few moles."""
  low = cv2.resize(rng.standard_normal((8, 8)).astype(np.float32), (size, size),
                   interpolation=cv2.INTER_CUBIC)
  for _ in range(rng.integers(0, 5)):
    c = (int(rng.uniform(0.3, 0.7) * size), int(rng.uniform(0.3, 0.8) * size))
    cv2.circle(low, c, 1, -6.0, -1)
  low = cv2.GaussianBlur(low, (3, 3), 0)
  pores = rng.standard_normal((size, size)).astype(np.float32)
  return 1.0 + 0.045 * low + 0.02 * pores


def _background(rng, style, size):
  """Fixed background [C, C, 3]: a gradient between two palette colours and blobs."""
  pal = np.asarray(style.background, np.float32)
  a, b = pal[rng.choice(len(pal), 2, replace=False)]
  a = a * rng.uniform(0.8, 1.2, 3)
  t = np.linspace(0, 1, size, dtype=np.float32)
  ang = rng.uniform(0, 2 * np.pi)
  g = (np.cos(ang) * t[None, :] + np.sin(ang) * t[:, None])
  g = (g - g.min()) / (np.ptp(g) + 1e-6)
  img = a * (1 - g[..., None]) + b * g[..., None]
  for _ in range(rng.integers(2, 6)):
    col = pal[rng.integers(len(pal))] * rng.uniform(0.6, 1.3)
    c = tuple(int(v) for v in rng.uniform(0, size, 2))
    ax = tuple(int(v) for v in rng.uniform(0.05, 0.3, 2) * size)
    cv2.ellipse(img, c, ax, float(rng.uniform(0, 180)), 0, 360, col.tolist(), -1)
  img = cv2.GaussianBlur(img, (0, 0), size / 60)
  return np.clip(img, 0, 255).astype(np.uint8)


# Identity confounders: name -> (probability, strength) defaults (the
# builder's fields of the same names).
CONFOUNDERS = {"forehead_lines": (0.3, 0.6), "glabella_lines": (0.25, 0.6),
               "nasolabial_folds": (0.35, 0.6), "crows_feet": (0.25, 0.6),
               "brow_shape": (0.4, 0.5)}


def make_identity(rng: np.random.Generator, style: Style, size: int,
                  confounders: Mapping[str, tuple] | None = None) -> Identity:
  """A random subject of `style` for a canvas / raw frame of side `size`.

  confounders: {name: (probability, strength)} of the identity confounders
  (CONFOUNDERS keys; default: none). Each is present with its probability, at
  strength x U(0.3, 1) (brow_shape: either sign).
  """
  skin = np.asarray(style.skin[rng.integers(len(style.skin))], np.float64)
  skin = np.clip(skin * rng.uniform(0.95, 1.05, 3), 0, 255)
  hair = np.asarray(style.hair[rng.integers(len(style.hair))], np.float64)
  brow = np.minimum(hair, skin) * rng.uniform(0.45, 0.75)
  lip = np.clip(skin * np.array([0.85, 0.58, 0.58]) * rng.uniform(0.85, 1.05), 0, 255)
  iris = np.asarray([(60, 40, 25), (70, 100, 130), (80, 90, 50), (40, 30, 25)]
                    [rng.integers(4)], np.float64)
  chin_dots = np.stack([rng.uniform(-0.07, 0.07, 14), rng.uniform(-0.07, -0.015, 14)], 1)
  shape = neutral_shape(rng)
  base = dict(
      skin=skin, hair=hair, brow=brow, lip=lip, iris=iris,
      brow_width=float(rng.uniform(0.018, 0.03)), hairline=float(rng.uniform(0.04, 0.14)),
      hair_style=int(rng.integers(4)), hair_length=float(rng.uniform(0.25, 0.75)),
      age=float(rng.uniform(0.0, 0.35)), texture=_texture(rng, size),
      chin_dots=chin_dots, background=_background(rng, style, size))
  conf = {}
  crng = np.random.default_rng(rng.integers(2 ** 63))   # confounders: own stream
  for name in CONFOUNDERS:
    prob, strength_ = (confounders or {}).get(name, (0.0, 0.0))
    present, amount = crng.uniform() < prob, strength_ * crng.uniform(0.3, 1.0)
    sign = 1.0 if crng.uniform() < 0.5 else -1.0
    conf[name] = float(amount * (sign if name == "brow_shape" else 1.0)) if present else 0.0
  if conf["brow_shape"] > 0:
    shape = shape + conf["brow_shape"] * (AU_DISPLACEMENTS[1] + AU_DISPLACEMENTS[2]) / 2
  elif conf["brow_shape"] < 0:
    shape = shape - conf["brow_shape"] * AU_DISPLACEMENTS[4]
  depth = head_depth(shape, size)
  base["texture"] = base["texture"] * _shading(shape, style, size)
  return Identity(shape=shape, **base, **conf, depth=depth, normals=_normals(depth, size))


# ---------------------------------------------------------------------------
# The 3-D head: a height field over the canvas, rotated and projected


def head_depth(shape: np.ndarray, size: int) -> np.ndarray:
  """Height [C, C] float32 of the head surface toward the camera, unit face frame.

  A flattened ellipsoid around the face (depth 0.45 at its centre, 0 at the
  silhouette), a nose ridge rising from the bridge (27) to the tip (30) to
  0.13 (about 20 mm at an inter-ocular distance of 63 mm), eye sockets 0.04
  deep and a slightly forward mouth and chin, placed on the neutral `shape`.
  """
  m = canvas_matrix(size)
  g = (np.arange(size, dtype=np.float64) - m[0, 2]) / m[0, 0]
  x, y = g[None, :], g[:, None]
  r2 = ((x - 0.5) / 0.5) ** 2 + ((y - 0.52) / 0.6) ** 2
  h = 0.45 * np.clip(1 - r2, 0, None) ** 0.35
  top, tip = shape[27], shape[30]
  w = max(0.03, (shape[35, 0] - shape[31, 0]) * 0.45)
  t = np.clip((y - top[1]) / max(tip[1] - top[1], 1e-3), 0, None)
  ridge = np.where(t <= 1, 0.02 + 0.11 * t, 0.13 * np.exp(-((y - tip[1]) / 0.035) ** 2 / 2))
  h += ridge * np.exp(-((x - tip[0]) / w) ** 2 / 2)
  for eye in (tpl.RIGHT_EYE, tpl.LEFT_EYE):
    c = shape[list(eye)].mean(0)
    h -= 0.04 * np.exp(-((x - c[0]) / 0.06) ** 2 / 2 - ((y - c[1]) / 0.04) ** 2 / 2)
  mc = shape[list(tpl.MOUTH)].mean(0)
  h += 0.03 * np.exp(-((x - mc[0]) / 0.1) ** 2 / 2 - ((y - mc[1] - 0.03) / 0.09) ** 2 / 2)
  return np.maximum(h, 0).astype(np.float32)


def _normals(depth: np.ndarray, size: int) -> np.ndarray:
  f = canvas_matrix(size)[0, 0]
  gy, gx = np.gradient(depth.astype(np.float64) * f)
  n = np.stack([-gx, -gy, np.ones_like(gx)], -1)
  return (n / np.linalg.norm(n, axis=-1, keepdims=True)).astype(np.float32)


# Rotation centre of the head (unit face frame, on the silhouette plane).
HEAD_CENTRE = np.array([0.5, 0.5])


def rotation(yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
  """[3, 3] head -> camera rotation (degrees; x right, y down, z toward the
  camera): R = Rz(roll) Ry(yaw) Rx(pitch). yaw > 0 turns the nose toward
  +x, pitch > 0 moves the nose down (chin down), roll > 0 turns the face
  counter-clockwise in the image."""
  a, b, c = np.deg2rad([yaw, pitch, roll])
  ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
  rx = np.array([[1, 0, 0], [0, np.cos(b), np.sin(b)], [0, -np.sin(b), np.cos(b)]])
  rz = np.array([[np.cos(c), np.sin(c), 0], [-np.sin(c), np.cos(c), 0], [0, 0, 1]])
  return rz @ ry @ rx


def project(points: np.ndarray, yaw: float, pitch: float, roll: float = 0.0,
            distance: float = 5.0) -> np.ndarray:
  """Perspective projection of 3-D points [N, 3] (unit face frame x, y and
  depth z toward the camera) after rotating the head about HEAD_CENTRE:
  [N, 2] in the unit face frame. The camera looks down -z from `distance`
  units in front of the silhouette plane (focal length = distance, so the
  silhouette plane keeps its scale at pose 0)."""
  pts = np.asarray(points, np.float64)
  q = np.concatenate([pts[:, :2] - HEAD_CENTRE, pts[:, 2:3]], 1) @ rotation(yaw, pitch, roll).T
  return q[:, :2] * (distance / (distance - q[:, 2:3])) + HEAD_CENTRE


def _sample(img: np.ndarray, xy_px: np.ndarray) -> np.ndarray:
  """Bilinear samples of a float32 [C, C] image at pixel coords [..., 2] (0 outside)."""
  xy = np.asarray(xy_px, np.float32)
  flat = xy.reshape(-1, xy.shape[-2] if xy.ndim > 2 else 1, 2)
  out = cv2.remap(img, flat[..., 0], flat[..., 1], cv2.INTER_LINEAR,
                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
  return out.reshape(xy.shape[:-1])


def landmarks_3d(ident: Identity, lm_unit: np.ndarray, size: int) -> np.ndarray:
  """[68, 3]: landmarks (unit frame) with their depth on the subject's head."""
  m = canvas_matrix(size)
  z = _sample(ident.depth, lm_unit * m[0, 0] + m[:, 2])
  return np.concatenate([lm_unit, z[:, None]], 1)


_RAY_STEPS = 16


def pose_maps(depth: np.ndarray, yaw: float, pitch: float, distance: float, affine: np.ndarray,
              size: int, step: int = 3) -> tuple[np.ndarray, np.ndarray]:
  """Backward maps (map_x, map_y) float32 [size, size]: for every raw-frame
  pixel, the canvas pixel the camera sees there (cv2.remap convention).

  Each pixel's ray is marched from the front through the rotated height
  field `depth` and the first crossing taken (the far side of the nose and
  cheeks is hidden, as it should be); then `affine` [2, 3] (roll, scale and
  shift, posed canvas -> raw) is undone first. Computed on a grid every
  `step` pixels and interpolated (the maps are smooth).
  """
  m = canvas_matrix(size)
  f, off = m[0, 0], m[:, 2]
  n = -(-size // step)
  o = (np.arange(n) + 0.5) * size / n - 0.5          # cv2.resize's sample positions
  ox, oy = np.meshgrid(o, o)
  inv = cv2.invertAffineTransform(affine)
  qx = inv[0, 0] * ox + inv[0, 1] * oy + inv[0, 2]
  qy = inv[1, 0] * ox + inv[1, 1] * oy + inv[1, 2]
  u = (qx - off[0]) / f - HEAD_CENTRE[0]
  v = (qy - off[1]) / f - HEAD_CENTRE[1]
  r = rotation(yaw, pitch)
  # Ray of a pixel, head frame: a + t b (camera at t = 0, the pixel's point on
  # the silhouette plane at t = 1); R^T applied to row vectors is "@ r".
  a = np.array([0.0, 0.0, distance]) @ r
  b = np.stack([u, v, np.full_like(u, -distance)], -1) @ r      # [n, n, 3]

  def gap(t):   # > 0 in front of the surface; and the canvas px of the point
    x = a[0] + t * b[..., 0]
    y = a[1] + t * b[..., 1]
    px = np.stack([(x + HEAD_CENTRE[0]) * f + off[0], (y + HEAD_CENTRE[1]) * f + off[1]], -1)
    return a[2] + t * b[..., 2] - _sample(depth, px), px

  t = (1 - np.linspace(0.7, -0.75, _RAY_STEPS) / distance)[:, None, None]
  g, _ = gap(np.broadcast_to(t, (_RAY_STEPS,) + u.shape))
  inside = g <= 0
  first = np.maximum(np.where(inside.any(0), inside.argmax(0), _RAY_STEPS - 1), 1)
  t_lo = t[first - 1, 0, 0]
  t_hi = t[first, 0, 0]
  g_lo = np.take_along_axis(g, first[None] - 1, 0)[0]
  g_hi = np.take_along_axis(g, first[None], 0)[0]
  for _ in range(2):   # regula falsi inside the bracket
    w = np.clip(g_lo / np.where(g_lo - g_hi == 0, 1, g_lo - g_hi), 0, 1)
    tm = t_lo + w * (t_hi - t_lo)
    gm, _ = gap(tm)
    front = gm > 0
    t_lo, g_lo = np.where(front, tm, t_lo), np.where(front, gm, g_lo)
    t_hi, g_hi = np.where(front, t_hi, tm), np.where(front, g_hi, gm)
  w = np.clip(g_lo / np.where(g_lo - g_hi == 0, 1, g_lo - g_hi), 0, 1)
  _, px = gap(t_lo + w * (t_hi - t_lo))
  mx, my = px[..., 0].astype(np.float32), px[..., 1].astype(np.float32)
  return (cv2.resize(mx, (size, size), interpolation=cv2.INTER_LINEAR),
          cv2.resize(my, (size, size), interpolation=cv2.INTER_LINEAR))


# ---------------------------------------------------------------------------
# AU geometry: landmark displacements at intensity 5 (unit face frame)

_R_BROW = [17, 18, 19, 20, 21]          # outer -> inner
_L_BROW = [26, 25, 24, 23, 22]          # outer -> inner
_INNER_W = np.array([0.1, 0.3, 0.6, 0.85, 1.0])
_OUTER_W = np.array([1.0, 0.85, 0.55, 0.25, 0.1])
_UPPER_LID = [37, 38, 43, 44]
_LOWER_LID = [40, 41, 46, 47]
_R_CORNER, _L_CORNER = [48, 60], [54, 64]


def _d():
  return np.zeros((68, 2))


def _au1():
  d = _d()
  d[_R_BROW, 1] = d[_L_BROW, 1] = -0.11 * _INNER_W
  return d


def _au2():
  d = _d()
  d[_R_BROW, 1] = d[_L_BROW, 1] = -0.10 * _OUTER_W
  return d


def _au4():
  d = _d()
  d[_R_BROW, 1] = d[_L_BROW, 1] = 0.045 * np.array([0.5, 0.7, 0.85, 1.0, 1.0])
  d[_R_BROW, 0] = 0.03 * _INNER_W
  d[_L_BROW, 0] = -0.03 * _INNER_W
  return d


def _au5():
  d = _d()
  d[_UPPER_LID, 1] = -0.03
  return d


def _au6():
  d = _d()
  d[_LOWER_LID, 1] = -0.016
  d[[36, 45], 1] = -0.006
  d[36, 0], d[45, 0] = 0.006, -0.006
  d[[17, 26], 1] = 0.012
  d[[1, 2, 14, 15], 1] = -0.01
  d[_R_CORNER + _L_CORNER, 1] = -0.006
  return d


def _au7():
  d = _d()
  d[_LOWER_LID, 1] = -0.024
  d[_UPPER_LID, 1] = 0.010
  return d


def _au9():
  d = _d()
  d[[31, 35], 1] = -0.03
  d[[32, 33, 34], 1] = -0.025
  d[30, 1] = -0.01
  d[31, 0], d[35, 0] = -0.008, 0.008
  d[[20, 21, 22, 23], 1] = 0.022
  d[[49, 50, 51, 52, 53], 1] = -0.015
  d[[61, 62, 63], 1] = -0.012
  return d


def _au10():
  d = _d()
  d[[50, 51, 52], 1] = -0.04
  d[[49, 53], 1] = -0.03
  d[[61, 62, 63], 1] = -0.032
  d[_R_CORNER + _L_CORNER, 1] = -0.005
  d[[31, 35], 1] = -0.008
  return d


def _au12():
  d = _d()
  d[_R_CORNER, :] = (-0.04, -0.045)
  d[_L_CORNER, :] = (0.04, -0.045)
  d[[49, 59, 61, 67], :] = (-0.018, -0.02)
  d[[53, 55, 63, 65], :] = (0.018, -0.02)
  return d


def _au14():
  d = _d()
  d[_R_CORNER, :] = (0.022, -0.006)
  d[_L_CORNER, :] = (-0.022, -0.006)
  return d


def _au15():
  d = _d()
  d[_R_CORNER + _L_CORNER, 1] = 0.045
  d[[49, 59, 53, 55, 61, 67, 63, 65], 1] = 0.02
  return d


def _au17():
  d = _d()
  d[[56, 57, 58], 1] = -0.03
  d[[55, 59], 1] = -0.015
  d[[65, 66, 67], 1] = -0.018
  d[[7, 8, 9], 1] = -0.02
  d[[50, 51, 52], 1] = -0.008
  return d


def _au20():
  d = _d()
  d[_R_CORNER, :] = (-0.05, 0.01)
  d[_L_CORNER, :] = (0.05, 0.01)
  d[[49, 59], 0] = -0.025
  d[[53, 55], 0] = 0.025
  d[[50, 51, 52], 1] = 0.008
  d[[56, 57, 58], 1] = -0.008
  d[[4, 5], 0], d[[11, 12], 0] = -0.006, 0.006
  return d


def _au23():
  d = _d()
  d[_R_CORNER, 0], d[_L_CORNER, 0] = 0.02, -0.02
  d[[49, 50, 51, 52, 53], 1] = 0.018
  d[[55, 56, 57, 58, 59], 1] = -0.018
  return d


def _au25():
  d = _d()
  d[[61, 62, 63], 1] = -0.012
  d[[65, 66, 67], 1] = 0.06
  d[[56, 57, 58], 1] = 0.042
  d[[55, 59], 1] = 0.028
  return d


def _au26():
  d = _d()
  jw = np.array([0.1, 0.3, 0.55, 0.8, 0.95, 1.0, 0.95, 0.8, 0.55, 0.3, 0.1])
  d[list(range(3, 14)), 1] = 0.09 * jw
  d[[56, 57, 58, 65, 66, 67], 1] = 0.075
  d[[55, 59], 1] = 0.055
  d[[61, 62, 63], 1] = -0.005
  d[_R_CORNER + _L_CORNER, 1] = 0.02
  d[_R_CORNER, 0], d[_L_CORNER, 0] = 0.01, -0.01
  return d


AU_DISPLACEMENTS: dict[int, np.ndarray] = {
    1: _au1(), 2: _au2(), 4: _au4(), 5: _au5(), 6: _au6(), 7: _au7(), 9: _au9(),
    10: _au10(), 12: _au12(), 14: _au14(), 15: _au15(), 17: _au17(), 20: _au20(),
    23: _au23(), 25: _au25(), 26: _au26(),
}
assert tuple(AU_DISPLACEMENTS) == SYNTHETIC_AUS


def level1_strength(au: int, cue_ratio: float = CUE_RATIO) -> float:
  """Strength of AU `au` at level 1: cue_ratio x CUE_SCALE[au], in [0.01, 0.8]."""
  return float(np.clip(cue_ratio * CUE_SCALE[au], 0.01, 0.8))


def strength(level: float, level1: float) -> float:
  """Share of an AU's full display (level 5) shown at `level` 0..5: 0 at
  level 0, `level1` at level 1 (`level1_strength`), then equal steps up to 1
  at level 5. A level-1 cue is then of the order of how much subjects differ
  in the AU's region (measure_cues.py), so levels 1-2 are ambiguous, as they
  are for FACS coders, and the cue grows with every level above.
  """
  if level <= 0:
    return 0.0
  if level < 1:
    return level * level1
  return level1 + (1 - level1) * (min(level, 5) - 1) / 4


def as_strengths(intensities, cue_ratio: float = CUE_RATIO) -> dict[int, float]:
  """{au: strength(level)} from [16] levels in SYNTHETIC_AUS order or a dict."""
  if isinstance(intensities, Mapping):
    levels = [float(intensities.get(a, 0)) for a in SYNTHETIC_AUS]
  else:
    levels = np.asarray(intensities, np.float64)
    if levels.shape != (len(SYNTHETIC_AUS),):
      raise ValueError(f"expected {len(SYNTHETIC_AUS)} intensities, got {levels.shape}")
  return {a: strength(v, level1_strength(a, cue_ratio)) for a, v in zip(SYNTHETIC_AUS, levels)}


def expression_landmarks(shape: np.ndarray, intensities, cue_ratio: float = CUE_RATIO,
                         gain: float = 1.0) -> np.ndarray:
  """Landmarks [68, 2] (unit frame) of a neutral shape [68, 2] showing the AUs;
  `gain` scales the motion (the subject's expressivity)."""
  s = as_strengths(intensities, cue_ratio)
  lm = np.array(shape, np.float64)
  for au, d in AU_DISPLACEMENTS.items():
    if s[au]:
      lm += gain * s[au] * d
  # Lids never cross: lower lid at least a sliver below the upper one.
  for up, lo in ((37, 41), (38, 40), (43, 47), (44, 46)):
    lm[lo, 1] = max(lm[lo, 1], lm[up, 1] + 0.004)
  # Lips: inner lower contour never above the inner upper one, and each lip
  # keeps a minimal thickness.
  for up, lo in ((61, 67), (62, 66), (63, 65)):
    lm[lo, 1] = max(lm[lo, 1], lm[up, 1])
  for out, inn in ((50, 61), (51, 62), (52, 63)):
    lm[out, 1] = min(lm[out, 1], lm[inn, 1] - 0.008)
  for out, inn in ((58, 67), (57, 66), (56, 65)):
    lm[out, 1] = max(lm[out, 1], lm[inn, 1] + 0.01)
  return lm


# ---------------------------------------------------------------------------
# Drawing helpers (canvas pixels, sub-pixel via fixed point)


def canvas_matrix(size: int) -> np.ndarray:
  """[2, 3] map from the unit face frame to head-canvas pixels of side `size`."""
  f = FACE_FRACTION * size
  return np.array([[f, 0, size / 2 - 0.5 * f], [0, f, size / 2 - 0.5 * f]])


def _fx(pts) -> np.ndarray:
  return np.round(np.asarray(pts, np.float64) * _ONE).astype(np.int32)


def _poly(img, pts, colour):
  cv2.fillPoly(img, [_fx(pts)], colour, cv2.LINE_AA, _SHIFT)


def _line(img, pts, colour, thickness=1):
  cv2.polylines(img, [_fx(pts)], False, colour, max(1, int(round(thickness))),
                cv2.LINE_AA, _SHIFT)


def _ellipse(img, centre, axes, angle, colour, thickness=-1):
  c = tuple(int(v) for v in _fx(centre))
  ax = tuple(int(v) for v in _fx(np.maximum(axes, 0.5)))
  cv2.ellipse(img, c, ax, float(angle), 0, 360, colour, thickness, cv2.LINE_AA, _SHIFT)


_CURVE_T = {n: np.linspace(0, 1, n)[:, None] for n in (4, 6, 8)}


def _curve(a, b, bulge, n=6):
  """Points [n, 2] of a quadratic arc from a to b bowed by `bulge` (px) to its left."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  d = b - a
  normal = np.array([d[1], -d[0]]) / (np.hypot(*d) + 1e-9)
  mid = (a + b) / 2 + bulge * normal
  t = _CURVE_T[n]
  return (1 - t) ** 2 * a + 2 * t * (1 - t) * mid + t ** 2 * b


def _roi(pts, pad, size):
  """(slices, offset [2]) of the bounding box of pts [N, 2] grown by pad px."""
  pts = np.asarray(pts, np.float64)
  x0, y0 = np.clip(np.floor(pts.min(0) - pad), 0, size).astype(int)
  x1, y1 = np.clip(np.ceil(pts.max(0) + pad), 0, size).astype(int)
  return (slice(y0, max(y0, y1)), slice(x0, max(x0, x1))), np.array([x0, y0], np.float64)


def _blend(img, sl, layer, mask):
  """img[sl] <- img[sl] (1 - mask) + layer mask, in place; mask uint8 (0..255).

  Blending only a region of interest keeps per-frame cost low.
  """
  a = mask.astype(np.float32)[..., None] * (1 / 255)
  sub = img[sl]
  sub *= 1 - a
  sub += np.asarray(layer, np.float32) * a


def _face_outline(p, f):
  """Face contour [29, 2] (px): the jaw closed over the forehead by an elliptic arc."""
  a = np.linspace(np.pi + 0.1, 2 * np.pi - 0.1, 12)
  fc = (p[0] + p[16]) / 2
  rx, ry = (p[16, 0] - p[0, 0]) / 2 / np.cos(0.1), 0.46 * f
  forehead = np.stack([fc[0] + rx * np.cos(a), fc[1] + 0.05 * f + ry * np.sin(a)], 1)
  return np.concatenate([p[list(tpl.JAW)], forehead[::-1]])


def face_mask(p, size):
  """uint8 [C, C]: 255 inside the face outline of canvas landmarks p [68, 2] (px)."""
  face = np.zeros((size, size), np.uint8)
  _poly(face, _face_outline(p, FACE_FRACTION * size), 255)
  return face


def _shading(shape, style, size):
  """Rounded-face shading [C, C] of a neutral shape: 1 inside, darker at the edge."""
  m = canvas_matrix(size)
  face = face_mask(shape * m[0, 0] + m[:, 2], size)
  soft = cv2.GaussianBlur(face, (0, 0), 0.08 * m[0, 0]).astype(np.float32) / 255
  return (1 - style.shading) + style.shading * soft


def _grey(v):
  return (min(255.0, max(0.0, float(v))),)


# ---------------------------------------------------------------------------
# The face


# Soft relief of the skin cues. Widths are Gaussian sds in the unit face frame
# (x f = canvas px), so a cue keeps its shape at every face size: fine
# wrinkles, furrows, deep folds, and the soft bulges.
_FINE, _FURROW, _FOLD, _BULGE = 0.006, 0.011, 0.02, 0.028
# Height (unit face frame) of a groove or bulge of depth 1: the relief's slope
# is about height / width, so fine wrinkles are steep and folds gentle.
_HEIGHT = 0.011
_BUMP = 0.016         # height (unit face frame) of a bulge of height 1


@functools.lru_cache(maxsize=64)
def _line_peak(sigma: float) -> float:
  """Centre value of a one-pixel line of value 1 after cv2.GaussianBlur(sigma)."""
  img = np.zeros((1, 2 * int(np.ceil(4 * sigma)) + 3), np.float32)
  img[0, img.shape[1] // 2] = 1
  return float(cv2.GaussianBlur(img, (0, 0), sigma).max())


class Relief:
  """The skin cues of a face as a height map on the head canvas.

  Grooves (furrows, wrinkles, folds) are drawn as one-pixel paths of their
  depth, bulges as filled ellipses of their height, each width in its own
  layer; `heights()` blurs every layer to its width (times f, the canvas px
  per face unit) and scales it so that a groove of depth 1 is a valley
  `_HEIGHT` face units deep whatever its width, a bulge of height 1 `_BUMP`
  face units high. `shadow` is a plain
  darkening (the shadow a lowered brow casts on the lids), not relief.
  """

  def __init__(self, f: float, size: int):
    self.f = f
    self.grooves = {w: np.zeros((size, size), np.float32) for w in (_FINE, _FURROW, _FOLD)}
    self.bulges = np.zeros((size, size), np.float32)
    self.shadow = np.zeros((size, size), np.float32)

  def groove(self, pts, depth: float, width: float = _FURROW) -> None:
    if depth > 0:
      cv2.polylines(self.grooves[width], [_fx(pts)], False, (float(depth),), 1, cv2.LINE_8,
                    _SHIFT)

  def bulge(self, centre, axes, height: float) -> None:
    if height > 0:
      _ellipse(self.bulges, centre, np.asarray(axes, np.float64), 0, (float(height),))

  def heights(self) -> tuple[np.ndarray, np.ndarray]:
    """(height [C, C] in canvas px, > 0 raised; groove depth [C, C] >= 0, 1 at
    the floor of a depth-1 groove)."""
    depth = np.zeros_like(self.bulges)
    for w, layer in self.grooves.items():
      if layer.any():
        sd = round(w * self.f, 3)
        depth += cv2.GaussianBlur(layer, (0, 0), sd) * np.float32(1 / _line_peak(sd))
    bump = cv2.GaussianBlur(self.bulges, (0, 0), _BULGE * self.f) if self.bulges.any() \
        else self.bulges
    return (bump * np.float32(_BUMP / _HEIGHT) - depth) * np.float32(_HEIGHT * self.f), depth


def _cue_layers(p, s, ident, f, size) -> Relief:
  """The relief of the skin cues of the AUs and of the identity confounders.

  p: [68, 2] landmarks in canvas px; s: {au: strength(level)}; f: px per unit.
  A cue's depth (or height) grows with its AU's strength; at strength 0 it is
  absent.
  """
  r = Relief(f, size)
  u = lambda *xy: np.array(xy, np.float64) * f
  sides = ((tpl.RIGHT_EYE, -1), (tpl.LEFT_EYE, 1))

  # Identity confounders: permanent folds where the AUs put theirs.
  s1, s2 = max(s[1], ident.forehead_lines), max(s[2], ident.forehead_lines)
  g4, c6 = max(s[4], ident.glabella_lines), max(s[6], ident.crows_feet)
  # Forehead: horizontal folds over the inner brows (AU1, the frontalis'
  # medial part) and over the outer brows (AU2, lateral part); with both they
  # run across the forehead. A fourth, higher fold appears as they deepen.
  inner_top = min(p[20, 1], p[23, 1])
  for k in range(4):
    fade = 1 - 0.22 * k
    if s1 > 0 and (k < 3 or s1 > 0.6):
      y = inner_top - (0.045 + 0.036 * k) * f
      r.groove(_curve((p[19, 0], y + 0.008 * f), (p[24, 0], y + 0.008 * f), 0.012 * f),
               1.6 * s1 * fade)
    if s2 > 0 and (k < 3 or s2 > 0.6):
      for o, i in ((17, 20), (26, 23)):
        y = min(p[o, 1], p[i, 1]) - (0.042 + 0.036 * k) * f
        r.groove(_curve((p[o, 0], y + 0.012 * f), (p[i, 0], y), 0.012 * f * np.sign(
            p[i, 0] - p[o, 0])), 1.6 * s2 * fade)
  # Glabella (AU4 or permanent lines): two vertical furrows between the
  # brows, a fold across the nasal root, the drawn-in brows' skin bunched
  # above their inner ends, and the lowered brows' shadow on the upper lids.
  yb = (p[21, 1] + p[22, 1]) / 2
  xc = (p[21, 0] + p[22, 0]) / 2
  if g4 > 0:
    for dx in (-0.026, 0.026):
      x = xc + dx * f
      r.groove([(x, yb - 0.045 * f), (x + 0.25 * dx * f, yb + 0.035 * f)], 1.3 * g4)
  if s[4] > 0:
    r.groove(_curve((xc - 0.03 * f, yb + 0.05 * f), (xc + 0.03 * f, yb + 0.05 * f),
                    -0.004 * f), 0.8 * s[4], _FINE)
    for i in (21, 22):
      r.bulge(p[i] + u(0, -0.02), u(0.03, 0.018), 1.2 * s[4])
    for eye, _ in sides:
      c = p[list(eye)].mean(0) - u(0, 0.03)
      _ellipse(r.shadow, c, u(0.06, 0.02), 0, (0.5 * s[4],))
  # Crow's feet (AU6 or permanent): fine wrinkles fanning from the outer eye
  # corners.
  if c6 > 0:
    for corner, sign in ((36, -1), (45, 1)):
      o = p[corner] + u(sign * 0.015, 0)
      for ang in (-0.45, 0.0, 0.45):
        e = o + 0.055 * f * np.array([sign * np.cos(ang), np.sin(ang)])
        r.groove([o, e], 1.8 * c6, _FINE)
  # Cheek raiser (AU6): the cheek bulges up under the eye, bounded above by
  # the infraorbital furrow, which age also marks (eye bags).
  # Anchored on the eye corners (the lids move with AUs 5 and 7); AU6 lifts it.
  for eye, sign in sides:
    c = p[[eye[0], eye[3]]].mean(0) + u(0, -0.015 * s[6])
    r.groove(_curve(c + u(-0.06, 0.055), c + u(0.06, 0.055), -0.015 * f),
             max(1.2 * s[6], 1.5 * ident.age))
    r.bulge(c + u(sign * 0.015, 0.11 - 0.03 * s[6]), u(0.07, 0.04), 1.6 * s[6])
  # Lid tightener (AU7): the lower lid bulges, with a fine fold under it.
  if s[7] > 0:
    for lo in ((41, 40), (47, 46)):
      a, b = p[lo[0]] + u(-0.012, 0.016), p[lo[1]] + u(0.012, 0.016)
      r.groove(_curve(a, b, -0.006 * f), 1.4 * s[7], _FINE)
      r.bulge((a + b) / 2 + u(0, -0.002), u(0.035, 0.01), 1.4 * s[7])
  # Nose wrinkler (AU9): folds across the bridge and diagonal "bunny lines".
  if s[9] > 0:
    for k, t in enumerate((0.25, 0.5, 0.75)):
      c = p[27] * (1 - t) + p[29] * t
      r.groove([c - u(0.035, 0), c + u(0.035, 0.004)], 1.4 * s[9] * (1 - 0.15 * k), _FINE)
    for sign in (-1, 1):
      c = p[28] + u(sign * 0.045, 0)
      r.groove([c, c + u(sign * 0.02, 0.03)], 1.4 * s[9], _FINE)
  # Nasolabial folds: AU12 > AU10 > AU9, plus the subject's age and
  # permanent folds; raised cheeks (AU12) bulge lateral to them.
  nl = min(1.5, 1.2 * s[12] + 0.9 * s[10] + 0.7 * s[9] + 0.3 * s[6] + ident.age
           + ident.nasolabial_folds)
  for ala, corner, sign in ((31, 48, -1), (35, 54, 1)):
    a = p[ala] + u(sign * 0.03, -0.01)
    b = p[corner] + u(sign * 0.025, 0.02)
    r.groove(_curve(a, b, -sign * 0.02 * f), nl, _FOLD)
    if s[12] > 0:
      r.bulge(p[corner] + u(sign * 0.07, -0.065), u(0.05, 0.04), 1.5 * s[12])
  # Dimples (AU14): short pits lateral to the lip corners.
  if s[14] > 0:
    for corner, sign in ((48, -1), (54, 1)):
      a = p[corner] + u(sign * 0.022, -0.012)
      r.groove([a, a + u(sign * 0.004, 0.026)], 1.5 * s[14])
  # Lip-corner depressor (AU15): marionette lines down from the corners.
  if s[15] > 0:
    for corner, sign in ((48, -1), (54, 1)):
      a = p[corner] + u(sign * 0.008, 0.01)
      r.groove([a, a + u(sign * 0.012, 0.06)], 1.3 * s[15])
  # Lip stretcher (AU20): horizontal stretch lines beside the corners.
  if s[20] > 0:
    for corner, sign in ((48, -1), (54, 1)):
      for dy in (-0.008, 0.01):
        a = p[corner] + u(sign * 0.012, dy)
        r.groove([a, a + u(sign * 0.045, 0.006)], 1.3 * s[20], _FINE)
  # Chin: the mentolabial sulcus (always faint; AU17 deepens it), the chin
  # boss pushed up and forward (AU17) with its dimpling.
  mc = p[57] + (p[8] - p[57]) * 0.4
  r.groove(_curve(mc - u(0.05, 0), mc + u(0.05, 0), 0.012 * f),
           0.3 + 1.0 * s[17] + 0.3 * ident.age)
  if s[17] > 0:
    for d in ident.chin_dots:
      c = p[8] + d * f
      r.groove([c, c + u(0.003, 0.002)], 0.7 * s[17], _FINE)
    r.bulge(p[8] + u(0, -0.04), u(0.055, 0.03), 1.8 * s[17])
  return r


def render_face(ident: Identity, intensities, style: Style, size: int, *,
                cue_ratio: float = CUE_RATIO, gain: float = 1.0, light=None):
  """Draws the face on the head canvas.

  Args:
    ident: the subject.
    intensities: [16] intensities 0..5 in SYNTHETIC_AUS order (or {au: level}).
    style: the dataset look.
    size: canvas side C (= raw frame side).
    cue_ratio: level-1 cue over the between-subject variation (`level1_strength`).
    gain: scale of the landmark motion (the subject's expressivity).
    light: None (flat) or (unit light direction [3] in the head's frame,
      intensity of the directional light; ambient = 1): Lambert shading of
      the 3-D head, and relief of the furrows and bulges.

  Returns:
    (rgb float32 [C, C, 3], alpha uint8 [C, C], landmarks [68, 2] canvas px,
    landmarks [68, 2] unit frame).
  """
  s = as_strengths(intensities, cue_ratio)
  lm_unit = expression_landmarks(ident.shape, intensities, cue_ratio, gain)
  m = canvas_matrix(size)
  f = m[0, 0]
  p = lm_unit * f + m[:, 2]
  u = lambda *xy: np.array(xy, np.float64) * f
  to_px = lambda q: np.asarray(q) * f + m[:, 2]
  skin, hair = ident.skin.tolist(), ident.hair.tolist()

  img = np.zeros((size, size, 3), np.float32)
  alpha = np.zeros((size, size), np.uint8)
  # Hair behind the head and the neck.
  jaw_w = (p[16, 0] - p[0, 0]) / f
  head_c = to_px((0.5, 0.36))
  _ellipse(img, head_c, u(0.5 * jaw_w + 0.05, 0.5), 0, hair)
  _ellipse(alpha, head_c, u(0.5 * jaw_w + 0.05, 0.5), 0, 255)
  side = [to_px((0.5 - 0.5 * jaw_w - 0.05, 0.36)), to_px((0.5 + 0.5 * jaw_w + 0.05, 0.36)),
          to_px((0.5 + 0.5 * jaw_w, 0.36 + ident.hair_length)),
          to_px((0.5 - 0.5 * jaw_w, 0.36 + ident.hair_length))]
  _poly(img, side, hair)
  _poly(alpha, side, 255)
  neck = [p[4] + u(0.04, 0), p[12] - u(0.04, 0), (p[12, 0] - 0.03 * f, size),
          (p[4, 0] + 0.03 * f, size)]
  _poly(img, neck, (ident.skin * 0.82).tolist())
  _poly(alpha, neck, 255)
  outline = _face_outline(p, f)
  _poly(img, outline, skin)
  _poly(alpha, outline, 255)
  face = face_mask(p, size)

  # Brows: a tapered band along the brow landmarks.
  for brow in (_R_BROW, _L_BROW):
    b = p[brow]
    w = ident.brow_width * f * np.array([0.5, 0.8, 1.0, 1.0, 0.95])
    band = np.concatenate([b - np.stack([np.zeros(5), w * 0.6], 1),
                           (b + np.stack([np.zeros(5), w * 0.4], 1))[::-1]])
    _poly(img, band, ident.brow.tolist())
  # Eyes: sclera, iris and pupil clipped to the lid opening, then lids.
  neutral_px = ident.shape * f + m[:, 2]
  for eye in (tpl.RIGHT_EYE, tpl.LEFT_EYE):
    eye = list(eye)
    sl, o = _roi(np.vstack([p[eye], neutral_px[eye]]), 0.035 * f, size)
    mask = np.zeros(img[sl].shape[:2], np.uint8)
    _poly(mask, p[eye] - o, 255)
    layer = np.empty(img[sl].shape, np.float32)
    layer[:] = (235, 232, 225)
    c = neutral_px[eye].mean(0) - o
    _ellipse(layer, c, u(0.028, 0.028), 0, ident.iris.tolist())
    _ellipse(layer, c, u(0.012, 0.012), 0, (12, 10, 10))
    _ellipse(layer, c + u(-0.008, -0.008), u(0.004, 0.004), 0, (250, 250, 250))
    _blend(img, sl, layer, mask)
    upper = p[[eye[0], eye[1], eye[2], eye[3]]]
    lower = p[[eye[3], eye[4], eye[5], eye[0]]]
    _line(img, upper, (25, 20, 20), 0.016 * f)
    _line(img, lower, (ident.skin * 0.55).tolist(), 0.006 * f)
    # Lid crease: follows the brow-lid fold, hidden as the lid rises (AU5).
    crease = upper + u(0, -0.022)
    _line(img, crease, (ident.skin * 0.75).tolist(), 0.006 * f)
  # Nose: alae and nostrils; a tip highlight goes on the light layer below.
  for ala, nos, sign in ((31, 32, -1), (35, 34, 1)):
    _line(img, _curve(p[ala] + u(0, -0.025), p[nos] + u(0, 0.004), sign * 0.015 * f),
          (ident.skin * 0.6).tolist(), 0.01 * f)
    _ellipse(img, (p[ala] + p[nos]) / 2 + u(0, 0.002), u(0.014, 0.007), sign * 20, (60, 35, 35))
  # Mouth: lips, dark cavity with teeth where the inner contours separate.
  lip = ident.lip * (1 - 0.25 * s[23])
  _poly(img, p[list(tpl.MOUTH_OUTER)], lip.tolist())
  inner = p[list(tpl.MOUTH_INNER)]
  gap = (p[[67, 66, 65], 1] - p[[61, 62, 63], 1]).max() / f
  if gap > 0.002:
    sl, o = _roi(inner, 2, size)
    mask = np.zeros(img[sl].shape[:2], np.uint8)
    _poly(mask, inner - o, 255)
    layer = np.empty(img[sl].shape, np.float32)
    layer[:] = (70, 25, 30)
    top = inner[[0, 1, 2, 3, 4]] - o
    _poly(layer, np.concatenate([top, (top + u(0, 0.022))[::-1]]), (238, 235, 222))
    if gap > 0.035:
      bot = inner[[4, 5, 6, 7, 0]] - o
      _poly(layer, np.concatenate([bot, (bot - u(0, 0.015))[::-1]]), (220, 216, 205))
    _blend(img, sl, layer, mask)
  _line(img, inner[[0, 1, 2, 3, 4]], (ident.lip * 0.45).tolist(), 0.008 * f)
  if s[23] > 0:   # lip tightener: pressed, outlined vermilion
    border = np.concatenate([p[list(tpl.MOUTH_OUTER)], p[[48]]])
    sl, o = _roi(border, 3, size)
    mask = np.zeros(img[sl].shape[:2], np.uint8)
    _line(mask, border - o, _grey(255 * s[23]), 0.012 * f)
    _blend(img, sl, ident.lip * 0.45, mask)

  # Skin cues, texture and rounded shading, all multiplicative on the head.
  # The cues are a height map (`_cue_layers`): its slopes catch or turn away
  # from the frame's light and from a soft light from above (a furrow is a
  # soft dark valley with a lit edge on the side facing the light; a bulge a
  # highlight above a shadow), and the valleys' floors are darker (less
  # ambient light reaches them).
  relief = _cue_layers(p, s, ident, f, size)
  height, depth = relief.heights()
  lx, ly, lz, power = (0.0, -0.34, 0.94, 0.5) if light is None else (*light[0], light[1])
  gx = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3) * np.float32(1 / 8)
  gy = cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3) * np.float32(1 / 8)
  # Lambert with the normal (-gx, -gy, 1): the change of n.l is -(gx lx + gy ly);
  # the light from above is (0, -0.6, 0.8).
  lit = (power * -(gx * np.float32(lx) + gy * np.float32(ly)) + 0.6 * gy) / (1 + power)
  shade = ident.texture * np.clip(1 + 1.2 * lit, 0.45, 1.6)
  shade *= 1 - 0.3 * np.minimum(depth, 1.5) - 0.45 * cv2.GaussianBlur(
      relief.shadow, (0, 0), 0.02 * f)
  hl = np.zeros_like(shade)
  _ellipse(hl, p[30] + u(0, 0.01), u(0.025, 0.02), 0, (0.25,))   # nose-tip highlight
  shade *= 1 + cv2.GaussianBlur(hl, (0, 0), 0.03 * f)
  facef = face.astype(np.float32) / 255
  img *= (shade * facef + (1 - facef))[..., None]

  # Hairline over the forehead, drawn after the skin shading; what falls
  # outside the head is cut away by alpha when the head is composited.
  xs = np.linspace(-0.05, 1.05, 12)
  h = np.full_like(xs, ident.hairline)
  if ident.hair_style == 1:
    h += 0.06 * np.exp(-((xs - 0.5) / 0.06) ** 2)
  elif ident.hair_style == 2:
    h += 0.08 * (xs - 0.5)
  elif ident.hair_style == 3:
    h -= 0.07 * np.exp(-((xs - 0.5) / 0.18) ** 2)
  h += 0.10 * (np.abs(xs - 0.5) > 0.33) * (np.abs(xs - 0.5) - 0.33) * 6
  fringe = to_px(np.concatenate([np.stack([xs, h], 1), [(1.05, -0.3), (-0.05, -0.3)]]))
  _poly(img, fringe, hair)

  if style.outline > 0:   # ink drawing style
    ink = (ident.skin * (1 - style.outline)).tolist()
    _line(img, p[list(tpl.JAW)], ink, 0.01 * f)
    _line(img, p[list(tpl.NOSE_BRIDGE)][1:] + u(0.012, 0), ink, 0.008 * f)
    _line(img, np.concatenate([p[list(tpl.MOUTH_OUTER)], p[[48]]]),
          (ident.lip * (1 - style.outline)).tolist(), 0.008 * f)
  if light is not None and ident.normals is not None:   # Lambert on the 3-D head
    ndl = ident.normals @ np.asarray(light[0], np.float32)
    img *= ((1 + light[1] * np.maximum(ndl, 0)) / (1 + light[1]))[..., None]
  return img, alpha, p, lm_unit


# ---------------------------------------------------------------------------
# The camera frame: pose, background, light, occluder, degradations, tracker

OCCLUDER_TYPES = ("hand", "hair", "glasses", "mask")
# Named face regions each occluder type is placed over.
OCCLUDER_REGIONS = {
    "hand": ("mouth", "chin", "cheek_left", "cheek_right", "eyes", "nose"),
    "hair": ("brows", "eyes"),
    "glasses": ("eyes",),
    "mask": ("nose", "mouth", "chin"),   # all three at once
}


@dataclasses.dataclass(frozen=True)
class Nuisance:
  """Per-frame nuisance of `render_frame`.

  Attributes:
    yaw, pitch, roll: head pose in degrees (`rotation`).
    scale: head scale relative to the canvas.
    shift: [2] head translation (fraction of the frame side).
    light: (azimuth deg, elevation deg, intensity) of the directional light
      (camera frame; ambient = 1).
    cast: RGB multiplier (colour temperature).
    exposure: global exposure multiplier.
    blur: Gaussian blur sd in pixels of the camera frame (after `face_size`).
    jpeg_quality: 1..100, 100 = not compressed.
    face_size: wanted inter-ocular distance (px) of a frontal face of the
      template's proportions in the camera frame; the rendered frame is shrunk
      to it when smaller (the recorded one is measured, `Frame.face_size`).
    noise_sd: sensor noise sd (0..255).
    occluder: "none" or one of OCCLUDER_TYPES.
    occluder_region: the named region it covers (OCCLUDER_REGIONS).
    occluder_seed: seed of its shape and colour (fixed over its span).
    landmark_noise: tracker noise sd as a fraction of the inter-ocular distance.
    distance: camera distance (unit face frame) of the perspective projection.
  """
  yaw: float = 0.0
  pitch: float = 0.0
  roll: float = 0.0
  scale: float = 1.0
  shift: tuple = (0.0, 0.0)
  light: tuple = (0.0, 20.0, 0.0)
  cast: tuple = (1.0, 1.0, 1.0)
  exposure: float = 1.0
  blur: float = 0.0
  jpeg_quality: int = 100
  face_size: float = 1e9
  noise_sd: float = 0.0
  occluder: str = "none"
  occluder_region: str = ""
  occluder_seed: int = 0
  landmark_noise: float = 0.0
  distance: float = 5.0


def _ar1(rng, n, frames):
  """Unit-variance stationary AR(1) series [n] with correlation time `frames`."""
  a = float(np.exp(-1.0 / max(frames, 1e-6)))
  e = rng.standard_normal(n)
  x = np.empty(n)
  x[0] = e[0]
  for i in range(1, n):
    x[i] = a * x[i - 1] + np.sqrt(1 - a * a) * e[i]
  return x


def _pose_series(rng, n, sd, limit, drift, frames):
  mean = rng.normal(0, sd * np.sqrt(1 - drift))
  return np.clip(mean + sd * np.sqrt(drift) * _ar1(rng, n, frames), -limit, limit)


def occluder_spans(rng: np.random.Generator, params, num_frames: int) -> list[tuple]:
  """Per frame (type, region, seed): occluders come in spans of mean length
  `params.occluder_frames`, type k covering a share `params.<k>_rate` of the
  frames (a Markov chain started at its stationary distribution)."""
  rates = np.array([getattr(params, f"{k}_rate") for k in OCCLUDER_TYPES], np.float64)
  span = max(float(params.occluder_frames), 1.0)
  free = 1 - rates.sum()
  start = rates / (span * free) if free > 0 else rates * 0
  stationary = np.concatenate([[free], rates])
  state = int(rng.choice(len(stationary), p=stationary / stationary.sum()))
  out, current = [], None

  def new(k):
    typ = OCCLUDER_TYPES[k - 1]
    regions = OCCLUDER_REGIONS[typ]
    region = "+".join(regions) if typ == "mask" else regions[int(rng.integers(len(regions)))]
    return (typ, region, int(rng.integers(2 ** 31)))

  current = new(state) if state else None
  for _ in range(num_frames):
    out.append(current or ("none", "", 0))
    u = rng.uniform()
    if state == 0:
      cum = np.cumsum(start)
      k = int(np.searchsorted(cum, u, side="right"))
      if k < len(rates):
        state, current = k + 1, new(k + 1)
    elif u < 1 / span:
      state, current = 0, None
  return out


def sample_sequence(rng: np.random.Generator, params, style: Style,
                    num_frames: int) -> list[Nuisance]:
  """Nuisance of the frames of one sequence (`params`: a SyntheticAuConfig,
  read by field name): pose = per-sequence mean + smooth drift, clipped to
  +-<x>_max; light, colour cast, face size and JPEG quality per sequence
  (light with a small per-frame flicker); blur, noise, scale and shift per
  frame; occluders in spans (`occluder_spans`)."""
  p = params
  n = num_frames
  yaw = _pose_series(rng, n, p.yaw_sd, p.yaw_max, p.pose_drift, p.pose_drift_frames)
  pitch = _pose_series(rng, n, p.pitch_sd, p.pitch_max, p.pose_drift, p.pose_drift_frames)
  roll = _pose_series(rng, n, p.roll_sd, p.roll_max, p.pose_drift, p.pose_drift_frames)
  az = float(np.clip(rng.normal(0, p.light_azimuth_sd), -80, 80))
  el = float(np.clip(rng.normal(*p.light_elevation), -60, 80))
  power = float(rng.uniform(*p.light_intensity))
  t = rng.uniform(-1, 1) * p.colour_cast
  cast = tuple(float(c) * v for c, v in zip(style.light_colour, (1 + t, 1.0, 1 - t)))
  face = float(rng.uniform(*p.face_size))
  jpeg = int(rng.integers(p.jpeg_quality[0], p.jpeg_quality[1] + 1))
  exposure = float(rng.uniform(*p.exposure))
  occ = occluder_spans(rng, p, n)
  flicker = 1 + 0.03 * rng.standard_normal(n)
  out = []
  for i in range(n):
    out.append(Nuisance(
        yaw=float(yaw[i]), pitch=float(pitch[i]), roll=float(roll[i]),
        scale=float(rng.uniform(*p.scale_range)),
        shift=tuple(float(v) for v in rng.uniform(-p.shift_max, p.shift_max, 2)),
        light=(az, el, power * float(flicker[i])), cast=cast, exposure=exposure,
        blur=float(rng.uniform(*p.blur_sd)), jpeg_quality=jpeg, face_size=face,
        noise_sd=float(rng.uniform(*style.noise_sd)), occluder=occ[i][0],
        occluder_region=occ[i][1], occluder_seed=occ[i][2],
        landmark_noise=float(p.landmark_noise * rng.uniform(0.5, 1.5)),
        distance=float(p.camera_distance)))
  return out


def pose_matrix(nuis: Nuisance, size: int) -> np.ndarray:
  """[2, 3] map from posed-canvas to raw-frame pixels: roll, scale, shift."""
  m = cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), nuis.roll, nuis.scale)
  m[:, 2] += np.asarray(nuis.shift) * size
  return m


def light_vector(azimuth: float, elevation: float) -> np.ndarray:
  """Unit vector toward the light, camera frame (azimuth > 0: from the image's
  right, elevation > 0: from above)."""
  a, e = np.deg2rad([azimuth, elevation])
  return np.array([np.sin(a) * np.cos(e), -np.sin(e), np.cos(a) * np.cos(e)])


# --- AU regions -------------------------------------------------------------


def _au_ellipses(lm: np.ndarray) -> dict[int, list]:
  """{au: [(centre [2], axes [2])]} of each AU's face region, unit frame."""
  c = lambda *idx: lm[list(idx)].mean(0)
  v = lambda x, y: np.array([x, y])
  mouth_w = (lm[54, 0] - lm[48, 0]) / 2
  return {
      1: [(c(19, 20, 23, 24) + v(0, -0.06), v(0.14, 0.07))],
      2: [(c(17, 18, 19) + v(0, -0.05), v(0.08, 0.06)), (c(24, 25, 26) + v(0, -0.05),
                                                         v(0.08, 0.06))],
      4: [(c(21, 22) + v(0, -0.005), v(0.09, 0.05))],
      5: [(c(37, 38), v(0.06, 0.025)), (c(43, 44), v(0.06, 0.025))],
      6: [(c(40, 41) + v(-0.03, 0.045), v(0.09, 0.05)), (c(46, 47) + v(0.03, 0.045),
                                                         v(0.09, 0.05))],
      7: [(c(40, 41) + v(0, 0.008), v(0.06, 0.022)), (c(46, 47) + v(0, 0.008),
                                                      v(0.06, 0.022))],
      9: [(c(27, 28, 29), v(0.055, 0.07))],
      10: [(c(31, 35, 50, 52), v(0.11, 0.04))],
      12: [(lm[48] + v(-0.03, -0.035), v(0.05, 0.05)), (lm[54] + v(0.03, -0.035),
                                                        v(0.05, 0.05))],
      14: [(lm[48] + v(-0.01, 0), v(0.03, 0.03)), (lm[54] + v(0.01, 0), v(0.03, 0.03))],
      15: [(lm[48] + v(-0.01, 0.045), v(0.035, 0.045)), (lm[54] + v(0.01, 0.045),
                                                         v(0.035, 0.045))],
      17: [(c(57, 8), v(0.08, 0.065))],
      20: [(lm[48] + v(-0.045, 0.01), v(0.05, 0.035)), (lm[54] + v(0.045, 0.01),
                                                        v(0.05, 0.035))],
      23: [(c(*range(48, 60)), v(mouth_w, 0.045))],
      25: [(c(*range(60, 68)), v(mouth_w * 0.85, 0.04))],
      26: [(c(62, 57, 8), v(0.13, 0.11))],
  }


def au_region_bits(lm_unit: np.ndarray, size: int) -> np.ndarray:
  """uint16 [C, C] canvas image: bit k set where AU SYNTHETIC_AUS[k]'s region is."""
  m = canvas_matrix(size)
  f = m[0, 0]
  bits = np.zeros((size, size), np.uint16)
  tmp = np.zeros((size, size), np.uint8)
  for k, (au, ells) in enumerate(_au_ellipses(lm_unit).items()):
    tmp[:] = 0
    for centre, axes in ells:
      cv2.ellipse(tmp, tuple(int(v) for v in _fx(centre * f + m[:, 2])),
                  tuple(int(v) for v in _fx(axes * f)), 0, 0, 360, 1, -1, cv2.LINE_8, _SHIFT)
    bits |= tmp.astype(np.uint16) << np.uint16(k)
  return bits


def covered_fraction(region_bits: np.ndarray, occluder: np.ndarray) -> np.ndarray:
  """[16]: per AU, the share of its region's pixels (bit k of region_bits) that
  the occluder mask (bool, same shape) covers; 0 where the region is empty."""
  out = np.zeros(len(SYNTHETIC_AUS))
  for k in range(len(SYNTHETIC_AUS)):
    r = ((region_bits >> np.uint16(k)) & 1).astype(bool)
    n = r.sum()
    out[k] = (r & occluder).sum() / n if n else 0.0
  return out


# --- occluders ----------------------------------------------------------------


def _region_centre(lm, region):
  idx = {"brows": range(17, 27), "eyes": range(36, 48), "nose": range(27, 36),
         "mouth": range(48, 68), "chin": (7, 8, 9, 57, 57),
         "cheek_right": (2, 3, 31, 48, 41), "cheek_left": (13, 14, 35, 54, 46)}
  return np.mean([lm[list(idx[r])].mean(0) for r in region.split("+")], 0)


def _occluder(img, lm, nuis, style, hair_colour):
  """Draws the occluder of `nuis` on img (raw px, landmarks lm); returns its mask (bool)."""
  size = img.shape[0]
  rng = np.random.default_rng(nuis.occluder_seed)
  iod = float(np.hypot(*(lm[36:42].mean(0) - lm[42:48].mean(0))))
  iod = max(iod, 4.0)
  eye_axis = lm[42:48].mean(0) - lm[36:42].mean(0)
  ang = float(np.degrees(np.arctan2(eye_axis[1], eye_axis[0])))
  mask = np.zeros((size, size), np.uint8)
  layer = img.copy()
  typ, region = nuis.occluder, nuis.occluder_region
  c = _region_centre(lm, region)
  if typ == "hand":
    skin = np.asarray(style.skin[rng.integers(len(style.skin))], np.float64)
    skin = skin * rng.uniform(0.85, 1.1)
    side = rng.choice([-1.0, 1.0])
    palm = c + np.array([side * 0.45 * iod, 0.55 * iod]) + rng.normal(0, 0.1 * iod, 2)
    tilt = ang + side * rng.uniform(20, 60)
    _ellipse(mask, palm, (0.5 * iod, 0.65 * iod), tilt, 255)
    _ellipse(layer, palm, (0.5 * iod, 0.65 * iod), tilt, (skin * 0.9).tolist())
    for k in range(4):   # fingers across the region
      t = np.deg2rad(tilt - 90 * side + (k - 1.5) * 12)
      base = palm + 0.3 * iod * np.array([np.cos(t), np.sin(t)]) + (k - 1.5) * 0.16 * iod * \
          np.array([-np.sin(t), np.cos(t)])
      tip = base + (0.75 - 0.08 * abs(k - 1.5)) * iod * np.array([np.cos(t), np.sin(t)])
      mid = (base + tip) / 2
      axes = (0.42 * np.hypot(*(tip - base)) + 0.05 * iod, 0.085 * iod)
      _ellipse(mask, mid, axes, np.degrees(t), 255)
      _ellipse(layer, mid, axes, np.degrees(t), skin.tolist())
      _ellipse(layer, mid, axes, np.degrees(t), (skin * 0.7).tolist(), max(1, int(0.02 * iod)))
  elif typ == "hair":
    side = rng.choice([-1.0, 1.0])
    top = c + np.array([side * rng.uniform(0.1, 0.6) * iod, -1.2 * iod])
    reach = 0.35 if region == "brows" else 0.75
    bottom = c + np.array([side * rng.uniform(-0.2, 0.3) * iod, reach * iod])
    w = rng.uniform(0.3, 0.6) * iod
    pts = np.array([top + (-w, 0), top + (w, 0), bottom + (w * 0.4, 0), bottom - (w * 0.4, 0)])
    left = _curve(pts[0], pts[3], side * 0.2 * iod, 8)
    right = _curve(pts[1], pts[2], side * 0.2 * iod, 8)
    poly = np.concatenate([left, right[::-1]])
    _poly(mask, poly, 255)
    _poly(layer, poly, (np.asarray(hair_colour) * rng.uniform(0.8, 1.2)).tolist())
    for k in range(6):   # strands
      a = pts[0] + (pts[1] - pts[0]) * (k + 0.5) / 6
      b = pts[3] + (pts[2] - pts[3]) * (k + 0.5) / 6
      _line(layer, _curve(a, b, side * 0.2 * iod), (np.asarray(hair_colour) * 0.6).tolist(), 1)
  elif typ == "glasses":
    dark = rng.uniform() < 0.35
    frame = [(20, 20, 22), (90, 60, 40), (150, 150, 160)][rng.integers(3)]
    th = max(1, int(round(0.04 * iod)))
    rims = np.zeros_like(mask)
    for eye in (tpl.RIGHT_EYE, tpl.LEFT_EYE):
      e = lm[list(eye)].mean(0) + np.array([0, 0.03 * iod])
      axes = (0.36 * iod, 0.24 * iod)
      if dark:
        _ellipse(mask, e, axes, ang, 255)
        _ellipse(layer, e, axes, ang, (25, 25, 30))
      _ellipse(rims, e, axes, ang, 255, th)
      _ellipse(layer, e, axes, ang, frame, th)
    a, b = lm[39] + (0.0, -0.05 * iod), lm[42] + (0.0, -0.05 * iod)
    _line(rims, [a, b], 255, th)
    _line(layer, [a, b], frame, th)
    for eye, jaw in ((36, 0), (45, 16)):   # temples toward the ears
      _line(rims, [lm[eye], lm[jaw] + (lm[jaw] - lm[eye]) * 0.1], 255, th)
      _line(layer, [lm[eye], lm[jaw] + (lm[jaw] - lm[eye]) * 0.1], frame, th)
    mask = np.maximum(mask, rims)
  elif typ == "mask":
    colour = [(150, 190, 215), (235, 238, 240), (60, 60, 70), (130, 170, 150)][rng.integers(4)]
    top = [lm[1], (lm[29] + lm[28]) / 2, lm[15]]
    upper = np.concatenate([_curve(top[0], top[1], -0.15 * iod, 6),
                            _curve(top[1], top[2], -0.15 * iod, 6)[1:]])
    jaw = lm[list(range(14, 1, -1))]
    centre = lm[list(range(2, 15))].mean(0)
    lower = centre + (jaw - centre) * 1.04 + np.array([0, 0.04 * iod])
    poly = np.concatenate([upper, lower])
    _poly(mask, poly, 255)
    _poly(layer, poly, colour)
    for k in (0.3, 0.5, 0.7):   # pleats
      a = lm[2] + (lm[5] - lm[2]) * k
      b = lm[14] + (lm[11] - lm[14]) * k
      _line(layer, _curve(a, b, 0.1 * iod), (np.asarray(colour) * 0.8).tolist(), 1)
  m = cv2.GaussianBlur(mask, (3, 3), 0)
  _blend(img, (slice(None), slice(None)), layer, m)
  return mask > 127


class Frame(NamedTuple):
  """One rendered camera frame (`render_frame`).

  image: uint8 [H, H, 3], H = the camera frame side (<= the raw side).
  landmarks: true landmarks [68, 2], camera-frame px.
  observed: tracker landmarks [68, 2] (true + noise, more under an occluder).
  au_covered: [16] per AU (SYNTHETIC_AUS order), the share of its region
    covered by the occluder (0 without one).
  face_size: inter-ocular distance (px, between the eye centres of the true
    landmarks) in the camera frame: the face's resolution as the aligner gets
    it (smaller under yaw).
  """
  image: np.ndarray
  landmarks: np.ndarray
  observed: np.ndarray
  au_covered: np.ndarray
  face_size: float


def render_frame(ident: Identity, intensities, nuis: Nuisance, style: Style, size: int,
                 rng: np.random.Generator, *, cue_ratio: float = CUE_RATIO,
                 gain: float = 1.0) -> Frame:
  """One camera frame.

  The head is drawn on its canvas (`render_face`, lit by the frame's light in
  the head's frame), seen by a perspective camera at the frame's yaw and
  pitch (`pose_maps`, far-side self-occlusion included), rolled, scaled and
  shifted over the subject's background; then the occluder, exposure and
  colour cast; the frame is shrunk to the wanted face size, blurred, given
  sensor noise and JPEG-compressed, in that order (a camera's order).

  Args:
    ident, intensities, style, size: as `render_face` (size = raw frame side).
    nuis: the frame's nuisance.
    rng: source of the sensor and tracker noise of this frame.
    cue_ratio, gain: as `render_face`.
  """
  r = rotation(nuis.yaw, nuis.pitch, nuis.roll)
  l_head = r.T @ light_vector(*nuis.light[:2])
  canvas, alpha, p, lm_unit = render_face(ident, intensities, style, size, cue_ratio=cue_ratio,
                                          gain=gain, light=(l_head, nuis.light[2]))
  affine = pose_matrix(nuis, size)
  mx, my = pose_maps(ident.depth, nuis.yaw, nuis.pitch, nuis.distance, affine, size)
  head = cv2.remap(canvas, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
  a = cv2.remap(alpha, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
  img = ident.background.astype(np.float32)
  _blend(img, (slice(None), slice(None)), head, a)
  m = canvas_matrix(size)
  posed = project(landmarks_3d(ident, lm_unit, size), nuis.yaw, nuis.pitch, 0.0, nuis.distance)
  lm = (posed * m[0, 0] + m[:, 2]) @ affine[:, :2].T + affine[:, 2]
  covered = np.zeros(len(SYNTHETIC_AUS))
  occ_mask = None
  if nuis.occluder != "none":
    occ_mask = _occluder(img, lm, nuis, style, ident.hair)
    bits = cv2.remap(au_region_bits(lm_unit, size), mx, my, cv2.INTER_NEAREST,
                     borderMode=cv2.BORDER_CONSTANT)
    covered = covered_fraction(bits, occ_mask)
  img *= np.float32(nuis.exposure) * np.asarray(nuis.cast, np.float32)
  # Camera resolution: the frontal inter-ocular distance at this scale is
  # 0.4 FACE_FRACTION size scale px; shrink the frame to the wanted one.
  native = 0.4 * FACE_FRACTION * size * nuis.scale
  k = min(1.0, nuis.face_size / native)
  out = size
  if k < 1:
    out = max(16, int(round(size * k)))
    img = cv2.resize(img, (out, out), interpolation=cv2.INTER_AREA)
    k = out / size
    lm = (lm + 0.5) * k - 0.5
  if nuis.blur > 0.3:
    img = cv2.GaussianBlur(img, (0, 0), nuis.blur)
  noise = rng.standard_normal(img.shape, dtype=np.float32)
  noise *= np.float32(nuis.noise_sd)
  img += noise
  img = cv2.convertScaleAbs(np.maximum(img, 0))   # rounds and saturates to uint8
  if nuis.jpeg_quality < 100:
    _, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY,
                                                    int(nuis.jpeg_quality)])
    img = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
  # Tracker: Gaussian jitter scaled by the inter-ocular distance; worse on
  # occluded points, as real trackers are.
  iod = np.hypot(*(lm[36:42].mean(0) - lm[42:48].mean(0)))
  sd = np.full((68, 1), nuis.landmark_noise * iod)
  if occ_mask is not None:
    full = (lm + 0.5) / k - 0.5
    inside = occ_mask[np.clip(full[:, 1].astype(int), 0, size - 1),
                      np.clip(full[:, 0].astype(int), 0, size - 1)]
    sd[inside] *= 3
  observed = lm + rng.standard_normal((68, 2)) * sd
  return Frame(img, lm, observed, covered, float(iod))
