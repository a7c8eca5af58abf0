"""DISFA builder on a generated raw tree (tests/fixtures/raw_trees.make_disfa)."""
import numpy as np
import pytest

from au_jax.face.align import template_pixels
from tests.fixtures import raw_trees as rt
from tfds_builders import common
from tfds_builders.disfa import Disfa, parse


def _by_frame(ds):
  return {int(r["frame"]): r for r in ds}


def test_parsers(tmp_path):
  p = tmp_path / "SN001_au1.txt"
  p.write_bytes(b"1,0\r\n2,3\r\n\r\n3,5\r\n")
  assert parse.read_au_file(p) == {1: 0, 2: 3, 3: 5}
  assert parse.landmark_label_frame("SN001_0000_lm.mat") == 1
  assert parse.landmark_label_frame("l00001_lm.mat") == 1
  assert parse.landmark_label_frame("l03631_lm.mat") == 3631
  assert parse.landmark_label_frame("notes.mat") is None
  p.write_text("1,0\n2,x\n")
  with pytest.raises(ValueError, match="SN001_au1.txt: line 2"):
    parse.read_au_file(p)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  from conftest import build
  tmp = tmp_path_factory.mktemp("disfa")
  facts = rt.make_disfa(tmp / "raw")
  # Haar, not "auto": with the [face] extra installed, dlib finds the cartoon
  # face that these tests count on no detector finding (SN002 frame 4).
  return facts, build(Disfa, tmp / "raw", tmp / "data", detector="haar")


def test_records(built):
  facts, b = built
  assert b.info.metadata["aus"] == list(rt.DISFA_AUS)
  assert set(b.info.splits) == {"SN001", "SN002"}
  sn1 = _by_frame(b.as_data_source(split="SN001"))
  sn2 = _by_frame(b.as_data_source(split="SN002"))
  # SN001: 8 frames. SN002: 8 label rows, 7 video frames (length mismatch),
  # frame 4 has no landmark file and the Haar detector finds no cartoon face.
  assert sorted(sn1) == list(range(1, 9))
  assert sorted(sn2) == [1, 2, 3, 5, 6, 7]
  for s, (sn, recs) in enumerate((("SN001", sn1), ("SN002", sn2))):
    for f, r in recs.items():
      want = [facts["value"](s, au, f) for au in rt.DISFA_AUS]
      if sn == "SN002":
        want[-1] = -1  # SN002_au26.txt is missing
      np.testing.assert_array_equal(r["au_intensity"], want)
      np.testing.assert_array_equal(r["au_occurrence"], -1)
      assert r["subject"].decode() == sn and r["sequence"].decode() == sn
      # Label frame f shows video frame f - 1 (its background level).
      img = r["image"]
      assert img.shape == (32, 32, 3)
      assert abs(float(img[1, 1].mean()) - rt.frame_level(f - 1)) < 8, (sn, f)
      # 66-point DISFA landmarks, aligned onto the template; 60/64 are NaN.
      lm = r["landmarks"]
      assert np.isnan(lm[[60, 64]]).all()
      ok = np.delete(np.arange(68), [60, 64])
      np.testing.assert_allclose(lm[ok], template_pixels(32)[ok], atol=0.05)
      # head pose from the raw landmarks (an upright, frontal template face)
      assert np.isfinite([r["yaw"], r["pitch"], r["roll"]]).all(), (sn, f)
      assert abs(r["yaw"]) < 15 and abs(r["roll"]) < 5, (sn, f, r["yaw"], r["roll"])
      assert r["occluder"].decode() == "" and np.isnan(r["expressivity"])


def test_report_and_protocols(built):
  _, b = built
  rep = b.info.metadata["build_report"]
  assert rep["missing AU file: that AU is unknown (-1) for the subject"]["count"] == 1
  assert rep["label frames beyond the end of the video (label/video length mismatch)"]["count"] == 1
  assert rep["frame without landmarks and no face detected"]["examples"] == ["SN002 frame 4"]
  prot = b.info.metadata["protocols"]
  assert sorted(prot) == ["fold1", "fold2", "fold3"]
  for p in prot.values():
    subjects = sum(p.values(), [])
    assert len(subjects) == len(set(subjects)) == 27  # subject-exclusive, all subjects
  assert "SN001" in prot["fold3"]["test"] and "SN003" in prot["fold1"]["test"]
  assert common.split_name("SN001") == "SN001"


def test_frame_step(tmp_path):
  from conftest import build
  rt.make_disfa(tmp_path / "raw")
  b = build(Disfa, tmp_path / "raw", tmp_path / "data", frame_step=2)
  assert [int(r["frame"]) for r in b.as_data_source(split="SN001")] == [1, 3, 5, 7]
  # Every 2nd LABEL frame; frame 7 is the last one the 7-frame video has.
  assert [int(r["frame"]) for r in b.as_data_source(split="SN002")] == [1, 3, 5, 7]
  assert b.info.metadata["frame_step"] == 2


def test_detection_fills_missing_landmarks(tmp_path, monkeypatch):
  from conftest import build
  from au_jax.face import detect
  rt.make_disfa(tmp_path / "raw")
  # A detector that finds the fixture face: frame 4 of SN002 is then kept.
  monkeypatch.setattr(detect, "detect_landmarks", lambda img, backend="auto": rt.face_landmarks())
  b = build(Disfa, tmp_path / "raw", tmp_path / "data")
  sn2 = _by_frame(b.as_data_source(split="SN002"))
  assert sorted(sn2) == list(range(1, 8))
  assert not np.isnan(sn2[4]["landmarks"]).any()  # detected: all 68 points
  assert np.isnan(sn2[3]["landmarks"][[60, 64]]).all()  # the dataset's 66 points
  rep = b.info.metadata["build_report"]
  assert rep["frame without landmarks: face detected (kept)"]["count"] == 1


def test_skip_missing_landmarks(tmp_path):
  from conftest import build
  rt.make_disfa(tmp_path / "raw")
  b = build(Disfa, tmp_path / "raw", tmp_path / "data", missing_landmarks="skip")
  assert b.info.splits["SN002"].num_examples == 6
  assert b.info.metadata["build_report"][
      "frame without landmarks (missing_landmarks='skip')"]["count"] == 1
