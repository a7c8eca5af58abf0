"""Beam builds: the same records and skip report as the single-process build.

The Beam tests need apache-beam (`pip install 'au-jax[beam]'`; it is not in
the [test] extra: see docs/scaling.md) and are skipped without it. The report
merge is a pure function and is tested everywhere.
"""
import importlib.util

import numpy as np
import pytest

from tfds_builders import common

_NO_BEAM = importlib.util.find_spec("apache_beam") is None
needs_beam = pytest.mark.skipif(
    _NO_BEAM, reason="apache-beam is not installed (pip install 'au-jax[beam]')")


def _records(builder) -> dict:
  """{split: [record, ...]} of a built dataset, in stored order."""
  return {split: list(builder.as_data_source(split=split)) for split in builder.info.splits}


def _assert_same(a, b):
  """Same splits, same records in the same (frame) order, same skip report."""
  ra, rb = _records(a), _records(b)
  assert ra.keys() == rb.keys()
  for split in ra:
    assert len(ra[split]) == len(rb[split]), split
    for i, (x, y) in enumerate(zip(ra[split], rb[split])):
      assert x.keys() == y.keys()
      for f in x:
        np.testing.assert_array_equal(x[f], y[f], err_msg=f"{split} record {i} {f}")
  for k in ("build_report", "subjects", "source"):
    assert a.info.metadata.get(k) == b.info.metadata.get(k), k


@needs_beam
@pytest.mark.slow
def test_disfa_beam_two_workers_equals_single_process(tmp_path):
  from tests.fixtures import raw_trees as rt
  from tfds_builders import build
  rt.make_disfa(tmp_path / "raw")
  kw = dict(image_size=32, detector="haar")
  single = build.build("disfa", str(tmp_path / "raw"), str(tmp_path / "single"), **kw)
  beam2 = build.build("disfa", str(tmp_path / "raw"), str(tmp_path / "beam"), beam_workers=2,
                      **kw)
  # The fixture's quirks are skipped and counted the same way by both.
  assert len(single.info.metadata["build_report"]) >= 3
  assert sum(s.num_examples for s in single.info.splits.values()) == 14
  _assert_same(single, beam2)


@needs_beam
@pytest.mark.slow
def test_beam_build_failures_name_the_subject(tmp_path):
  from tests.fixtures import raw_trees as rt
  from tfds_builders import build
  facts = rt.make_disfa(tmp_path / "raw")
  (facts["root"] / "Videos_LeftCamera" / "LeftVideoSN002_comp.avi").write_bytes(b"")
  kw = dict(image_size=32, detector="haar", beam_workers=2)
  # --strict: the unreadable file stops the build, naming the subject and the file.
  with pytest.raises(SystemExit, match=r"subject 'SN002' failed: RawFormatError: .*"
                                       r"LeftVideoSN002_comp.avi: empty file"):
    build.build("disfa", str(tmp_path / "raw"), str(tmp_path / "strict"), strict=True, **kw)
  # Without it SN002 has no record left: one process drops its split, Beam cannot.
  with pytest.raises(SystemExit, match=r"subject 'SN002' yielded no record"):
    build.build("disfa", str(tmp_path / "raw"), str(tmp_path / "lenient"), **kw)


@needs_beam
@pytest.mark.slow
def test_synthetic_au_beam_two_workers_equals_single_process(tmp_path):
  """The base class' path (no raw tree, no skip report)."""
  import tensorflow_datasets as tfds

  from tfds_builders import build
  from tfds_builders.synthetic_au import SyntheticAu
  from tfds_builders.synthetic_au.synthetic_au import SyntheticAuConfig
  config = SyntheticAuConfig(name="beam_test", num_subjects=3, sequences_per_subject=1,
                             frames_per_sequence=4, image_size=32)
  built = []
  for name, options in (("single", None), ("beam", build.beam_options(beam_workers=2))):
    b = SyntheticAu(data_dir=str(tmp_path / name), config=config)
    if options is not None:
      common.use_beam(b)
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(beam_options=options))
    built.append(SyntheticAu(data_dir=str(tmp_path / name), config=config))
  assert sum(s.num_examples for s in built[0].info.splits.values()) == 12
  assert "build_report" not in built[0].info.metadata
  _assert_same(*built)


@pytest.mark.skipif(not _NO_BEAM, reason="apache-beam is installed")
def test_beam_missing_names_the_extra():
  from tfds_builders import build
  with pytest.raises(SystemExit, match=r"au-jax\[beam\]"):
    build.beam_options(beam_workers=2)


def _report(skips, max_examples=3):
  """SkipReport.as_dict() of (reason, example, list_all) skips, in order."""
  from tfds_builders import raw_utils
  rep = raw_utils.SkipReport(max_examples)
  for reason, example, list_all in skips:
    rep.skip(reason, example, list_all=list_all)
  return rep.as_dict()


def test_merged_reports_equal_one_report():
  """Driver's scan skips + per-subject deltas == one process counting all."""
  rng = np.random.default_rng(0)
  reasons = ["a", "b", "unreadable"]

  def skips(n, tag):
    return [(r, f"{tag}{i}", r == "unreadable")
            for i, r in enumerate(rng.choice(reasons, n))]

  scan = skips(4, "scan")
  subjects = [skips(int(rng.integers(0, 6)), f"s{k}_") for k in range(5)]
  want = _report(scan + sum(subjects, []))
  base = _report(scan)
  # What each worker reports: its own scan's skips, then its subject's.
  deltas = [common.report_delta(_report(scan + s), base) for s in subjects]
  assert common.merge_reports(base, deltas) == want
  assert common.merge_reports({}, []) == {}
