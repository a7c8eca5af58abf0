"""Datasets -> random-access record sources and label indices, by protocol.

A data config names one or more TFDS datasets (`name/config`) and, for each,
a protocol of the builder's metadata (or `loso:<subject>`, `loso75:<subject>`,
or `all`; see `resolve_subjects`). For a
split ("train", "validation", "test") this module resolves the protocol to a
subject list, opens the per-subject TFDS splits as one random-access source
and builds the split's LabelIndex. Several datasets with different AU lists
merge onto one AU list (union, first-seen order; -1 where a dataset does not
code an AU) — the multi-dataset setting of Walecki et al. (Eq. 12).

Cross-dataset protocols: `config.data.test_sources` (same fields, plus an
optional `as_dataset`) names the datasets of the test split; train and
validation then come from `sources` only:

  config.data.sources = [dict(name="synthetic_au/disfa_like", protocol="default")]
  config.data.test_sources = [dict(name="synthetic_au/bp4d_like")]   # protocol "all"

- A test source's protocol defaults to "all": every subject of that dataset
  is a test subject. A named protocol or `loso:<s>` uses its test split.
- The experiment's AU list is the AUs coded (builder metadata) by the
  training datasets (their union, in training order) that the test datasets
  (their union) code too. `config.data.aus`, if given, must lie in both.
- Coded flags (`DataInfo.intensity_coded` / `occurrence_coded`) hold only
  where BOTH sides code the AU: an AU whose intensity the training data code
  but the test data code only for occurrence is an occurrence-only AU of the
  experiment. The model then learns what the test measures, and validation
  (which tunes the test thresholds) reports the same metrics as test.
  Occurrence counts as coded where it is derivable from intensity, with the
  one `occurrence_threshold` on both sides; a dataset's own occurrence codes
  are kept, even if its coders' threshold differs (bp4d_like codes
  intensity >= 1, disfa_like derives intensity >= 2).
- A source may set its own occurrence rule, `occurrence_rule=dict(
  min_intensity=k, unspecified="uncoded"|"absent"|"present")`: present iff
  its coded intensity >= k, overriding its coders' occurrence codes (Ghosh
  et al.'s CK+ rule, intensity >= 3; au_jax.aus.occurrence_from_coded_intensity).
- Test records carry a `dataset` code into the TRAINING datasets
  (`DataInfo.datasets`), so models with per-dataset parameters (CCNN,
  Eq. 12) read a valid row: the code of the training source named by
  `as_dataset`, default 0 (the first). `DataInfo.test_datasets` names the
  test datasets (empty when the protocol does not cross datasets).

Training on more than the train split: `config.data.train_splits` (default
("train",)) names the protocol splits whose subjects make up the TRAINING
split, e.g. ("train", "validation") to retrain on train + validation after
model selection (Gudi et al., Sec. IV-C; au_jax.train.retrain). The
validation and test splits stay what the protocol says; test is never
allowed in training.

The synthetic dataset is built on first use; a licensed dataset that is not
built yet raises DatasetNotFoundError with the command that builds it.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Sequence

import numpy as np

from au_jax import aus as au_lib
from au_jax import defaults
from au_jax.data import label_index
from au_jax.data.builds import describe_source, split_name
from au_jax.data.label_index import LabelIndex
from au_jax.errors import ConfigKeyError, ConfigValueError, UserError

SPLITS = ("train", "validation", "test")


class DatasetNotFoundError(UserError, FileNotFoundError):
  """A dataset is not built and cannot be built without the user's files."""


def default_data_dir() -> str:
  return os.path.expanduser(os.environ.get("AU_JAX_DATA_DIR", "~/tensorflow_datasets"))


def _builder_of(name: str, data_dir: str):
  """TFDS's builder object of `name` (nothing is built or read yet); an unknown
  dataset or config is a ConfigKeyError."""
  import tensorflow_datasets as tfds  # slow to import: prediction imports this module, never TFDS
  try:
    return tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError as e:
    raise ConfigKeyError(
        f"unknown dataset {name!r}: it is not built in {data_dir} and no TFDS builder of it is "
        f"registered. Build it once with: python -m tfds_builders.build {name} "
        f"--data_dir={data_dir} (a licensed dataset also needs --manual_dir=/path/to/raw), or "
        f"import tfds_builders.{name.split('/')[0]} first to build it on first use") from e
  except ValueError as e:   # TFDS: "BuilderConfig x not found. Available: [...]"
    if "BuilderConfig" not in str(e):
      raise
    raise ConfigKeyError(f"unknown dataset {name!r}: {str(e).splitlines()[0]}") from None


