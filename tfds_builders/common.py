"""What every au-jax dataset builder shares: the record schema, image encoding,
per-subject splits and protocols-as-data.

Record schema, one record = one frame:

  image          PNG bytes of an S x S x 3 uint8 face aligned to the canonical
                 template (au_jax.face.template); S = config.image_size
  landmarks      float32 [68, 2], aligned-image pixels, iBUG-68 order, NaN rows
                 where the dataset's scheme lacks a point
  au_intensity   int32 [A], 0..5, -1 = not coded / unknown
  au_occurrence  int32 [A], 0/1, -1 = not coded
  subject        text; sequence: text; frame: int32 (frame number as in the raw labels)

Nuisance of the frame (NUISANCE_KEYS), every record carries them; a dataset
that does not know a value stores it as missing: NaN for floats, -1 for ints,
"" for text (make_record's defaults), so a builder fills only what its
dataset provides (the licensed builders: head pose, estimated from the raw
landmarks by au_jax.face.pose; BP4D's occluder from its occlusion column
where the CSV has one; everything else missing):

  yaw, pitch, roll     float32, head pose in degrees (yaw > 0: the face turns
                       toward the image's right; pitch > 0: the chin goes down;
                       roll > 0: the head tilts counter-clockwise in the image)
  occluder             text: "none", "hand", "hair", "glasses", "mask", or
                       "unspecified" (a dataset's code says the face is
                       occluded, not by what nor where: au_covered missing)
  au_covered           float32 [A], per labelled AU, the fraction of that AU's
                       face region covered by the occluder (0 when none)
  illumination         float32 [3]: light azimuth (deg, 0 = frontal, > 0 from
                       the image's right), elevation (deg, > 0 from above),
                       intensity of the directional light (ambient = 1)
  blur                 float32, Gaussian blur sd in pixels of the frame given
                       to the aligner
  jpeg_quality         int32, 1..100 (100 = not compressed)
  face_size            float32, inter-ocular distance in pixels of the frame
                       given to the aligner (the face's resolution)
  expressivity         float32, the subject's expressivity factor (1 = typical)
  expression           text, the expression under way at this frame ("" between
                       episodes or unknown)
  sequence_expression  text, the sequence's expression (or task)

Splits: one TFDS split per subject (split name = `split_name(subject)`), so any
subject-exclusive protocol (official train/devel, k folds, leave-one-subject-
out) is a list of subjects chosen at load time, without rebuilding. The
protocols themselves ship as data in `info.metadata["protocols"]`:

  {"<protocol>": {"train": [subjects], "validation": [...], "test": [...]}}

Builders write records in frame order (`disable_shuffling=True`), so that
per-sequence statistics and temporal models can rely on it.
"""
from __future__ import annotations

import abc
import copy
import dataclasses
import json
import logging
import types
from typing import Any, Iterator, Mapping, Sequence

import cv2
import numpy as np
import tensorflow_datasets as tfds

from au_jax.data.builds import split_name  # noqa: F401  (shared with au_jax)

log = logging.getLogger(__name__)

NUISANCE_KEYS = ("yaw", "pitch", "roll", "occluder", "au_covered", "illumination", "blur",
                 "jpeg_quality", "face_size", "expressivity", "expression",
                 "sequence_expression")
FEATURE_KEYS = ("image", "landmarks", "au_intensity", "au_occurrence",
                "subject", "sequence", "frame") + NUISANCE_KEYS
OCCLUDERS = ("none", "hand", "hair", "glasses", "mask", "unspecified")
_FLOAT_SCALARS = ("yaw", "pitch", "roll", "blur", "face_size", "expressivity")
_TEXTS = ("occluder", "expression", "sequence_expression")


def au_features(num_aus: int, image_size: int) -> tfds.features.FeaturesDict:
  """The TFDS features of the au-jax record schema."""
  return tfds.features.FeaturesDict({
      "image": tfds.features.Image(shape=(image_size, image_size, 3),
                                   encoding_format="png"),
      "landmarks": tfds.features.Tensor(shape=(68, 2), dtype=np.float32),
      "au_intensity": tfds.features.Tensor(shape=(num_aus,), dtype=np.int32),
      "au_occurrence": tfds.features.Tensor(shape=(num_aus,), dtype=np.int32),
      "subject": tfds.features.Text(),
      "sequence": tfds.features.Text(),
      "frame": tfds.features.Scalar(dtype=np.int32),
      **{k: tfds.features.Scalar(dtype=np.float32) for k in _FLOAT_SCALARS},
      **{k: tfds.features.Text() for k in _TEXTS},
      "au_covered": tfds.features.Tensor(shape=(num_aus,), dtype=np.float32),
      "illumination": tfds.features.Tensor(shape=(3,), dtype=np.float32),
      "jpeg_quality": tfds.features.Scalar(dtype=np.int32),
  })


