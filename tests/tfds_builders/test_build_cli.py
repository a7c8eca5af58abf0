"""The build CLI, and interrupted builds: a killed build leaves nothing a rerun trusts."""
import os
import subprocess
import sys
import textwrap

import pytest

from tests.fixtures import raw_trees as rt
from tfds_builders import build as cli
from tfds_builders.ckplus.ckplus import Ckplus
from tfds_builders.disfa.disfa import Disfa

CK_VERSION, DISFA_VERSION = str(Ckplus.VERSION), str(Disfa.VERSION)

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


@pytest.mark.slow
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
  assert not (cfg_dir / CK_VERSION).exists()  # nothing a rerun would take as built
  cli.main(["ckplus", f"--manual_dir={tmp_path / 'raw'}", f"--data_dir={data}",
                "--image_size=32"])
  out = capsys.readouterr().out
  assert "removed the leftover of an interrupted build" in out
  assert "skipped / tolerated" in out
  assert sorted(p.name for p in cfg_dir.iterdir()) == [CK_VERSION]
  from tfds_builders.ckplus import Ckplus
  built = Ckplus(data_dir=str(data), config=cli.make_config(Ckplus, None, image_size=32))
  assert {k: v.num_examples for k, v in built.info.splits.items()} == {"S005": 1, "S010": 1}


def _ck_args(raw, data, *extra):
  return ["ckplus", f"--manual_dir={raw}", f"--data_dir={data}", "--image_size=32", *extra]


def test_rebuild_from_another_source_is_refused_until_overwrite(tmp_path, capsys, monkeypatch):
  rt.make_ckplus(tmp_path / "A")
  rt.make_ckplus(tmp_path / "B")
  data = tmp_path / "data"
  cli.main(_ck_args(tmp_path / "A", data))
  cli.main(_ck_args(tmp_path / "A", data))          # same source: reused
  assert "already built from" in capsys.readouterr().out
  with pytest.raises(SystemExit) as e:
    cli.main(_ck_args(tmp_path / "B", data))
  msg = str(e.value)
  assert str(tmp_path / "A") in msg and str(tmp_path / "B") in msg and "--overwrite" in msg
  # Same folder, changed content: refused too.
  (tmp_path / "A" / "CK+" / "notes.txt").write_text("added later")
  with pytest.raises(SystemExit, match="content differed"):
    cli.main(_ck_args(tmp_path / "A", data))
  # --overwrite killed right after the old build was taken out of sight:
  # nothing looks finished, and the next run cleans up and builds.
  cfg_dir = data / "ckplus" / "default_image_size32"
  def killed(path):
    raise KeyboardInterrupt
  monkeypatch.setattr(cli.shutil, "rmtree", killed)
  with pytest.raises(KeyboardInterrupt):
    cli.main(_ck_args(tmp_path / "B", data, "--overwrite"))
  monkeypatch.undo()
  assert not (cfg_dir / CK_VERSION).exists()
  b = cli.build("ckplus", str(tmp_path / "B"), str(data), image_size=32)
  assert b.info.metadata["source"]["manual_dir"] == str((tmp_path / "B").resolve())
  cli.main(_ck_args(tmp_path / "A", data, "--overwrite"))
  assert "deleted the previous build" in capsys.readouterr().out
  assert sorted(p.name for p in cfg_dir.iterdir()) == [CK_VERSION]
  from tfds_builders.ckplus import Ckplus
  built = Ckplus(data_dir=str(data), config=cli.make_config(Ckplus, None, image_size=32))
  assert built.info.metadata["source"]["manual_dir"] == str((tmp_path / "A").resolve())


@pytest.mark.parametrize("size", ["-5", "0", "abc", "1.5"])
def test_invalid_image_size_is_refused_up_front(tmp_path, capsys, size):
  rt.make_ckplus(tmp_path / "raw")
  with pytest.raises(SystemExit) as e:
    cli.main(["ckplus", f"--manual_dir={tmp_path / 'raw'}", f"--data_dir={tmp_path / 'd'}",
              f"--image_size={size}"])
  assert e.value.code == 2
  err = capsys.readouterr().err
  assert "--image_size" in err and "positive integer" in err and "Traceback" not in err
  assert not (tmp_path / "d").exists()


