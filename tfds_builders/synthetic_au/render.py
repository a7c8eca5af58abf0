"""Procedural face renderer of synthetic_au: iBUG-68 landmarks -> an RGB frame.

A face lives in the *unit face frame* of `au_jax.face.template` (CANONICAL_68,
x right, y down, inter-ocular distance 0.4). Rendering a frame:

1. `expression_landmarks`: the subject's neutral shape plus, per AU, a fixed
   landmark displacement (its FACS location and direction, `AU_DISPLACEMENTS`)
   scaled by `strength(level)` (0 at level 0, 0.44 at 1 .. 1 at 5), then
   anatomical clamps (lids and lips never cross).
2. `render_face`: the face is drawn with OpenCV (anti-aliased filled polygons,
   ellipses, lines) on a square canvas that is fixed to the head
   (unit frame -> canvas by `canvas_matrix`): hair, skin with a fixed
   per-subject texture and rounded shading, brows, eyes, nose, lips, teeth,
   hairline. Appearance cues of the AUs (forehead wrinkles, glabella furrows,
   crow's feet, cheek bulge, nose wrinkles, nasolabial folds, dimples, chin
   dimpling, lip borders) are painted on darkening / highlight layers with
   the same strength. `measure_cues.py` checks that level 1 stands clear of
   the between-subject variation of each AU's region.
3. `render_frame`: the canvas is warped into the raw frame by the head pose
   (in-plane rotation, scale, translation) over the subject's fixed
   background; then illumination gradient and colour cast, an optional
   occluder over the upper or lower face, and sensor noise. Observed
   landmarks = true landmarks + tracker noise (larger under an occluder).

Several AUs act on one region on purpose (6/7 narrow the eyes; 9/10/12 deepen
the nasolabial fold; 12/14/20 move the lip corners; 17/23 thin the lips), so
one AU's evidence can be mistaken for another's.

Everything is a pure function of its arguments; randomness comes in through
explicit `np.random.Generator`s seeded by the builder.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping

import cv2
import numpy as np

from au_jax.aus import SYNTHETIC_AUS
from au_jax.face import template as tpl

# Share of the canvas width taken by one unit of the face frame.
FACE_FRACTION = 0.6
# Strength of an AU at level 1 beyond the linear level / 5 (see `strength`).
ONSET = 0.3
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
    light_gradient: (min, max) strength of the linear illumination gradient.
    shading: depth of the rounded face shading (0 = flat).
    outline: darkness of an ink outline of the face and features (0 = none).
    noise_sd: (min, max) sd of the additive Gaussian sensor noise (0..255).
  """
  skin: tuple
  hair: tuple
  background: tuple
  light_colour: tuple = (1.0, 1.0, 1.0)
  light_gradient: tuple = (0.0, 0.45)
  shading: float = 0.3
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
        light_colour=(1.03, 1.0, 0.96), light_gradient=(0.0, 0.45), shading=0.32,
        outline=0.0, noise_sd=(1.0, 6.0)),
    # Cool fluorescent light from above, flatter shading with ink outlines,
    # saturated backgrounds: a visibly different "dataset".
    "fera_like": Style(
        skin=((230, 196, 176), (205, 160, 130), (178, 128, 96), (130, 90, 66),
              (92, 62, 46)),
        hair=((30, 24, 22), (70, 45, 30), (10, 10, 12), (160, 90, 50)),
        background=((40, 70, 120), (60, 110, 80), (120, 50, 60), (200, 200, 210),
                    (30, 30, 40)),
        light_colour=(0.94, 1.0, 1.08), light_gradient=(0.1, 0.35), shading=0.15,
        outline=0.45, noise_sd=(2.0, 9.0)),
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


