"""Landmark schemes -> iBUG-68 with NaN rows."""
import numpy as np
import pytest

from au_jax.face import CANONICAL_68, to_68


@pytest.mark.parametrize("n, missing", [
    (68, []),
    (66, [60, 64]),
    (49, list(range(17)) + [60, 64]),
])
def test_to_68_places_points_and_nans(n, missing):
  keep = [i for i in range(68) if i not in missing]
  out = to_68(CANONICAL_68[keep])
  assert out.shape == (68, 2) and out.dtype == np.float32
  assert np.isnan(out[missing]).all()
  np.testing.assert_allclose(out[keep], CANONICAL_68[keep], rtol=1e-6)
  np.testing.assert_array_equal(to_68(CANONICAL_68[keep], scheme=n), out)


def test_to_68_batched():
  pts = np.random.default_rng(0).normal(size=(3, 5, 49, 2))
  out = to_68(pts)
  assert out.shape == (3, 5, 68, 2)
  np.testing.assert_allclose(out[..., 17, :], pts[..., 0, :], rtol=1e-6)
  np.testing.assert_allclose(out[..., 65, :], pts[..., 46, :], rtol=1e-6)


@pytest.mark.parametrize("shape, scheme, match", [
    ((50, 2), None, r"\(50, 2\)"),
    ((68, 3), None, r"\(68, 3\)"),
    ((68,), None, r"\(68,\)"),
    ((66, 2), 68, r"68-point scheme .*\(66, 2\)"),
])
def test_to_68_errors_name_the_shape(shape, scheme, match):
  with pytest.raises(ValueError, match=match):
    to_68(np.zeros(shape), scheme=scheme)
