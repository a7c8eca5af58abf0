import numpy as np
import pytest

from au_jax.data import sources

META = {"protocols": {"default": {"train": ["a", "b", "c"], "validation": ["d"], "test": ["e"]}}}


def test_resolve_named_protocol():
  assert sources.resolve_subjects(META, "default", "train") == ["a", "b", "c"]
  assert sources.resolve_subjects(META, "default", "test") == ["e"]


def test_resolve_leave_one_subject_out():
  test = sources.resolve_subjects(META, "loso:c", "test")
  val = sources.resolve_subjects(META, "loso:c", "validation")
  train = sources.resolve_subjects(META, "loso:c", "train")
  assert test == ["c"] and val == ["d"]
  assert sorted(train + test + val) == ["a", "b", "c", "d", "e"]


def test_unknown_protocol_and_subject_are_named():
  with pytest.raises(KeyError, match="fold9"):
    sources.resolve_subjects(META, "fold9", "train")
  with pytest.raises(KeyError, match="zz"):
    sources.resolve_subjects(META, "loso:zz", "train")


def test_licensed_dataset_not_built_says_how_to_build(tmp_path):
  with pytest.raises(sources.DatasetNotFoundError, match="manual_dir"):
    sources.get_builder("disfa", str(tmp_path))


def test_unknown_dataset_is_named(tmp_path):
  with pytest.raises(KeyError, match="no_such_set"):
    sources.get_builder("no_such_set", str(tmp_path))


def _data_cfg(data_dir, *names):
  return {"sources": [{"name": n, "protocol": "default"} for n in names], "data_dir": data_dir}


def test_split_is_subject_exclusive_and_index_matches_records(tiny_data_dir):
  cfg = _data_cfg(tiny_data_dir, "synthetic_au/disfa_like_tiny")
  info_parts = sources.load_data_info(cfg)
  splits = {s: sources.load_split(cfg, s, info_parts) for s in sources.SPLITS}
  subjects = {s: set(sp.index.subjects) for s, sp in splits.items()}
  assert not subjects["train"] & subjects["test"]
  assert not subjects["train"] & subjects["validation"]
  tr = splits["train"]
  for i in (0, len(tr.source) // 2, len(tr.source) - 1):
    r = tr.source[i]
    np.testing.assert_array_equal(r["intensity"], tr.index.intensity[i])
    np.testing.assert_array_equal(r["occurrence"], tr.index.occurrence[i])
    assert r["frame"] == tr.index.frame[i]
    assert f"synthetic_au/disfa_like_tiny:{r['subject']}" == tr.index.subjects[tr.index.subject[i]]
  # disfa_like codes intensity only: occurrence is derived as intensity >= 2
  np.testing.assert_array_equal(tr.index.occurrence,
                                np.where(tr.index.intensity < 0, -1, tr.index.intensity >= 2))


def test_two_datasets_merge_onto_the_union_of_their_aus(tiny_data_dir):
  cfg = _data_cfg(tiny_data_dir, "synthetic_au/disfa_like_tiny", "synthetic_au/bp4d_like_tiny")
  info_parts = sources.load_data_info(cfg)
  info = info_parts[0]
  disfa = [1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26]
  assert list(info.aus[:12]) == disfa and set(info.aus) == set(disfa) | {7, 10, 14, 23}
  split = sources.load_split(cfg, "train", info_parts)
  idx = split.index
  assert set(np.unique(idx.dataset)) == {0, 1}
  fera_only = [info.aus.index(a) for a in (7, 10, 14, 23)]
  disfa_only = [info.aus.index(a) for a in (5, 9, 20, 25, 26)]
  assert (idx.intensity[idx.dataset == 0][:, fera_only] == -1).all()
  assert (idx.occurrence[idx.dataset == 1][:, disfa_only] == -1).all()
  # bp4d_like codes occurrence itself (intensity >= 1): kept, not re-derived
  au6 = info.aus.index(6)
  fera = idx.dataset == 1
  coded = fera & (idx.intensity[:, au6] == 1)
  assert coded.any() and (idx.occurrence[coded, au6] == 1).all()


class _Broken:
  split = "X01"

  def __len__(self):
    return 3

  def __getitem__(self, i):
    raise ValueError("corrupt bytes")


def test_unreadable_record_is_named():
  class Part:
    name = "some_set"
  src = sources.RecordSource([(0, Part(), _Broken())])
  with pytest.raises(IOError, match="record 2 of some_set split X01"):
    src[2]


def test_a_config_manual_dir_never_reuses_a_build_of_another_tree(tmp_path):
  from types import SimpleNamespace

  from tfds_builders.raw_utils import describe_source
  for d in ("A", "B"):
    (tmp_path / d).mkdir()
    (tmp_path / d / f"{d}.txt").write_text(d)
  built = SimpleNamespace(info=SimpleNamespace(metadata={"source": describe_source(tmp_path / "A")}))
  sources._check_built_from(built, "disfa", str(tmp_path / "A"), "/data")     # same tree: fine
  with pytest.raises(sources.DatasetNotFoundError, match=r"built from .*A.*not from .*B.*"
                                                         r"\n.*--overwrite"):
    sources._check_built_from(built, "disfa", str(tmp_path / "B"), "/data")


DISFA_LIKE = {"protocols": {"all": {"test": [f"SN{i:03d}" for i in range(1, 28)]}}}


def _loso75(protocol, meta=DISFA_LIKE):
  return {s: sources.resolve_subjects(meta, protocol, s) for s in sources.SPLITS}


def test_loso75_leaves_one_subject_out_and_splits_the_rest_75_25_by_seed():
  split = _loso75("loso75:SN005:0")
  assert split["test"] == ["SN005"]
  assert not set(split["train"]) & set(split["validation"])
  assert "SN005" not in split["train"] + split["validation"]
  assert sorted(sum(split.values(), [])) == sorted(DISFA_LIKE["protocols"]["all"]["test"])
  assert (len(split["train"]), len(split["validation"])) == (19, 7)   # 26 others: 25% -> 7
  assert _loso75("loso75:SN005:0") == split                          # same seed, same split
  assert _loso75("loso75:SN005") == split                            # seed 0 by default
  assert _loso75("loso75:SN005:1")["validation"] != split["validation"]
  assert _loso75("loso75:SN006:0")["validation"] != split["validation"]
  # the fraction holds on small datasets, never leaving train or validation empty
  small = {"protocols": {"p": {"train": list("abcde")}}}
  for s in "abcde":
    got = _loso75(f"loso75:{s}:3", small)
    assert got["test"] == [s] and len(got["validation"]) == 1 and len(got["train"]) == 3


def test_loso75_bad_subject_seed_or_size_is_named():
  with pytest.raises(KeyError, match="zz"):
    sources.resolve_subjects(DISFA_LIKE, "loso75:zz:0", "train")
  with pytest.raises(ValueError, match="seed 'x'"):
    sources.resolve_subjects(DISFA_LIKE, "loso75:SN001:x", "train")
  with pytest.raises(ValueError, match="at least 3"):
    sources.resolve_subjects({"protocols": {"p": {"train": ["a", "b"]}}}, "loso75:a", "train")
