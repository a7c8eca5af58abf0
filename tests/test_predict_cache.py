"""JAX's persistent compilation cache in predict (au_jax/inference/cache.py): where it
lives, a folder that cannot be written, a damaged entry, and nothing set at import."""
import glob
import json
import os
import subprocess
import sys

import cv2
import jax
import numpy as np
import pytest
from jax.experimental.compilation_cache import compilation_cache as cc

from au_jax.inference import cache
from au_jax.inference import model as model_lib
from au_jax.predict import main
from tests.conftest import ROOT


@pytest.fixture
def jax_cache_restored():
  """Whatever a test does to JAX's cache settings is undone after it."""
  saved = (jax.config.jax_compilation_cache_dir,
           jax.config.jax_persistent_cache_min_compile_time_secs)
  yield
  jax.config.update("jax_compilation_cache_dir", saved[0])
  jax.config.update("jax_persistent_cache_min_compile_time_secs", saved[1])
  cc.reset_cache()


def test_where_the_cache_lives(monkeypatch, tmp_path, jax_cache_restored):
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
  assert cache.default_dir() == str(tmp_path / "xdg" / "au-jax" / "jax")
  monkeypatch.delenv("XDG_CACHE_HOME")
  assert cache.default_dir() == os.path.join(os.path.expanduser("~"), ".cache", "au-jax", "jax")
  # the user's own JAX setting wins over ours
  jax.config.update("jax_compilation_cache_dir", str(tmp_path / "mine"))
  assert cache.enable() == str(tmp_path / "mine")
  # without one: $AU_JAX_CACHE_DIR, and "off" switches it off
  jax.config.update("jax_compilation_cache_dir", None)
  monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "env"))
  assert cache.enable() == str(tmp_path / "env") == jax.config.jax_compilation_cache_dir
  assert jax.config.jax_persistent_cache_min_compile_time_secs == 0
  jax.config.update("jax_compilation_cache_dir", None)
  monkeypatch.setenv(cache.ENV_VAR, "off")
  assert cache.enable() is None and jax.config.jax_compilation_cache_dir is None
  assert cache.enable("off") is None and cache.enable(False) is None
  assert cache.enable(str(tmp_path / "flag")) == str(tmp_path / "flag")   # the flag wins


def test_a_folder_that_cannot_be_written_turns_it_off_in_one_line(tmp_path, capsys,
                                                                   jax_cache_restored):
  (tmp_path / "a_file").write_text("not a folder")
  bad = str(tmp_path / "a_file" / "jax")                 # cannot be created, even by root
  before = jax.config.jax_compilation_cache_dir
  assert cache.enable(bad) is None
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "compilation cache off" in err[0] and bad in err[0]
  assert jax.config.jax_compilation_cache_dir == before


def _summary(out):
  with open(f"{out}.summary.json") as f:
    return json.load(f)


def _entries(folder):
  return sorted(glob.glob(os.path.join(folder, "*-cache")))


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_entry_is_recompiled_not_a_crash(damage, tmp_path, capsys, jax_cache_restored):
  folder = str(tmp_path / "jax")
  assert cache.enable(folder) == folder

  def f(x):
    return jax.numpy.sin(x) * 3.25 + 1.5

  x = np.linspace(0, 1, 7, dtype=np.float32)
  want = np.sin(x) * 3.25 + 1.5
  np.testing.assert_allclose(jax.jit(f)(x), want, rtol=1e-6)
  entries = _entries(folder)
  assert entries, "the program was not written to the cache"
  for e in entries:
    with open(e, "rb") as src:
      data = src.read()
    with open(e, "wb") as out:
      out.write(b"not an executable" * 5 if damage == "garbage" else data[:len(data) // 2])
  jax.clear_caches()                       # the next call reads the (damaged) entry
  capsys.readouterr()
  with cache.report_cache_errors():
    got = jax.jit(f)(x)
  np.testing.assert_allclose(got, want, rtol=1e-6)
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "could not be used (recompiled)" in err[0] and folder in err[0], err


@pytest.mark.slow
def test_cli_predicts_with_an_unwritable_cache_and_says_so_once(tmp_path, capsys, monkeypatch,
                                                                jax_cache_restored):
  from tests.fixtures.untrained import untrained_predictor
  pred = untrained_predictor()
  # the workdir's restore is replaced by the untrained model; the CLI's own steps
  # (flags, cache, tables, CSV) all run
  monkeypatch.setattr(model_lib.TrainedModel, "from_workdir",
                      classmethod(lambda cls, *a, **k: pred))
  workdir = tmp_path / "run"
  workdir.mkdir()
  for f in ("config.json", "data_info.json"):
    (workdir / f).write_text("{}")
  from au_jax.inference import demo_media
  photo = str(tmp_path / "astronaut.png")
  cv2.imwrite(photo, cv2.cvtColor(demo_media.photos()["astronaut"], cv2.COLOR_RGB2BGR))
  (tmp_path / "a_file").write_text("")
  out = tmp_path / "aus.csv"
  main(["--workdir", str(workdir), "--input", photo, "--output", str(out), "--detector", "haar",
        "--compilation_cache", str(tmp_path / "a_file" / "jax")])
  err = capsys.readouterr().err
  assert sum("compilation cache off" in line for line in err.splitlines()) == 1
  assert out.read_text().count("\n") == 2                      # header + the face
  assert _summary(out)["model"]["compilation_cache"] is None
  # a writable folder: the predict program is kept there
  folder = str(tmp_path / "cache")
  jax.clear_caches()
  main(["--workdir", str(workdir), "--input", photo, "--output", str(out), "--detector", "haar",
        "--compilation_cache", folder])
  assert any("jit_predict" in os.path.basename(e) for e in _entries(folder))
  assert _summary(out)["model"]["compilation_cache"] == folder


@pytest.mark.slow
def test_importing_au_jax_changes_no_process_setting():
  # the third-party packages first: some set variables of their own when imported
  # (cv2 LD_LIBRARY_PATH, TensorFlow's logging level); au_jax must add nothing
  code = ("import json, os\n"
          "import cv2, jax, flax, optax, orbax.checkpoint, tensorflow_datasets\n"
          "before = dict(os.environ)\n"
          "import au_jax, au_jax.predict, au_jax.inference.cache, au_jax.inference.model\n"
          "print(json.dumps([dict(os.environ) == before, jax.config.jax_compilation_cache_dir,\n"
          "                  jax.config.jax_persistent_cache_min_compile_time_secs]))\n")
  env = {k: v for k, v in os.environ.items()
         if not k.startswith(("JAX_", "AU_JAX_", "XLA_FLAGS"))}
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120, check=True)
  same_env, cache_dir, min_time = json.loads(out.stdout.strip().splitlines()[-1])
  assert same_env and cache_dir is None and min_time == 1.0