def make_identity(rng: np.random.Generator, style: Style, size: int) -> Identity:
  """A random subject of `style` for a canvas / raw frame of side `size`."""
  skin = np.asarray(style.skin[rng.integers(len(style.skin))], np.float64)
  skin = np.clip(skin * rng.uniform(0.95, 1.05, 3), 0, 255)
  hair = np.asarray(style.hair[rng.integers(len(style.hair))], np.float64)
  brow = np.minimum(hair, skin) * rng.uniform(0.45, 0.75)
  lip = np.clip(skin * np.array([0.85, 0.58, 0.58]) * rng.uniform(0.85, 1.05), 0, 255)
  iris = np.asarray([(60, 40, 25), (70, 100, 130), (80, 90, 50), (40, 30, 25)]
                    [rng.integers(4)], np.float64)
  chin_dots = np.stack([rng.uniform(-0.07, 0.07, 14), rng.uniform(-0.07, -0.015, 14)], 1)
  shape = neutral_shape(rng)
  return Identity(
      shape=shape, skin=skin, hair=hair, brow=brow, lip=lip, iris=iris,
      brow_width=float(rng.uniform(0.018, 0.03)), hairline=float(rng.uniform(0.04, 0.14)),
      hair_style=int(rng.integers(4)), hair_length=float(rng.uniform(0.25, 0.75)),
      age=float(rng.uniform(0.0, 0.35)), texture=_texture(rng, size) * _shading(shape, style, size),
      chin_dots=chin_dots, background=_background(rng, style, size))


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
  d[_R_BROW, 1] = d[_L_BROW, 1] = -0.075 * _INNER_W
  return d


def _au2():
  d = _d()
  d[_R_BROW, 1] = d[_L_BROW, 1] = -0.07 * _OUTER_W
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


def strength(level: float) -> float:
  """Share of an AU's full display (level 5) shown at `level` 0..5.

  ONSET + (1 - ONSET) level / 5 for level > 0: an active AU is visible from
  level 1 on, above the between-subject variation of its region
  (measure_cues.py), and grows by equal steps up to 1 at level 5.
  """
  return ONSET + (1 - ONSET) * level / 5 if level > 0 else 0.0


def as_strengths(intensities) -> dict[int, float]:
  """{au: strength(level)} from [16] levels in SYNTHETIC_AUS order or a dict."""
  if isinstance(intensities, Mapping):
    return {a: strength(float(intensities.get(a, 0))) for a in SYNTHETIC_AUS}
  y = np.asarray(intensities, np.float64)
  if y.shape != (len(SYNTHETIC_AUS),):
    raise ValueError(f"expected {len(SYNTHETIC_AUS)} intensities, got {y.shape}")
  return {a: strength(v) for a, v in zip(SYNTHETIC_AUS, y)}


def expression_landmarks(shape: np.ndarray, intensities) -> np.ndarray:
  """Landmarks [68, 2] (unit frame) of a neutral shape [68, 2] showing the AUs."""
  s = as_strengths(intensities)
  lm = np.array(shape, np.float64)
  for au, d in AU_DISPLACEMENTS.items():
    if s[au]:
      lm += s[au] * d
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


