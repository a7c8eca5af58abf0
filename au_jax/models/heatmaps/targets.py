"""Target heatmaps of Sanchez et al. (BMVC 2018), Sec. 3.2, Eq. 1.

For AU a with intensity I_a and K centres c_k (from the landmarks):

  G_k(c_k + (i, j)) = I_a exp(-(i^2 + j^2) / (2 sigma^2))  if |i|, |j| <= 6 I_a
  H_a = max_k G_k

on the map grid (64 x 64 for a 256 input: centres are rescaled from the input
size, the paper's footnote 1). Eq. 1 indexes pixels as i + c_k with integer
offsets (i, j), so each centre is rounded to the nearest map pixel; the
support is the Chebyshev box |i|, |j| <= 6 I_a, cut at the map's edges.
A zero intensity gives an all-zero map (amplitude 0).

AU centres. Fig. 3 shows two or three centres per AU but the paper lists no
landmark indices, so the rule is data (`config.model.au_centres`, rows of
`(au, landmark indices averaged, dx, dy)`, offsets in `ruler` units). The
default, `AU_CENTRES_68`, is JAA-Net's AU-centre rule (Shao et al., ECCV
2018) where JAA-Net defines the AU, written on iBUG-68 indices (JAA-Net's
49-point index p is 68-point p + 17 for p <= 42, and 61, 62, 63, 65, 66, 67
for 43..48), plus two documented additions (`ADDED_68`). JAA-Net's "ruler" is
the inner-eye-corner distance (68-point 39 and 42); it offsets vertically
only (y grows downwards). `JAANET_68` holds its 12 BP4D AUs (the released
Caffe layer `au_mask_based_land_layer`) and the DISFA-only AUs 9, 25, 26 (the
PyTorch release, `network.AlignNet`, branch `au_num == 8`):

  AU1  inner brow ends 21, 22, 1/2 ruler above     AU2  18, 25, 1/3 above
  AU4  19, 24, 1/3 ruler below                     AU6  lower lids 41, 46, 1 below
  AU7  upper lids 38, 43                           AU9  nostrils 32, 34, 1/2 above
  AU10 inner upper lip 61, 63                      AU12, AU14, AU15  lip corners 48, 54
  AU17 56, 58, 1/2 ruler below                     AU23, AU24, AU25  lip centres 51, 57
  AU26 56, 58, 1/2 ruler below (as AU17)

(the paper's Fig. 3 shares two points between AUs 10 and 14; JAA-Net's rule
does not: AU10 sits on the upper lip, AU14 on the lip corners).

Added for the 12 DISFA AUs, which JAA-Net's DISFA subset (1, 2, 4, 6, 9, 12,
25, 26) leaves out (`ADDED_68`; FACS, Ekman, Friesen & Hager 2002):

  AU5  upper lid raiser (levator palpebrae superioris): the upper lid
       retracts and the sclera above the iris shows, so the change is at
       the upper lid margin: the midpoints of each upper lid, 37-38 and
       43-44 averaged, no offset (AU7's points are single lid points; AU5
       takes the lid's middle, where retraction is largest).
  AU20 lip stretcher (risorius / platysma): pulls the lip corners
       laterally and flattens the lips; the skin lateral to the corners is
       stretched. Centres: the lip corners 48, 54 moved 1/4 ruler outwards
       (-x for 48, +x for 54), where a stretched corner lands and the
       stretched skin lies; this separates AU20's maps from AU12/14/15's,
       which sit on the resting corners.

`SYNTHETIC_CENTRES_68` (the synthetic configs' rule) moves AU17's and AU26's
centres for the synthetic faces' short chins (see its comment).

Missing landmarks (NaN rows of a 49/66-point scheme): a centre whose points
(or, when it has an offset, the ruler's points) are not finite is dropped and
the map is drawn from the remaining centres; an AU left with no centre is
reported by `centres_ok` so the loss can ignore that label
(`HeatmapOptions.missing_centre="skip"`). With `"error"` the transform raises
instead (`check_centres`). Maps are never NaN.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from au_jax.errors import ConfigKeyError, ConfigValueError

# Inner eye corners (iBUG-68): JAA-Net's ruler.
RULER_POINTS = (39, 42)

# (au, landmark indices averaged into the point, dx, dy in ruler units)
JAANET_68: tuple[tuple, ...] = (
    (1, (21,), 0.0, -1 / 2), (1, (22,), 0.0, -1 / 2),
    (2, (18,), 0.0, -1 / 3), (2, (25,), 0.0, -1 / 3),
    (4, (19,), 0.0, 1 / 3), (4, (24,), 0.0, 1 / 3),
    (6, (41,), 0.0, 1.0), (6, (46,), 0.0, 1.0),
    (7, (38,), 0.0, 0.0), (7, (43,), 0.0, 0.0),
    (10, (61,), 0.0, 0.0), (10, (63,), 0.0, 0.0),
    (12, (48,), 0.0, 0.0), (12, (54,), 0.0, 0.0),
    (14, (48,), 0.0, 0.0), (14, (54,), 0.0, 0.0),
    (15, (48,), 0.0, 0.0), (15, (54,), 0.0, 0.0),
    (17, (56,), 0.0, 1 / 2), (17, (58,), 0.0, 1 / 2),
    (23, (51,), 0.0, 0.0), (23, (57,), 0.0, 0.0),
    (24, (51,), 0.0, 0.0), (24, (57,), 0.0, 0.0),
    # JAA-Net's DISFA-only AUs (PyTorch release, AlignNet, au_num == 8)
    (9, (32,), 0.0, -1 / 2), (9, (34,), 0.0, -1 / 2),
    (25, (51,), 0.0, 0.0), (25, (57,), 0.0, 0.0),
    (26, (56,), 0.0, 1 / 2), (26, (58,), 0.0, 1 / 2),
)

# Added for DISFA's AUs 5 and 20 (module docstring: anatomical reasoning).
ADDED_68: tuple[tuple, ...] = (
    (5, (37, 38), 0.0, 0.0), (5, (43, 44), 0.0, 0.0),
    (20, (48,), -1 / 4, 0.0), (20, (54,), 1 / 4, 0.0),
)

# The default rule: every AU of the DISFA and BP4D lists.
AU_CENTRES_68: tuple[tuple, ...] = JAANET_68 + ADDED_68

# The synthetic faces (tfds_builders/synthetic_au) have short chins: lower lip
# (57) to chin (8) is 0.46 ruler on the template and 0.32-0.67 on rendered
# subjects (over one ruler on adult faces), so JAA-Net's AU17 / AU26 centres,
# 1/2 ruler below 56 and 58, fall on or past the chin outline there. The
# synthetic configs place them instead midway between each lower-lip point
# and the jaw point below it (58 + 7, 56 + 9): the mentalis region, on the
# face at any proportions.
CHIN_MIDPOINTS_68: tuple[tuple, ...] = tuple(
    (au, pts, 0.0, 0.0) for au in (17, 26) for pts in ((58, 7), (56, 9)))
SYNTHETIC_CENTRES_68: tuple[tuple, ...] = tuple(
    r for r in AU_CENTRES_68 if r[0] not in (17, 26)) + CHIN_MIDPOINTS_68


@dataclasses.dataclass(frozen=True)
class CentreTable:
  """The centre rule of the data's AUs as arrays (K = most centres of an AU).

  points: int [A, K, P] landmark indices averaged (P = most points of a row;
    shorter rows repeat their last index, which leaves the mean unchanged).
  offsets: float [A, K, 2] (dx, dy) in ruler units.
  valid: bool [A, K] False on padding slots.
  """
  points: np.ndarray
  offsets: np.ndarray
  valid: np.ndarray


def centre_table(aus: Sequence[int], rows) -> CentreTable:
  """CentreTable of `aus` (in order) from rule rows `(au, points, dx, dy)`.

  Raises:
    ConfigKeyError: an AU of the data has no row (names it and the ruled AUs).
    ConfigValueError: a malformed row or a landmark index outside 0..67.
  """
  by_au: dict[int, list] = {}
  for row in rows:
    if len(row) != 4:
      raise ConfigValueError(f"config.model.au_centres row {row!r} is not (au, points, dx, dy)")
    au, pts, dx, dy = row
    pts = (int(pts),) if np.isscalar(pts) else tuple(int(p) for p in pts)
    if not pts or min(pts) < 0 or max(pts) > 67:
      raise ConfigValueError(f"config.model.au_centres row {row!r}: landmark indices must be "
                             f"iBUG-68 indices 0..67")
    by_au.setdefault(int(au), []).append((pts, float(dx), float(dy)))
  missing = [au for au in aus if int(au) not in by_au]
  if missing:
    raise ConfigKeyError(f"config.model.au_centres has no centre for AU(s) {missing}; it "
                         f"defines AUs {sorted(by_au)}. Add rows (au, landmark indices, dx, dy)")
  k = max(len(by_au[int(au)]) for au in aus)
  p = max(len(r[0]) for au in aus for r in by_au[int(au)])
  points = np.zeros((len(aus), k, p), np.int32)
  offsets = np.zeros((len(aus), k, 2), np.float32)
  valid = np.zeros((len(aus), k), bool)
  for a, au in enumerate(aus):
    for j, (pts, dx, dy) in enumerate(by_au[int(au)]):
      points[a, j] = pts + (pts[-1],) * (p - len(pts))
      offsets[a, j] = dx, dy
      valid[a, j] = True
  return CentreTable(points, offsets, valid)


def au_centres(landmarks: jax.Array, table: CentreTable) -> tuple[jax.Array, jax.Array]:
  """Centres of every AU in the landmarks' pixels.

  Args:
    landmarks: [B, 68, 2] (x, y); NaN rows allowed.
  Returns:
    (centres [B, A, K, 2] with 0 where not ok, ok bool [B, A, K]).
  """
  lm = jnp.asarray(landmarks, jnp.float32)
  pts = lm[:, table.points]                                  # [B, A, K, P, 2]
  base = pts.mean(-2)
  ruler = jnp.linalg.norm(lm[:, RULER_POINTS[1]] - lm[:, RULER_POINTS[0]], axis=-1)
  offsets = jnp.asarray(table.offsets)
  # 0 * NaN is NaN: a centre without an offset must not need the ruler.
  shift = jnp.where(offsets != 0, offsets * ruler[:, None, None, None], 0.0)
  c = base + shift
  ok = jnp.all(jnp.isfinite(c), -1) & jnp.asarray(table.valid)
  return jnp.where(ok[..., None], c, 0.0), ok


def check_centres(landmarks: np.ndarray, table: CentreTable, aus: Sequence[int],
                  needed: np.ndarray) -> None:
  """Raise naming the AU and landmarks when a needed AU's centre is missing.

  landmarks: [68, 2] of one example; needed: bool [A] (AUs with a label).
  """
  finite = np.isfinite(np.asarray(landmarks, np.float64)).all(-1)
  ruler_ok = finite[list(RULER_POINTS)].all()
  uses_ruler = (table.offsets != 0).any(-1)
  ok = finite[table.points].all(-1) & (ruler_ok | ~uses_ruler)
  bad = table.valid & ~ok & np.asarray(needed, bool)[:, None]
  if bad.any():
    a, k = map(int, np.argwhere(bad)[0])
    pts = sorted(set(table.points[a, k].tolist()) | (set(RULER_POINTS) if uses_ruler[a, k]
                                                     else set()))
    raise ValueError(f"AU{aus[a]} centre {k} needs landmarks {pts}, which are missing (NaN) "
                     f"in this record; set config.model.missing_centre='skip' to draw the "
                     f"map from the remaining centres")


def to_map(points: jax.Array, input_size: int, map_size: int) -> jax.Array:
  """Input pixels -> map pixels (pixel centres at integers, as cv2.resize)."""
  s = map_size / input_size
  return (points + 0.5) * s - 0.5


@functools.partial(jax.jit, static_argnames=("size",))
def render_heatmaps(centres: jax.Array, ok: jax.Array, intensity: jax.Array, *, size: int,
                    sigma: float, support: float = 6.0) -> jax.Array:
  """Eq. 1 target maps.

  Args:
    centres: [B, A, K, 2] (x, y) in map pixels.
    ok: bool [B, A, K] centres to draw.
    intensity: [B, A] I_a (negative = unknown: drawn as 0).
    size: map side; sigma: Gaussian sd in map pixels; support: the box
      half-side per unit of intensity (6 in the paper, at the 64-map scale).
  Returns:
    [B, size, size, A] maps, H[b, y, x, a].
  """
  amp = jnp.clip(intensity.astype(jnp.float32), 0.0, None)     # [B, A]
  c = jnp.round(centres)                                       # Eq. 1: pixel i + c_k
  grid = jnp.arange(size, dtype=jnp.float32)
  dx = grid[None, None, None, None, :] - c[..., 0, None, None]   # [B, A, K, 1, W]
  dy = grid[None, None, None, :, None] - c[..., 1, None, None]   # [B, A, K, H, 1]
  half = (support * amp)[:, :, None, None, None]
  inside = (jnp.abs(dx) <= half) & (jnp.abs(dy) <= half) & ok[..., None, None]
  g = amp[:, :, None, None, None] * jnp.exp(-(dx ** 2 + dy ** 2) / (2.0 * sigma ** 2))
  g = jnp.where(inside, g, 0.0)
  # Without any centre the max over an all-zero stack is 0 (K >= 1 always).
  return jnp.moveaxis(g.max(axis=2), 1, -1)