def encode_png(rgb: np.ndarray) -> bytes:
  """PNG bytes of an RGB uint8 image (TFDS' Image feature would need TF)."""
  rgb = np.asarray(rgb)
  if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[-1] != 3:
    raise ValueError(f"expected an HxWx3 uint8 image, got {rgb.shape} {rgb.dtype}")
  ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
  if not ok:
    raise ValueError("OpenCV could not encode the image as PNG")
  return buf.tobytes()


def decode_image(data: bytes) -> np.ndarray:
  """RGB uint8 image from encoded PNG/JPEG bytes."""
  bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
  if bgr is None:
    raise ValueError("could not decode image bytes")
  return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


_NAN = float("nan")


def make_record(*, image: np.ndarray, landmarks: np.ndarray,
                au_intensity: Sequence[int], au_occurrence: Sequence[int],
                subject: str, sequence: str, frame: int,
                yaw: float = _NAN, pitch: float = _NAN, roll: float = _NAN,
                occluder: str = "", au_covered: Sequence[float] | None = None,
                illumination: Sequence[float] | None = None, blur: float = _NAN,
                jpeg_quality: int = -1, face_size: float = _NAN, expressivity: float = _NAN,
                expression: str = "", sequence_expression: str = "") -> dict[str, Any]:
  """One validated record of the schema (image given as RGB uint8).

  The nuisance arguments default to "missing" (NaN, -1, ""; au_covered and
  illumination to all-NaN), see the module docstring.
  """
  lm = np.asarray(landmarks, np.float32)
  if lm.shape != (68, 2):
    raise ValueError(f"landmarks must be [68, 2], got {lm.shape} "
                     f"(subject {subject}, sequence {sequence}, frame {frame})")
  inten = np.asarray(au_intensity, np.int32)
  occ = np.asarray(au_occurrence, np.int32)
  if inten.shape != occ.shape:
    raise ValueError(f"au_intensity {inten.shape} and au_occurrence {occ.shape} differ "
                     f"(subject {subject}, sequence {sequence}, frame {frame})")
  if inten.size and (inten.min() < -1 or inten.max() > 5):
    raise ValueError(f"au_intensity out of -1..5: {inten.tolist()} "
                     f"(subject {subject}, sequence {sequence}, frame {frame})")
  if occ.size and not np.isin(occ, (-1, 0, 1)).all():
    raise ValueError(f"au_occurrence out of {{-1, 0, 1}}: {occ.tolist()} "
                     f"(subject {subject}, sequence {sequence}, frame {frame})")
  where = f"(subject {subject}, sequence {sequence}, frame {frame})"
  cov = np.full(inten.shape, np.nan, np.float32) if au_covered is None else \
      np.asarray(au_covered, np.float32)
  if cov.shape != inten.shape:
    raise ValueError(f"au_covered must be [{inten.size}], got {cov.shape} {where}")
  if np.any(cov[np.isfinite(cov)] < 0) or np.any(cov[np.isfinite(cov)] > 1):
    raise ValueError(f"au_covered out of [0, 1]: {cov.tolist()} {where}")
  light = np.full(3, np.nan, np.float32) if illumination is None else \
      np.asarray(illumination, np.float32)
  if light.shape != (3,):
    raise ValueError(f"illumination must be [3], got {light.shape} {where}")
  if occluder not in ("",) + OCCLUDERS:
    raise ValueError(f"occluder must be one of {OCCLUDERS} or '', got {occluder!r} {where}")
  if not (jpeg_quality == -1 or 1 <= jpeg_quality <= 100):
    raise ValueError(f"jpeg_quality must be 1..100 or -1, got {jpeg_quality!r} {where}")
  return dict(image=encode_png(image), landmarks=lm, au_intensity=inten,
              au_occurrence=occ, subject=str(subject), sequence=str(sequence),
              frame=int(frame), yaw=np.float32(yaw), pitch=np.float32(pitch),
              roll=np.float32(roll), occluder=str(occluder), au_covered=cov,
              illumination=light, blur=np.float32(blur), jpeg_quality=np.int32(jpeg_quality),
              face_size=np.float32(face_size), expressivity=np.float32(expressivity),
              expression=str(expression), sequence_expression=str(sequence_expression))


@dataclasses.dataclass
class AUBuilderConfig(tfds.core.BuilderConfig):
  """Builder-config fields shared by all AU datasets.

  Attributes:
    image_size: side S of the stored aligned face.
    alignment: registration of au_jax.face.align used to build the records.
    frame_step: keep every k-th frame (1 = all), for fast experiments.
  """
  image_size: int = 256
  alignment: str = "similarity"
  frame_step: int = 1