def _cue_layers(p, s, ident, f, size):
  """Darkening and highlight layers [C, C] uint8 of the skin cues of the AUs.

  p: [68, 2] landmarks in canvas px; s: {au: strength(level)}; f: px per unit.
  """
  dark = np.zeros((size, size), np.uint8)
  light = np.zeros((size, size), np.uint8)
  th = max(1.0, 0.012 * f)
  u = lambda *xy: np.array(xy, np.float64) * f

  def wl(strength):   # wrinkle darkness grows with strength, 0 -> invisible
    return _grey(255 * min(1.0, strength))

  # Forehead wrinkles: centre (AU1) and lateral (AU2).
  inner_top = min(p[20, 1], p[23, 1])
  for k in range(3):
    if s[1] > 0:
      y = inner_top - (0.05 + 0.04 * k) * f
      _line(dark, _curve((p[20, 0], y), (p[23, 0], y), 0.008 * f), wl(s[1] * (1 - 0.2 * k)), th)
    if s[2] > 0:
      for o, i in ((17, 19), (25, 26)):
        y = min(p[o, 1], p[i, 1]) - (0.045 + 0.04 * k) * f
        a, b = (p[o, 0], y), (p[i, 0], y)
        _line(dark, _curve(a, b, 0.006 * f), wl(s[2] * (1 - 0.2 * k)), th)
  # Glabella furrows (AU4; AU9 adds a horizontal procerus line).
  if s[4] > 0:
    yb = (p[21, 1] + p[22, 1]) / 2
    for dx in (-0.022, 0.022):
      x = (p[21, 0] + p[22, 0]) / 2 + dx * f
      _line(dark, [(x, yb - 0.035 * f), (x + 0.2 * dx * f, yb + 0.035 * f)], wl(s[4]), th * 1.3)
    # Lowered brows shadow the upper lids.
    for eye in (tpl.RIGHT_EYE, tpl.LEFT_EYE):
      c = p[list(eye)].mean(0) - u(0, 0.03)
      _ellipse(dark, c, u(0.06, 0.02), 0, wl(0.45 * s[4]))
  # Cheek raiser (AU6): crow's feet, infraorbital furrow, cheek bulge.
  if s[6] > 0:
    for corner, sign in ((36, -1), (45, 1)):
      o = p[corner] + u(sign * 0.015, 0)
      for ang in (-0.45, 0.0, 0.45):
        e = o + 0.055 * f * np.array([sign * np.cos(ang), np.sin(ang)])
        _line(dark, [o, e], wl(2 * s[6]), th * 1.3)
    for eye in (tpl.RIGHT_EYE, tpl.LEFT_EYE):
      c = p[list(eye)].mean(0)
      a, b = c + u(-0.06, 0.045), c + u(0.06, 0.045)
      _line(dark, _curve(a, b, -0.015 * f), wl(1.2 * s[6]), th * 1.3)
      _ellipse(light, c + u(0, 0.1 - 0.03 * s[6]), u(0.07, 0.035), 0, _grey(200 * s[6]))
  # Lid tightener (AU7): the lower lid bulges: a fold line right under it
  # and the bulge catching the light.
  if s[7] > 0:
    for lo in ((41, 40), (47, 46)):
      a, b = p[lo[0]] + u(-0.012, 0.014), p[lo[1]] + u(0.012, 0.014)
      _line(dark, _curve(a, b, -0.006 * f), wl(1.6 * s[7]), th * 1.5)
      _ellipse(light, (a + b) / 2 + u(0, 0.012), u(0.035, 0.012), 0, _grey(255 * s[7]))
  # Nose wrinkles (AU9): across the bridge and diagonal "bunny lines".
  if s[9] > 0:
    for k, t in enumerate((0.25, 0.5, 0.75)):
      c = p[27] * (1 - t) + p[29] * t
      _line(dark, [c - u(0.035, 0), c + u(0.035, 0.004)], wl(s[9] * (1 - 0.15 * k)), th)
    for sign in (-1, 1):
      c = p[28] + u(sign * 0.045, 0)
      _line(dark, [c, c + u(sign * 0.02, 0.03)], wl(s[9]), th)
  # Nasolabial folds: AU12 > AU10 > AU9, plus the subject's age.
  nl = min(1.0, 1.0 * s[12] + 0.8 * s[10] + 0.6 * s[9] + 0.3 * s[6] + ident.age)
  for ala, corner, sign in ((31, 48, -1), (35, 54, 1)):
    a = p[ala] + u(sign * 0.03, -0.01)
    b = p[corner] + u(sign * 0.025, 0.02)
    _line(dark, _curve(a, b, -sign * 0.02 * f), wl(0.9 * nl), th * 1.2)
  if s[12] > 0:   # raised cheeks above the lip corners
    for corner, sign in ((48, -1), (54, 1)):
      _ellipse(light, p[corner] + u(sign * 0.065, -0.07), u(0.045, 0.035), 0, _grey(90 * s[12]))
  # Dimples (AU14) lateral to the lip corners.
  if s[14] > 0:
    for corner, sign in ((48, -1), (54, 1)):
      _ellipse(dark, p[corner] + u(sign * 0.024, 0), u(0.006 + 0.006 * s[14], 0.02),
               sign * 15, wl(s[14]))
  # Lip-corner depressor (AU15): marionette lines.
  if s[15] > 0:
    for corner, sign in ((48, -1), (54, 1)):
      a = p[corner] + u(sign * 0.008, 0.01)
      _line(dark, [a, a + u(sign * 0.012, 0.06)], wl(s[15]), th * 1.2)
  # Lip stretcher (AU20): horizontal stretch lines beside the corners.
  if s[20] > 0:
    for corner, sign in ((48, -1), (54, 1)):
      for dy in (-0.008, 0.01):
        a = p[corner] + u(sign * 0.012, dy)
        _line(dark, [a, a + u(sign * 0.045, 0.006)], wl(s[20]), th)
  # Chin: mentolabial sulcus (always faint; AU17 deepens it), chin dimpling.
  mc = p[57] + (p[8] - p[57]) * 0.4
  _line(dark, _curve(mc - u(0.05, 0), mc + u(0.05, 0), 0.012 * f),
        wl(0.25 + 0.75 * s[17] + 0.3 * ident.age), th)
  if s[17] > 0:
    for d in ident.chin_dots:
      _ellipse(dark, p[8] + d * f, (0.7, 0.7), 0, wl(0.9 * s[17]))
    _ellipse(light, p[8] + u(0, -0.035), u(0.05, 0.025), 0, _grey(160 * s[17]))
  return dark, light


