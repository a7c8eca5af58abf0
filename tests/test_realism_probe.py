"""benchmarks/realism_check.py:probe_frames: each variant removes exactly one cue of
AU1+2 (the brow motion or the forehead folds) and leaves the renderer as it was."""
import numpy as np

from benchmarks import realism_check as rc
from tfds_builders.synthetic_au import render


def _frames(variant):
  images, landmarks = rc.probe_frames(variant, subjects=2)
  return np.stack(images).astype(float), np.stack(landmarks)


def _forehead_change(a, b, lm):
  """Mean |a - b| in the band between the brows' top and 0.6 inter-ocular
  distances above it, per frame (the neutral landmarks `lm` place it)."""
  out = []
  for k in range(len(a)):
    iod = np.hypot(*(lm[k, 36:42].mean(0) - lm[k, 42:48].mean(0)))
    top = lm[k, 17:27, 1].min()
    y0, y1 = int(top - 0.6 * iod), int(top - 0.1 * iod)
    x0, x1 = int(lm[k, 17, 0]), int(lm[k, 26, 0])
    out.append(np.abs(a[k, y0:y1, x0:x1] - b[k, y0:y1, x0:x1]).mean())
  return np.array(out)


def test_probe_variants_remove_one_cue_each():
  neutral, lm0 = _frames("neutral")
  both, lm_both = _frames("1+2")
  motion, lm_motion = _frames("1+2 motion only")
  folds, lm_folds = _frames("1+2 folds only")
  brows = slice(17, 27)
  # Brow motion: in "1+2" and "motion only" every brow point rises by over a
  # pixel; "folds only" keeps the neutral landmarks.
  assert (lm_both[:, brows, 1] < lm0[:, brows, 1] - 1).all()
  np.testing.assert_allclose(lm_motion, lm_both)
  np.testing.assert_allclose(lm_folds, lm0)
  # Folds: the forehead changes with them (folds only vs neutral; with vs
  # without folds at the same motion), and the images without them differ
  # from the full display there.
  assert (_forehead_change(folds, neutral, lm0) > 5).all()
  assert (_forehead_change(both, motion, lm0) > 5).all()
  # The renderer is restored.
  assert render._cue_layers.__name__ == "_cue_layers"
  assert np.abs(render.AU_DISPLACEMENTS[1]).max() > 0
  assert np.abs(render.AU_DISPLACEMENTS[2]).max() > 0