def check_datasets(data_cfg) -> None:
  """Every dataset of config.data (sources and test_sources) is known to TFDS:
  built in data_dir or registered. Cheap (nothing is built), so the engine
  calls it before it writes anything to a workdir."""
  data_dir = os.path.expanduser(defaults.value(data_cfg, "data", "data_dir") or default_data_dir())
  for src in list(data_cfg["sources"]) + list(defaults.value(data_cfg, "data", "test_sources")):
    _builder_of(src["name"], data_dir)


def get_builder(name: str, data_dir: str | None = None, manual_dir: str | None = None,
                build: bool = True):
  """The TFDS builder of `name` ("dataset/config"), built if needed and allowed.

  A built dataset is read from `data_dir` (TFDS reads its features and
  metadata from the files; no builder code is needed). Building one needs its
  builder registered with TFDS: launch.py imports tfds_builders' builders,
  elsewhere import `tfds_builders.<dataset>` (or your own builder) first.
  """
  data_dir = os.path.expanduser(data_dir or default_data_dir())
  builder = _builder_of(name, data_dir)
  if builder.is_prepared():
    if manual_dir:
      _check_built_from(builder, name, manual_dir, data_dir)
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
    import tensorflow_datasets as tfds  # slow to import: prediction imports this module, never TFDS
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


def _check_built_from(builder, name: str, manual_dir: str, data_dir: str) -> None:
  """A config naming a manual_dir must not silently train on a build made from
  another raw tree (tfds_builders.build records each build's source)."""
  old = dict(builder.info.metadata or {}).get("source")
  if not old or not os.path.isdir(os.path.expanduser(manual_dir)):
    return  # built before sources were recorded, or no tree to compare with
  new = describe_source(os.path.expanduser(manual_dir))
  if (old.get("manual_dir"), old.get("fingerprint")) != (new["manual_dir"], new["fingerprint"]):
    raise DatasetNotFoundError(
        f"{name} in {data_dir} was built from {old.get('manual_dir')} (fingerprint "
        f"{old.get('fingerprint')}), not from manual_dir {new['manual_dir']} "
        f"({new['fingerprint']}).\nRebuild it: python -m tfds_builders.build {name} "
        f"--manual_dir={manual_dir} --data_dir={data_dir} --overwrite, or use another data_dir.")


LOSO_VALIDATION_FRACTION = 0.25   # loso75: Ghosh et al. (ACII 2015), Sec. V


def loso75_split(everyone: Sequence[str], subject: str, seed: int = 0) -> dict[str, list[str]]:
  """Leave `subject` out; 75/25 train/validation of the others by `seed`.

  Ghosh et al. (ACII 2015, Sec. V): "in each testing fold, 75% of the
  subjects were used for training, and the remaining 25% for validation
  according to a random seed". Validation = round-half-up(25% of the other
  subjects), at least 1 and at most all but one of them (DISFA: 26 others ->
  7 validation, 19 train), drawn by a permutation of the sorted others from
  `np.random.default_rng([seed, index of subject])`: the same (subject, seed)
  always gives the same split, and folds of one seed differ beyond the
  left-out subject. Lists are sorted.
  """
  everyone = sorted(everyone)
  rest = [s for s in everyone if s != subject]
  if len(rest) < 2:
    raise ConfigValueError(f"loso75 needs at least 3 subjects, the dataset has {everyone}")
  n_val = min(max(int(np.floor(LOSO_VALIDATION_FRACTION * len(rest) + 0.5)), 1), len(rest) - 1)
  rng = np.random.default_rng([int(seed), everyone.index(subject)])
  val = {rest[i] for i in rng.permutation(len(rest))[:n_val]}
  return {"test": [subject], "validation": sorted(val),
          "train": [s for s in rest if s not in val]}


