r"""Inference: a trained workdir -> AU predictions for faces, images and videos.

Python / notebooks:

  from au_jax.predict import Predictor
  p = Predictor.from_workdir("runs/gudi")
  out = p.predict_images([rgb_image, ...])        # detect, align, transform, predict
  out["intensity"], out["occurrence"], out["success"]
  p.predict(aligned_faces, landmarks)             # faces already aligned like the records

Command line (images, folders of images, videos -> one CSV with OpenFace-style
columns frame, face_id, timestamp, confidence, success, AU01_r, ..., AU01_c, ...):

  python -m au_jax.predict --workdir=runs/gudi --input=clip.mp4 --output=clip_aus.csv

`AUxx_r` (intensity 0-5) is written for AUs the training data coded for
intensity, `AUxx_c` (0/1 with the per-AU thresholds tuned on validation,
from report.json) for every AU. As in OpenFace, a frame where no face is
found has success = 0 and zeros. `confidence` is 1 when a face was found
(no landmark-fit confidence is computed). Predictions are made in fixed-size
batches (the last one padded), so the jitted function compiles once.

The model is the workdir's selected checkpoint (`best_checkpoint/`, the one
its test report was computed with; the latest checkpoint when selection was
off), with its fitted state (e.g. a QDA head). Label-free session statistics
(Gudi's session contrast normalisation) are fitted on the data being
predicted: one video or one folder is one session on the command line, and
one `predict` / `predict_images` call is one session in Python unless a
`session=` from `fit_session` is passed.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from typing import Iterable, Iterator, Sequence

import ml_collections
import numpy as np

from au_jax import aus as au_lib
from au_jax import models
from au_jax.data.sources import DataInfo
from au_jax.face.align import align_face
from au_jax.face.template import CANONICAL_68
from au_jax.io import positive_int
from au_jax.train import checkpoint, steps
from au_jax.train.loop import initial_state

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv")


class Predictor:
  """A trained model, restored from its workdir, with jitted prediction."""

  def __init__(self, config, info: DataInfo, image_size: int, alignment: str, state,
               method, thresholds: np.ndarray, batch_size: int = 64):
    self.config, self.info, self.method = config, info, method
    self.image_size, self.alignment = image_size, alignment
    self.params, self.model_state, self.fitted = state.params, state.model_state, state.fitted
    self.step = int(state.step)
    self.thresholds = thresholds
    self.batch_size = batch_size
    self._predict = steps.make_predict_step(method)

  @classmethod
  def from_workdir(cls, workdir: str, batch_size: int = 64) -> "Predictor":
    workdir = os.path.expanduser(workdir)
    for f in ("config.json", "data_info.json"):
      if not os.path.exists(os.path.join(workdir, f)):
        raise FileNotFoundError(f"{workdir} has no {f}: is it an au-jax training workdir?")
    config = ml_collections.ConfigDict(json.load(open(os.path.join(workdir, "config.json"))))
    d = json.load(open(os.path.join(workdir, "data_info.json")))
    info = DataInfo(aus=tuple(d["aus"]), intensity_coded=tuple(d["intensity_coded"]),
                    occurrence_coded=tuple(d["occurrence_coded"]),
                    datasets=tuple(d["datasets"]), metadata=tuple({} for _ in d["datasets"]))
    size = int(d.get("image_size") or 96)
    method = models.get_spec(config.model.name).build(config.model, info)
    blank = _blank_record(size, info.num_aus)
    example = _batch([_transform(method, blank, _session_stats(method, [blank]))])
    fresh, _, _ = initial_state(method, config.train, example)
    state = None
    for sub in (checkpoint.BEST_DIR, checkpoint.LATEST_DIR):
      if not os.path.isdir(os.path.join(workdir, sub)):
        continue
      ckpt = checkpoint.Checkpointer(os.path.join(workdir, sub))
      try:
        state, _ = ckpt.restore(fresh)
      finally:
        ckpt.close()
      if state is not None:
        break
    if state is None:
      raise FileNotFoundError(f"{workdir}/checkpoints holds no complete checkpoint")
    thresholds = np.full(info.num_aus, 0.5)
    report = os.path.join(workdir, "report.json")
    if os.path.exists(report):
      thresholds = np.asarray(json.load(open(report))["thresholds"], np.float64)
    return cls(config, info, size, d.get("alignment") or "similarity", state, method,
               thresholds, batch_size)

  @property
  def session_sample(self) -> int:
    """How many frames of a session `fit_session` uses (0: the model has no
    session statistics)."""
    return self.method.sessions.max_records if self.method.sessions else 0

  def fit_session(self, faces: np.ndarray, landmarks: np.ndarray | None = None):
    """Label-free session statistics of aligned faces (evenly spaced, at most
    `session_sample`), for `predict(..., session=)`; None for models without."""
    if self.method.sessions is None or len(faces) == 0:
      return None
    return _session_stats(self.method, list(self._records(faces, landmarks)))

  def fit_session_images(self, images: Sequence[np.ndarray], detector: str = "auto"):
    """`fit_session` of the faces found in raw images (None when none is found)."""
    aligned = [a for a in (self.align(img, None, detector) for img in images) if a is not None]
    if not aligned:
      return None
    return self.fit_session(np.stack([a.image for a in aligned]),
                            np.stack([a.landmarks for a in aligned]))

  def predict(self, faces: np.ndarray, landmarks: np.ndarray | None = None,
              session=None) -> dict:
    """Predictions for faces aligned like the training records.

    Args:
      faces: uint8 [N, S, S, 3] RGB faces aligned to the canonical template
        (S = the training data's image size).
      landmarks: float [N, 68, 2] in aligned pixels (default: the template).
      session: statistics from `fit_session`; default: these faces are one
        session (models with session statistics only).
    Returns:
      {"intensity": [N, A], "occurrence": [N, A] score, "occurrence_label": [N, A] 0/1}
    """
    faces = np.asarray(faces)
    if faces.ndim != 4 or faces.shape[1:] != (self.image_size, self.image_size, 3):
      raise ValueError(f"faces must be [N, {self.image_size}, {self.image_size}, 3] uint8, "
                       f"got {faces.shape}")
    if session is None and len(faces):
      session = self.fit_session(faces, landmarks)
    return self._run(self._records(faces, landmarks), len(faces), session)

  def _records(self, faces, landmarks=None):
    if landmarks is None:
      landmarks = np.broadcast_to(CANONICAL_68 * self.image_size, (len(faces), 68, 2))
    return (_record(f, lm, self.info.num_aus) for f, lm in zip(faces, landmarks))

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
      from au_jax.face import detect
      landmarks = detect.detect_landmarks(image, backend=detector)
      if landmarks is None:
        return None
    return align_face(image, landmarks, size=self.image_size, method=self.alignment)

  def _run(self, records: Iterable[dict], n: int, session=None) -> dict:
    outs: dict[str, list] = {}
    for chunk in _chunks(records, self.batch_size):
      examples = [_transform(self.method, r, session) for r in chunk]
      k = len(examples)
      examples += [examples[0]] * (self.batch_size - k)      # fixed shape: one compilation
      pred = self._predict(self.params, self.model_state, self.fitted, _batch(examples))
      for key, value in pred.items():   # every output (DSIN's stages, heatmap maps, ...)
        outs.setdefault(key, []).append(np.asarray(value)[:k])
    if not outs:
      a = self.info.num_aus
      return {"intensity": np.zeros((0, a), np.float32),
              "occurrence": np.zeros((0, a), np.float32),
              "occurrence_label": np.zeros((0, a), np.int32)}
    res = {k: np.concatenate(v) for k, v in outs.items()}
    res["occurrence_label"] = (res["occurrence"] >= self.thresholds[None]).astype(np.int32)
    assert len(res["intensity"]) == n
    return res

  def csv_columns(self) -> list[str]:
    r = [f"{au_lib.au_label(a)}_r" for a, c in zip(self.info.aus, self.info.intensity_coded) if c]
    c = [f"{au_lib.au_label(a)}_c" for a in self.info.aus]
    return ["frame", "face_id", "timestamp", "confidence", "success"] + r + c


def _transform(method, record, session):
  if method.sessions is None:
    return method.transform(record, None, False)
  return method.transform(record, None, False, session)


def _session_stats(method, records):
  if method.sessions is None:
    return None
  from au_jax.train.fitted import evenly_spaced, strip_labels
  rows = evenly_spaced(np.arange(len(records)), method.sessions.max_records)
  return method.sessions.fit([strip_labels(records[int(i)]) for i in rows])


def _blank_record(size, num_aus):
  return _record(np.zeros((size, size, 3), np.uint8), CANONICAL_68 * size, num_aus)


def _record(face, landmarks, num_aus):
  return dict(image=np.asarray(face, np.uint8), landmarks=np.asarray(landmarks, np.float32),
              intensity=np.full(num_aus, -1, np.int32), occurrence=np.full(num_aus, -1, np.int32),
              dataset=np.int32(0), subject="", sequence="", frame=np.int32(0))


def _batch(examples):
  b = {k: np.stack([e[k] for e in examples]) for k in examples[0]}
  b["mask"] = np.ones(len(examples), np.float32)
  return b


def _chunks(it: Iterable, n: int) -> Iterator[list]:
  chunk = []
  for x in it:
    chunk.append(x)
    if len(chunk) == n:
      yield chunk
      chunk = []
  if chunk:
    yield chunk


# ----------------------------------------------------------------------------- CLI
#
# The command line never overwrites an input, never stops for one bad file and
# never loses rows: rows go to `<output>.partial`, flushed per block, renamed
# to `<output>` at the end; bad media become rows with success = 0 or counted
# skips, with reasons, in the stderr summary and `<output>.summary.json`.
# Mistakes in the command (UsageError) end in one or two plain lines, exit 2.

EXIT_USAGE = 2
# Candidate image extensions, grouped by the codec that reads them; the CLI
# accepts those this OpenCV build can decode (readable_image_extensions).
_IMAGE_CODECS = {".png": (".png",), ".jpg": (".jpg", ".jpeg", ".jpe"), ".bmp": (".bmp", ".dib"),
                 ".tif": (".tif", ".tiff"), ".webp": (".webp",), ".jp2": (".jp2",),
                 ".avif": (".avif",), ".ppm": (".pbm", ".pgm", ".ppm", ".pnm", ".pxm"),
                 ".pfm": (".pfm",), ".sr": (".sr", ".ras"), ".exr": (".exr",),
                 ".hdr": (".hdr", ".pic"), ".gif": (".gif",)}
_readable: tuple[str, ...] | None = None


class UsageError(Exception):
  """A mistake in the command (flags, paths, output); printed plainly, exit 2."""


def readable_image_extensions() -> tuple[str, ...]:
  """Image extensions `cv2.imread` can decode in this OpenCV build.

  Probed once by encoding and decoding a small image per codec (an
  extension list cannot know how OpenCV was built, e.g. with or without
  WebP/AVIF); the codecs' complaints during the probe are discarded.
  """
  global _readable
  if _readable is None:
    import cv2
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
    import tempfile
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

  def take(self) -> list[str]:
    self._file.seek(0)
    text = self._file.read().decode("utf-8", "replace")
    self._file.seek(0)
    self._file.truncate()
    return [ln.strip() for ln in text.splitlines() if ln.strip()]

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


def check_output(output: str, inputs: Sequence[str]) -> None:
  """Refuses an output that would overwrite, or be read as, an input."""
  if not output:
    raise UsageError("--output is empty: name the CSV file to write")
  if os.path.isdir(output):
    raise UsageError(f"--output {output} is a folder: name the CSV file to write")
  folder = os.path.dirname(os.path.abspath(output))
  if not os.path.isdir(folder):
    raise UsageError(f"--output {output}: the folder {folder} does not exist")
  written = [output, output + ".partial", output + ".summary.json"]
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


def iter_frames(path: str, kind: str, entry: dict, log: _DecoderLog) -> Iterator[_Frame]:
  """The frames of one input; what cannot be read is noted in `entry`.

  A folder yields its images in name order (an unreadable one as a frame
  without image, so it gets a success = 0 row); other files in it are
  listed in entry["ignored"]. A video yields its decodable frames and notes
  when it ends before the frame count its container declares.
  """
  import cv2
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
      entry["truncated"] = f"truncated video: {i} of the {declared} frames its container declares"


def _read_image(path: str, number: int, log: _DecoderLog) -> _Frame:
  import cv2
  if os.path.getsize(path) == 0:
    return _Frame(path, number, 0.0, None, "empty image file (0 bytes)")
  with log:
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
  if bgr is None:
    return _Frame(path, number, 0.0, None, "unreadable image (OpenCV cannot decode it)")
  return _Frame(path, number, 0.0, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


class _CsvSink:
  """The CSV being written: `<output>.partial`, flushed per block.

  `commit()` renames it to `<output>` (atomic: readers see the old file or
  the complete new one). After a failure the partial file is kept when it
  holds rows (they cost compute) and removed when it holds only the header.
  OSError (read-only folder, full disk) becomes a UsageError naming the file.
  """

  def __init__(self, output: str, header: Sequence[str]):
    self.output, self.partial, self.rows = output, output + ".partial", 0
    self._f = None
    try:
      self._f = open(self.partial, "w", newline="")
      self._w = csv.writer(self._f)
      self._w.writerow(header)
      self._f.flush()
    except OSError as e:
      self.abandon()
      raise UsageError(f"cannot write {self.partial}: {e.strerror or e}") from None

  def write(self, rows: list[list]) -> None:
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
    if self.rows == 0 and os.path.exists(self.partial):
      os.remove(self.partial)
      return False
    return os.path.exists(self.partial)


def _predict_input(predictor: Predictor, path: str, kind: str, sink: _CsvSink, *,
                   detector: str, chunk: int, with_input: bool, log: _DecoderLog) -> dict:
  """Predicts every frame of one input (a video, a folder or an image) and writes its rows.

  One input is one session: the place where per-session statistics of the
  input are fitted before its frames are predicted. Returns the input's
  summary entry {path, kind, frames, faces, problems, ignored, ...}.
  """
  entry = dict(path=path, kind=kind, frames=0, faces=0, problems=[], ignored=[])
  int_cols = [k for k, c in enumerate(predictor.info.intensity_coded) if c]
  zeros_r = ["0.000"] * len(int_cols)
  zeros_c = [0] * predictor.info.num_aus
  session = _fit_input_session(predictor, path, kind, detector) if predictor.session_sample \
      else None
  for block in _chunks(iter_frames(path, kind, entry, log), chunk):
    good = [fr for fr in block if fr.image is not None]
    pred = predictor.predict_images([fr.image for fr in good], detector=detector,
                                    session=session) if good else None
    k = 0
    rows = []
    for fr in block:
      ok = False
      if fr.image is not None:
        ok = bool(pred["success"][k])
        values_r = [f"{pred['intensity'][k, a]:.3f}" for a in int_cols]
        values_c = [int(v) for v in pred["occurrence_label"][k]]
        k += 1
      else:
        entry["problems"].append(dict(path=fr.source, frame=fr.number, reason=fr.problem))
      if not ok:
        values_r, values_c = zeros_r, zeros_c
      row = [fr.number, 0, f"{fr.timestamp:.3f}", f"{float(ok):.2f}", int(ok)] + values_r + values_c
      rows.append(([fr.source] if with_input else []) + row)
      entry["faces"] += ok
    sink.write(rows)
    entry["frames"] += len(block)
  warnings = log.take()
  if warnings:
    entry["decoder_warnings"] = len(warnings)
    entry["decoder_messages"] = warnings[:5]
  return entry


def _fit_input_session(predictor: Predictor, path: str, kind: str, detector: str):
  """Session statistics of one input (one video or folder is one session), from at
  most `predictor.session_sample` evenly spaced readable frames: one pass counts
  them (decoding is cheap next to detection), a second keeps the chosen ones.
  None when no face is found among them (each block of frames is then its own
  session)."""
  from au_jax.train.fitted import evenly_spaced
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


def write_csv(predictor: Predictor, inputs: Sequence[str], output: str, detector="auto",
              chunk: int = 256, progress: bool = False) -> dict:
  """Predicts every frame of `inputs` into one CSV; returns the run's summary.

  The CSV appears atomically at the end, with `<output>.summary.json` (the
  same counts and every file's reasons). On a failure or Ctrl-C, the rows
  written so far stay in `<output>.partial` and nothing else is left.

  Raises:
    UsageError: the output would overwrite or be read as an input, cannot
      be written, or no input is left to read.
  """
  from au_jax.io import atomic_write
  check_output(output, inputs)
  plans, skipped = plan_inputs(inputs)
  if not plans:
    raise UsageError("nothing to predict: " + "; ".join(f"{s['path']}: {s['reason']}"
                                                         for s in skipped[:3]))
  with_input = len(inputs) > 1
  sink = _CsvSink(output, (["input"] if with_input else []) + predictor.csv_columns())
  log = _DecoderLog()
  entries: list[dict] = []
  try:
    for path, kind in plans:
      entries.append(_predict_input(predictor, path, kind, sink, detector=detector, chunk=chunk,
                                    with_input=with_input, log=log))
      if progress:
        print(f"\r[au_jax] {sink.rows} frames", end="", file=sys.stderr, flush=True)
    summary = _summarise(output, entries, skipped, complete=True)
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
  return summary


def load_predictor(workdir: str, batch_size: int) -> Predictor:
  """Predictor.from_workdir, with a missing or incomplete workdir as a UsageError."""
  if not workdir.strip():
    raise UsageError("--workdir is empty: pass the training workdir (config.json, checkpoints)")
  path = os.path.expanduser(workdir)
  if not os.path.isdir(path):
    raise UsageError(f"--workdir {workdir}: no such folder")
  for f in ("config.json", "data_info.json"):
    if not os.path.isfile(os.path.join(path, f)):
      raise UsageError(f"--workdir {workdir} has no {f}: is it an au-jax training workdir?")
  try:
    return Predictor.from_workdir(path, batch_size=batch_size)
  except FileNotFoundError as e:  # no complete checkpoint
    raise UsageError(f"--workdir {workdir}: {e}") from None


def main(argv=None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--workdir", required=True, help="training workdir (checkpoints, config)")
  ap.add_argument("--input", required=True, nargs="+", help="images, folders or videos")
  ap.add_argument("--output", required=True, help="CSV to write (never an input, nor inside one)")
  ap.add_argument("--detector", default="auto", choices=("auto", "haar", "dlib"))
  ap.add_argument("--batch_size", type=positive_int, default=64)
  args = ap.parse_args(argv)
  progress = sys.stderr.isatty() and os.environ.get("AU_JAX_NO_PROGRESS") != "1"
  try:
    check_output(args.output, args.input)
    plans, skipped = plan_inputs(args.input)
    if not plans:
      raise UsageError("nothing to predict: " + "; ".join(f"{s['path']}: {s['reason']}"
                                                           for s in skipped[:3]))
    predictor = load_predictor(args.workdir, args.batch_size)
    summary = write_csv(predictor, args.input, args.output, detector=args.detector,
                        progress=progress)
  except UsageError as e:
    print(f"au_jax.predict: {e}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE) from None
  except KeyboardInterrupt:
    print("au_jax.predict: interrupted", file=sys.stderr)
    raise SystemExit(130) from None
  print(format_summary(summary), file=sys.stderr)
  print(f"[au_jax] wrote {summary['frames']} rows to {args.output} "
        f"(counts and reasons: {args.output}.summary.json)", file=sys.stderr)


if __name__ == "__main__":
  main()
