"""The build CLI, and interrupted builds: a killed build leaves nothing a rerun trusts."""
import os
import subprocess
import sys
import textwrap

import pytest

from tests.fixtures import raw_trees as rt
from tfds_builders import build as cli

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_missing_manual_dir_prints_instructions(tmp_path):
  (tmp_path / "empty").mkdir()
  with pytest.raises(SystemExit, match="(?s)missing or empty.*ActionUnit_Labels"):
    cli.main(["disfa", f"--manual_dir={tmp_path / 'empty'}", f"--data_dir={tmp_path / 'data'}"])


def test_config_overrides():
  from tfds_builders.semaine import Semaine
  cfg = cli.make_config(Semaine, "segment", image_size=64, frame_step=None)
  assert cfg.name == "segment_image_size64" and cfg.segment_only and cfg.image_size == 64
  assert cli.make_config(Semaine, None, image_size=256).name == "default"


def test_killed_build_then_rerun(tmp_path, capsys):
  rt.make_ckplus(tmp_path / "raw")
  data = tmp_path / "data"
  # A build killed (SIGKILL, no cleanup) after writing some records.
  script = textwrap.dedent(f"""
      import os, signal, sys
      sys.path.insert(0, {_ROOT!r})
      from tfds_builders.ckplus import ckplus
      orig = ckplus.Ckplus._examples
      def dying(self, dl, subject):
        for i, ex in enumerate(orig(self, dl, subject)):
          yield ex
          if subject == "S010":
            os.kill(os.getpid(), signal.SIGKILL)
      ckplus.Ckplus._examples = dying
      from tfds_builders import build
      build.main(["ckplus", "--manual_dir={tmp_path / 'raw'}", "--data_dir={data}", "--image_size=32"])
  """)
  proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
  assert proc.returncode == -9, proc.stderr.decode()[-2000:]
  cfg_dir = data / "ckplus" / "default_image_size32"
  assert [p.name for p in cfg_dir.iterdir() if p.name.startswith("incomplete.")]
  assert not (cfg_dir / "1.0.0").exists()  # nothing a rerun would take as built
  cli.main(["ckplus", f"--manual_dir={tmp_path / 'raw'}", f"--data_dir={data}",
                "--image_size=32"])
  out = capsys.readouterr().out
  assert "removed the leftover of an interrupted build" in out
  assert "skipped / tolerated" in out
  assert sorted(p.name for p in cfg_dir.iterdir()) == ["1.0.0"]
  from tfds_builders.ckplus import Ckplus
  built = Ckplus(data_dir=str(data), config=cli.make_config(Ckplus, None, image_size=32))
  assert {k: v.num_examples for k, v in built.info.splits.items()} == {"S005": 1, "S010": 1}
