"""Similarity / affine estimation, point and image warping."""
import numpy as np
import pytest

from au_jax.face import (compose, estimate_affine, estimate_similarity, invert, transform_points,
                         warp_image)


def _random_similarity(rng):
  a, s = rng.uniform(-np.pi, np.pi), rng.uniform(0.3, 3.0)
  lin = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
  return np.concatenate([lin, rng.uniform(-100, 100, (2, 1))], 1)


@pytest.mark.parametrize("seed", range(5))
def test_similarity_recovers_known_transform_with_nans(seed):
  rng = np.random.default_rng(seed)
  M = _random_similarity(rng)
  src = rng.uniform(0, 200, (30, 2))
  dst = transform_points(src, M)
  src[[2, 7]] = np.nan          # missing in the source
  dst[[4, 11]] = np.nan         # missing in the target
  np.testing.assert_allclose(estimate_similarity(src, dst), M, atol=1e-9)
  # Two points determine a similarity exactly.
  np.testing.assert_allclose(estimate_similarity(src[[0, 1]], dst[[0, 1]]), M, atol=1e-9)


def test_similarity_least_squares_and_no_reflection():
  rng = np.random.default_rng(1)
  src = rng.normal(size=(50, 2))
  dst = src * [1, -1] + rng.normal(scale=0.01, size=(50, 2))   # a mirror image
  M = estimate_similarity(src, dst)
  assert np.linalg.det(M[:, :2]) > 0
  # Least squares: no small perturbation of the parameters lowers the error.
  def err(p):
    a, s, tx, ty = p
    lin = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return ((src @ lin.T + [tx, ty] - dst) ** 2).sum()
  p0 = [np.arctan2(M[1, 0], M[0, 0]), np.hypot(M[0, 0], M[1, 0]), M[0, 2], M[1, 2]]
  for k in range(4):
    for d in (1e-4, -1e-4):
      p = list(p0)
      p[k] += d
      assert err(p) >= err(p0)


def test_weighted_similarity_ignores_zero_weight_outlier():
  rng = np.random.default_rng(2)
  M = _random_similarity(rng)
  src = rng.uniform(0, 100, (10, 2))
  dst = transform_points(src, M)
  dst[0] += 50
  w = np.ones(10)
  w[0] = 0
  np.testing.assert_allclose(estimate_similarity(src, dst, w), M, atol=1e-9)


def test_similarity_errors():
  pts = np.array([[0.0, 0.0], [np.nan, 1.0], [2.0, np.nan]])
  with pytest.raises(ValueError, match=">= 2 valid"):
    estimate_similarity(pts, pts)
  with pytest.raises(ValueError, match="coincide"):
    estimate_similarity(np.ones((4, 2)), np.zeros((4, 2)))


@pytest.mark.parametrize("seed", range(3))
def test_affine_recovers_known_transform(seed):
  rng = np.random.default_rng(seed)
  M = np.concatenate([rng.normal(size=(2, 2)) + 2 * np.eye(2), rng.normal(size=(2, 1)) * 50], 1)
  src = rng.uniform(0, 300, (20, 2))
  dst = transform_points(src, M)
  src[5] = np.nan
  np.testing.assert_allclose(estimate_affine(src, dst), M, atol=1e-8)
  np.testing.assert_allclose(estimate_affine(src[:3], dst[:3]), M, atol=1e-8)


def test_affine_errors():
  with pytest.raises(ValueError, match=">= 3 valid"):
    estimate_affine(np.zeros((2, 2)), np.zeros((2, 2)))
  line = np.stack([np.arange(5.0), 2 * np.arange(5.0)], 1)
  with pytest.raises(ValueError, match="collinear"):
    estimate_affine(line, line)


def test_transform_points_keeps_nan_and_invert_compose():
  rng = np.random.default_rng(3)
  M = _random_similarity(rng)
  pts = rng.normal(size=(6, 2))
  pts[1] = np.nan
  out = transform_points(pts, M)
  assert np.isnan(out[1]).all() and np.isfinite(np.delete(out, 1, 0)).all()
  back = transform_points(out, invert(M))
  np.testing.assert_allclose(back, pts, atol=1e-9)
  np.testing.assert_allclose(compose(invert(M), M), np.eye(2, 3), atol=1e-12)


def test_warp_matches_transform_points_and_round_trips():
  # A smooth image: bilinear resampling is then nearly lossless.
  yy, xx = np.mgrid[0:96, 0:96].astype(np.float64)
  img = np.stack([127 + 100 * np.sin(xx / 9), 127 + 100 * np.cos(yy / 11),
                  127 + 60 * np.sin((xx + yy) / 13)], -1).astype(np.uint8)
  a, s = 0.3, 1.1
  lin = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
  M = np.concatenate([lin, (np.array([48.0, 48.0]) - lin @ [48.0, 48.0])[:, None]], 1)
  warped = warp_image(img, M, 96)
  assert warped.shape == img.shape and warped.dtype == np.uint8
  # Pixel p of the input appears at transform_points(p, M) in the output.
  p = np.array([40.0, 50.0])
  q = np.rint(transform_points(p, M)).astype(int)
  assert np.abs(warped[q[1], q[0]].astype(int) - img[50, 40].astype(int)).max() <= 12
  back = warp_image(warped, invert(M), 96)
  centre = np.s_[30:66, 30:66]
  assert np.abs(back[centre].astype(int) - img[centre].astype(int)).mean() < 2.0
  assert warp_image(img[..., :1], M, (80, 60)).shape == (60, 80, 1)
  with pytest.raises(ValueError, match="border"):
    warp_image(img, M, 96, border="wrap")
