"""Cross-dataset protocols: train/validate on `sources`, test on `test_sources`.

The synthetic pair disfa_like_tiny (intensity of the 12 DISFA AUs) and
bp4d_like_tiny (occurrence of the 11 FERA 2015 AUs, intensity of 5) share 7
AUs; the expectations below are computed from `au_jax/aus.py` and the raw
records, independently of `sources`.
"""
import math
import types

import numpy as np
import pytest

from au_jax import aus as au_lib
from au_jax.data import sources
from tests.conftest import tiny_config

DISFA = "synthetic_au/disfa_like_tiny"
FERA = "synthetic_au/bp4d_like_tiny"
SHARED = [a for a in au_lib.DISFA_AUS if a in set(au_lib.FERA2015_OCC_AUS)]


def _cfg(data_dir, train=(DISFA,), **test):
  return {"sources": [{"name": n, "protocol": "default"} for n in train],
          "test_sources": [dict(name=FERA, **test)], "data_dir": data_dir}


def test_experiment_aus_is_the_ordered_intersection():
  assert sources.experiment_aus([[4, 1, 2], [7]], [[7, 1], [4]]) == (4, 1, 7)
  assert sources.experiment_aus([[4, 1, 2]], [[1, 2, 9]], requested=[2]) == (2,)
  assert sources.experiment_aus([[4, 1], [2]]) == (4, 1, 2)  # no test sources: union
  with pytest.raises(KeyError, match=r"\[4\] that the test datasets do not code"):
    sources.experiment_aus([[4, 1]], [[1]], requested=[1, 4])
  with pytest.raises(KeyError, match=r"\[9\] that the training datasets do not code"):
    sources.experiment_aus([[4, 1]], [[1, 9]], requested=[9])


def test_all_protocol_puts_everyone_in_the_sources_split():
  meta = {"protocols": {"default": {"train": ["a", "b"], "validation": ["c"], "test": ["d"]}}}
  assert sources.resolve_subjects(meta, "all", "test", all_split="test") == ["a", "b", "c", "d"]
  assert sources.resolve_subjects(meta, "all", "train", all_split="test") == []
  assert sources.resolve_subjects(meta, "all", "train") == ["a", "b", "c", "d"]


def test_test_split_is_every_subject_of_the_test_dataset_on_shared_aus(tiny_data_dir):
  cfg = _cfg(tiny_data_dir)
  info_parts = sources.load_data_info(cfg)
  info = info_parts[0]
  fera = sources.get_builder(FERA, tiny_data_dir)
  disfa = sources.get_builder(DISFA, tiny_data_dir)
  # AU list from the builders' metadata, and the same from au_jax/aus.py
  meta_shared = [a for a in disfa.info.metadata["aus"] if a in set(fera.info.metadata["aus"])]
  assert list(info.aus) == meta_shared == SHARED
  # Coded on both sides: intensity only where bp4d_like codes it too.
  assert info.intensity_coded == tuple(a in au_lib.FERA2015_INT_AUS for a in SHARED)
  assert all(info.occurrence_coded)
  assert info.datasets == (DISFA,) and info.test_datasets == (FERA,)

  splits = {s: sources.load_split(cfg, s, info_parts) for s in sources.SPLITS}
  for s in ("train", "validation"):
    assert all(n.startswith(DISFA + ":") for n in splits[s].index.subjects)
  test = splits["test"]
  everyone = sorted(fera.info.splits.keys())
  assert sorted(test.index.subjects) == [f"{FERA}:{s}" for s in everyone]
  assert len(test.source) == sum(fera.info.splits[s].num_examples for s in everyone)
  assert (test.index.dataset == 0).all()  # a valid code into info.datasets

  # Labels: raw fera records re-mapped by AU id, -1 where fera does not code.
  fera_aus = list(fera.info.metadata["aus"])
  rows_i, rows_o = [], []
  for s in sorted(set(test.index.subjects), key=test.index.subjects.index):
    raw = fera.as_data_source(split=s.split(":")[1])
    for r in (raw[j] for j in range(len(raw))):
      inten = [int(r["au_intensity"][fera_aus.index(a)]) for a in SHARED]
      occ = [int(r["au_occurrence"][fera_aus.index(a)]) for a in SHARED]
      occ = [o if o >= 0 else (-1 if i < 0 else int(i >= 2)) for o, i in zip(occ, inten)]
      rows_i.append(inten)
      rows_o.append(occ)
  np.testing.assert_array_equal(test.index.intensity, rows_i)
  np.testing.assert_array_equal(test.index.occurrence, rows_o)
  for i in (0, len(test.source) - 1):
    np.testing.assert_array_equal(test.source[i]["intensity"], rows_i[i])
    assert test.source[i]["dataset"] == 0
  assert sources.describe_protocol(cfg) == f"{DISFA}:default -> test {FERA}:all"


