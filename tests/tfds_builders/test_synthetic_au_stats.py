"""synthetic_au 2.0 builds: the label statistics of the default configs, drawn
exactly as the builder draws them (its per-subject streams), against the
targets of docs/benchmark.md section 3 with the tolerances stated there:
  base rate of every AU:            |r - t| <= 0.04 + 0.25 t
  level histogram (coded AUs):      |h_l - p_l| <= 0.10 for each level 1..5
  DISFA share of frames with no AU: |n - 0.372| <= 0.10
  regions coupled:                  P(12 | 6) > 2 P(12), P(26 | 1+2) > 2 P(26),
                                    P(15 | 4) > 1.5 P(15)   (disfa_like)
Label-only (no rendering): the records carry exactly these intensities
(tests/tfds_builders/test_synthetic_au.py checks that on a tiny build).
The stored true dependence (true_dependence.py, the builders' metadata) is
the one a fresh simulation gives.
"""
import numpy as np
import pytest

import tfds_builders.synthetic_au as sa
from tfds_builders.synthetic_au import expressions as ex
from tfds_builders.synthetic_au import synthetic_au as sau
from tfds_builders.synthetic_au.true_dependence import TRUE_DEPENDENCE

CONFIGS = {c.name: c for c in sa.SyntheticAu.BUILDER_CONFIGS}


@pytest.fixture(scope="module", params=["disfa_like", "bp4d_like"])
def build(request):
  cfg = CONFIGS[request.param]
  y = np.concatenate([sau.subject_intensities(cfg, i).reshape(-1, 16)
                      for i in range(cfg.num_subjects)])
  return cfg, ex.TARGETS[cfg.label_model], y


def test_default_size(build):
  cfg, _, y = build
  assert (cfg.num_subjects, cfg.sequences_per_subject, cfg.frames_per_sequence) == (24, 4, 60)
  assert y.shape == (24 * 240, 16)


def test_base_rates(build):
  cfg, targets, y = build
  for a, r in zip(ex.PRESETS[cfg.label_model].aus, ex.base_rates(y)):
    t = targets.base_rate[a]
    assert abs(r - t) <= 0.04 + 0.25 * t, f"{cfg.name} AU{a}: {r:.3f} vs target {t}"


def test_level_profile(build):
  cfg, targets, y = build
  coded = [ex.PRESETS[cfg.label_model].aus.index(a) for a in targets.coded_aus]
  hist = ex.level_histogram(y[:, coded])
  want = np.array(targets.level_profile) / sum(targets.level_profile)
  np.testing.assert_allclose(hist, want, atol=0.10, err_msg=cfg.name)


def test_disfa_like_no_au_share_and_coupled_regions():
  cfg = CONFIGS["disfa_like"]
  targets = ex.TARGETS["disfa_like"]
  y = np.concatenate([sau.subject_intensities(cfg, i).reshape(-1, 16)
                      for i in range(cfg.num_subjects)])
  col = ex.PRESETS["disfa_like"].aus.index
  act = y >= 1
  none = 1 - act[:, [col(a) for a in targets.coded_aus]].any(1).mean()
  assert abs(none - targets.none_rate) <= 0.10, none
  p = lambda a: act[:, col(a)].mean()
  given = lambda a, cond: act[cond, col(a)].mean()
  assert given(12, act[:, col(6)]) > 2 * p(12)
  assert given(26, act[:, col(1)] & act[:, col(2)]) > 2 * p(26)
  assert given(15, act[:, col(4)]) > 1.5 * p(15)


@pytest.mark.parametrize("preset", sorted(ex.PRESETS))
def test_stored_true_dependence_is_current(preset):
  assert TRUE_DEPENDENCE[preset] == ex.dependence(ex.PRESETS[preset])
