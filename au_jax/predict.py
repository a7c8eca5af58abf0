r"""Inference: a trained workdir -> AU predictions for faces, images and videos.

Python / notebooks:

  from au_jax.predict import Predictor
  p = Predictor.from_workdir("runs/ccnn")
  df = p.predict_video("clip.mp4")                # pandas DataFrame, one row per face per frame
  df = p.predict_folder("photos/")                # every face of every image
  for chunk in p.stream_video("long.mp4"): ...    # the same table in chunks (long videos)
  out = p.predict_images([rgb_image, ...])        # largest face per image -> arrays
  p.predict(aligned_faces, landmarks)             # faces already aligned like the records

Command line (images, folders, videos -> one CSV):

  python -m au_jax.predict --workdir=runs/ccnn --input=clip.mp4 photos/ --output=aus.csv

Many files: quoted patterns (--input 'videos/*.mp4') are expanded, and
--beam_workers=N (or --beam_pipeline_options=... for Dataflow / Flink / Spark)
runs the same command as an Apache Beam pipeline (`write_csv_beam`,
au_jax/inference/beam.py): one CSV per input under `aus.csv.per_input/`, merged
into --output with the rows the plain command writes.

The workdir is checked before it is used (au_jax/inference/workdir_check.py):
a missing or damaged artefact (config, checkpoint, fitted state, report.json
thresholds) ends in plain lines naming the file, exit 2, and a run that has
not finished is refused unless --allow_unfinished; the summary
(`aus.csv.summary.json`, and stderr) names the checkpoint and step used. An
existing --output that au-jax did not write is refused unless --overwrite,
and `aus.csv.lock` keeps a second run off the same output.

The table (au_jax/inference/table.py) has OpenFace 2.x columns: input,
frame, face_id, timestamp, confidence, success, the face box, landmarks
x_0..x_67, y_0..y_67 in input pixels, head pose pose_Tx..pose_Rz (mm and
radians as OpenFace defines them, smoothed over a track; au_jax/face/pose.py;
with the Haar detector pose_Rx..pose_Rz are empty: its landmarks carry no
head turn),
AUxx_r (intensity 0-5, AUs coded for intensity), AUxx_c (0/1) and AUxx_p
(occurrence probability, methods that have one). By default
(--columns=openface) the AU columns are OpenFace 2.x's 17 AUxx_r and 18
AUxx_c in its order, empty (NaN) for AUs the model does not predict, then the
model's other AUs, so readers of OpenFace files select them by name;
--columns=model keeps the model's AUs only. AUxx_c follows from AUxx_r /
AUxx_p by the method's rule in OCCURRENCE_RULES (au_jax/inference/model.py),
so the two never contradict each other. Every face is reported, with ids
kept across a video by tracking (au_jax/face/tracking.py: full detection
every `detect_every` frames on a frame downscaled to `detect_width`,
re-detection in a window around each face in between); a frame without a
face has one row with face_id -1 and success = 0. Videos run through a
bounded decode | faces | predict pipeline of threads
(au_jax/inference/pipeline.py); predictions are made in fixed-size batches
(the last one padded), so the jitted function compiles once, and JAX's
persistent compilation cache (au_jax/inference/cache.py: ~/.cache/au-jax/jax
by default, --compilation_cache=DIR or "off", safe to delete) keeps it for the
next run.

`Predictor` is the trained model of au_jax/inference/model.py (`TrainedModel`:
the workdir restored and checked, `predict` on aligned faces, `fit_session`)
with this module's media front end on top: detection, alignment, tracking,
tables of images, folders and videos, and the CSV command line.

The model is the workdir's selected checkpoint (`best_checkpoint/`, the one
its test report was computed with; the latest checkpoint when selection was
off), with its fitted state (e.g. a QDA head). Label-free session statistics
(Gudi's session contrast normalisation) are fitted on the data being
predicted: one video or one folder is one session (CLI, predict_video,
predict_folder), and one `predict` / `predict_images` call is one session
unless a `session=` from `fit_session` is passed.
"""
from __future__ import annotations

import argparse
import csv
import json
import fcntl
import functools
import os
import secrets
import sys
import tempfile
from typing import Iterable, Iterator, Sequence

import cv2
import numpy as np

from au_jax import xla_options
from au_jax.errors import UserError
from au_jax.face import detect
from au_jax.face import pose as head_pose
from au_jax.face.align import align_face
from au_jax.face.tracking import FaceTracker
from au_jax.inference import beam, cache, pipeline, plots, table
from au_jax.inference.model import OCCURRENCE_RULES, TrainedModel
from au_jax.io import atomic_write, positive_int
from au_jax.train.records import evenly_spaced

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv")


