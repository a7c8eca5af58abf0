"""Every config: stands alone, builds, rejects unknown args, and its model builds."""
import ast
import glob
import importlib
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

CONFIGS = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "configs", "*.py"))
                 if not p.endswith(("common.py", "__init__.py")))


def _bad_imports(source: str) -> list[str]:
  """The modules a config file imports beyond configs.common, au_jax, ml_collections and the
  standard library (an experiment config must not import another one)."""
  bad = []
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
      if node.level:                        # a relative import: a sibling config
        bad.append("." * node.level + (node.module or ""))
        continue
      mod = node.module or ""
      names = ([f"{mod}.{a.name}" for a in node.names] if mod == "configs" else [mod])
    else:
      continue
    for name in names:
      top = name.split(".")[0]
      if name == "configs.common" or top in ("au_jax", "ml_collections", "__future__"):
        continue
      if top in sys.stdlib_module_names:
        continue
      bad.append(name)
  return bad


def test_the_import_rule_catches_a_config_importing_another():
  assert _bad_imports("from configs import common, ccnn_synthetic") == ["configs.ccnn_synthetic"]
  assert _bad_imports("import configs.dsin_bp4d as d") == ["configs.dsin_bp4d"]
  assert _bad_imports("from . import gudi_synthetic") == ["."]
  assert _bad_imports("from configs.multilabel_synthetic import stages") == [
      "configs.multilabel_synthetic"]
  assert _bad_imports("import numpy") == ["numpy"]
  assert _bad_imports("import json\nfrom au_jax import aus\nfrom configs.common import parse_arg\n"
                      "from configs import common\nimport ml_collections") == []


@pytest.mark.parametrize("name", CONFIGS + ["common"])
def test_config_imports_only_common_au_jax_and_ml_collections(name):
  """Configs stand alone: no experiment config imports another (shared blocks are
  functions in configs/common.py), and none needs a package beyond au_jax's."""
  with open(os.path.join(ROOT, "configs", f"{name}.py")) as f:
    assert _bad_imports(f.read()) == []


@pytest.mark.parametrize("name", CONFIGS)
def test_config_builds_and_names_unknown_args(name):
  module = importlib.import_module(f"configs.{name}")
  config = module.get_config(None)
  assert config.model.name and config.train.stages and config.data.sources
  local = module.get_config("runlocal")
  # a fit stage (dict(name=, fit=)) takes one step of the schedule
  assert sum(s.get("steps", 1) for s in local.train.stages) * local.train.get("repeat", 1) <= 100
  with pytest.raises(KeyError, match="runlokal"):
    module.get_config("runlokal")


# Every experiment variant a config's docstring offers (beside its default).
VARIANTS = {
    "ccnn_synthetic": ["runlocal", "variant=cnn", "variant=ocnn,it=false", "variant=scnn",
                       "decode=expected", "multi", "runlocal,multi"],
    "ccnn_disfa": ["runlocal", "fold=2,variant=ocnn,it=false", "variant=scnn"],
    "ccnn_fera2015": ["runlocal", "variant=scnn", "variant=cnn,it=false"],
    "ccnn_multi": ["runlocal", "variant=scnn"],
    "gudi_synthetic": ["runlocal"],
    "dsin_synthetic": ["runlocal", "T=2", "T=0", "ncf", "balance=false", "runlocal,T=5,steps=2"],
    "dsin_bp4d": ["runlocal", "fold=2,T=5", "ncf", "balance=false", "T=0"],
    "dsin_disfa": ["runlocal", "fold=3,bp4d_workdir=runs/dsin_bp4d_f3", "occ_threshold=2", "T=0",
                   "runlocal,bp4d_workdir=/tmp/dsin_bp4d_smoke"],
    "gudi_fera2015": ["runlocal", "protocol=fold1"],
    "heatmaps_synthetic": ["runlocal", "runlocal,steps=2,seed=1", "arch=resnet18", "arch=single",
                           "runlocal,arch=resnet18", "runlocal,arch=single", "dataset=disfa_like",
                           "runlocal,dataset=disfa_like"],
    "heatmaps_fera2015": ["runlocal", "arch=resnet18", "arch=single", "schedule=constant"],
    "heatmaps_disfa": ["runlocal", "fold=2,arch=resnet18", "fold=3,arch=single"],
    "multilabel_synthetic": ["runlocal", "dataset=bp4d_like"],
    "multilabel_disfa": ["runlocal", "protocol=loso:SN001"],
    "multilabel_bp4d": ["runlocal"],
    "multilabel_cross": ["runlocal", "train=bp4d,test=disfa", "train=disfa,test=ckplus",
                         "train=disfa,test=bp4d", "train=disfa_like,test=bp4d_like",
                         "train=bp4d_like,test=disfa_like", "runlocal,train=disfa_like,test=bp4d_like"],
}


def _data_info(config):
  """A DataInfo shaped like the config's data, without reading any dataset."""
  from au_jax.data.sources import DataInfo
  au_list = tuple(config.data.aus) or (1, 2, 4, 6, 12)
  names = tuple(s["name"] for s in config.data.sources)
  return DataInfo(aus=au_list, intensity_coded=(True,) * len(au_list),
                  occurrence_coded=(True,) * len(au_list), datasets=names,
                  metadata=({},) * len(names))


def test_every_config_variant_is_listed():
  assert sorted(VARIANTS) == CONFIGS


@pytest.mark.parametrize("name,arg", [(n, a) for n in CONFIGS for a in [None] + VARIANTS.get(n, [])])
def test_config_model_builds(name, arg):
  """config.model of every variant is accepted by its model's build() (strict keys)."""
  from au_jax.models import get_spec
  config = importlib.import_module(f"configs.{name}").get_config(arg)
  method = get_spec(config.model.name).build(config.model, _data_info(config))
  if "variant=" in (arg or ""):
    assert method.module.variant == arg.split("variant=")[1].split(",")[0]


@pytest.mark.slow
def test_mistyped_override_fails_naming_the_key(tmp_path):
  out = subprocess.run(
      [sys.executable, "launch.py", "--config=configs/gudi_synthetic.py",
       "--config.train.batchsize=4", f"--workdir={tmp_path}"],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode != 0
  assert "batchsize" in out.stderr + out.stdout


@pytest.mark.slow
def test_missing_licensed_dataset_prints_how_to_build_it(tmp_path):
  env = dict(__import__("os").environ, AU_JAX_DATA_DIR=str(tmp_path / "empty"))
  out = subprocess.run(
      [sys.executable, "launch.py", "--config=configs/gudi_fera2015.py", f"--workdir={tmp_path}/w"],
      cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
  assert out.returncode == 2
  text = out.stderr + out.stdout
  assert "python -m tfds_builders.build bp4d --manual_dir=" in text
  assert "Traceback" not in text