def render_face(ident: Identity, intensities, style: Style, size: int):
  """Draws the face on the head canvas.

  Args:
    ident: the subject.
    intensities: [16] intensities 0..5 in SYNTHETIC_AUS order (or {au: level}).
    style: the dataset look.
    size: canvas side C (= raw frame side).

  Returns:
    (rgb float32 [C, C, 3], alpha uint8 [C, C], landmarks [68, 2] canvas px,
    landmarks [68, 2] unit frame).
  """
  s = as_strengths(intensities)
  lm_unit = expression_landmarks(ident.shape, intensities)
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
  dark, light = _cue_layers(p, s, ident, f, size)
  dark = cv2.GaussianBlur(dark, (3, 3), 0).astype(np.float32) / 255
  light = cv2.GaussianBlur(light, (0, 0), 0.03 * f).astype(np.float32) / 255
  _ellipse(light, p[30] + u(0, 0.01), u(0.025, 0.02), 0, (0.25,))   # nose-tip highlight
  gain = ident.texture * (1 - 0.7 * dark) * (1 + 0.3 * light)
  facef = face.astype(np.float32) / 255
  img *= (gain * facef + (1 - facef))[..., None]

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
  return img, alpha, p, lm_unit


# ---------------------------------------------------------------------------
# The raw frame: pose, background, light, occluder, noise, tracker


@dataclasses.dataclass(frozen=True)
class Nuisance:
  """Per-frame nuisance of `render_frame`.

  Attributes:
    angle: in-plane head rotation (degrees).
    scale: head scale relative to the canvas.
    shift: [2] head translation (fraction of the frame side).
    light_dir: illumination gradient direction (radians).
    light_gain: illumination gradient strength.
    brightness: global exposure multiplier.
    noise_sd: sensor noise sd (0..255).
    occluder: "none", "upper" or "lower".
    occluder_seed: seed of the occluder's shape and colour.
    landmark_noise: tracker noise sd as a fraction of the inter-ocular distance.
  """
  angle: float = 0.0
  scale: float = 1.0
  shift: tuple = (0.0, 0.0)
  light_dir: float = 0.0
  light_gain: float = 0.0
  brightness: float = 1.0
  noise_sd: float = 0.0
  occluder: str = "none"
  occluder_seed: int = 0
  landmark_noise: float = 0.0


def sample_nuisance(rng: np.random.Generator, style: Style, *, occluder_rate: float,
                    landmark_noise: float) -> Nuisance:
  """Random nuisance of one frame: rotation +-15 deg, scale, shift, light, noise, occluder."""
  occ = "none"
  if rng.uniform() < occluder_rate:
    occ = "upper" if rng.uniform() < 0.5 else "lower"
  return Nuisance(
      angle=float(rng.uniform(-15, 15)), scale=float(rng.uniform(0.88, 1.08)),
      shift=tuple(float(v) for v in rng.uniform(-0.06, 0.06, 2)),
      light_dir=float(rng.uniform(0, 2 * np.pi)),
      light_gain=float(rng.uniform(*style.light_gradient)),
      brightness=float(rng.uniform(0.8, 1.15)),
      noise_sd=float(rng.uniform(*style.noise_sd)), occluder=occ,
      occluder_seed=int(rng.integers(2 ** 31)),
      landmark_noise=float(landmark_noise * rng.uniform(0.5, 1.5)))


def pose_matrix(nuis: Nuisance, size: int) -> np.ndarray:
  """[2, 3] map from head-canvas to raw-frame pixels."""
  m = cv2.getRotationMatrix2D((size / 2, size / 2), nuis.angle, nuis.scale)
  m[:, 2] += np.asarray(nuis.shift) * size
  return m