def resolve_subjects(metadata: dict, protocol: str, split: str,
                     all_split: str = "train") -> list[str]:
  """Subjects of `split` under `protocol`.

  A builder protocol (metadata["protocols"]), or:
  'all': every subject in `all_split` ("train" for a training source, "test"
    for a test source of a cross-dataset protocol), none in the other splits.
  'loso:<s>': test = [s]; validation = the next subject in sorted order (so
    thresholds are never tuned on the test subject); train = the rest.
  'loso75:<s>' or 'loso75:<s>:<seed>' (seed 0 when absent): test = [s]; the
    other subjects split 75/25 into train / validation by the seed
    (`loso75_split`; the DISFA protocol of Ghosh et al., ACII 2015, Table I).
  `python -m au_jax.sweep --sweep=protocol=loso` (or `=loso75`) runs every
  subject's fold.
  """
  for s in (split, all_split):
    if s not in SPLITS:
      raise ConfigKeyError(f"unknown split {s!r}; expected one of {SPLITS}")
  protocols = metadata.get("protocols", {})
  everyone = sorted({s for p in protocols.values() for v in p.values() for s in v})
  if protocol == "all":
    return everyone if split == all_split else []
  form, _, rest = protocol.partition(":")
  if form in ("loso", "loso75") and rest:
    subject, seed = rest, "0"
    if form == "loso75" and rest not in everyone and ":" in rest:
      subject, _, seed = rest.rpartition(":")
    if subject not in everyone:
      raise ConfigKeyError(f"protocol {protocol!r}: subject {subject!r} not in dataset; "
                     f"known: {everyone}")
    if form == "loso75":
      if not seed.lstrip("-").isdigit():
        raise ConfigValueError(f"protocol {protocol!r}: the seed {seed!r} is not an integer "
                               "('loso75:<subject>:<seed>')")
      return loso75_split(everyone, subject, int(seed))[split]
    val = everyone[(everyone.index(subject) + 1) % len(everyone)]
    return {"test": [subject], "validation": [val],
            "train": [s for s in everyone if s not in (subject, val)]}[split]
  if protocol not in protocols:
    raise ConfigKeyError(f"unknown protocol {protocol!r}; the dataset defines "
                   f"{sorted(protocols)} (plus 'all', 'loso:<subject>' and "
                   "'loso75:<subject>[:<seed>]')")
  return list(protocols[protocol].get(split, []))


@dataclasses.dataclass(frozen=True)
class DataInfo:
  """What a model needs to know about the data of an experiment.

  Attributes:
    aus: the AU list of batches (union over datasets; in a cross-dataset
      protocol, the training datasets' AUs that the test datasets code too).
    intensity_coded: bool [A]: some dataset codes this AU's intensity (cross-
      dataset: some training AND some test dataset do).
    occurrence_coded: bool [A]: occurrence labels exist (coded or derived;
      cross-dataset: on both sides).
    datasets: training dataset names, in the order of the `dataset` code.
    metadata: builder metadata of each training dataset (protocols, generator truth...).
    test_datasets: test dataset names of a cross-dataset protocol, else ().
  """
  aus: tuple[int, ...]
  intensity_coded: tuple[bool, ...]
  occurrence_coded: tuple[bool, ...]
  datasets: tuple[str, ...]
  metadata: tuple[dict, ...]
  test_datasets: tuple[str, ...] = ()

  @property
  def num_aus(self) -> int:
    return len(self.aus)


def _metadata_aus(name: str, builder) -> list[int]:
  """The AU list a dataset codes (builder metadata, record column order)."""
  meta = builder.info.metadata or {}
  if "aus" not in meta:
    raise ConfigKeyError(f"dataset {name}: builder metadata has no 'aus' list")
  return [int(a) for a in meta["aus"]]


