"""LabelIndex: the labels, subjects and sequences of every record of a split,
held in memory without images, so that samplers can choose records by label.

Building it reads each record with image decoding skipped (a few seconds for
100k records); `au_jax.data.sources` caches it next to the dataset.

The index also carries the records' nuisance (head pose, occlusion,
expressivity..., the fields of `NUISANCE_FIELDS`; docs/benchmark.md 2.8) where
the dataset's records have them, read in the same pass: the stratified
evaluation (au_jax.strata) needs them for the evaluated splits. A dataset
built without them (or a licensed one that does not record them) gives
`nuisance=None`, or a dict without the fields it lacks.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

# Nuisance fields of a record: name -> (dtype, missing value, shape per record).
# "A" = one value per AU of the dataset (mapped onto the split's AU list).
NUISANCE_FIELDS: dict[str, tuple[str, object, tuple]] = {
    "yaw": ("float32", np.nan, ()),
    "pitch": ("float32", np.nan, ()),
    "roll": ("float32", np.nan, ()),
    "occluder": ("str", "", ()),
    "au_covered": ("float32", np.nan, ("A",)),
    "illumination": ("float32", np.nan, (3,)),
    "blur": ("float32", np.nan, ()),
    "jpeg_quality": ("int32", -1, ()),
    "face_size": ("float32", np.nan, ()),
    "expressivity": ("float32", np.nan, ()),
    "expression": ("str", "", ()),
    "sequence_expression": ("str", "", ()),
}
CACHE_PREFIX = "nuisance_"   # keys of the fields in a label-array cache (.npz)


@dataclasses.dataclass(frozen=True)
class LabelIndex:
  """Per-record metadata of a (possibly multi-dataset) split.

  Attributes:
    intensity: int32 [N, A] intensity 0..5, -1 = unknown (A = the split's AU list).
    occurrence: int32 [N, A] 0/1, -1 = unknown; already merged with the
      occurrence-from-intensity rule where the dataset codes only intensity.
    subject: int32 [N] code into `subjects`.
    sequence: int32 [N] code into `sequences`.
    frame: int32 [N] raw frame number.
    dataset: int32 [N] code into `datasets` (0 for a single dataset).
    subjects, sequences, datasets: names for the codes.
    nuisance: {field of NUISANCE_FIELDS: [N, ...] array} for the fields some
      record source of the split has (records of a source that lacks a field
      hold its missing value: NaN, -1 or ""); None when no source has any.
  """
  intensity: np.ndarray
  occurrence: np.ndarray
  subject: np.ndarray
  sequence: np.ndarray
  frame: np.ndarray
  dataset: np.ndarray
  subjects: tuple[str, ...]
  sequences: tuple[str, ...]
  datasets: tuple[str, ...] = ("default",)
  nuisance: Mapping[str, np.ndarray] | None = None

  def __post_init__(self):
    n = len(self.subject)
    for f in ("intensity", "occurrence", "sequence", "frame", "dataset"):
      if len(getattr(self, f)) != n:
        raise ValueError(f"LabelIndex.{f} has {len(getattr(self, f))} rows, expected {n}")
    for f, v in (self.nuisance or {}).items():
      if f not in NUISANCE_FIELDS:
        raise ValueError(f"LabelIndex.nuisance has unknown field {f!r}; known: "
                         f"{list(NUISANCE_FIELDS)}")
      if len(v) != n:
        raise ValueError(f"LabelIndex.nuisance[{f!r}] has {len(v)} rows, expected {n}")

  def field(self, name: str) -> np.ndarray | None:
    """The nuisance field `name` [N, ...], or None when the split's records
    lack it or hold only its missing value."""
    if name not in NUISANCE_FIELDS:
      raise KeyError(f"unknown nuisance field {name!r}; known: {list(NUISANCE_FIELDS)}")
    v = (self.nuisance or {}).get(name)
    if v is None or not len(v) or not (~is_missing(name, v)).any():
      return None
    return v

  def __len__(self) -> int:
    return len(self.subject)

  def take(self, rows) -> "LabelIndex":
    """The records `rows` (an index array): every per-record field, nuisance included."""
    rows = np.asarray(rows)
    per_record = {f: np.asarray(getattr(self, f))[rows] for f in
                  ("intensity", "occurrence", "subject", "sequence", "frame", "dataset")}
    nuisance = (None if self.nuisance is None else
                {k: np.asarray(v)[rows] for k, v in self.nuisance.items()})
    return dataclasses.replace(self, nuisance=nuisance, **per_record)

  @property
  def num_aus(self) -> int:
    return self.intensity.shape[1]

  def groups(self, codes: np.ndarray) -> list[np.ndarray]:
    """Record indices grouped by an integer code array (e.g. self.subject)."""
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    return [g for g in np.split(order, bounds) if len(g)]


def is_missing(name: str, values: np.ndarray) -> np.ndarray:
  """Bool, same shape as `values`: the entries holding field `name`'s missing value."""
  dtype, missing, _ = NUISANCE_FIELDS[name]
  v = np.asarray(values)
  if dtype == "float32":
    return ~np.isfinite(v.astype(np.float64))
  return v == missing


def _text(v) -> str:
  return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _missing_block(name: str, n: int, num_aus: int) -> np.ndarray:
  dtype, missing, shape = NUISANCE_FIELDS[name]
  shape = tuple(num_aus if d == "A" else d for d in shape)
  return np.full((n,) + shape, missing, np.str_ if dtype == "str" else dtype)


def nuisance_arrays(records: Sequence[Mapping], num_aus: int) -> dict[str, np.ndarray]:
  """The nuisance fields of one record source, read from its decoded records
  (dicts as a TFDS data source returns them, image undecoded), under the
  cache keys `CACHE_PREFIX + field`. Only the fields the records have are
  returned; {} for none (or no records: nothing to learn from them).

  Args:
    records: the source's records in order.
    num_aus: the dataset's AU count (`au_covered` is [num_aus] per record).
  """
  if not len(records):
    return {}
  out = {}
  for name, (dtype, _, _) in NUISANCE_FIELDS.items():
    if name not in records[0]:
      continue
    if dtype == "str":
      v = np.array([_text(r[name]) for r in records], dtype=np.str_)
    else:
      v = np.stack([np.asarray(r[name], dtype) for r in records])
    expected = _missing_block(name, 1, num_aus).shape[1:]
    if v.shape[1:] != expected:
      raise ValueError(f"nuisance field {name!r} has shape {v.shape[1:]} per record, "
                       f"expected {expected}")
    out[CACHE_PREFIX + name] = v
  return out


def subject_nuisance(arrays: Mapping[str, np.ndarray], src: np.ndarray, columns: np.ndarray,
                     num_union: int) -> dict[str, np.ndarray]:
  """One source's nuisance fields (`nuisance_arrays`' keys, e.g. from the
  label cache), with `au_covered` moved onto the split's AU list: dataset AU
  src[k] -> column columns[k], NaN for AUs the dataset does not have."""
  out = {}
  for key, v in arrays.items():
    if not key.startswith(CACHE_PREFIX) or key[len(CACHE_PREFIX):] not in NUISANCE_FIELDS:
      continue
    name = key[len(CACHE_PREFIX):]
    v = np.asarray(v)
    if NUISANCE_FIELDS[name][2] == ("A",):
      union = _missing_block(name, len(v), num_union)
      union[:, np.asarray(columns, int)] = v[:, np.asarray(src, int)]
      v = union
    out[name] = v
  return out


def concat_nuisance(blocks: Sequence[tuple[int, Mapping[str, np.ndarray]]],
                    num_aus: int) -> dict[str, np.ndarray] | None:
  """The split's nuisance from its sources' blocks (records, `subject_nuisance`
  dict), in order. A field any block has is kept; blocks without it get its
  missing value. None when no block has any field."""
  names = [f for f in NUISANCE_FIELDS if any(f in b for _, b in blocks)]
  if not names:
    return None
  out = {}
  for f in names:
    parts = [b[f] if f in b else _missing_block(f, n, num_aus) for n, b in blocks]
    for (n, _), p in zip(blocks, parts):
      if len(p) != n:
        raise ValueError(f"nuisance field {f!r}: a block has {len(p)} rows, expected {n}")
    if NUISANCE_FIELDS[f][0] == "str":
      out[f] = np.concatenate([np.asarray(p, np.str_) for p in parts])
    else:
      out[f] = np.concatenate(parts).astype(NUISANCE_FIELDS[f][0])
  return out
