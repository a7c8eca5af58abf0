"""Datasets -> random-access record sources and label indices, by protocol.

A data config names one or more TFDS datasets (`name/config`) and, for each,
a protocol of the builder's metadata (or `loso:<subject>`, or `all`). For a
split ("train", "validation", "test") this module resolves the protocol to a
subject list, opens the per-subject TFDS splits as one random-access source
and builds the split's LabelIndex. Several datasets with different AU lists
merge onto one AU list (union, first-seen order; -1 where a dataset does not
code an AU) — the multi-dataset setting of Walecki et al. (Eq. 12).

The synthetic dataset is built on first use; a licensed dataset that is not
built yet raises DatasetNotFoundError with the command that builds it.
"""
from __future__ import annotations

import dataclasses
import importlib
import os
from typing import Any, Sequence

import numpy as np

from au_jax import aus as au_lib
from au_jax.data.label_index import LabelIndex

SPLITS = ("train", "validation", "test")


class DatasetNotFoundError(FileNotFoundError):
  """A dataset is not built and cannot be built without the user's files."""


def default_data_dir() -> str:
  return os.path.expanduser(os.environ.get("AU_JAX_DATA_DIR", "~/tensorflow_datasets"))


def _import_builder_module(name: str) -> None:
  """Import tfds_builders.<dataset> so TFDS knows the builder.

  A builder registered elsewhere (the user imported their own module) is
  found by TFDS directly, so a missing tfds_builders module is not an error.
  """
  module = name.split("/")[0].split(":")[0]
  try:
    importlib.import_module(f"tfds_builders.{module}")
  except ModuleNotFoundError as e:
    if not (e.name and e.name.startswith("tfds_builders")):
      raise


def get_builder(name: str, data_dir: str | None = None, manual_dir: str | None = None,
                build: bool = True):
  """The TFDS builder of `name` ("dataset/config"), built if needed and allowed."""
  import tensorflow_datasets as tfds  # heavy import, only when data is needed
  _import_builder_module(name)
  data_dir = os.path.expanduser(data_dir or default_data_dir())
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError as e:
    raise KeyError(f"unknown dataset {name!r} (config.data.sources[].name): no builder "
                   f"tfds_builders.{name.split('/')[0]} and none registered") from e
  if builder.is_prepared():
    return builder
  # A builder without manual-download instructions needs no licensed files
  # (the synthetic dataset): build it on first use.
  if not getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None):
    if not build:
      raise DatasetNotFoundError(f"{name} is not built in {data_dir}")
    print(f"[au_jax] building {name} in {data_dir} (first use; deterministic)", flush=True)
    builder.download_and_prepare()
    return builder
  if manual_dir and build:
    if not os.path.isdir(os.path.expanduser(manual_dir)):
      raise DatasetNotFoundError(f"manual_dir {manual_dir!r} for {name} does not exist")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=os.path.expanduser(manual_dir)))
    return builder
  instructions = getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", "") or ""
  raise DatasetNotFoundError(
      f"dataset {name} is not built in {data_dir}.\n"
      f"It is licensed: obtain it from its owners, then build it once with\n"
      f"  python -m tfds_builders.build {name} --manual_dir=/path/to/raw --data_dir={data_dir}\n"
      f"or set config.data.sources[i].manual_dir to build it on first use.\n"
      f"{instructions.strip()}")


def resolve_subjects(metadata: dict, protocol: str, split: str) -> list[str]:
  """Subjects of `split` under `protocol` (a builder protocol, 'loso:<s>' or 'all').

  'loso:<s>': test = [s]; validation = the next subject in sorted order (so
  thresholds are never tuned on the test subject); train = the rest.
  """
  if split not in SPLITS:
    raise KeyError(f"unknown split {split!r}; expected one of {SPLITS}")
  protocols = metadata.get("protocols", {})
  everyone = sorted({s for p in protocols.values() for v in p.values() for s in v})
  if protocol == "all":
    return everyone if split == "train" else []
  if protocol.startswith("loso:"):
    subject = protocol.split(":", 1)[1]
    if subject not in everyone:
      raise KeyError(f"protocol {protocol!r}: subject {subject!r} not in dataset; "
                     f"known: {everyone}")
    val = everyone[(everyone.index(subject) + 1) % len(everyone)]
    return {"test": [subject], "validation": [val],
            "train": [s for s in everyone if s not in (subject, val)]}[split]
  if protocol not in protocols:
    raise KeyError(f"unknown protocol {protocol!r}; the dataset defines "
                   f"{sorted(protocols)} (plus 'all' and 'loso:<subject>')")
  return list(protocols[protocol].get(split, []))


@dataclasses.dataclass(frozen=True)
class DataInfo:
  """What a model needs to know about the data of an experiment.

  Attributes:
    aus: the AU list of batches (union over datasets).
    intensity_coded: bool [A]: some dataset codes this AU's intensity.
    occurrence_coded: bool [A]: occurrence labels exist (coded or derived).
    datasets: dataset names, in the order of the `dataset` code.
    metadata: builder metadata of each dataset (protocols, generator truth...).
  """
  aus: tuple[int, ...]
  intensity_coded: tuple[bool, ...]
  occurrence_coded: tuple[bool, ...]
  datasets: tuple[str, ...]
  metadata: tuple[dict, ...]

  @property
  def num_aus(self) -> int:
    return len(self.aus)


