"""Helpers of the builder tests: build a fixture tree into a tmp data_dir."""
import os
import sys

import pytest

# The fixture generators live in tests/fixtures; make `tests.` importable
# however pytest is started (rootdir not on sys.path with the pytest script).
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)


def build(cls, manual_dir, data_dir, config_cls=None, **fields):
  """Builds `cls` from manual_dir with a test config; returns the reloaded builder."""
  import tensorflow_datasets as tfds
  from tfds_builders import raw_utils
  config_cls = config_cls or raw_utils.RawAUBuilderConfig
  fields.setdefault("image_size", 32)
  config = config_cls(name="test_" + "_".join(f"{k}{v}" for k, v in sorted(fields.items())), **fields)
  builder = cls(data_dir=str(data_dir), config=config)
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
  return cls(data_dir=str(data_dir), config=config)


@pytest.fixture
def build_dataset():
  return build