def _occurrence_rule(source_cfg, field: str) -> dict:
  """A source's `occurrence_rule` (dict(min_intensity=k, unspecified=...)),
  checked; {} = none (the dataset's own occurrence codes are kept)."""
  rule = dict(source_cfg.get("occurrence_rule") or {})
  if not rule:
    return {}
  extra = sorted(set(rule) - {"min_intensity", "unspecified"})
  if extra or "min_intensity" not in rule:
    raise ConfigKeyError(f"{field}.occurrence_rule takes min_intensity (1-5) and optional "
                         f"unspecified {au_lib.UNSPECIFIED_RULES}, got {sorted(rule)}")
  k = rule["min_intensity"]
  if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= au_lib.MAX_INTENSITY:
    raise ConfigValueError(f"{field}.occurrence_rule.min_intensity must be an integer 1-5, "
                           f"got {k!r}")
  if rule.get("unspecified", "uncoded") not in au_lib.UNSPECIFIED_RULES:
    raise ConfigValueError(f"{field}.occurrence_rule.unspecified must be one of "
                           f"{au_lib.UNSPECIFIED_RULES}, got {rule['unspecified']!r}")
  return rule


class _DatasetPart:
  """One dataset of an experiment: its builder, AU mapping and sources.

  `role` is "train" (a `sources` entry: train and validation, and test
  unless the protocol crosses datasets) or "test" (a `test_sources` entry);
  `code` is the `dataset` code of its records; `field` names its config
  entry in error messages.
  """

  def __init__(self, source_cfg, builder, aus_union, occurrence_threshold, *,
               field: str, role: str = "train", code: int = 0):
    self.name = source_cfg["name"]
    self.role, self.code, self.field = role, code, field
    self.protocol = source_cfg.get("protocol", "all" if role == "test" else "default")
    self.builder = builder
    self.metadata = dict(self.builder.info.metadata or {})
    self.aus = tuple(_metadata_aus(self.name, builder))
    # Dataset AU k -> batch column; AUs outside the experiment's list are dropped.
    self.src = np.array([k for k, a in enumerate(self.aus) if a in aus_union], int)
    self.columns = np.array([aus_union.index(self.aus[k]) for k in self.src], int)
    self.num_union = len(aus_union)
    self.occurrence_threshold = occurrence_threshold
    self.occurrence_rule = _occurrence_rule(source_cfg, field)
    self._index_cache = None

  def occurrence(self, occurrence: np.ndarray, intensity: np.ndarray) -> np.ndarray:
    """Occurrence labels [..., A_union] from this dataset's codes (union AUs):
    its `occurrence_rule` if the source sets one, else the coders' occurrence
    with intensity >= occurrence_threshold where only intensity is coded."""
    if self.occurrence_rule:
      return au_lib.occurrence_from_coded_intensity(occurrence, intensity,
                                                    **self.occurrence_rule)
    return au_lib.merge_occurrence(occurrence, intensity, self.occurrence_threshold)

  def subjects(self, split: str) -> list[str]:
    """The protocol's subjects of `split`; a bad protocol fails naming the source."""
    try:
      return resolve_subjects(self.metadata, self.protocol, split, all_split=self.role)
    except KeyError as e:
      raise ConfigKeyError(f"{self.field} ({self.name}): {e.args[0]}") from e

  def present(self, subjects, split: str) -> list[str]:
    """The protocol's subjects that the built dataset holds.

    A partial copy of a dataset (or a test fixture) lacks some protocol
    subjects: they are skipped with a warning naming them.
    """
    known = set(self.builder.info.splits.keys())
    missing = [s for s in subjects if split_name(s) not in known]
    if missing:
      print(f"[au_jax] warning: {self.name} protocol {self.protocol!r} split {split!r}: "
            f"{len(missing)} of {len(subjects)} subjects are not in the built dataset and are "
            f"skipped: {missing[:10]}{' ...' if len(missing) > 10 else ''}", flush=True)
    return [s for s in subjects if split_name(s) in known]

  def subject_sources(self, subjects):
    import tensorflow_datasets as tfds  # slow to import: prediction imports this module, never TFDS
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
      o = self.occurrence(self.to_union(a["occurrence"]), i)
      inten |= (i >= 0).any(0)
      occ |= (o >= 0).any(0)
    return inten, occ

  def label_arrays(self, subject: str, source) -> dict[str, np.ndarray]:
    """Labels of every record of one subject, cached on disk next to the data."""
    cache_dir = os.path.join(self.builder.data_dir, "au_jax_label_index")
    path = os.path.join(cache_dir, f"{split_name(subject)}.npz")
    if os.path.exists(path):
      with np.load(path, allow_pickle=False) as z:   # a cache from before nuisance: reread
        if int(z["n"]) == len(source) and "with_nuisance" in z.files:
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
        with_nuisance=np.bool_(True),
        **label_index.nuisance_arrays(records, len(self.aus)),
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
        occurrence=part.occurrence(occ, inten),
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


