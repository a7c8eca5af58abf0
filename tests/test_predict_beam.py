"""Batch inference on Apache Beam: the same rows as the command line's CSV.

The Beam runs need apache-beam (`pip install 'au-jax[beam]'`; it is not in the
[test] extra: see docs/scaling.md) and are skipped without it. The file naming,
merging and glob expansion are tested without Beam. The predictor is an
untrained one (tests/fixtures/untrained.py): the rows are compared, not judged.
"""
import csv
import functools
import importlib.util
import json
import os

import cv2
import numpy as np
import pytest

from au_jax import predict
from au_jax.errors import UserError
from au_jax.inference import beam, demo_media, table
from tests.fixtures.untrained import untrained_predictor

_NO_BEAM = importlib.util.find_spec("apache_beam") is None
needs_beam = pytest.mark.skipif(
    _NO_BEAM, reason="apache-beam is not installed (pip install 'au-jax[beam]')")

LOAD = functools.partial(untrained_predictor, batch_size=4)
OPTIONS = dict(detector="haar")
_loads = []


def _counted_untrained():
  _loads.append(os.getpid())
  return untrained_predictor(batch_size=4)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
  """Two photos of one face each in a folder, a photo without a face, a 3-frame
  clip of two faces, a file that is not a video, and a missing file."""
  root = tmp_path_factory.mktemp("media")
  photos = demo_media.photos()
  (root / "faces").mkdir()
  for name in ("astronaut", "grace_hopper"):
    small = cv2.resize(photos[name], None, fx=0.5, fy=0.5)
    cv2.imwrite(str(root / "faces" / f"{name}.png"), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
  cv2.imwrite(str(root / "chelsea.jpg"), cv2.cvtColor(photos["chelsea"], cv2.COLOR_RGB2BGR))
  clip = str(root / "clip.avi")
  w = cv2.VideoWriter(clip, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 180))
  for i in (0, 10, 20):
    w.write(cv2.cvtColor(cv2.resize(demo_media.demo_frame(i, 480), (320, 180)),
                         cv2.COLOR_RGB2BGR))
  w.release()
  (root / "broken.avi").write_bytes(b"not a video at all" * 10)
  return [str(root / "faces"), str(root / "chelsea.jpg"), clip, str(root / "broken.avi"),
          str(root / "gone.png")]


@pytest.fixture(scope="module")
def reference(media, tmp_path_factory):
  """The command line's CSV and summary of the same inputs (write_csv is what
  `python -m au_jax.predict` runs)."""
  out = str(tmp_path_factory.mktemp("cli") / "aus.csv")
  summary = predict.write_csv(LOAD(), media, out, **OPTIONS)
  with open(out, "rb") as f:
    return f.read(), summary


def _same_counts(a: dict, b: dict) -> None:
  for key in ("inputs", "inputs_read", "inputs_skipped", "frames", "faces", "skips", "rows",
              "skipped"):
    assert a[key] == b[key], key


@needs_beam
@pytest.mark.slow
def test_two_workers_write_the_clis_rows(media, reference, tmp_path):
  out = str(tmp_path / "aus.csv")
  summary = predict.write_csv_beam(LOAD, media, out, beam_workers=2, **OPTIONS)
  rows, cli = reference
  with open(out, "rb") as f:
    assert f.read() == rows
  _same_counts(summary, cli)
  assert cli["faces"] >= 2      # predictions on real faces are compared, not only empty rows
  assert json.load(open(out + ".summary.json"))["rows"] == cli["rows"] > 0
  # One CSV per input: the CLI's rows of that input alone, under the same header.
  parts = [e["csv"] for e in summary["files"]]
  assert [os.path.relpath(p, out + ".per_input") for p in parts] == [
      "faces.csv", "chelsea.jpg.csv", "clip.avi.csv", "broken.avi.csv"]
  header, *body = rows.decode().splitlines(keepends=True)
  joined = [line for p in parts for line in open(p, newline="").readlines()[1:]]
  assert joined == body
  assert all(open(p, newline="").readline() == header for p in parts)
  assert summary["beam"]["workers"] == 2 and summary["model"] == cli["model"]
  assert summary["files"][3]["skipped"] == "OpenCV cannot open this video"
  assert not [f for f in os.listdir(out + ".per_input") if f.startswith(".results")]