class AUDatasetBuilder(tfds.core.GeneratorBasedBuilder, abc.ABC):
  """Base of every au-jax builder: schema, per-subject splits, protocol metadata.

  A subclass sets VERSION / BUILDER_CONFIGS and implements:
    _aus()                      the ordered AU list of the records
    _subjects(dl_manager)       the subjects present (raw ids)
    _examples(dl_manager, subject) -> iterator of (key, make_record(...))
    _protocols()                {protocol: {split: [subjects]}}
  and may extend _metadata() with dataset facts (codings, generator truth...).
  Output is ArrayRecord (random access, no TensorFlow); TFDS' default,
  TFRecord, would need TensorFlow to write.
  """

  def __init__(self, *, file_format="array_record", **kwargs):
    super().__init__(file_format=file_format, **kwargs)

  @abc.abstractmethod
  def _aus(self) -> Sequence[int]:
    ...

  @abc.abstractmethod
  def _subjects(self, dl_manager) -> Sequence[str]:
    ...

  @abc.abstractmethod
  def _examples(self, dl_manager, subject: str) -> Iterator[tuple[str, dict]]:
    ...

  @abc.abstractmethod
  def _protocols(self) -> Mapping[str, Mapping[str, Sequence[str]]]:
    ...

  def _metadata(self) -> dict[str, Any]:
    return {}

  def _info(self) -> tfds.core.DatasetInfo:
    aus = list(self._aus())
    meta = dict(aus=aus, image_size=self.builder_config.image_size,
                alignment=self.builder_config.alignment,
                frame_step=self.builder_config.frame_step,
                protocols={k: {s: list(v) for s, v in p.items()}
                           for k, p in self._protocols().items()})
    meta.update(self._metadata())
    return tfds.core.DatasetInfo(
        builder=self,
        description=(self.__doc__ or "").strip(),
        features=au_features(len(aus), self.builder_config.image_size),
        disable_shuffling=True,
        metadata=tfds.core.MetadataDict(meta),
    )

  def _split_generators(self, dl_manager):
    subjects = self._split_subjects(dl_manager)
    return {split_name(s): self._generate_examples(dl_manager=dl_manager, subject=s)
            for s in subjects}

  def _generate_examples(self, dl_manager, subject):
    yield from self._examples(dl_manager, subject)

  # -- Beam builds (see `use_beam`): one work item per subject, one pipeline.
  def _split_subjects(self, dl_manager) -> list[str]:
    subjects = list(self._subjects(dl_manager))
    names = [split_name(s) for s in subjects]
    if len(set(names)) != len(names):
      raise ValueError(f"subject ids collide as split names: {subjects}")
    return subjects

  def _beam_split_generators(self, dl_manager, pipeline):
    """{split: PCollection}: every subject's records made by one Beam work item.

    The subjects are listed here (the driver); each worker then runs
    `_subject_work` on a fresh builder, so no state is shared between workers
    or subjects. Its per-subject skip counts come back beside the records and
    are merged in subject order (`_process_pipeline_result`), which gives the
    same `build_report` as a single-process build.
    """
    beam = beam_module()
    subjects = self._split_subjects(dl_manager)
    self._beam_report_dir = _report_dir(self.data_dir)
    init = {k: v for k, v in vars(self).items() if k in _EXTRA_INIT_ARGS}
    manual_dir = (str(dl_manager.manual_dir) if getattr(self, "MANUAL_DOWNLOAD_INSTRUCTIONS", None)
                  else None)   # TFDS refuses manual_dir to a builder without a manual download
    items = (pipeline
             | "Subjects" >> beam.Create(list(enumerate(subjects)))
             | "Examples" >> beam.FlatMap(_subject_work, builder_cls=type(self),
                                          state=_worker_state(self), init=init,
                                          manual_dir=manual_dir))
    parts = items | "BySubject" >> beam.Partition(_partition, len(subjects) + 1)
    _ = parts[len(subjects)] | "Reports" >> beam.Map(_write_report,
                                                     directory=str(self._beam_report_dir))
    return {split_name(s): parts[i] | f"Records_{split_name(s)}" >> beam.Map(_payload)
            for i, s in enumerate(subjects)}

  def _process_pipeline_result(self, pipeline_result) -> None:
    """After a Beam build: the workers' skip reports merged into the metadata."""
    del pipeline_result
    directory = getattr(self, "_beam_report_dir", None)
    if directory is None:
      return
    reports = {}
    for f in directory.glob("*.json"):
      r = json.loads(f.read_text())
      reports[r["index"]] = r["report"]
    directory.rmtree()
    base = self.info.metadata.get("build_report")
    if base is not None:
      self.info.metadata["build_report"] = merge_reports(
          base, [reports[i] for i in sorted(reports)])


# Keyword arguments of a builder's __init__ that are not config (RawAUBuilder's
# strict) and that a Beam worker's fresh builder must get too.
_EXTRA_INIT_ARGS = ("strict",)