def _occlude(img, lm, nuis, size):
  """Draws an occluder over the eyes/brows or mouth/chin; returns occluded point ids."""
  rng = np.random.default_rng(nuis.occluder_seed)
  iod = np.hypot(*(lm[36:42].mean(0) - lm[42:48].mean(0)))
  if nuis.occluder == "upper":
    region = list(tpl.RIGHT_BROW + tpl.LEFT_BROW + tpl.RIGHT_EYE + tpl.LEFT_EYE)
    if rng.uniform() < 0.5:   # one side only (a hand or a lock of hair)
      region = list(tpl.RIGHT_BROW + tpl.RIGHT_EYE) if rng.uniform() < 0.5 else \
          list(tpl.LEFT_BROW + tpl.LEFT_EYE)
  else:
    region = list(tpl.MOUTH) + [6, 7, 8, 9, 10]
    if rng.uniform() < 0.5:
      region = [i for i in region if (lm[i, 0] < lm[57, 0]) == (rng.uniform() < 0.5)] or region
  c = lm[region].mean(0) + rng.normal(0, 0.1 * iod, 2)
  spread = lm[region].max(0) - lm[region].min(0)
  axes = (spread / 2 + 0.2 * iod) * rng.uniform(0.8, 1.3, 2)
  colour = [(200, 160, 130), (40, 35, 35), (90, 110, 160), (170, 60, 50), (210, 210, 200)]
  col = np.asarray(colour[rng.integers(len(colour))], np.float64) * rng.uniform(0.8, 1.1)
  angle = float(rng.uniform(-30, 30))
  mask = np.zeros((size, size), np.uint8)
  _ellipse(mask, c, axes, angle, 255)
  sl, o = _roi([c - axes.max(), c + axes.max()], 2, size)
  layer = np.empty(img[sl].shape, np.float32)
  layer[:] = col
  # A few stripes give the occluder a texture of its own.
  for _ in range(int(rng.integers(0, 4))):
    off = rng.normal(0, axes.min() / 2, 2)
    _line(layer, [c - o + off - axes * 0.8, c - o + off + axes * 0.8], (col * 0.7).tolist(), 2)
  _blend(img, sl, layer, mask[sl])
  inside = mask[np.clip(lm[:, 1].astype(int), 0, size - 1),
                np.clip(lm[:, 0].astype(int), 0, size - 1)] > 127
  return img, np.flatnonzero(inside)


def render_frame(ident: Identity, intensities, nuis: Nuisance, style: Style, size: int,
                 rng: np.random.Generator):
  """One raw frame.

  Args:
    ident: the subject; intensities: [16] levels in SYNTHETIC_AUS order.
    nuis: pose, light, noise and occluder of the frame.
    style: the dataset look; size: raw frame side (= canvas side).
    rng: source of the sensor and tracker noise of this frame.

  Returns:
    (rgb uint8 [size, size, 3], true landmarks [68, 2] raw px,
    observed (tracker) landmarks [68, 2] raw px).
  """
  canvas, alpha, p, _ = render_face(ident, intensities, style, size)
  pose = pose_matrix(nuis, size)
  head = cv2.warpAffine(canvas, pose, (size, size), flags=cv2.INTER_LINEAR)
  a = cv2.warpAffine(alpha, pose, (size, size), flags=cv2.INTER_LINEAR)
  img = ident.background.astype(np.float32)
  _blend(img, (slice(None), slice(None)), head, a)
  lm = p @ pose[:, :2].T + pose[:, 2]
  occluded = np.zeros(0, int)
  if nuis.occluder != "none":
    img, occluded = _occlude(img, lm, nuis, size)
  # Illumination: a linear gradient across the frame and a colour cast.
  ramp = np.arange(size, dtype=np.float32) / size - 0.5
  g = np.cos(nuis.light_dir) * ramp[None, :] + np.sin(nuis.light_dir) * ramp[:, None]
  light = nuis.brightness * (1 + nuis.light_gain * 2 * g)
  img *= light[..., None] * np.asarray(style.light_colour, np.float32)
  noise = rng.standard_normal(img.shape, dtype=np.float32)
  noise *= np.float32(nuis.noise_sd)
  img += noise
  img = cv2.convertScaleAbs(np.maximum(img, 0))   # rounds and saturates to uint8
  # Tracker: Gaussian jitter scaled by the inter-ocular distance; worse on
  # occluded points, as real trackers are.
  iod = np.hypot(*(lm[36:42].mean(0) - lm[42:48].mean(0)))
  sd = np.full((68, 1), nuis.landmark_noise * iod)
  sd[occluded] *= 3
  observed = lm + rng.standard_normal((68, 2)) * sd
  return img, lm, observed
