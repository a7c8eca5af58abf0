"""benchmarks/occlusion_power.py: the occluded-positive counts against a hand count."""
import numpy as np

from benchmarks import occlusion_power as op


class _Index:
  def __init__(self, occurrence, covered):
    self.occurrence, self._covered = np.asarray(occurrence), np.asarray(covered)

  def field(self, name):
    assert name == "au_covered"
    return self._covered


def test_counts_positive_frames_whose_region_is_occluded():
  occ = [[1, 1], [1, 0], [0, 1], [1, -1], [1, 1]]
  cov = [[0.6, 0.0], [0.5, 0.9], [0.9, 0.05], [0.2, np.nan], [np.nan, 0.7]]
  occluded, visible, n = op.occluded_positives(_Index(occ, cov))
  # AU a: rows 0 and 1 occluded and positive (.6, .5 >= .5); row 3 (.2) neither
  # visible (< .1) nor occluded; row 4 has no coverage. AU b: row 4 occluded; rows 0, 2 visible.
  assert occluded.tolist() == [2, 1] and visible.tolist() == [0, 2] and n == 5


def test_projection_is_the_rate_times_the_default_test_split():
  rate = np.array([0.01, 0.0])
  assert op.projection(rate, 240, 240).tolist() == [0.01 * 40 * 240, 0.0]
  assert op.projection(rate, 24, 240).tolist() == [0.01 * 4 * 240, 0.0]