def beam_module():
  """apache_beam, imported through TFDS' lazy import; a one-line error without it."""
  try:
    return tfds.core.lazy_imports_lib.lazy_imports.apache_beam
  except ImportError:
    raise ImportError("Beam builds need apache-beam: pip install 'au-jax[beam]' "
                      "(or: pip install apache-beam)") from None


def use_beam(builder: AUDatasetBuilder) -> AUDatasetBuilder:
  """Makes `builder.download_and_prepare` build every split in one Beam pipeline.

  Pass `tfds.download.DownloadConfig(beam_options=...)` (runner, workers) to
  download_and_prepare. The records are those of the single-process build.
  A subject left without any record fails the build, naming the subject (a
  Beam split cannot be dropped once the pipeline is made; the single-process
  build drops and counts it).
  """
  beam_module()
  # An instance attribute: it also replaces a subclass' own _split_generators
  # (RawAUBuilder wraps the single-process generators).
  builder._split_generators = types.MethodType(AUDatasetBuilder._beam_split_generators, builder)
  return builder


def _report_dir(data_dir):
  from etils import epath  # pylint: disable=g-import-not-at-top
  d = epath.Path(data_dir) / "beam_build_reports"
  d.mkdir(parents=True, exist_ok=True)
  return d


def _worker_state(builder) -> dict:
  """The builder's constructor arguments as a Beam worker gets them (pickled).

  A registered config goes by its name: TFDS refuses an unpickled copy of it
  as a custom config named like a registered one.
  """
  state = dict(builder._original_state)  # pylint: disable=protected-access
  cfg = state.get("config")
  if any(c is cfg for c in type(builder).BUILDER_CONFIGS):
    state["config"] = cfg.name
  return state


def _subject_work(item, *, builder_cls, state, init, manual_dir):
  """A Beam work item: (index, (position, record)) of a subject, then (-1, report).

  A pure function of (config, subject): the builder is made afresh from its
  constructor arguments, lists its subjects (a licensed builder scans the raw
  tree) and runs the subject's own generator, with the builder's skip rules.
  """
  index, subject = item
  b = builder_cls(**state, **init)
  dl = types.SimpleNamespace(manual_dir=manual_dir)
  try:
    b._subjects(dl)  # pylint: disable=protected-access
    before = copy.deepcopy(b.info.metadata.get("build_report", {}))
    count = 0
    for _, record in b._generate_examples(dl, subject):  # pylint: disable=protected-access
      # TFDS' Beam writer orders an unshuffled split by integer key: the
      # position in the subject's generator keeps the single-process order.
      yield index, (count, record)
      count += 1
  except Exception as e:
    raise RuntimeError(f"{b.name}: subject {subject!r} failed: {type(e).__name__}: {e}") from e
  if not count:
    raise RuntimeError(f"{b.name}: subject {subject!r} yielded no record (see its skips in a "
                       f"single-process build); a Beam build cannot leave its split out: build "
                       f"without Beam to skip it, or remove the subject from the raw tree")
  yield -1, dict(index=index, subject=subject,
                 report=report_delta(b.info.metadata.get("build_report", {}), before))


def _partition(item, n):
  return item[0] if item[0] >= 0 else n - 1   # the reports go to the last partition


def _payload(item):
  return item[1]


def _write_report(item, *, directory):
  from etils import epath  # pylint: disable=g-import-not-at-top
  _, report = item
  (epath.Path(directory) / f"{report['index']:06d}.json").write_text(json.dumps(report))


def report_delta(after: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, Any]:
  """What a `build_report` (SkipReport.as_dict form) gained since `before`."""
  out = {}
  for reason, v in after.items():
    b = before.get(reason, {"count": 0, "examples": []})
    if v["count"] > b["count"]:
      out[reason] = dict(v, count=v["count"] - b["count"],
                         examples=list(v["examples"][len(b["examples"]):]))
  return out


def merge_reports(base: Mapping[str, Any], deltas: Sequence[Mapping[str, Any]],
                  max_examples: int = 3) -> dict[str, Any]:
  """base plus the per-subject deltas, in order, as one SkipReport would count them.

  Examples are kept up to max_examples per reason, all of them for a "listed"
  reason (unreadable files), in the order a single process meets them.
  """
  out = {r: dict(v, examples=list(v["examples"])) for r, v in base.items()}
  for delta in deltas:
    for reason, v in delta.items():
      cur = out.setdefault(reason, {"count": 0, "examples": []})
      cur["count"] += v["count"]
      if v.get("listed"):
        cur["listed"] = True
      room = None if cur.get("listed") else max(0, max_examples - len(cur["examples"]))
      cur["examples"] += v["examples"][:room]
  return {r: out[r] for r in sorted(out)}