class _DatasetPart:
  """One dataset of an experiment: its builder, AU mapping and sources."""

  def __init__(self, source_cfg, builder, aus_union, occurrence_threshold):
    self.name = source_cfg["name"]
    self.protocol = source_cfg.get("protocol", "default")
    self.builder = builder
    self.metadata = dict(self.builder.info.metadata or {})
    if "aus" not in self.metadata:
      raise KeyError(f"dataset {self.name}: builder metadata has no 'aus' list")
    self.aus = tuple(int(a) for a in self.metadata["aus"])
    # Dataset AU k -> batch column; AUs outside the experiment's list are dropped.
    self.src = np.array([k for k, a in enumerate(self.aus) if a in aus_union], int)
    self.columns = np.array([aus_union.index(self.aus[k]) for k in self.src], int)
    self.num_union = len(aus_union)
    self.occurrence_threshold = occurrence_threshold
    self._index_cache = None

  def present(self, subjects, split: str) -> list[str]:
    """The protocol's subjects that the built dataset holds.

    A partial copy of a dataset (or a test fixture) lacks some protocol
    subjects: they are skipped with a warning naming them.
    """
    from tfds_builders.common import split_name
    known = set(self.builder.info.splits.keys())
    missing = [s for s in subjects if split_name(s) not in known]
    if missing:
      print(f"[au_jax] warning: {self.name} protocol {self.protocol!r} split {split!r}: "
            f"{len(missing)} of {len(subjects)} subjects are not in the built dataset and are "
            f"skipped: {missing[:10]}{' ...' if len(missing) > 10 else ''}", flush=True)
    return [s for s in subjects if split_name(s) in known]

  def subject_sources(self, subjects):
    import tensorflow_datasets as tfds
    from tfds_builders.common import split_name
    return [self.builder.as_data_source(split=split_name(s),
                                        decoders={"image": tfds.decode.SkipDecoding()})
            for s in subjects]

  def to_union(self, values: np.ndarray) -> np.ndarray:
    """[..., A_dataset] labels -> [..., A_union], -1 for AUs this dataset lacks."""
    out = np.full(values.shape[:-1] + (self.num_union,), -1, np.int32)
    out[..., self.columns] = values[..., self.src]
    return out

  def coding(self) -> tuple[np.ndarray, np.ndarray]:
    """(intensity_coded, occurrence_coded) bool [A_union]: some record of the
    dataset has a known code (occurrence: coded or derivable from intensity)."""
    inten = np.zeros(self.num_union, bool)
    occ = np.zeros(self.num_union, bool)
    subjects = sorted(self.builder.info.splits.keys())   # one split per subject
    for subj, src in zip(subjects, self.subject_sources(subjects)):
      a = self.label_arrays(subj, src)
      i = self.to_union(a["intensity"])
      o = au_lib.merge_occurrence(self.to_union(a["occurrence"]), i, self.occurrence_threshold)
      inten |= (i >= 0).any(0)
      occ |= (o >= 0).any(0)
    return inten, occ

  def label_arrays(self, subject: str, source) -> dict[str, np.ndarray]:
    """Labels of every record of one subject, cached on disk next to the data."""
    cache_dir = os.path.join(self.builder.data_dir, "au_jax_label_index")
    from tfds_builders.common import split_name
    path = os.path.join(cache_dir, f"{split_name(subject)}.npz")
    if os.path.exists(path):
      with np.load(path, allow_pickle=False) as z:
        if int(z["n"]) == len(source):
          return {k: z[k] for k in z.files}
    n = len(source)
    records = source.__getitems__(list(range(n))) if n else []
    arrays = dict(
        n=np.int64(n),
        intensity=np.stack([r["au_intensity"] for r in records]).astype(np.int32)
        if n else np.zeros((0, len(self.aus)), np.int32),
        occurrence=np.stack([r["au_occurrence"] for r in records]).astype(np.int32)
        if n else np.zeros((0, len(self.aus)), np.int32),
        frame=np.array([r["frame"] for r in records], np.int32),
        sequence=np.array([_text(r["sequence"]) for r in records], dtype=np.str_),
    )
    os.makedirs(cache_dir, exist_ok=True)
    tmp = path + f".tmp{os.getpid()}.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)  # atomic: a killed run never leaves a half-written index
    return arrays


def _text(v) -> str:
  return v.decode("utf-8") if isinstance(v, bytes) else str(v)


