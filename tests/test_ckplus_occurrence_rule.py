"""Ghosh et al.'s CK+ occurrence rule (intensity >= 3) as a per-source rule of
the data layer, used by configs/multilabel_cross.py."""
import os

import numpy as np
import pytest

from au_jax import aus
from au_jax.data import sources
from au_jax.errors import ConfigKeyError, ConfigValueError
from configs import common, multilabel_cross
from tests.fixtures import raw_trees as rt
from tfds_builders.ckplus.ckplus import CKPLUS_AUS, peak_labels


def test_rule_on_ckplus_peak_codes():
  # AU9 D, AU17 B, AU12 listed without intensity, AU1 C; AU2 not listed.
  inten, occ, _ = peak_labels([(9, 4), (17, 2), (12, 0), (1, 3)], CKPLUS_AUS)
  col = {au: CKPLUS_AUS.index(au) for au in (1, 2, 9, 12, 17)}
  for unspecified, au12 in (("uncoded", -1), ("absent", 0), ("present", 1)):
    got = aus.occurrence_from_coded_intensity(occ, inten, 3, unspecified)
    assert {au: int(got[k]) for au, k in col.items()} == {1: 1, 2: 0, 9: 1, 12: au12, 17: 0}
  # uncoded stays uncoded (an AU the dataset lacks, after the union mapping)
  assert aus.occurrence_from_coded_intensity(np.array([-1]), np.array([-1]), 3, "present")[0] == -1
  with pytest.raises(ValueError, match="unspecified"):
    aus.occurrence_from_coded_intensity(occ, inten, 3, "maybe")


def test_cross_config_uses_the_papers_value_by_default():
  config = multilabel_cross.get_config("train=disfa,test=ckplus")
  assert config.data.test_sources[0]["occurrence_rule"] == dict(min_intensity=3,
                                                               unspecified="uncoded")
  assert multilabel_cross.PAPER_CKPLUS_MIN_INTENSITY == 3
  off = multilabel_cross.get_config("train=disfa,test=ckplus,ckplus_min_intensity=0")
  assert "occurrence_rule" not in off.data.test_sources[0]
  other = multilabel_cross.get_config("train=bp4d,test=disfa")
  assert "occurrence_rule" not in other.data.test_sources[0]


def test_data_layer_applies_the_sources_rule(tmp_path):
  """CK+ fixture: S005 peak codes AU9 D and AU17 B, S010 AU12 unspecified."""
  facts = rt.make_ckplus(tmp_path / "raw")
  data_dir = str(tmp_path / "data")
  sources.get_builder("ckplus", data_dir, manual_dir=str(facts["root"]))

  def occurrence(rule):
    src = dict(name="ckplus", protocol="all_test")
    if rule is not None:
      src["occurrence_rule"] = rule
    cfg = common.data_config([src])
    cfg.aus = (9, 12, 17)
    cfg.data_dir = data_dir
    split = sources.load_split(cfg, "test")
    idx = split.index
    assert len(idx.subject) == 2                # one peak frame per subject
    record = split.source[0]["occurrence"]     # the records carry the same labels
    np.testing.assert_array_equal(record, idx.occurrence[0])
    return {idx.subjects[s].split(":")[-1]: idx.occurrence[k].tolist()
            for k, s in enumerate(idx.subject)}

  # builder's codes: every listed AU present
  assert occurrence(None) == {"S005": [1, 0, 1], "S010": [0, 1, 0]}
  assert occurrence(dict(min_intensity=3)) == {"S005": [1, 0, 0], "S010": [0, -1, 0]}
  assert occurrence(dict(min_intensity=2, unspecified="absent")) == {
      "S005": [1, 0, 1], "S010": [0, 0, 0]}
  with pytest.raises(ConfigValueError, match="min_intensity"):
    occurrence(dict(min_intensity=7))
  with pytest.raises(ConfigKeyError, match="occurrence_rule"):
    occurrence(dict(threshold=3))


def test_a_cross_dataset_test_source_takes_the_rule(tiny_data_dir, tmp_path):
  """Where multilabel_cross.py puts the rule: on the CK+ TEST source of a
  cross-dataset protocol (train on another dataset, test on every CK+ subject)."""
  facts = rt.make_ckplus(tmp_path / "raw")
  data_dir = tmp_path / "data"
  data_dir.mkdir()
  os.symlink(os.path.join(tiny_data_dir, "synthetic_au"), data_dir / "synthetic_au")
  sources.get_builder("ckplus", str(data_dir), manual_dir=str(facts["root"]))
  config = multilabel_cross.get_config("train=disfa,test=ckplus")
  test_source = dict(config.data.test_sources[0])
  assert test_source["occurrence_rule"] == dict(min_intensity=3, unspecified="uncoded")
  cfg = common.data_config([dict(name="synthetic_au/disfa_like_tiny", protocol="default")])
  cfg.data_dir = str(data_dir)
  cfg.aus = (9, 12, 17)
  labels = {}
  for rule in (None, test_source["occurrence_rule"]):
    cfg.test_sources = [dict(test_source, occurrence_rule=rule) if rule
                        else dict(name="ckplus", protocol="all")]
    split = sources.load_split(cfg, "test")
    idx = split.index
    labels[rule is not None] = {idx.subjects[s].split(":")[-1]: idx.occurrence[k].tolist()
                                for k, s in enumerate(idx.subject)}
  assert labels[False] == {"S005": [1, 0, 1], "S010": [0, 1, 0]}   # the builder's codes
  assert labels[True] == {"S005": [1, 0, 0], "S010": [0, -1, 0]}   # intensity >= 3
