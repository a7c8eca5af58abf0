"""UNBC-McMaster builder on a generated tree (tests/fixtures/raw_trees.make_unbc)."""
import numpy as np

from au_jax import aus as au_lists
from au_jax.face.align import template_pixels
from tests.fixtures import raw_trees as rt
from tfds_builders.unbc_mcmaster import UnbcMcmaster, parse
from tfds_builders.unbc_mcmaster.unbc_mcmaster import frame_labels


def test_parsers():
  assert parse.parse_facs("") == []
  one = "   4.0000000e+00   2.0000000e+00   0.0000000e+00   0.0000000e+00\r\n"
  assert parse.parse_facs(one) == [(4, 2)]  # one row: still a table
  assert parse.pspi([(4, 2), (6, 1), (7, 3), (10, 2), (43, 1)]) == 2 + 3 + 2 + 1
  assert parse.frame_number("ll042t1aaaff001.png", "ll042t1aaaff", ".png") == 1
  assert parse.frame_number("ll042t1aaaff012_facs.txt", "ll042t1aaaff", "_facs.txt") == 12
  aus = au_lists.UNBC_AUS
  inten, occ, ignored = frame_labels([(4, 2), (25, 0), (43, 1), (50, 1)], aus)
  assert ignored == [50]
  assert inten[aus.index(4)] == 2 and occ[aus.index(4)] == -1
  assert inten[aus.index(25)] == -1 and occ[aus.index(25)] == 1  # listed, intensity unspecified
  assert inten[aus.index(43)] == -1 and occ[aus.index(43)] == 1
  assert inten[aus.index(6)] == 0 and occ[aus.index(6)] == -1


def test_build(tmp_path):
  from conftest import build
  facts = rt.make_unbc(tmp_path / "raw")
  b = build(UnbcMcmaster, tmp_path / "raw", tmp_path / "data")
  aus = list(au_lists.UNBC_AUS)
  assert set(b.info.splits) == {"s042_ll042", "s043_jh043"}  # split names start with a letter
  for subject, seq in facts["seqs"]:
    split = "s" + subject.replace("-", "_")
    recs = {int(r["frame"]): r for r in b.as_data_source(split=split)}
    # 043-jh043 frame 2 has no AAM file and no face is detected in the cartoon.
    n = facts["seqs"][(subject, seq)]
    assert sorted(recs) == [f for f in range(1, n + 1) if (subject, f) != ("043-jh043", 2)]
    for f, r in recs.items():
      assert r["subject"].decode() == subject and r["sequence"].decode() == seq
      inten, occ, _ = frame_labels(facts["facs"].get((subject, f), []), aus)
      np.testing.assert_array_equal(r["au_intensity"], inten)
      np.testing.assert_array_equal(r["au_occurrence"], occ)
      assert abs(float(r["image"][1, 1].mean()) - rt.frame_level(f - 1)) < 8
      ok = np.delete(np.arange(68), [60, 64])
      np.testing.assert_allclose(r["landmarks"][ok], template_pixels(32)[ok], atol=0.05)
  r = {int(r["frame"]): r for r in b.as_data_source(split="s042_ll042")}[2]
  assert r["au_intensity"][aus.index(4)] == 2 and r["au_occurrence"][aus.index(43)] == 1
  meta = b.info.metadata
  assert meta["sequence_labels"]["ll042t1aaaff"] == {"AFF": 5.0, "OPR": 2.0, "SEN": 7.0, "VAS": 3.0}
  rep = meta["build_report"]
  assert "PSPI file disagrees with the FACS codes (records keep FACS)" not in rep
  assert rep["FACS code outside the UNBC AU list ignored (AU50)"]["count"] == 1
  assert rep["frame without a FACS file: no AU (as for an empty file)"]["count"] == 1
  assert rep["frame without landmarks and no face detected"]["count"] == 1
  prot = meta["protocols"]
  assert sorted(prot) == ["fold1", "fold2", "fold3", "fold4", "fold5", "openface"]
  assert prot["openface"]["test"] == ["042-ll042", "052-dr052", "092-ch092", "103-jk103", "115-jy115"]
  for p in prot.values():
    assert len(set(sum(p.values(), []))) == 25
