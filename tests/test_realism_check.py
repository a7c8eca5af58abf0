"""benchmarks/realism_check.py: the raised-brows edit moves the brow band, not the rest."""
import numpy as np

from benchmarks import realism_check as rc


def _line_image(y_line: int) -> np.ndarray:
  img = np.full((512, 512, 3), 200, np.uint8)
  img[y_line] = 0            # a one-pixel dark horizontal line across the image
  return img


def _dark_row(col: np.ndarray) -> float:
  """Sub-pixel row of the darkness in one column (weighted by 200 - value)."""
  w = 200.0 - col.astype(float)
  w[w < 0] = 0
  return float((w * np.arange(len(col))).sum() / w.sum())


def test_brow_line_rises_by_the_lift_and_far_pixels_stay():
  y0 = int(rc._BROW_Y)
  out = rc.raise_brows(_line_image(y0))
  x0 = int(rc._BROW_X)
  # out(x, y) = in(x, y + d): the line appears where y + d(y) = y0, found by brute force.
  ys = np.arange(0, 200, 0.001)
  d = rc.BROW_LIFT * np.exp(-0.5 * ((ys - rc._BROW_Y) / rc._BROW_SD_Y) ** 2)
  expected = ys[np.argmin(np.abs(ys + d - y0))]
  got = _dark_row(out[:, x0, 0])
  assert abs(got - expected) < 0.6
  assert y0 - got > 0.6 * rc.BROW_LIFT           # the brow line rises by most of the lift
  # Far from the brow band (the mouth's rows, the image's edge columns) nothing moves.
  line_low = _line_image(150)
  np.testing.assert_array_equal(rc.raise_brows(line_low)[140:160, x0], line_low[140:160, x0])
  np.testing.assert_array_equal(out[:, 0], _line_image(y0)[:, 0])