def test_invalid_options_are_refused_up_front(tmp_path):
  rt.make_ckplus(tmp_path / "raw")
  with pytest.raises(SystemExit, match="unknown dataset 'cifar'"):
    cli.main(["cifar", f"--manual_dir={tmp_path / 'raw'}"])
  with pytest.raises(SystemExit, match="image_size must be a positive integer"):
    cli.build("ckplus", str(tmp_path / "raw"), str(tmp_path / "d"), image_size=0)
  with pytest.raises(SystemExit, match="alignment 'warp' is unknown"):
    cli.build("ckplus", str(tmp_path / "raw"), str(tmp_path / "d"), alignment="warp")
  (tmp_path / "file").write_text("x")
  with pytest.raises(SystemExit, match="is a file, not the dataset's folder"):
    cli.main(["ckplus", f"--manual_dir={tmp_path / 'file'}"])
  with pytest.raises(SystemExit, match="missing or empty"):
    cli.main(["ckplus", f"--manual_dir={tmp_path / 'nowhere'}"])
  assert not (tmp_path / "d").exists()


def _broken_disfa(root):
  """The DISFA fixture with a malformed label line and a zero-byte video."""
  facts = rt.make_disfa(root)
  au1 = facts["root"] / "ActionUnit_Labels" / "SN001" / "SN001_au1.txt"
  lines = au1.read_text().splitlines()
  lines[2] = "3,x"
  au1.write_text("\n".join(lines) + "\n")
  (facts["root"] / "Videos_LeftCamera" / "LeftVideoSN002_comp.avi").write_bytes(b"")
  return au1


def test_unreadable_files_are_counted_skips(tmp_path, capsys):
  au1 = _broken_disfa(tmp_path / "raw")
  b = cli.build("disfa", str(tmp_path / "raw"), str(tmp_path / "data"), image_size=32)
  rep = b.info.metadata["build_report"]
  bad_au = rep["unreadable raw file: AU file: that AU is unknown (-1) for the subject skipped"]
  assert bad_au["count"] == 1 and bad_au["examples"] == [f"{au1}: line 3 is not '<frame>,<value>': '3,x'"]
  video = rep["unreadable raw file: rest of the subject skipped"]
  assert video["count"] == 1 and video["examples"][0].endswith("LeftVideoSN002_comp.avi: empty file (0 bytes)")
  assert rep["subject without any record left: no split for it"]["examples"] == ["SN002"]
  assert set(b.info.splits) == {"SN001"} and b.info.metadata["subjects"] == ["SN001"]
  recs = list(b.as_data_source(split="SN001"))
  assert len(recs) == 8 and all(r["au_intensity"][0] == -1 for r in recs)  # AU1 unknown
  assert all(r["au_intensity"][1] == rt.disfa_value(0, 2, int(r["frame"])) for r in recs)
  out = capsys.readouterr().out
  assert f"{au1}: line 3" in out and "empty file (0 bytes)" in out


@pytest.mark.slow
def test_strict_stops_at_the_first_unreadable_file(tmp_path):
  au1 = _broken_disfa(tmp_path / "raw")
  proc = subprocess.run(
      [sys.executable, "-m", "tfds_builders.build", "disfa", f"--manual_dir={tmp_path / 'raw'}",
       f"--data_dir={tmp_path / 'data'}", "--image_size=32", "--strict"],
      capture_output=True, text=True, cwd=_ROOT)
  assert proc.returncode == 2
  assert f"{au1}: line 3 is not" in proc.stderr and "--strict" in proc.stderr
  assert "Traceback" not in proc.stderr
  assert not list((tmp_path / "data").glob(f"disfa/*/{DISFA_VERSION}"))


@pytest.mark.slow
def test_synthetic_au_builds_without_a_raw_tree(tmp_path, capsys):
  """The generated dataset from the same command line: no --manual_dir, its
  first config by default, reused on a rerun; the licensed-only options and a
  --manual_dir are refused naming them."""
  import tensorflow_datasets as tfds
  data = tmp_path / "data"
  with pytest.raises(SystemExit, match="generated, not read from a raw tree"):
    cli.main(["synthetic_au/disfa_like_tiny", f"--manual_dir={tmp_path}", f"--data_dir={data}"])
  with pytest.raises(SystemExit, match="--detector does not apply to synthetic_au"):
    cli.main(["synthetic_au/disfa_like_tiny", "--detector=haar", f"--data_dir={data}"])
  with pytest.raises(SystemExit, match="give its folder as --manual_dir"):
    cli.main(["disfa", f"--data_dir={data}"])
  assert not data.exists()
  assert cli.make_config(cli.builder_class("synthetic_au"), None).name == "disfa_like"
  cli.main(["synthetic_au/disfa_like_tiny", f"--data_dir={data}"])
  ref = tfds.builder("synthetic_au/disfa_like_tiny", data_dir=str(data))
  assert ref.is_prepared() and ref.info.splits["D01"].num_examples == 24
  capsys.readouterr()
  cli.main(["synthetic_au/disfa_like_tiny", f"--data_dir={data}"])
  assert "already built" in capsys.readouterr().out