@needs_beam
@pytest.mark.slow
def test_one_load_per_worker_and_a_failing_file_is_counted(media, reference, tmp_path,
                                                           monkeypatch):
  """In-process DirectRunner: one load for every file; a file whose prediction
  raises is named and counted, the others' rows are the CLI's."""
  real = predict._input_chunks

  def flaky(predictor, path, *args, **kwargs):
    if path.endswith("chelsea.jpg"):
      raise RuntimeError("decoder exploded")
    return real(predictor, path, *args, **kwargs)

  monkeypatch.setattr(predict, "_input_chunks", flaky)
  _loads.clear()
  out = str(tmp_path / "aus.csv")
  stale = tmp_path / "aus.csv.per_input" / "chelsea.jpg.csv"    # an earlier run's
  stale.parent.mkdir()
  stale.write_text(",".join(table.META_COLUMNS) + "\n" + ",".join("1" * 6) + "\n")
  summary = predict.write_csv_beam(_counted_untrained, media, out, beam_workers=1, **OPTIONS)
  assert _loads == [os.getpid()]
  failed = summary["files"][1]
  assert failed["skipped"] == "prediction failed on a Beam worker"
  assert failed["error"] == "RuntimeError: decoder exploded"
  assert summary["skips"]["input skipped: prediction failed on a Beam worker"] == 1
  assert summary["inputs_skipped"] == reference[1]["inputs_skipped"] + 1
  expected = [r for r in csv.reader(reference[0].decode().splitlines())
              if not r[0].endswith("chelsea.jpg")]
  assert list(csv.reader(open(out, newline=""))) == expected
  assert "csv" not in failed and not stale.exists()


@needs_beam
def test_a_model_that_does_not_load_is_one_line(media, tmp_path):
  load = functools.partial(predict.load_predictor, str(tmp_path / "nowhere"), 4)
  with pytest.raises(predict.UsageError, match=r"did not load on a Beam worker .*no such folder"):
    predict.write_csv_beam(load, media[:2], str(tmp_path / "aus.csv"), beam_workers=1, **OPTIONS)


@pytest.mark.skipif(not _NO_BEAM, reason="apache-beam is installed")
def test_beam_missing_names_the_extra(media, tmp_path):
  with pytest.raises(UserError, match=r"au-jax\[beam\]"):
    predict.write_csv_beam(LOAD, media[:1], str(tmp_path / "aus.csv"), beam_workers=2)


def test_part_paths_keep_the_inputs_relative_layout(tmp_path):
  folder = str(tmp_path / "out.csv.per_input")
  paths = ["a/clip.mp4", "b/clip.mp4", "b", "a/clip.mp4", "a/x/y.png"]
  got = beam.part_paths([str(tmp_path / "data" / p) for p in paths], folder)
  assert [os.path.relpath(p, folder) for p in got] == [
      "a/clip.mp4.csv", "b/clip.mp4.csv", "b.csv", "a/clip.mp4.csv", "a/x/y.png.csv"]
  (one,) = beam.part_paths([str(tmp_path / "v.mp4")], folder)
  assert one == os.path.join(folder, "v.mp4.csv")


def test_merge_keeps_one_header_and_every_row_in_order(tmp_path):
  parts = []
  for i, rows in enumerate([["1,a", '2,"b,c"'], [], ["3,d"]]):
    parts.append(str(tmp_path / f"{i}.csv"))
    with open(parts[-1], "w") as f:
      f.write("".join(line + "\n" for line in ["n,s", *rows]))
  beam.merge_csv(parts, str(tmp_path / "all.csv"))
  assert (tmp_path / "all.csv").read_text() == 'n,s\n1,a\n2,"b,c"\n3,d\n'
  with open(parts[1], "w") as f:
    f.write("other,header\n")
  with pytest.raises(ValueError, match="other columns"):
    beam.merge_csv(parts, str(tmp_path / "bad.csv"))
  assert sorted(os.listdir(tmp_path)) == ["0.csv", "1.csv", "2.csv", "all.csv"]


def test_quoted_globs_expand_in_name_order(tmp_path):
  for name in ("b.png", "a.png", "c.txt"):
    (tmp_path / name).write_bytes(np.zeros(3, np.uint8).tobytes())
  (tmp_path / "[x].png").write_bytes(b"")
  got = beam.expand_globs([str(tmp_path / "*.png"), str(tmp_path / "[x].png"),
                           str(tmp_path / "none*.mp4"), "plain.mp4"])
  assert got == [str(tmp_path / n) for n in ("[x].png", "a.png", "b.png", "[x].png")] + [
      str(tmp_path / "none*.mp4"), "plain.mp4"]