TEST_SOURCE_KEYS = ("name", "protocol", "manual_dir", "as_dataset", "occurrence_rule")


def _union(lists) -> list[int]:
  out: list[int] = []
  for lst in lists:
    out += [int(a) for a in lst if int(a) not in out]
  return out


def experiment_aus(train_aus: Sequence[Sequence[int]], test_aus: Sequence[Sequence[int]] = (),
                   requested: Sequence[int] = ()) -> tuple[int, ...]:
  """The AU list of an experiment, from the AU lists its datasets code.

  Args:
    train_aus: the AU list of each training dataset (`config.data.sources`).
    test_aus: the AU list of each test dataset (`config.data.test_sources`);
      empty = the protocol does not cross datasets.
    requested: `config.data.aus`; empty = computed.

  Returns:
    `requested` if given, else the union of `train_aus` (first-seen order),
    restricted to the union of `test_aus` when that is given.
  """
  train = _union(train_aus)
  requested = [int(a) for a in requested]
  if not test_aus:
    unknown = [a for a in requested if a not in train]
    if unknown:
      raise ConfigKeyError(f"config.data.aus lists AUs {unknown} that no dataset codes")
    return tuple(requested or train)
  test = _union(test_aus)
  shared = [a for a in train if a in test]
  if not shared:
    raise ConfigValueError(
        f"cross-dataset protocol without shared AUs: the training datasets code AUs {train},\n"
        f"the test datasets (config.data.test_sources) code AUs {test}.")
  for side, coded in (("training", train), ("test", test)):
    missing = [a for a in requested if a not in coded]
    if missing:
      raise ConfigKeyError(f"config.data.aus lists AUs {missing} that the {side} datasets do not "
                     f"code; AUs coded on both sides: {shared}")
  return tuple(requested or shared)


def _get_builder(source_cfg, field: str, data_dir: str):
  try:
    return get_builder(source_cfg["name"], data_dir, source_cfg.get("manual_dir"))
  except KeyError as e:
    raise ConfigKeyError(f"{field}: {e.args[0]}") from e


def _test_source_code(source_cfg, field: str, train_names: list[str]) -> int:
  """The `dataset` code of a test source's records: its `as_dataset` training
  dataset, else 0 (the first training dataset). Unknown keys fail (a typo
  such as `protcol` must not silently test on every subject)."""
  unknown = sorted(set(source_cfg.keys()) - set(TEST_SOURCE_KEYS))
  if unknown:
    raise ConfigKeyError(f"{field} has unknown keys {unknown}; expected {list(TEST_SOURCE_KEYS)}")
  name = source_cfg.get("as_dataset")
  if name is None:
    return 0
  if name not in train_names:
    raise ConfigKeyError(f"{field}.as_dataset {name!r} is not a training dataset; "
                   f"config.data.sources names {train_names}")
  return train_names.index(name)


def _coding(parts) -> tuple[np.ndarray, np.ndarray]:
  """(intensity_coded, occurrence_coded) bool [A]: some of `parts` codes the AU."""
  codings = [p.coding() for p in parts]
  return np.any([i for i, _ in codings], 0), np.any([o for _, o in codings], 0)