class RecordSource:
  """Random access over the records of a split (grain RandomAccessDataSource).

  `source[i]` returns the raw record with the image still encoded (`image`
  bytes; models decode in their transform), labels mapped onto the split's
  AU list, and `dataset` (int code).
  """

  def __init__(self, parts: list[tuple[int, Any, Any]]):
    # parts: (dataset code, _DatasetPart, tfds per-subject source)
    self._parts = parts
    self._offsets = np.cumsum([0] + [len(src) for _, _, src in parts])

  def __len__(self) -> int:
    return int(self._offsets[-1])

  def __getitem__(self, i: int) -> dict:
    i = int(i)
    if not 0 <= i < len(self):
      raise IndexError(f"record {i} out of range [0, {len(self)})")
    k = int(np.searchsorted(self._offsets, i, side="right") - 1)
    code, part, src = self._parts[k]
    j = i - int(self._offsets[k])
    try:
      r = src[j]
    except Exception as e:  # name the record that could not be read
      raise IOError(f"could not read record {j} of {part.name} split "
                    f"{getattr(src, 'split', '?')}: {e}") from e
    inten = part.to_union(np.asarray(r["au_intensity"], np.int32))
    occ = part.to_union(np.asarray(r["au_occurrence"], np.int32))
    return dict(
        image=r["image"], landmarks=np.asarray(r["landmarks"], np.float32),
        intensity=inten,
        occurrence=au_lib.merge_occurrence(occ, inten, part.occurrence_threshold),
        subject=_text(r["subject"]), sequence=_text(r["sequence"]),
        frame=np.int32(r["frame"]), dataset=np.int32(code))

  def __repr__(self):
    return f"RecordSource({len(self)} records, {len(self._parts)} subject splits)"


@dataclasses.dataclass
class Split:
  name: str
  source: RecordSource
  index: LabelIndex
  info: DataInfo


def load_data_info(data_cfg) -> tuple[DataInfo, list[_DatasetPart]]:
  data_dir = data_cfg.get("data_dir") or default_data_dir()
  threshold = int(data_cfg.get("occurrence_threshold", au_lib.DEFAULT_OCCURRENCE_THRESHOLD))
  sources = list(data_cfg["sources"])
  if not sources:
    raise ValueError("config.data.sources is empty: name at least one dataset")
  # AU union: explicit config.data.aus, else first-seen order over datasets.
  builders = [get_builder(s["name"], data_dir, s.get("manual_dir")) for s in sources]
  builders_meta = [[int(a) for a in b.info.metadata["aus"]] for b in builders]
  union = list(data_cfg.get("aus") or [])
  if not union:
    for lst in builders_meta:
      union += [a for a in lst if a not in union]
  unknown = [a for a in union if not any(a in lst for lst in builders_meta)]
  if unknown:
    raise KeyError(f"config.data.aus lists AUs {unknown} that no dataset codes")
  parts = [_DatasetPart(s, b, union, threshold) for s, b in zip(sources, builders)]
  inten_coded = np.zeros(len(union), bool)
  occ_coded = np.zeros(len(union), bool)
  for p in parts:
    i, o = p.coding()
    inten_coded |= i
    occ_coded |= o
  info = DataInfo(aus=tuple(union), intensity_coded=tuple(bool(x) for x in inten_coded),
                  occurrence_coded=tuple(bool(x) for x in occ_coded),
                  datasets=tuple(p.name for p in parts),
                  metadata=tuple(p.metadata for p in parts))
  return info, parts


def load_split(data_cfg, split: str, info_parts=None) -> Split:
  """The records and label index of `split` over all datasets of the config."""
  info, parts = info_parts or load_data_info(data_cfg)
  entries, arrays = [], []
  subjects_all, sequences_all = [], []
  for code, part in enumerate(parts):
    subjects = part.present(resolve_subjects(part.metadata, part.protocol, split), split)
    for subj, src in zip(subjects, part.subject_sources(subjects)):
      entries.append((code, part, src))
      a = part.label_arrays(subj, src)
      inten = part.to_union(a["intensity"])
      occ = au_lib.merge_occurrence(part.to_union(a["occurrence"]), inten,
                                    part.occurrence_threshold)
      arrays.append((code, f"{part.name}:{subj}", a["sequence"], a["frame"], inten, occ))
  if not entries:
    raise ValueError(f"split {split!r} has no subjects under the configured protocols "
                     f"{[p.protocol for p in parts]}")
  subj_names = [s for _, s, *_ in arrays]
  seq_code: dict[str, int] = {}
  seq_codes, subj_codes = [], []
  for k, (_, s, seqs, _, inten, _) in enumerate(arrays):
    subj_codes.append(np.full(len(inten), k, np.int32))
    seq_codes.append(np.array([seq_code.setdefault(f"{s}/{q}", len(seq_code)) for q in seqs],
                              np.int32))
  seq_names = list(seq_code)
  cat = lambda xs, d: (np.concatenate(xs) if xs else np.zeros((0,), d))
  index = LabelIndex(
      intensity=np.concatenate([a[4] for a in arrays]).astype(np.int32),
      occurrence=np.concatenate([a[5] for a in arrays]).astype(np.int32),
      subject=cat(subj_codes, np.int32),
      sequence=cat(seq_codes, np.int32),
      frame=cat([a[3] for a in arrays], np.int32),
      dataset=cat([np.full(len(a[4]), a[0], np.int32) for a in arrays], np.int32),
      subjects=tuple(subj_names), sequences=tuple(seq_names), datasets=info.datasets)
  return Split(split, RecordSource(entries), index, info)
