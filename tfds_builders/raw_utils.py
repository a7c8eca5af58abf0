"""Shared machinery of the licensed-dataset builders: reading raw trees as
distributed, counting what is skipped, aligning frames.

The raw trees differ between copies of the same dataset (extra nesting after
unzipping, `Images` vs `images`, zero-padding widths, CRLF line ends), so
everything here discovers files by pattern, case-insensitively, and matches
frames by the integer in a file name, never by a formatted name
.

Policy, common to all builders:
  * what the datasets are known to lack (a missing AU file, an empty label
    file, a frame without landmarks, labels longer than the video) is
    tolerated and counted in a `SkipReport` (stored in
    `info.metadata["build_report"]` and printed by `tfds_builders.build`);
  * what is present but cannot be read (a malformed label line, a zero-byte
    or undecodable video, a corrupt image) raises `RawFormatError` naming the
    path (and line). `RawAUBuilder` turns it into a counted skip of the
    smallest unit that contains it (a frame, a sequence, else the subject:
    `RawAUBuilder._tolerate`), with every such file listed in the report;
    with `strict=True` (`build --strict`) it stops the build instead.
  * a subject left without any record is dropped (no split; counted), since
    TFDS cannot write an empty split.
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import itertools
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence

import cv2
import numpy as np

from au_jax.data.builds import SOURCE_DEPTH, describe_source  # noqa: F401  (shared with au_jax)
from tfds_builders import common

log = logging.getLogger(__name__)

# Files that operating systems and archivers leave inside the trees.
JUNK_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})


class RawFormatError(ValueError):
  """A raw file exists but cannot be read; the message names path and reason."""

  def __init__(self, path, reason: str):
    super().__init__(f"{path}: {reason}")
    self.path = Path(path)
    self.reason = reason


# ------------------------------------------------------------------ text

def read_text(path) -> str:
  """Text of a raw file with line ends normalised to "\\n".

  Latin-1 is the fallback because a few Windows-made files are not UTF-8;
  a UTF-8 byte-order mark is dropped.
  """
  data = Path(path).read_bytes()
  try:
    text = data.decode("utf-8-sig")
  except UnicodeDecodeError:
    text = data.decode("latin-1")
  return text.replace("\r\n", "\n").replace("\r", "\n")


def read_lines(path) -> list[str]:
  """Non-blank lines of a text file, stripped (CRLF-safe)."""
  return [ln.strip() for ln in read_text(path).split("\n") if ln.strip()]


def parse_matlab_ascii(text: str, path="<text>") -> np.ndarray:
  """Parses MATLAB `save -ascii` numbers (e.g. `   4.0000000e+00   2.0e+00`).

  Args:
    text: file content; any whitespace separates numbers, blank lines are
      ignored.
    path: used in error messages only.

  Returns:
    float64 [rows, cols]; an empty file gives shape (0, 0) and a one-line
    file (1, cols) (np.loadtxt would give a 1-D array there).

  Raises:
    RawFormatError: a token is not a number or rows differ in length.
  """
  rows = []
  for i, line in enumerate(text.replace("\r", "\n").split("\n")):
    tokens = line.replace(",", " ").split()
    if not tokens:
      continue
    try:
      rows.append([float(t) for t in tokens])
    except ValueError:
      raise RawFormatError(path, f"line {i + 1} is not numeric: {line.strip()!r}") from None
  if not rows:
    return np.zeros((0, 0))
  if len({len(r) for r in rows}) != 1:
    raise RawFormatError(path, f"rows have different lengths {sorted({len(r) for r in rows})}")
  return np.asarray(rows, np.float64)


def read_matlab_ascii(path) -> np.ndarray:
  """`parse_matlab_ascii` of a file."""
  return parse_matlab_ascii(read_text(path), path)


def parse_frame_value_rows(text: str, path="<text>") -> dict[int, int]:
  """Parses `<frame>,<value>` rows (DISFA AU files, BP4D intensity CSVs).

  Separators may be commas or whitespace; a non-numeric first line is taken
  as a header and skipped. A frame that appears twice keeps its first value
  (the count of duplicates is not an error: it is reported by callers that
  compare lengths).

  Returns:
    {frame: value} in file order.

  Raises:
    RawFormatError: a row is not two integers.
  """
  out: dict[int, int] = {}
  lines = [ln.strip() for ln in text.replace("\r", "\n").split("\n") if ln.strip()]
  for i, line in enumerate(lines):
    tokens = re.split(r"[,;\s]+", line)
    try:
      nums = [float(t) for t in tokens]
    except ValueError:
      if i == 0:
        continue  # header
      raise RawFormatError(path, f"line {i + 1} is not '<frame>,<value>': {line!r}") from None
    if len(nums) < 2 or any(not float(n).is_integer() for n in nums[:2]):
      raise RawFormatError(path, f"line {i + 1} is not '<frame>,<value>': {line!r}")
    out.setdefault(int(nums[0]), int(nums[1]))
  return out


def trailing_int(name: str) -> Optional[int]:
  """The last run of digits in a file stem (`SN001_0012_lm` -> 12), or None."""
  m = re.search(r"(\d+)\D*$", Path(name).stem if "." in name else name)
  return int(m.group(1)) if m else None


# ------------------------------------------------------------------ discovery

def walk_files(root, pattern: str, *, dirs: bool = False) -> list[Path]:
  """All files (or directories) under root whose NAME fully matches pattern.

  Matching is case-insensitive, junk files are ignored, symlinked
  directories are followed, results are sorted by path.
  """
  rx = re.compile(pattern, re.IGNORECASE)
  out = []
  for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
    dirnames.sort()
    names = dirnames if dirs else filenames
    for n in names:
      if n.lower() not in JUNK_NAMES and rx.fullmatch(n):
        out.append(Path(dirpath) / n)
  return sorted(out)


def find_dir(root, *names: str, max_depth: int = 4) -> Optional[Path]:
  """The shallowest directory `root/**/names[0]/names[1]/...` (regexes, any case).

  Tolerates the extra top-level folders that unzipping adds (X/X/...) by
  searching up to `max_depth` levels below root for the first component.
  """
  root = Path(root)
  frontier = [root]
  for _ in range(max_depth + 1):
    for base in frontier:
      cur = base
      for name in names:
        cur = _child_dir(cur, name)
        if cur is None:
          break
      if cur is not None:
        return cur
    frontier = [d for base in frontier for d in subdirs(base)]
  return None


def subdirs(path: Path) -> list[Path]:
  try:
    return sorted(p for p in path.iterdir() if p.is_dir())
  except OSError:
    return []


def _child_dir(path: Path, name: str) -> Optional[Path]:
  rx = re.compile(name, re.IGNORECASE)
  hits = [p for p in subdirs(path) if rx.fullmatch(p.name)]
  return hits[0] if hits else None


def index_by_int(paths: Iterable[Path], report: "SkipReport", what: str,
                 key: Callable[[Path], Optional[int]] | None = None) -> dict[int, Path]:
  """{integer in the name: path}; unparsable names and duplicates are counted.

  Frame files are matched by integer value because zero-padding widths vary
  within one dataset (BP4D `0001.jpg` next to `001.jpg`).
  """
  key = key or (lambda p: trailing_int(p.name))
  out: dict[int, Path] = {}
  for p in sorted(paths):
    k = key(p)
    if k is None:
      report.skip(f"{what}: no frame number in the file name", p)
    elif k in out:
      report.skip(f"{what}: two files with the same frame number (first kept)", p)
    else:
      out[k] = p
  return out


# ------------------------------------------------------------------ report

class SkipReport:
  """Counts of what a build skipped or tolerated, by reason, with examples."""

  def __init__(self, max_examples: int = 3):
    self.counts: collections.Counter = collections.Counter()
    self.examples: dict[str, list[str]] = collections.defaultdict(list)
    self.max_examples = max_examples
    self.listed: set[str] = set()

  def skip(self, reason: str, example=None, n: int = 1, *, list_all: bool = False) -> None:
    """Counts n skips for reason; list_all keeps every example (unreadable files)."""
    if n <= 0:
      return
    self.counts[reason] += n
    if list_all:
      self.listed.add(reason)
    if example is not None and (list_all or len(self.examples[reason]) < self.max_examples):
      self.examples[reason].append(str(example))

  def as_dict(self) -> dict[str, Any]:
    return {r: {"count": int(c), "examples": list(self.examples.get(r, [])),
                **({"listed": True} if r in self.listed else {})}
            for r, c in sorted(self.counts.items())}

  def summary(self) -> str:
    return format_report(self.as_dict())


def format_report(report: Mapping[str, Any]) -> str:
  """Human-readable form of a stored `SkipReport.as_dict()`."""
  if not report:
    return "nothing skipped"
  lines = []
  for r, v in report.items():
    if v.get("listed"):
      lines.append(f"{v['count']:8d}  {r}:")
      lines += [f"            {e}" for e in v["examples"]]
    else:
      lines.append(f"{v['count']:8d}  {r}" + (f"  (e.g. {v['examples'][0]})" if v["examples"] else ""))
  return "\n".join(lines)


# ------------------------------------------------------------------ images & video

def read_image_rgb(path) -> np.ndarray:
  """uint8 [H, W, 3] RGB of an image file; greyscale is replicated."""
  _check_not_empty(path)
  img = cv2.imread(str(path), cv2.IMREAD_COLOR)  # converts grey (CK+) to 3 channels
  if img is None:
    raise RawFormatError(path, "OpenCV cannot decode this image")
  return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def iter_video(path, keep: Callable[[int], bool], stop: int | None = None
               ) -> Iterator[tuple[int, np.ndarray]]:
  """(0-based index, RGB frame) of the video frames with keep(index).

  Frames not kept are grabbed but not decoded, so frame_step > 1 is cheap.

  Args:
    path: video file.
    keep: predicate on the 0-based frame index.
    stop: read no frame with index >= stop (None: to the end).

  Raises:
    RawFormatError: OpenCV cannot open the file.
  """
  _check_not_empty(path)
  cap = cv2.VideoCapture(str(path))
  if not cap.isOpened():
    raise RawFormatError(path, "OpenCV cannot open this video")
  try:
    i = 0
    while stop is None or i < stop:
      if not cap.grab():
        return
      if keep(i):
        ok, bgr = cap.retrieve()
        if not ok:
          raise RawFormatError(path, f"frame {i} cannot be decoded")
        yield i, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
      i += 1
  finally:
    cap.release()


def _check_not_empty(path) -> None:
  if os.path.getsize(path) == 0:
    raise RawFormatError(path, "empty file (0 bytes)")


def count_video_frames(path) -> int:
  """Frames OpenCV can actually read (the container's count is unreliable)."""
  return sum(1 for _ in iter_video(path, keep=lambda i: False))


# ------------------------------------------------------------------ builder base

# The releases every licensed builder made together (the record schema, the
# pose); each builder's RELEASE_NOTES adds its own 1.0.0 before them.
SCHEMA_RELEASE_NOTES = {
    "1.1.0": "Records carry the schema's nuisance fields (pose, occluder, light, ...), "
             "stored as missing (NaN / -1 / ''): the dataset does not provide them.",
    "1.2.0": "Head pose (yaw, pitch, roll) estimated from the raw landmarks "
             "(au_jax.face.pose: a generic 3-D face, the camera guessed from the frame size).",
    "1.3.0": "Head pose left missing (NaN) where the face was found by the Haar detector: "
             "its landmarks, a template placed in the face box, carry no head turn.",
}

MISSING_LANDMARKS = ("detect", "skip")


@dataclasses.dataclass
class RawAUBuilderConfig(common.AUBuilderConfig):
  """Config of a licensed-dataset builder.

  Attributes (besides image_size, alignment, frame_step):
    missing_landmarks: what to do with a frame the dataset gives no
      landmarks for: "detect" runs au_jax.face.detect (OpenCV Haar face +
      eyes, or dlib 68 points when the [face] extra is installed) and skips
      the frame (counted) when no face is found; "skip" skips it (counted).
    detector: backend of au_jax.face.detect ("auto", "haar", "dlib").
  """
  missing_landmarks: str = "detect"
  detector: str = "auto"


def load_protocols(package_dir) -> dict[str, dict[str, list[str]]]:
  """Protocols of a builder from its protocols.json (keys starting "_" are notes)."""
  with open(Path(package_dir) / "protocols.json", encoding="utf-8") as f:
    data = json.load(f)
  return {k: {s: list(v) for s, v in p.items()} for k, p in data.items() if not k.startswith("_")}


class RawAUBuilder(common.AUDatasetBuilder):
  """AUDatasetBuilder for raw licensed trees: skip report, alignment from
  the dataset's landmarks or a detector, frame_step.

  A subclass implements `_scan(root) -> {subject: anything}` (parse the tree
  once; called with dl_manager.manual_dir) and `_examples(dl_manager,
  subject)`, calling `self._record(...)` for every frame it keeps, and wraps
  the work on one frame or sequence in `with self._tolerate("frame"):` so
  that an unreadable file costs only that unit (a RawFormatError anywhere
  else costs the rest of the subject; both are counted and listed).

  Args:
    strict: stop the build at the first unreadable raw file (RawFormatError
      naming the file and line) instead of skipping and counting it. A
      build-time choice, not part of the config: records are the same.
  """

  def __init__(self, *, strict: bool = False, **kwargs):
    super().__init__(**kwargs)
    self.strict = strict
    self._report = SkipReport()
    self._scanned: Optional[dict[str, Any]] = None
    self._empty: set[str] = set()
    self._extra_meta: dict[str, Any] = {}

  # -- subclasses
  def _scan(self, root: Path) -> dict[str, Any]:
    raise NotImplementedError

  # -- base hooks
  def _subjects(self, dl_manager) -> Sequence[str]:
    cfg = self.builder_config
    if cfg.missing_landmarks not in MISSING_LANDMARKS:
      raise ValueError(f"missing_landmarks must be one of {MISSING_LANDMARKS}, "
                       f"got {cfg.missing_landmarks!r}")
    if cfg.frame_step < 1:
      raise ValueError(f"frame_step must be >= 1, got {cfg.frame_step}")
    self._report = SkipReport()
    self._empty = set()
    self._extra_meta = {"source": describe_source(dl_manager.manual_dir)}
    self._scanned = self._scan(Path(dl_manager.manual_dir))
    if not self._scanned:
      raise RawFormatError(dl_manager.manual_dir,
                           f"no {self.name} subjects found; is --manual_dir the folder "
                           f"described in the instructions?\n{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    self._publish()
    return sorted(self._scanned)

  def _publish(self) -> None:
    """Copies the report into the metadata that is written after the build."""
    self.info.metadata["build_report"] = self._report.as_dict()
    self.info.metadata["subjects"] = sorted(set(self._scanned or ()) - self._empty)
    self.info.metadata.update(self._extra_meta)

  def _split_generators(self, dl_manager):
    return _NonEmptySplits(super()._split_generators(dl_manager), self._drop_empty)

  def _drop_empty(self, split: str) -> None:
    subject = next(s for s in self._scanned if common.split_name(s) == split)
    self._empty.add(subject)
    self._report.skip("subject without any record left: no split for it", subject)
    self._publish()

  def _generate_examples(self, dl_manager, subject):
    with self._tolerate("rest of the subject"):
      yield from self._examples(dl_manager, subject)
    self._publish()
    log.info("%s %s done; skipped so far:\n%s", self.name, subject, self._report.summary())

  @contextlib.contextmanager
  def _tolerate(self, unit: str):
    """A RawFormatError inside becomes a counted, listed skip of `unit`.

    Execution continues after the `with` block, so in a loop over frames or
    sequences only the current one is lost. Re-raised when self.strict.
    """
    try:
      yield
    except RawFormatError as e:
      if self.strict:
        raise
      self._report.skip(f"unreadable raw file: {unit} skipped", e, list_all=True)

  # -- helpers for subclasses
  def _keep(self, position: int) -> bool:
    """frame_step: keep every k-th frame of a sequence (by position in it)."""
    return position % self.builder_config.frame_step == 0

  def _record(self, *, image: np.ndarray, landmarks: Optional[np.ndarray], where: str,
              **labels) -> Optional[dict]:
    """A record with the face aligned, or None (counted) when it cannot be.

    Args:
      image: uint8 [H, W, 3] raw frame (RGB).
      landmarks: the dataset's own landmarks in raw pixels ([n, 2] of a
        scheme au_jax.face.schemes knows), or None.
      where: path-like description of the frame for the report.
      **labels: au_intensity, au_occurrence, subject, sequence, frame.
    """
    from au_jax.face import align, detect, pose  # pylint: disable=g-import-not-at-top
    from au_jax.face.schemes import to_68  # pylint: disable=g-import-not-at-top
    cfg = self.builder_config
    if landmarks is not None and not np.isfinite(np.asarray(landmarks, np.float64)).any():
      landmarks = None
    measured_turn = True
    if landmarks is None:
      if cfg.missing_landmarks == "skip":
        self._report.skip("frame without landmarks (missing_landmarks='skip')", where)
        return None
      landmarks = detect.detect_landmarks(image, backend=cfg.detector)
      if landmarks is None:
        self._report.skip("frame without landmarks and no face detected", where)
        return None
      self._report.skip("frame without landmarks: face detected (kept)", where)
      measured_turn = detect.POSE_FROM_LANDMARKS[detect.resolve(cfg.detector)]
    try:
      face = align.align_face(image, landmarks, size=cfg.image_size, method=cfg.alignment)
    except ValueError as e:
      self._report.skip(f"alignment failed ({cfg.alignment})", f"{where}: {e}")
      return None
    # Head pose from the raw landmarks (a generic 3-D face, the camera guessed
    # from the frame size as OpenFace does; au_jax/face/pose.py), in degrees.
    yaw, pitch, roll = pose.head_angles(pose.estimate(to_68(landmarks), image.shape[1],
                                                      image.shape[0]))
    if not measured_turn:   # Haar's template landmarks carry no head turn: pose missing
      yaw = pitch = roll = float("nan")
      self._report.skip("head pose left missing: Haar landmarks carry no head turn "
                        "(the [face] extra's dlib landmarks do)")
    return common.make_record(image=face.image, landmarks=face.landmarks, yaw=yaw, pitch=pitch,
                              roll=roll, **labels)


class _NonEmptySplits(dict):
  """{split: example generator} whose items() leave out the empty splits.

  TFDS' writer fails on a split without examples ("No examples were
  yielded"), and whether a subject yields anything (all frames skipped, an
  unreadable label file) is known only by running its generator. TFDS
  iterates items() once, building each split before asking for the next, so
  running each generator to its first record here, lazily, costs nothing.
  """

  def __init__(self, generators: Mapping[str, Iterator], on_empty: Callable[[str], None]):
    super().__init__(generators)
    self._on_empty = on_empty

  def items(self):
    for split, gen in dict.items(self):
      first = next(gen, _END)
      if first is _END:
        self._on_empty(split)
        continue
      yield split, itertools.chain([first], gen)


_END = object()