def load_data_info(data_cfg) -> tuple[DataInfo, list[_DatasetPart]]:
  """The experiment's DataInfo and its datasets (training ones, then test ones)."""
  data_dir = defaults.value(data_cfg, "data", "data_dir") or default_data_dir()
  threshold = int(defaults.value(data_cfg, "data", "occurrence_threshold"))
  sources = list(data_cfg["sources"])
  tests = list(defaults.value(data_cfg, "data", "test_sources"))
  if not sources:
    raise ConfigValueError("config.data.sources is empty: name at least one dataset")
  fields = [f"config.data.sources[{k}]" for k in range(len(sources))]
  test_fields = [f"config.data.test_sources[{k}]" for k in range(len(tests))]
  train_names = [s["name"] for s in sources]
  codes = [_test_source_code(s, f, train_names) for s, f in zip(tests, test_fields)]
  builders = [_get_builder(s, f, data_dir) for s, f in zip(sources, fields)]
  test_builders = [_get_builder(s, f, data_dir) for s, f in zip(tests, test_fields)]
  aus = list(experiment_aus([_metadata_aus(s["name"], b) for s, b in zip(sources, builders)],
                            [_metadata_aus(s["name"], b) for s, b in zip(tests, test_builders)],
                            defaults.value(data_cfg, "data", "aus")))
  parts = [_DatasetPart(s, b, aus, threshold, code=k, field=f)
           for k, (s, b, f) in enumerate(zip(sources, builders, fields))]
  test_parts = [_DatasetPart(s, b, aus, threshold, role="test", code=c, field=f)
                for s, b, c, f in zip(tests, test_builders, codes, test_fields)]
  for p in test_parts:  # a bad test protocol fails now, not after training
    p.subjects("test")
  inten_coded, occ_coded = _coding(parts)
  if test_parts:  # both sides must code an AU (module docstring)
    test_inten, test_occ = _coding(test_parts)
    inten_coded, occ_coded = inten_coded & test_inten, occ_coded & test_occ
  info = DataInfo(aus=tuple(aus), intensity_coded=tuple(bool(x) for x in inten_coded),
                  occurrence_coded=tuple(bool(x) for x in occ_coded),
                  datasets=tuple(p.name for p in parts),
                  metadata=tuple(p.metadata for p in parts),
                  test_datasets=tuple(p.name for p in test_parts))
  return info, parts + test_parts


def describe_protocol(data_cfg) -> str:
  """One line for reports: "a/x:default -> test b/y:all" (no arrow without test_sources)."""
  train = ", ".join(f"{s['name']}:{s.get('protocol', 'default')}" for s in data_cfg["sources"])
  tests = defaults.value(data_cfg, "data", "test_sources")
  if not tests:
    return train
  return f"{train} -> test " + ", ".join(f"{s['name']}:{s.get('protocol', 'all')}"
                                         for s in tests)


def train_splits(data_cfg) -> tuple[str, ...]:
  """config.data.train_splits: the protocol splits the training split unites."""
  names = tuple(defaults.value(data_cfg, "data", "train_splits"))
  if not set(names) <= {"train", "validation"} or len(set(names)) != len(names):
    raise ConfigValueError(f"config.data.train_splits must be distinct names out of 'train' and "
                           f"'validation' (never 'test'), got {list(names)}")
  return names


def load_split(data_cfg, split: str, info_parts=None) -> Split:
  """The records and label index of `split` over the datasets that serve it
  (the test datasets for "test" in a cross-dataset protocol, else `sources`)."""
  info, parts = info_parts or load_data_info(data_cfg)
  role = "test" if split == "test" and info.test_datasets else "train"
  parts = [p for p in parts if p.role == role]
  members = train_splits(data_cfg) if split == "train" else (split,)
  entries, arrays, nuisance = [], [], []
  for part in parts:
    subjects = list(dict.fromkeys(s for m in members for s in part.present(part.subjects(m), m)))
    for subj, src in zip(subjects, part.subject_sources(subjects)):
      entries.append((part.code, part, src))
      a = part.label_arrays(subj, src)
      inten = part.to_union(a["intensity"])
      occ = part.occurrence(part.to_union(a["occurrence"]), inten)
      arrays.append((part.code, f"{part.name}:{subj}", a["sequence"], a["frame"], inten, occ))
      nuisance.append((len(inten), label_index.subject_nuisance(a, part.src, part.columns,
                                                                 len(info.aus))))
  if not entries:
    raise ConfigValueError(f"split {split!r} has no subjects under the configured protocols "
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
      subjects=tuple(subj_names), sequences=tuple(seq_names), datasets=info.datasets,
      nuisance=label_index.concat_nuisance(nuisance, len(info.aus)))
  return Split(split, RecordSource(entries), index, info)
