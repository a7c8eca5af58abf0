"""BP4D builder on generated trees in both layouts (tests/fixtures/raw_trees.make_bp4d)."""
import numpy as np
import pytest

from au_jax import aus as au_lists
from au_jax.face.align import template_pixels
from tests.fixtures import raw_trees as rt
from tfds_builders.bp4d import Bp4d, parse


def test_parse_occurrence_csv():
  text = "0,1,2,4,Occ\r\n10,0,1,9,1\r\n11,1,0,0,0\r\n"
  aus, rows = parse.parse_occurrence_csv(text)
  assert aus == [1, 2, 4]  # the non-integer column is ignored
  assert rows == {10: {1: 0, 2: 1, 4: 9}, 11: {1: 1, 2: 0, 4: 0}}
  with pytest.raises(ValueError, match="x.csv: header"):
    parse.parse_occurrence_csv("frame,1\n1,0\n", "x.csv")


def test_parse_occlusion_csv_reads_the_column_by_name_only():
  assert parse.parse_occlusion_csv("0,1,2,4,Occlusion\r\n10,0,1,9,1\r\n11,1,0,0,0\r\n") == (
      "Occlusion", {10: 1, 11: 0})
  assert parse.parse_occlusion_csv("0,occl,1\n3,0,1\n") == ("occl", {3: 0})
  # no column named so: nothing is guessed (not the last column by position)
  assert parse.parse_occlusion_csv("0,1,2,99\n10,0,1,1\n") == (None, {})
  assert parse.parse_occlusion_csv("") == (None, {})
  with pytest.raises(ValueError, match=r"x.csv: line 2: column 'Occlusion' is not numeric"):
    parse.parse_occlusion_csv("0,1,Occlusion\n1,0,yes\n", "x.csv")


@pytest.mark.parametrize("layout", ["fera2015", "original"])
def test_build(tmp_path, monkeypatch, layout):
  from conftest import build
  from au_jax.face import detect
  facts = rt.make_bp4d(tmp_path / "raw", layout)
  monkeypatch.setattr(detect, "detect_landmarks", lambda img, backend="auto": rt.face_landmarks())
  dlib = layout == "original"        # "auto" resolves to dlib in one build, to Haar in the other
  monkeypatch.setattr(detect, "dlib_available", lambda: dlib)
  b = build(Bp4d, tmp_path / "raw", tmp_path / "data")
  aus = list(au_lists.BP4D_AUS)
  assert b.info.metadata["aus"] == aus
  assert set(b.info.splits) == {"F001", "F002"}
  for s, ((subj, task), (stems, coded)) in enumerate(facts["seqs"].items()):
    recs = list(b.as_data_source(split=subj))
    assert [int(r["frame"]) for r in recs] == coded  # coded span only, matched by value
    for r in recs:
      f = int(r["frame"])
      assert r["sequence"].decode() == task and r["subject"].decode() == subj
      # The image is the one whose stem parses to f (whatever its padding).
      assert abs(float(r["image"][1, 1].mean()) - rt.frame_level(f)) < 8, (subj, f)
      occ = [facts["occ"](s, a, f) for a in aus]
      np.testing.assert_array_equal(r["au_occurrence"], [-1 if v == 9 else v for v in occ])
      inten = [facts["int"](s, a, f) if a in au_lists.FERA2015_INT_AUS else -1 for a in aus]
      inten = [-1 if v == 9 or (subj == "F002" and a == 14) else v for v, a in zip(inten, aus)]
      np.testing.assert_array_equal(r["au_intensity"], inten)
      np.testing.assert_allclose(r["landmarks"], template_pixels(32), atol=0.05)
      flag = facts["occlusion"](s, f) if facts["occlusion"] else None
      assert r["occluder"].decode() == {None: "", 9: "", 0: "none", 1: "unspecified"}[flag]
      assert np.isnan(r["au_covered"]).all()       # the flag says not where
      # Haar's landmarks carry no head turn: pose missing; dlib's: estimated
      pose = [float(r[k]) for k in ("yaw", "pitch", "roll")]
      assert np.isfinite(pose).all() if dlib else np.isnan(pose).all()
  rep = b.info.metadata["build_report"]
  if facts["occlusion"]:
    assert rep["unexpected occlusion code in column 'Occlusion' (occluder missing)"][
        "examples"] == ["F001/T1 frame 5: 9"]
  else:
    assert rep["occurrence CSV without an occlusion column (occluder missing)"]["count"] == 2
  n9 = sum(facts["occ"](s, a, f) == 9 for s, (_, (_, coded)) in enumerate(facts["seqs"].items())
           for a in aus for f in coded)
  assert n9 > 0 and rep["occurrence code 9 (unknown) stored as -1"]["count"] == n9
  assert rep["missing intensity CSV (intensity -1)"]["examples"] == ["F002/T2 AU14"]
  assert rep["frame without landmarks: face detected (kept)"]["count"] == 9
  missing_pose = "head pose left missing: Haar landmarks carry no head turn (the [face] extra's dlib landmarks do)"
  assert rep.get(missing_pose, {}).get("count", 0) == (0 if dlib else 9)
  prot = b.info.metadata["protocols"]
  assert sorted(prot) == ["fera2015", "fold1", "fold2", "fold3"]
  assert "F001" in prot["fera2015"]["train"] + prot["fera2015"]["validation"]
  assert "F002" in prot["fera2015"]["test"]
  for p in prot.values():
    subjects = sum(p.values(), [])
    assert len(subjects) == len(set(subjects)) == 41