class Predictor(TrainedModel):
  """A trained model (TrainedModel, au_jax/inference/model.py) with the media front
  end: detection, alignment and tracking of raw images, folders and videos, and
  their tables."""

  @classmethod
  def from_workdir(cls, workdir: str, batch_size: int = 64, allow_unfinished: bool = False,
                   compilation_cache: str | bool | None = True) -> Predictor:
    """`TrainedModel.from_workdir`, with JAX's persistent compilation cache on
    (au_jax/inference/cache.py): `compilation_cache` a folder, False for none,
    True for the user's JAX setting, $AU_JAX_CACHE_DIR or ~/.cache/au-jax/jax."""
    folder = cache.enable(compilation_cache)
    p = super().from_workdir(workdir, batch_size=batch_size, allow_unfinished=allow_unfinished)
    p.source["compilation_cache"] = folder
    return p

  def fit_session_images(self, images: Sequence[np.ndarray], detector: str = "auto"):
    """`fit_session` of the faces found in raw images (None when none is found)."""
    aligned = [a for a in (self.align(img, None, detector) for img in images) if a is not None]
    if not aligned:
      return None
    return self.fit_session(np.stack([a.image for a in aligned]),
                            np.stack([a.landmarks for a in aligned]))

  def predict_images(self, images: Sequence[np.ndarray],
                     landmarks: Sequence[np.ndarray | None] | None = None,
                     detector: str = "auto", session=None) -> dict:
    """Detect (unless landmarks are given), align, transform and predict.

    Returns the `predict` outputs plus "success" [N] bool (a face was found);
    rows without a face are zeros. `session` as in `predict` (default: the
    faces found in these images are one session).
    """
    faces, lms, ok = [], [], []
    for i, img in enumerate(images):
      lm = landmarks[i] if landmarks is not None else None
      aligned = self.align(img, lm, detector)
      ok.append(aligned is not None)
      if aligned is not None:
        faces.append(aligned.image)
        lms.append(aligned.landmarks)
    ok = np.asarray(ok, bool)
    a = self.info.num_aus
    out = {k: np.zeros((len(ok), a), np.float32) for k in ("intensity", "occurrence")}
    out["occurrence_label"] = np.zeros((len(ok), a), np.int32)
    if ok.any():
      pred = self.predict(np.stack(faces), np.stack(lms), session=session)
      for k in out:
        out[k][ok] = pred[k]
    out["success"] = ok
    return out

  def align(self, image: np.ndarray, landmarks=None, detector: str = "auto"):
    """The aligned face of an RGB image, or None when no face is found."""
    if landmarks is None:
      landmarks = detect.detect_landmarks(image, backend=detector)
      if landmarks is None:
        return None
    return align_face(image, landmarks, size=self.image_size, method=self.alignment)

  # ------------------------------------------------------------ tables of media

  def layout(self, landmarks: bool = True, columns: str = "openface") -> table.Layout:
    """The columns of this model's table (see au_jax/inference/table.py);
    `columns`: the AU column set, "openface" (OpenFace 2.x's AUs, then the
    model's others) or "model" (the model's AUs only)."""
    return table.Layout(
        aus=tuple(self.info.aus),
        r_index=tuple(k for k, c in enumerate(self.info.intensity_coded) if c),
        with_p=OCCURRENCE_RULES.get(self.config.model.name, ("threshold", True))[1],
        landmarks=landmarks, au_set=columns)

  def csv_columns(self, landmarks: bool = True, columns: str = "openface") -> list[str]:
    return self.layout(landmarks, columns).columns

  def stream_video(self, path: str, **options) -> Iterator:
    """`predict_video` in chunks: pandas DataFrames of `chunk_frames` frames
    each, produced while the video is decoded (memory does not grow with
    its length). Options as `predict_video`."""
    return self._stream_input(path, "video", options)

  def predict_video(self, path: str, **options):
    """Every face of every frame of a video, as a pandas DataFrame.

    Columns: see au_jax/inference/table.py (OpenFace names). One video is one
    session (for models with session statistics). `df.attrs["summary"]`
    holds the counts (frames, faces, unreadable frames and why).

    Options (all keyword):
      detector: "auto" (dlib when installed, else Haar), "dlib" or "haar".
      detect_every: full-frame detection every k frames, tracking in between
        (1: detect on every frame).
      detect_width: full detection on the frame downscaled to this width
        (default: dlib 640, Haar 320).
      max_faces: at most this many faces per frame, the largest (0: all).
      min_confidence: drop faces scoring below (default: the backend's).
      landmarks: False leaves out the 136 landmark columns.
      columns: the AU columns, "openface" (default: OpenFace 2.x's 17 AUxx_r
        and 18 AUxx_c in its order, NaN for AUs the model does not predict,
        then the model's other AUs) or "model" (the model's AUs only).
      pose_smoothing: weight of a frame's own head pose against its track's
        smoothed pose of the frame before (1: no smoothing).
      chunk_frames: frames per chunk (stream_video).
      threads: False runs decode, faces and predict in the caller.
    Raises:
      UserError: the file is missing or OpenCV cannot open or decode it.
    """
    return self._collect(self.stream_video(path, **options))

  def predict_folder(self, path: str, **options):
    """Every face of every image of a folder (name order), as a pandas DataFrame.

    Each image is detected on its own (no tracking); `frame` numbers the
    images from 1 and `input` names each image file. The folder is one
    session. Options as `predict_video`.
    """
    return self._collect(self._stream_input(path, "folder", options))

  def _collect(self, chunks):
    import pandas as pd  # pandas (slow to import) only for the DataFrame API
    parts = list(chunks)
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    df.attrs["summary"] = parts[-1].attrs.get("summary", {})
    return df

  def _stream_input(self, path: str, kind: str, options: dict) -> Iterator:
    path = os.fspath(path)
    if not os.path.exists(path):
      raise UserError(f"{path}: no such file or folder")
    if kind == "folder" and not os.path.isdir(path):
      raise UserError(f"{path} is not a folder")
    if kind == "video" and os.path.isdir(path):
      raise UserError(f"{path} is a folder: use predict_folder")
    entry = _new_entry(path, kind)
    log = _DecoderLog()
    try:
      any_chunk = False
      for df in _input_chunks(self, path, kind, entry, log, options):
        any_chunk = True
        df.attrs["summary"] = entry
        yield df
      if "skipped" in entry:
        raise UserError(f"{path}: {entry['skipped']}")
      if not any_chunk:
        df = table.empty_frame(self.layout(options.get("landmarks", True),
                                           options.get("columns", "openface")))
        df.attrs["summary"] = entry
        yield df
    finally:
      log.close()

  def stream_frames(self, frames: Iterable["_Frame"], *, entry: dict | None = None,
                    still: bool = False, session=None, detector: str = "auto",
                    detect_every: int = 10, detect_width: int | None = None, max_faces: int = 0,
                    min_confidence: float | None = None, landmarks: bool = True,
                    columns: str = "openface", pose_smoothing: float = 0.5,
                    chunk_frames: int = 256, threads: bool = True,
                    pandas: bool = True) -> Iterator:
    """DataFrame chunks of the faces of `frames` (decode | faces | predict pipeline).

    Args:
      frames: `_Frame`s in order (iter_frames); one stream is one video
        (face ids persist), or unrelated images when `still`.
      entry: summary entry whose counts (frames, faces, problems) are updated.
      session: session statistics for models that use them.
      pandas: False yields {column: numpy array} instead of DataFrames (the
        CSV writer's way, without importing pandas).
      others: as `predict_video`.
    """
    layout = self.layout(landmarks, columns)
    tracker = FaceTracker(detector, detect_every=1 if still else detect_every,
                          detect_width=detect_width, max_faces=max_faces,
                          min_score=min_confidence)
    smoother = head_pose.PoseSmoother(pose_smoothing)
    turns = detect.POSE_FROM_LANDMARKS[tracker.backend.name]
    entry = entry if entry is not None else _new_entry("", "frames")

    def faces_of(fr: "_Frame") -> table.FrameRows:
      rows = table.FrameRows(fr.source, fr.number, fr.timestamp, [], fr.problem)
      if fr.image is None:
        return rows
      if still:
        tracker.reset()
        smoother.reset()
      try:
        found = tracker(fr.image)
      except Exception as e:  # pylint: disable=broad-except (one frame never stops a video)
        tracker.reset()
        smoother.reset()
        rows.problem = f"face detection failed ({type(e).__name__})"
        return rows
      height, width = fr.image.shape[:2]
      for f in found:
        try:
          f.aligned = align_face(fr.image, f.landmarks68, size=self.image_size,
                                 method=self.alignment)
        except ValueError:
          continue
        guess = smoother.previous(f.face_id, fr.number)
        f.pose = smoother.smooth(f.face_id, fr.number,
                                 head_pose.estimate(f.landmarks68, width, height, guess=guess))
        if not turns:     # Haar landmarks: the position is measured, the rotation is not
          f.pose = np.concatenate([f.pose[:3], np.full(3, np.nan, f.pose.dtype)])
        rows.faces.append(f)
      return rows

    stream = pipeline.threaded_map(frames, faces_of, threads=threads)
    for group in pipeline.batched(stream, lambda r: len(r.faces), max_size=self.batch_size,
                                  max_items=chunk_frames):
      faces = [f for r in group for f in r.faces]
      pred = None
      if faces:
        crops = np.stack([f.aligned.image for f in faces])
        lms = np.stack([f.aligned.landmarks for f in faces])
        # No session statistics of the input (no face among its sampled
        # frames): this chunk's faces are the session, as in `predict`.
        chunk_session = session if session is not None else self.fit_session(crops, lms)
        pred = self._run(self._records(crops, lms), len(faces), chunk_session)
      for r in group:
        entry["frames"] += 1
        entry["faces"] += len(r.faces)
        entry["frames_with_face"] += bool(r.faces)
        if r.problem:
          entry["problems"].append(dict(path=r.source, frame=r.number, reason=r.problem))
      yield table.chunk_frame(layout, group, pred, pandas)



