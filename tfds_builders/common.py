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
dataset provides:

  yaw, pitch, roll     float32, head pose in degrees (yaw > 0: the face turns
                       toward the image's right; pitch > 0: the chin goes down;
                       roll > 0: the head tilts counter-clockwise in the image)
  occluder             text: "none", "hand", "hair", "glasses", "mask"
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
import dataclasses
from typing import Any, Iterator, Mapping, Sequence

import cv2
import numpy as np
import tensorflow_datasets as tfds

from au_jax.data.builds import split_name  # noqa: F401  (shared with au_jax)

NUISANCE_KEYS = ("yaw", "pitch", "roll", "occluder", "au_covered", "illumination", "blur",
                 "jpeg_quality", "face_size", "expressivity", "expression",
                 "sequence_expression")
FEATURE_KEYS = ("image", "landmarks", "au_intensity", "au_occurrence",
                "subject", "sequence", "frame") + NUISANCE_KEYS
OCCLUDERS = ("none", "hand", "hair", "glasses", "mask")
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
    subjects = list(self._subjects(dl_manager))
    names = [split_name(s) for s in subjects]
    if len(set(names)) != len(names):
      raise ValueError(f"subject ids collide as split names: {subjects}")
    return {n: self._generate_examples(dl_manager=dl_manager, subject=s)
            for n, s in zip(names, subjects)}

  def _generate_examples(self, dl_manager, subject):
    yield from self._examples(dl_manager, subject)
