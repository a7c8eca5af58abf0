"""CK+ builder on a generated tree (tests/fixtures/raw_trees.make_ckplus)."""
import numpy as np
import pytest

from au_jax.face.align import template_pixels
from tests.fixtures import raw_trees as rt
from tfds_builders.ckplus import Ckplus, CkplusConfig, parse
from tfds_builders.ckplus.ckplus import CKPLUS_AUS, peak_labels, subject_protocols


def test_parsers():
  # A one-line file is still a table (np.loadtxt would give 1-D).
  assert parse.parse_facs("   1.2000000e+01   0.0000000e+00") == [(12, 0)]
  assert parse.parse_facs("   9.0000000e+00   4.0000000e+00\r\n   1.7e+01   2.0e+00\r\n") == [(9, 4), (17, 2)]
  with pytest.raises(ValueError, match="f.txt"):
    parse.parse_facs("9 4 1\n", "f.txt")
  inten, occ, ignored = peak_labels([(9, 4), (12, 0), (61, 1)], CKPLUS_AUS)
  assert ignored == [61]
  assert inten[CKPLUS_AUS.index(9)] == 4 and occ[CKPLUS_AUS.index(9)] == 1
  assert inten[CKPLUS_AUS.index(12)] == -1 and occ[CKPLUS_AUS.index(12)] == 1
  assert inten[CKPLUS_AUS.index(1)] == 0 and occ[CKPLUS_AUS.index(1)] == 0
  prot = subject_protocols([f"S{i:03d}" for i in range(12)])
  assert prot["fold1"]["test"] == ["S000", "S010"] and prot["fold1"]["validation"] == ["S001", "S011"]
  assert len(prot["fold3"]["train"]) == 12 - 2 and len(prot) == 11


@pytest.mark.parametrize("include_neutral", [False, True])
def test_build(tmp_path, include_neutral):
  from conftest import build
  facts = rt.make_ckplus(tmp_path / "raw")
  b = build(Ckplus, tmp_path / "raw", tmp_path / "data", config_cls=CkplusConfig,
            include_neutral=include_neutral)
  assert set(b.info.splits) == {"S005", "S010"}
  for (subj, seq), (n, _) in facts["seqs"].items():
    recs = list(b.as_data_source(split=subj))
    assert [int(r["frame"]) for r in recs] == ([1, n] if include_neutral else [n])
    inten, occ, _ = peak_labels(facts["facs"][(subj, seq)], CKPLUS_AUS)
    peak = recs[-1]
    np.testing.assert_array_equal(peak["au_intensity"], inten)
    np.testing.assert_array_equal(peak["au_occurrence"], occ)
    assert peak["sequence"].decode() == seq
    # Grey and colour sequences both give 3 channels; the peak image is the last frame.
    assert peak["image"].shape == (32, 32, 3)
    assert abs(float(peak["image"][1, 1].mean()) - rt.frame_level(n - 1)) < 8
    np.testing.assert_allclose(peak["landmarks"], template_pixels(32), atol=0.05)
    if include_neutral:
      np.testing.assert_array_equal(recs[0]["au_occurrence"], 0)
  meta = b.info.metadata
  assert meta["emotions"] == {"S005/001": 3}
  assert meta["protocols"]["all_test"]["test"] == ["S005", "S010"]
  assert meta["protocols"]["fold1"] == {"train": [], "validation": ["S010"], "test": ["S005"]}