# ----------------------------------------------------------------------------- CLI
#
# The command line never overwrites an input or a file it did not write, never
# stops for one bad file and never loses rows: rows go to the run's own
# `<output>.<pid>.<random>.partial`, flushed per block, renamed to `<output>`
# at the end, while `<output>.lock` keeps other runs off that output; bad media
# become rows with success = 0 or counted skips, with reasons, in the stderr
# summary and `<output>.summary.json`. Mistakes in the command (UsageError)
# and a workdir that cannot be used end in one or two plain lines, exit 2.

EXIT_USAGE = 2
# Candidate image extensions, grouped by the codec that reads them; the CLI
# accepts those this OpenCV build can decode (readable_image_extensions).
_IMAGE_CODECS = {".png": (".png",), ".jpg": (".jpg", ".jpeg", ".jpe"), ".bmp": (".bmp", ".dib"),
                 ".tif": (".tif", ".tiff"), ".webp": (".webp",), ".jp2": (".jp2",),
                 ".avif": (".avif",), ".ppm": (".pbm", ".pgm", ".ppm", ".pnm", ".pxm"),
                 ".pfm": (".pfm",), ".sr": (".sr", ".ras"), ".exr": (".exr",),
                 ".hdr": (".hdr", ".pic"), ".gif": (".gif",)}
_readable: tuple[str, ...] | None = None


class UsageError(UserError):
  """A mistake in the command (flags, paths, output); printed plainly, exit 2."""


def readable_image_extensions() -> tuple[str, ...]:
  """Image extensions `cv2.imread` can decode in this OpenCV build.

  Probed once by encoding and decoding a small image per codec (an
  extension list cannot know how OpenCV was built, e.g. with or without
  WebP/AVIF); the codecs' complaints during the probe are discarded.
  """
  global _readable
  if _readable is None:
    small = np.full((64, 64, 3), 128, np.uint8)
    found = []
    log = _DecoderLog()
    try:
      for probe, exts in _IMAGE_CODECS.items():
        try:
          with log:
            ok, buf = cv2.imencode(probe, small)
            ok = ok and cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) is not None
        except cv2.error:
          ok = False
        if ok:
          found += exts
    finally:
      log.close()
    _readable = tuple(found)
  return _readable


class _DecoderLog:
  """Captures what OpenCV / FFmpeg print on the C-level stderr while decoding.

  Their warnings about corrupt data bypass Python's sys.stderr, so fd 2 is
  pointed at an unlinked temporary file (nothing left behind, even on a
  kill) around each decode call; `take()` returns the lines caught so far,
  which are counted per input rather than scrolled past.
  """

  def __init__(self):
    self._file = tempfile.TemporaryFile()
    self._saved = None

  def __enter__(self):
    sys.stderr.flush()
    self._saved = os.dup(2)
    os.dup2(self._file.fileno(), 2)
    return self

  def __exit__(self, *exc):
    os.dup2(self._saved, 2)
    os.close(self._saved)

  def written(self) -> int:
    """Bytes caught since the last `take()`."""
    return os.fstat(self._file.fileno()).st_size

  def take(self, keep: int | None = None) -> tuple[int, list[str]]:
    """(number of lines caught so far, the first `keep` of them), then forgets
    them. Read line by line: a long damaged video's messages are counted
    without being held in memory."""
    self._file.seek(0)
    n, first = 0, []
    for raw in self._file:
      line = raw.decode("utf-8", "replace").strip()
      if line:
        n += 1
        if keep is None or len(first) < keep:
          first.append(line)
    self._file.seek(0)
    self._file.truncate()
    return n, first

  def close(self):
    self._file.close()


