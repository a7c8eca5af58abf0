"""sources.load_split carries the records' nuisance fields into the LabelIndex."""
import os
import shutil

import numpy as np
import pytest


@pytest.mark.slow
def test_load_split_reads_the_fields_the_records_have(tiny_data_dir, tmp_path, monkeypatch):
  """sources.load_split: nuisance from the records (once, into the label cache),
  equal to the records' own values; records without the fields give
  nuisance=None."""
  from au_jax.data import sources
  from tests.conftest import tiny_config

  data_dir = str(tmp_path / "data")
  shutil.copytree(tiny_data_dir, data_dir)   # the label cache below is this copy's
  config = tiny_config("configs.gudi_synthetic", data_dir)
  info_parts = sources.load_data_info(config.data)
  split = sources.load_split(config.data, "test", info_parts)
  index = split.index
  # the raw records, in the index's order (RecordSource keeps only what the pipeline reads)
  records = [src[j] for _, _, src in split.source._parts for j in range(len(src))]  # noqa: SLF001
  assert len(records) == len(index)
  for name in ("yaw", "pitch", "roll", "expressivity"):
    np.testing.assert_array_equal(index.nuisance[name], [r[name] for r in records])
  np.testing.assert_array_equal(index.nuisance["au_covered"], [r["au_covered"] for r in records])
  assert list(index.nuisance["occluder"]) == [r["occluder"].decode() for r in records]

  class Without:   # the same records, as a dataset built before the fields existed
    def __init__(self, src):
      self.src = src

    def __len__(self):
      return len(self.src)

    def __getitems__(self, keys):
      return [{k: v for k, v in r.items() if k in ("image", "landmarks", "au_intensity",
                                                   "au_occurrence", "subject", "sequence",
                                                   "frame")}
              for r in self.src.__getitems__(keys)]
  part_cls = type(info_parts[1][0])
  plain = part_cls.subject_sources
  monkeypatch.setattr(part_cls, "subject_sources",
                      lambda self, subjects: [Without(s) for s in plain(self, subjects)])
  shutil.rmtree(os.path.join(info_parts[1][0].builder.data_dir, "au_jax_label_index"))
  assert sources.load_split(config.data, "test", info_parts).index.nuisance is None