def test_named_test_protocol_and_as_dataset(tiny_data_dir):
  cfg = _cfg(tiny_data_dir, train=(DISFA, FERA), protocol="fold1", as_dataset=FERA)
  info_parts = sources.load_data_info(cfg)
  info = info_parts[0]
  # Union of the training AUs (DISFA first), restricted to bp4d_like's.
  assert list(info.aus) == SHARED + [a for a in au_lib.FERA2015_OCC_AUS if a not in SHARED]
  test = sources.load_split(cfg, "test", info_parts)
  fold1 = sources.get_builder(FERA, tiny_data_dir).info.metadata["protocols"]["fold1"]["test"]
  assert sorted(test.index.subjects) == [f"{FERA}:{s}" for s in sorted(fold1)]
  assert (test.index.dataset == 1).all()


def test_bad_test_sources_fail_naming_the_culprit(tiny_data_dir):
  with pytest.raises(KeyError, match=r"test_sources\[0\].*no_such_set"):
    sources.load_data_info({"sources": [{"name": DISFA}], "data_dir": tiny_data_dir,
                            "test_sources": [{"name": "no_such_set/x"}]})
  with pytest.raises(KeyError, match=r"test_sources\[0\] \(synthetic_au/bp4d_like_tiny\).*fold9"):
    sources.load_data_info(_cfg(tiny_data_dir, protocol="fold9"))
  with pytest.raises(KeyError, match="as_dataset 'nope'"):
    sources.load_data_info(_cfg(tiny_data_dir, as_dataset="nope"))
  with pytest.raises(KeyError, match="protcol"):
    sources.load_data_info(_cfg(tiny_data_dir, protcol="all"))
  with pytest.raises(KeyError, match=r"AUs \[5\] that the test datasets do not code"):
    sources.load_data_info(dict(_cfg(tiny_data_dir), aus=[1, 5]))


def test_no_shared_au_names_both_lists(tiny_data_dir, monkeypatch):
  fera_only = [a for a in au_lib.FERA2015_OCC_AUS if a not in au_lib.DISFA_AUS]
  real = sources.get_builder
  fake = types.SimpleNamespace(info=types.SimpleNamespace(metadata={"aus": fera_only}))
  monkeypatch.setattr(sources, "get_builder",
                      lambda name, *a, **k: fake if name == "fake/upper" else real(name, *a, **k))
  cfg = {"sources": [{"name": DISFA}], "test_sources": [{"name": "fake/upper"}],
         "data_dir": tiny_data_dir}
  with pytest.raises(ValueError) as e:
    sources.load_data_info(cfg)
  assert str(list(au_lib.DISFA_AUS)) in str(e.value) and str(fera_only) in str(e.value)


@pytest.mark.slow
def test_train_on_disfa_like_test_on_bp4d_like_end_to_end(tiny_data_dir, tmp_path):
  from au_jax import experiment
  cfg = tiny_config("configs.gudi_synthetic", tiny_data_dir, "runlocal,steps=2")
  cfg.data.test_sources = [dict(name=FERA)]
  report = experiment.train_and_evaluate(cfg, str(tmp_path / "w"))
  assert report["aus"] == SHARED
  test = report["test"]
  assert list(test["per_au"]) == [au_lib.au_label(a) for a in SHARED]
  assert test["n"] == 6 * 24  # every bp4d_like_tiny record
  for au, row in test["per_au"].items():
    assert row["n_occurrence"] > 0 and math.isfinite(row["auc"]), au
    assert ("icc" in row) == (int(au[2:]) in au_lib.FERA2015_INT_AUS), au
  assert test["mean"] and all(math.isfinite(v) for v in test["mean"].values())