class _Frame:
  """One frame of an input: its RGB image, or None and the reason."""
  __slots__ = ("source", "number", "timestamp", "image", "problem")

  def __init__(self, source, number, timestamp, image, problem=None):
    self.source, self.number, self.timestamp = source, number, timestamp
    self.image, self.problem = image, problem


def plan_inputs(inputs: Sequence[str]) -> tuple[list[tuple[str, str]], list[dict]]:
  """([(path, kind)], [skipped {path, reason}]); kind is image, folder or video.

  Checks only names and existence (cheap, before the model is loaded); the
  content is judged while decoding.
  """
  plans, skipped = [], []
  for path in inputs:
    ext = os.path.splitext(path)[1].lower()
    if os.path.isdir(path):
      plans.append((path, "folder"))
    elif not os.path.exists(path):
      skipped.append(dict(path=path, reason="no such file or folder"))
    elif ext in VIDEO_EXTENSIONS:
      plans.append((path, "video"))
    elif ext in readable_image_extensions():
      plans.append((path, "image"))
    else:
      skipped.append(dict(path=path, reason=f"not an image or video format OpenCV reads "
                                            f"({ext or 'no extension'})"))
  return plans, skipped


def check_output(output: str, inputs: Sequence[str], overwrite: bool = False,
                 csv_output: bool = True) -> None:
  """Refuses an output that would overwrite, or be read as, an input, and,
  for the CSV (`csv_output`), an existing file that is not an au-jax CSV
  (unless `overwrite`). --plot / --overlay files are checked against the
  inputs only: a PNG or video cannot tell who wrote it."""
  if not output:
    raise UsageError("--output is empty: name the CSV file to write")
  if os.path.isdir(output):
    raise UsageError(f"--output {output} is a folder: name the CSV file to write")
  folder = os.path.dirname(os.path.abspath(output))
  if not os.path.isdir(folder):
    raise UsageError(f"--output {output}: the folder {folder} does not exist")
  written = [output, output + ".summary.json", output + ".lock"]
  for path in inputs:
    if not os.path.exists(path):
      continue
    real = os.path.realpath(path)
    for w in written:
      if os.path.realpath(w) == real or (os.path.exists(w) and os.path.samefile(w, path)):
        raise UsageError(f"--output {output} would overwrite the input {path}; "
                         f"write the CSV elsewhere")
      if os.path.isdir(path) and os.path.commonpath([real, os.path.realpath(w)]) == real:
        raise UsageError(f"--output {output} is inside the input folder {path} "
                         f"(it would be read as an input); write the CSV elsewhere")
  if overwrite or not csv_output:
    return
  for path, ours in ((output, _is_our_csv), (output + ".summary.json", _is_our_summary)):
    if os.path.lexists(path) and not ours(path):
      raise UsageError(f"--output {output}: {path} exists and is not an au-jax CSV or summary; "
                       f"name another file, or pass --overwrite to replace it")


def _is_our_csv(path: str) -> bool:
  """A CSV this command wrote: its header starts with the table's columns."""
  if not os.path.isfile(path):
    return False
  try:
    with open(path, newline="") as f:
      first = f.readline(65536)
  except (OSError, UnicodeDecodeError):
    return False
  header = next(csv.reader([first]), [])
  return tuple(header[:len(table.META_COLUMNS)]) == table.META_COLUMNS


def _is_our_summary(path: str) -> bool:
  if not os.path.isfile(path) or os.path.getsize(path) > 1 << 30:
    return False
  try:
    with open(path) as f:
      d = json.load(f)
  except (OSError, UnicodeDecodeError, json.JSONDecodeError):
    return False
  return isinstance(d, dict) and {"output", "inputs", "skips", "files"} <= set(d)


class OutputLock:
  """An exclusive lock on one --output for the lifetime of a run.

  `<output>.lock` is locked with fcntl.flock (released by the kernel even
  on kill -9), so a second run on the same output refuses at once instead of
  mixing its rows in; the file is removed on release. A run that locked a
  lock file another run had just removed sees that the path no longer
  names its file and tries again.
  """

  def __init__(self, output: str):
    self.output, self.path = output, output + ".lock"
    self._f = None

  def acquire(self) -> "OutputLock":
    for _ in range(100):
      try:
        f = open(self.path, "a+")
      except OSError as e:
        raise UsageError(f"cannot write {self.path}: {e.strerror or e}") from None
      try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
      except OSError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise UsageError(f"--output {self.output} is being written by another run ({holder}, "
                         f"lock {self.path}): wait for it, or write another --output") from None
      try:
        same = os.stat(self.path).st_ino == os.fstat(f.fileno()).st_ino
      except FileNotFoundError:
        same = False
      if same:
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        self._f = f
        return self
      f.close()      # the lock file was removed by the run that held it: lock the new one
    raise UsageError(f"cannot lock {self.path}: it keeps being replaced")

  def release(self) -> None:
    if self._f is not None:
      try:
        os.remove(self.path)      # while still locked: no one holds a removed file's lock
      except OSError:
        pass
      fcntl.flock(self._f.fileno(), fcntl.LOCK_UN)
      self._f.close()
      self._f = None

  def __enter__(self):
    return self.acquire() if self._f is None else self

  def __exit__(self, *exc):
    self.release()


