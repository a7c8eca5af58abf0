"""SEMAINE builder on a generated FERA 2015 tree (tests/fixtures/raw_trees.make_semaine)."""
import numpy as np
import pytest

from au_jax import aus as au_lists
from tests.fixtures import raw_trees as rt
from tfds_builders.semaine import Semaine, SemaineConfig, parse


def test_parse_eaf_as_the_organisers_parser():
  # frames floor(ms * 50 / 1000), inclusive (tfds_builders/README.md, SEMAINE):
  # AU2 from 40 to 100 ms -> frames 2..5 (1-based).
  text = rt._eaf({2: [(40, 100)]}, 160)
  n, labels = parse.parse_eaf(text, au_lists.SEMAINE_AUS)
  assert n == 8 and sorted(labels) == sorted(au_lists.SEMAINE_AUS)
  np.testing.assert_array_equal(labels[2], [0, 1, 1, 1, 1, 0, 0, 0])
  assert not labels[12].any()
  with pytest.raises(ValueError, match="bad.eaf: not valid XML"):
    parse.parse_eaf("<ANNOTATION_DOCUMENT>", (2,), "bad.eaf")


def test_bounds():
  assert parse.parse_bounds("1 7\r\n") == (1, 7)
  assert parse.clamp_segment(1, 7, 8) == (1, 7)
  assert parse.clamp_segment(2, 12, 8) == (1, 9)
  assert parse.clamp_segment(10, 4000, 5000) == (10, 4000)
  assert parse.clamp_segment(10, 6000, 5000) == (2001, 5001)


@pytest.mark.parametrize("segment_only", [False, True])
def test_build(tmp_path, monkeypatch, segment_only):
  from conftest import build
  from au_jax.face import detect
  facts = rt.make_semaine(tmp_path / "raw")
  monkeypatch.setattr(detect, "detect_landmarks", lambda img, backend="auto": rt.face_landmarks())
  b = build(Semaine, tmp_path / "raw", tmp_path / "data", config_cls=SemaineConfig,
            segment_only=segment_only)
  assert set(b.info.splits) == {"rec1", "rec9"}
  # rec1: 8 annotated frames, segment [1, 7). rec9: video has 6 of the 8
  # annotated frames; its bounds (2, 12) overrun and are clamped to [1, 9).
  want = {"rec1": list(range(1, 7)) if segment_only else list(range(1, 9)),
          "rec9": list(range(1, 7))}
  aus = list(au_lists.SEMAINE_AUS)
  for rec in ("rec1", "rec9"):
    recs = list(b.as_data_source(split=rec))
    assert [int(r["frame"]) for r in recs] == want[rec]
    exp = facts["expected"](rec)
    for r in recs:
      f = int(r["frame"])
      np.testing.assert_array_equal(r["au_occurrence"], [exp[f][a] for a in aus])
      np.testing.assert_array_equal(r["au_intensity"], -1)
      assert abs(float(r["image"][1, 1].mean()) - rt.frame_level(f - 1)) < 8, (rec, f)
  assert [int(r["frame"]) for r in b.as_data_source(split="rec1")
          if r["au_occurrence"][aus.index(2)] == 1] == [2, 3, 4, 5]
  meta = b.info.metadata
  assert meta["segments"] == {"rec1": [1, 7], "rec9": [1, 9]}
  assert "rec9" in meta["flagged_sessions"]
  rep = meta["build_report"]
  assert rep["flagged session kept (see metadata flagged_sessions)"]["examples"] == ["rec9"]
  assert rep["annotated frames beyond the end of the video (label/video length mismatch)"]["count"] == 2
  prot = meta["protocols"]["fera2015"]
  assert "rec1" in prot["train"] + prot["validation"] and "rec9" in prot["test"]
  assert len(sum(prot.values(), [])) == 31