def iter_frames(path: str, kind: str, entry: dict, log: _DecoderLog) -> Iterator[_Frame]:
  """The frames of one input; what cannot be read is noted in `entry`.

  A folder yields its images in name order (an unreadable one as a frame
  without image, so it gets a success = 0 row); other files in it are
  listed in entry["ignored"]. A video yields its decodable frames and notes
  when it ends before the frame count its container declares: "truncated"
  when the decoder complained on the way (a cut or damaged file), only the
  declared count when the stream ended cleanly (the count is an estimate).
  """
  if kind == "image":
    yield _read_image(path, 1, log)
  elif kind == "folder":
    images = []
    for name in sorted(os.listdir(path)):
      f = os.path.join(path, name)
      ext = os.path.splitext(name)[1].lower()
      if os.path.isdir(f):
        entry["ignored"].append(dict(path=f, reason="subfolder (not searched)"))
      elif ext in readable_image_extensions():
        images.append(f)
      else:
        entry["ignored"].append(dict(path=f, reason=f"not an image format OpenCV reads "
                                                    f"({ext or 'no extension'})"))
    if not images:
      entry["skipped"] = "folder without images OpenCV reads"
    for i, f in enumerate(images):
      yield _read_image(f, i + 1, log)
  else:
    if os.path.getsize(path) == 0:
      entry["skipped"] = "empty video file (0 bytes)"
      return
    with log:
      cap = cv2.VideoCapture(path)
    try:
      if not cap.isOpened():
        entry["skipped"] = "OpenCV cannot open this video"
        return
      fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
      declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
      complaints = log.written()
      i = 0
      while True:
        with log:
          ok, bgr = cap.read()
        if not ok:
          break
        i += 1
        yield _Frame(path, i, (i - 1) / fps if fps else 0.0, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
      cap.release()
    if i == 0:
      entry["skipped"] = "no frame of this video could be decoded"
    elif 0 < i < declared:
      # The container's frame count is an estimate (edit lists, variable frame
      # rates): fewer frames is a truncation only when the decoder complained
      # while reading; a stream that ends cleanly is complete.
      if log.written() > complaints:
        entry["truncated"] = (f"truncated video: {i} of the {declared} frames its container "
                              f"declares")
      else:
        entry["frames_declared"] = declared


def _read_image(path: str, number: int, log: _DecoderLog) -> _Frame:
  if os.path.getsize(path) == 0:
    return _Frame(path, number, 0.0, None, "empty image file (0 bytes)")
  with log:
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
  if bgr is None:
    return _Frame(path, number, 0.0, None, "unreadable image (OpenCV cannot decode it)")
  return _Frame(path, number, 0.0, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


class _CsvSink:
  """The CSV being written: this run's own `<output>.<pid>.<random>.partial`,
  flushed per block.

  `commit()` renames it to `<output>` (atomic: readers see the old file or
  the complete new one). After a failure the partial file is kept when it
  holds rows (they cost compute) and removed when it holds only the header.
  OSError (read-only folder, full disk) becomes a UsageError naming the file.
  """

  def __init__(self, output: str, header: Sequence[str]):
    self.output, self.rows = output, 0
    self.partial = f"{output}.{os.getpid()}.{secrets.token_hex(3)}.partial"
    self._f = None
    try:
      self._f = open(self.partial, "x", newline="")
      self._w = csv.writer(self._f)
      self._w.writerow(header)
      self._f.flush()
    except OSError as e:
      self.abandon()
      raise UsageError(f"cannot write {self.partial}: {e.strerror or e}") from None

  def write(self, chunk) -> None:
    """Appends the rows of a table chunk, {column: array} or a DataFrame (floats
    with 3 decimals, NaN empty)."""
    if not isinstance(chunk, dict):
      chunk = {c: chunk[c].to_numpy() for c in chunk.columns}
    rows = table.csv_rows(chunk)
    try:
      self._w.writerows(rows)
      self._f.flush()
    except OSError as e:
      raise UsageError(f"cannot write {self.partial}: {e.strerror or e}") from None
    self.rows += len(rows)

  def commit(self) -> None:
    try:
      os.fsync(self._f.fileno())
      self._f.close()
      os.replace(self.partial, self.output)
    except OSError as e:
      raise UsageError(f"cannot write {self.output}: {e.strerror or e}") from None

  def abandon(self) -> bool:
    """Closes after a failure; True when the partial file was kept."""
    if self._f is not None and not self._f.closed:
      try:
        self._f.close()
      except OSError:
        pass
    if self.rows == 0 and self._f is not None and os.path.exists(self.partial):
      os.remove(self.partial)
      return False
    return os.path.exists(self.partial)


def _new_entry(path: str, kind: str) -> dict:
  return dict(path=path, kind=kind, frames=0, faces=0, frames_with_face=0, problems=[],
              ignored=[])


def _predict_input(predictor: Predictor, path: str, kind: str, sink: _CsvSink, *,
                   options: dict, log: _DecoderLog, plot_rows: list | None) -> dict:
  """Predicts every frame of one input (a video, a folder or an image) and writes its rows.

  One input is one session: the place where per-session statistics of the
  input are fitted before its frames are predicted. Returns the input's
  summary entry {path, kind, frames, faces, problems, ignored, ...}.
  """
  entry = _new_entry(path, kind)
  for chunk in _input_chunks(predictor, path, kind, entry, log, dict(options, pandas=False)):
    sink.write(chunk)
    if plot_rows is not None:
      plot_rows.append(chunk)
  return entry


def _input_chunks(predictor: Predictor, path: str, kind: str, entry: dict, log: _DecoderLog,
                  options: dict) -> Iterator:
  """The table chunks of one input (one session: its statistics are fitted first);
  the decoder's complaints are counted in `entry` at the end."""
  session = (_fit_input_session(predictor, path, kind, options.get("detector", "auto"))
             if predictor.session_sample else None)
  yield from predictor.stream_frames(iter_frames(path, kind, entry, log), entry=entry,
                                     still=kind != "video", session=session, **options)
  count, first = log.take(keep=5)
  if count:
    entry["decoder_warnings"] = count
    entry["decoder_messages"] = first


def _fit_input_session(predictor: Predictor, path: str, kind: str, detector: str):
  """Session statistics of one input (one video or folder is one session), from at
  most `predictor.session_sample` evenly spaced readable frames: one pass counts
  them (decoding is cheap next to detection), a second keeps the chosen ones.
  None when no face is found among them (each block of frames is then its own
  session)."""
  scratch = dict(problems=[], ignored=[])
  n = sum(fr.image is not None for fr in iter_frames(path, kind, dict(scratch), _DecoderLog()))
  keep = set(evenly_spaced(np.arange(n), predictor.session_sample).tolist())
  frames = (fr.image for fr in iter_frames(path, kind, dict(scratch), _DecoderLog())
            if fr.image is not None)
  images = [img for i, img in enumerate(frames) if i in keep]
  return predictor.fit_session_images(images, detector)


def _summarise(output: str, entries: list[dict], skipped: list[dict], complete: bool) -> dict:
  """The counts of a run: inputs, frames, faces, and skips by reason."""
  by_reason: dict[str, int] = {}

  def count(reason, n=1):
    by_reason[reason] = by_reason.get(reason, 0) + n

  for s in skipped:
    count(f"input skipped: {s['reason']}")
  for e in entries:
    if "skipped" in e:
      count(f"input skipped: {e['skipped']}")
    if "truncated" in e:
      count("truncated video (its decodable frames kept)")
    for p in e["problems"]:
      count(f"{p['reason']} (row with success = 0)")
    for g in e["ignored"]:
      count(f"file in an input folder ignored: {g['reason'].split(' (')[0]}")
    if e.get("decoder_warnings"):
      count("decoder warnings (OpenCV/FFmpeg messages while decoding)", e["decoder_warnings"])
  read = [e for e in entries if "skipped" not in e]
  return dict(output=output, complete=complete,
              inputs=len(entries) + len(skipped), inputs_read=len(read),
              inputs_skipped=len(skipped) + len(entries) - len(read),
              frames=sum(e["frames"] for e in entries), faces=sum(e["faces"] for e in entries),
              skips=dict(sorted(by_reason.items())), files=entries, skipped=skipped)


def format_summary(summary: dict) -> str:
  """The stderr form of a run's summary (the JSON sidecar has the details)."""
  lines = [f"[au_jax] inputs {summary['inputs']} ({summary['inputs_skipped']} skipped), "
           f"frames {summary['frames']}, faces found {summary['faces']}"]
  model = summary.get("model") or {}
  if model.get("checkpoint"):
    unfinished = ("" if model.get("finished") else
                  f"; UNFINISHED run: {model.get('planned_steps')} steps planned, "
                  f"thresholds {model.get('thresholds')}")
    lines.append(f"[au_jax] model: {model['checkpoint']} step {model['step']}{unfinished}")
  examples: dict[str, str] = {}
  for s in summary["skipped"]:
    examples.setdefault(f"input skipped: {s['reason']}", s["path"])
  for e in summary["files"]:
    for key, reason in (("skipped", f"input skipped: {e.get('skipped')}"),
                        ("truncated", "truncated video (its decodable frames kept)")):
      if key in e:
        examples.setdefault(reason, f"{e['path']}: {e[key]}")
    for p in e["problems"]:
      examples.setdefault(f"{p['reason']} (row with success = 0)", p["path"])
    for g in e["ignored"]:
      examples.setdefault(f"file in an input folder ignored: {g['reason'].split(' (')[0]}", g["path"])
  for reason, n in summary["skips"].items():
    lines.append(f"[au_jax] {n:6d}  {reason}" + (f"  (e.g. {examples[reason]})" if reason in examples else ""))
  return "\n".join(lines)


def checked_plans(output: str, inputs: Sequence[str], overwrite: bool):
  """`plan_inputs(inputs)` after `check_output`; UsageError when no input is left to read."""
  check_output(output, inputs, overwrite)
  plans, skipped = plan_inputs(inputs)
  if not plans:
    raise UsageError("nothing to predict: " + "; ".join(f"{s['path']}: {s['reason']}"
                                                         for s in skipped[:3]))
  return plans, skipped


def write_csv(predictor: Predictor, inputs: Sequence[str], output: str, *,
              progress: bool = False, plot: str | None = None, overwrite: bool = False,
              lock: OutputLock | None = None, **options) -> dict:
  """Predicts every frame of `inputs` into one CSV; returns the run's summary.

  The CSV appears atomically at the end, with `<output>.summary.json` (the
  same counts, every file's reasons, and the checkpoint used). Rows are
  written as they are predicted to this run's own
  `<output>.<pid>.<random>.partial`, and `<output>.lock` keeps a second run
  off the same output. On a failure or Ctrl-C, the rows written so far stay
  in that partial file and nothing else is left.

  Args:
    plot: also write a PNG of the AU traces per face over time of the first
      input (au_jax/inference/plots.py).
    overwrite: replace an existing `output` that is not an au-jax CSV.
    lock: the output's lock when the caller holds it already.
    options: as `Predictor.predict_video` (detector, detect_every, ...).
  Raises:
    UsageError: the output would overwrite an input or a file au-jax did
      not write, is being written by another run, cannot be written, or no
      input is left to read.
  """
  plans, skipped = checked_plans(output, inputs, overwrite)
  own_lock = lock is None
  lock = OutputLock(output).acquire() if own_lock else lock
  try:
    return _write_csv(predictor, plans, skipped, output, progress=progress, plot=plot,
                      options=options)
  finally:
    if own_lock:
      lock.release()


def _write_csv(predictor, plans, skipped, output, *, progress, plot, options) -> dict:
  sink = _CsvSink(output, predictor.csv_columns(options.get("landmarks", True),
                                                options.get("columns", "openface")))
  log = _DecoderLog()
  entries: list[dict] = []
  plot_rows: list | None = [] if plot else None
  try:
    for i, (path, kind) in enumerate(plans):
      entries.append(_predict_input(predictor, path, kind, sink, options=options, log=log,
                                    plot_rows=plot_rows if i == 0 else None))
      if progress:
        print(f"\r[au_jax] {sink.rows} rows", end="", file=sys.stderr, flush=True)
    summary = _summarise(output, entries, skipped, complete=True)
    summary["rows"] = sink.rows
    summary["model"] = dict(predictor.source)
    try:
      atomic_write(output + ".summary.json", json.dumps(summary, indent=1) + "\n")
    except OSError as e:
      raise UsageError(f"cannot write {output}.summary.json: {e.strerror or e}") from None
    sink.commit()
  except BaseException:
    if sink.abandon():
      print(f"\n[au_jax] stopped; the {sink.rows} rows written so far are in {sink.partial}",
            file=sys.stderr)
    raise
  finally:
    log.close()
  if progress:
    print(file=sys.stderr)
  if plot:
    import pandas as pd  # pandas (slow to import) only for the DataFrame API
    plots.au_traces(pd.concat([pd.DataFrame(c) for c in plot_rows], ignore_index=True), plot)
  return summary


def write_csv_beam(load, inputs: Sequence[str], output: str, *, beam_workers: int | None = None,
                   pipeline_options: str | None = None, overwrite: bool = False,
                   lock: OutputLock | None = None, **options) -> dict:
  """`write_csv` as an Apache Beam pipeline (au_jax/inference/beam.py): one
  element per input, `load()` (a picklable function returning the Predictor)
  called once per worker, each input written by `write_csv` to its own CSV under
  `<output>.per_input/` (`beam.part_paths`), then `output` = their rows in input
  order, equal to `write_csv`'s, with `<output>.summary.json`. An input whose
  prediction raises is counted and named ("prediction failed on a Beam worker",
  its error in the summary) and the others are kept. Options as `write_csv`;
  beam_workers / pipeline_options as `beam.pipeline_options`."""
  plans, skipped = checked_plans(output, inputs, overwrite)
  own_lock = lock is None
  lock = OutputLock(output).acquire() if own_lock else lock
  try:
    folder = os.path.abspath(output) + ".per_input"    # the same path on every worker
    parts = beam.part_paths([p for p, _ in plans], folder)
    unique = list(dict.fromkeys(zip([p for p, _ in plans], parts)))
    results = dict(zip([u[1] for u in unique], beam.map_files(
        load, functools.partial(_write_part, options=options), unique, scratch=folder,
        beam_workers=beam_workers, options=pipeline_options)))
    entries, done = [], []
    for (path, kind), part in zip(plans, parts):
      r = results[part]
      if "load_error" in r:
        raise UsageError(f"the model did not load on a Beam worker ({r['worker']}): "
                         f"{r['load_error']}")
      if "entry" in r:
        done.append(r)
        entries.append(dict(r["entry"], csv=part, worker=r["worker"]))
      else:
        entries.append(dict(_new_entry(path, kind), skipped="prediction failed on a Beam worker",
                            error=r["error"], worker=r["worker"]))
    for e in [e for e in entries if "error" in e][:5]:
      print(f"[au_jax] failed: {e['path']} ({e['worker']}): {e['error']}", file=sys.stderr)
    if not done:
      raise UsageError(f"every input failed, e.g. {entries[0]['path']}: {entries[0]['error']}")
    summary = _summarise(output, entries, skipped, complete=True)
    summary.update(rows=sum(r["rows"] for r in done), model=done[0]["model"],
                   beam=dict(workers=beam_workers, pipeline_options=pipeline_options))
    try:
      atomic_write(output + ".summary.json", json.dumps(summary, indent=1) + "\n")
      beam.merge_csv([e["csv"] for e in entries if "csv" in e], output)
    except OSError as e:
      raise UsageError(f"cannot write {output}: {e.strerror or e}") from None
    return summary
  finally:
    if own_lock:
      lock.release()


def _write_part(predictor: Predictor, path: str, part: str, *, options: dict) -> dict:
  """One input of `write_csv_beam`, on a Beam worker: `write_csv` into its own CSV
  (an earlier run's CSV of it is removed when this one fails)."""
  os.makedirs(os.path.dirname(part), exist_ok=True)
  try:
    summary = write_csv(predictor, [path], part, **options)
  except BaseException:
    for f, ours in ((part, _is_our_csv), (part + ".summary.json", _is_our_summary)):
      if ours(f):
        os.remove(f)
    raise
  return dict(entry=summary["files"][0], rows=summary["rows"], model=summary["model"])


def load_predictor(workdir: str, batch_size: int, allow_unfinished: bool = False,
                   compilation_cache: str | bool | None = True) -> Predictor:
  """Predictor.from_workdir, with a missing, damaged or unfinished workdir as a UserError."""
  if not workdir.strip():
    raise UsageError("--workdir is empty: pass the training workdir (config.json, checkpoints)")
  path = os.path.expanduser(workdir)
  if not os.path.isdir(path):
    raise UsageError(f"--workdir {workdir}: no such folder")
  for f in ("config.json", "data_info.json"):
    if not os.path.isfile(os.path.join(path, f)):
      raise UsageError(f"--workdir {workdir} has no {f}: is it an au-jax training workdir?")
  return Predictor.from_workdir(path, batch_size=batch_size, allow_unfinished=allow_unfinished,
                                compilation_cache=compilation_cache)


def _split_equals_input(argv: Sequence[str]) -> list[str]:
  """`--input=a b c` as `--input a b c`: argparse gives an `=` value only the
  one word, and would call the next ones unrecognised."""
  out = []
  for a in argv:
    if a.startswith("--input="):
      out += ["--input", a[len("--input="):]]
    else:
      out.append(a)
  return out


def main(argv=None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--workdir", required=True, help="training workdir (checkpoints, config)")
  ap.add_argument("--input", required=True, nargs="+", action="extend",
                  help="images, folders or videos (--input a b, --input=a b, or repeated); "
                       "quoted glob patterns ('videos/*.mp4') are expanded")
  ap.add_argument("--output", required=True,
                  help="CSV to write (never an input, nor inside one; an existing file that "
                       "is not an au-jax CSV is refused unless --overwrite)")
  ap.add_argument("--overwrite", action="store_true",
                  help="replace an existing --output even when au-jax did not write it")
  ap.add_argument("--allow_unfinished", action="store_true",
                  help="predict with a run that has not finished (its latest or selected "
                       "checkpoint; thresholds 0.5 without report.json)")
  ap.add_argument("--detector", default="auto", choices=("auto", "haar", "dlib"),
                  help="face detector + landmarks: dlib (the [face] extra), haar (OpenCV, "
                       "coarse landmarks), auto = dlib when installed")
  ap.add_argument("--detect_every", type=positive_int, default=10,
                  help="videos: full-frame detection every k frames, tracking in between "
                       "(1: detect on every frame)")
  ap.add_argument("--detect_width", type=positive_int, default=None,
                  help="full detection on frames downscaled to this width (default: dlib "
                       "640, Haar 320)")
  ap.add_argument("--max_faces", type=int, default=0,
                  help="at most this many faces per frame, the largest (0: all)")
  ap.add_argument("--min_confidence", type=float, default=None,
                  help="drop faces the detector scores below this (default: dlib 0, Haar 1.5)")
  ap.add_argument("--no_landmarks", action="store_true", help="leave out x_0..y_67")
  ap.add_argument("--columns", default="openface", choices=table.COLUMN_SETS,
                  help="AU columns: openface (default) = OpenFace 2.x's 17 AUxx_r and 18 "
                       "AUxx_c in its order, empty for AUs the model does not predict, then the "
                       "model's other AUs and AUxx_p; model = the model's AUs only")
  ap.add_argument("--plot", default=None, metavar="PNG",
                  help="also write AU intensity traces per face over time (first input) "
                       "to this PNG")
  ap.add_argument("--overlay", default=None, metavar="VIDEO",
                  help="also write the (first) video with boxes, landmarks and top AUs drawn "
                       "(short clips: it is re-read and re-encoded)")
  ap.add_argument("--batch_size", type=positive_int, default=64)
  ap.add_argument("--compilation_cache", default=None, metavar="DIR",
                  help="JAX's persistent compilation cache (safe to delete; 'off': none); "
                       f"default: JAX_COMPILATION_CACHE_DIR, ${cache.ENV_VAR}, else "
                       "$XDG_CACHE_HOME/au-jax/jax or ~/.cache/au-jax/jax")
  ap.add_argument("--beam_workers", type=positive_int, default=None, metavar="N",
                  help="run as an Apache Beam pipeline, one element per input, on N worker "
                       "processes of this machine (DirectRunner; the [beam] extra): one CSV "
                       "per input under OUTPUT.per_input/, merged into --output")
  ap.add_argument("--beam_pipeline_options", default=None, metavar="K=V,...",
                  help="Beam pipeline options, comma-separated, as given (e.g. "
                       "'runner=FlinkRunner,flink_master=HOST:8081'): the same Beam run on "
                       "Dataflow / Flink / Spark; inputs, workdir and output on paths every "
                       "worker sees")
  args = ap.parse_args(_split_equals_input(sys.argv[1:] if argv is None else argv))
  args.input = beam.expand_globs(args.input)
  on_beam = args.beam_workers is not None or bool(args.beam_pipeline_options)
  progress = sys.stderr.isatty() and os.environ.get("AU_JAX_NO_PROGRESS") != "1"
  lock = OutputLock(args.output)
  try:
    if args.max_faces < 0:
      raise UsageError(f"--max_faces {args.max_faces}: give 0 (all faces) or a positive number")
    check_output(args.output, args.input, args.overwrite)
    for extra in (args.plot, args.overlay):
      if extra:
        check_output(extra, args.input, csv_output=False)
    plans, skipped = plan_inputs(args.input)
    if not plans:
      raise UsageError("nothing to predict: " + "; ".join(f"{s['path']}: {s['reason']}"
                                                           for s in skipped[:3]))
    if args.detector == "dlib":
      if not detect.dlib_available():
        raise UsageError("--detector dlib needs the [face] extra: pip install 'au-jax[face]' "
                         "(dlib-bin, face_recognition_models)")
    if on_beam and (args.plot or args.overlay):
      raise UsageError("--plot and --overlay run without Beam: run them on that one input")
    lock.acquire()      # before the model loads: a second run on this output stops at once
    options = dict(detector=args.detector, detect_every=args.detect_every,
                   detect_width=args.detect_width, max_faces=args.max_faces,
                   min_confidence=args.min_confidence, landmarks=not args.no_landmarks,
                   columns=args.columns)
    if on_beam:
      workdir = args.workdir.strip() and os.path.abspath(os.path.expanduser(args.workdir))
      load = functools.partial(load_predictor, workdir, args.batch_size, args.allow_unfinished,
                               args.compilation_cache)
      summary = write_csv_beam(load, args.input, args.output, beam_workers=args.beam_workers,
                               pipeline_options=args.beam_pipeline_options,
                               overwrite=args.overwrite, lock=lock, **options)
    else:
      predictor = load_predictor(args.workdir, args.batch_size, args.allow_unfinished,
                                 args.compilation_cache)
      summary = write_csv(predictor, args.input, args.output, progress=progress,
                          plot=args.plot, overwrite=args.overwrite, lock=lock, **options)
    if args.overlay:
      videos = [p for p, k in plans if k == "video"]
      if not videos:
        raise UsageError("--overlay needs a video among the inputs")
      plots.overlay_video(videos[0], args.output, args.overlay, predictor.info.aus)
  except UserError as e:   # UsageError, a damaged workdir, unreadable media
    print(f"au_jax.predict: {e}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE) from None
  except KeyboardInterrupt:
    print("au_jax.predict: interrupted", file=sys.stderr)
    raise SystemExit(130) from None
  finally:
    lock.release()
  print(format_summary(summary), file=sys.stderr)
  print(f"[au_jax] wrote {summary['rows']} rows ({summary['frames']} frames) to {args.output} "
        f"(counts and reasons: {args.output}.summary.json)", file=sys.stderr)


if __name__ == "__main__":
  xla_options.apply()   # XLA:CPU's Eigen convolutions; importing this module starts no backend
  # The importable module's main, not this __main__ copy's: Beam workers
  # (--beam_workers) unpickle the functions they are sent by their module's name.
  from au_jax.predict import main  # noqa: F811
  try:
    main()
  except SystemExit as e:
    if e.code != EXIT_USAGE:
      raise
    # A user error, told in one line (the output's lock and partial file already
    # released): exit without the interpreter's shutdown, where orbax's reads that
    # a failed restore abandoned report themselves, dozens of lines apiece.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_USAGE)
  # Done: the CSV, its summary and any figure are written and closed, the lock
  # released, the compiled program in the cache. Skip the interpreter's shutdown
  # too: tearing down JAX's CPU client, orbax's and tensorstore's threads and
  # some two thousand modules is a fixed cost on every run (docs/performance.md,
  # "One photo from the command line"), paid by a script that predicts photo by photo.
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(0)
