"""What a prediction imports (its start-up): the method registry imports only the
method asked for, and `au_jax.predict` none of the training, evaluation, plotting
or dataset stack."""
import importlib
import json
import os
import subprocess
import sys

import pytest

from au_jax import models
from tests.conftest import ROOT

# Imported by none of `import au_jax.predict` and a Gudi model's restore (each costs
# 0.1-0.4 s of start-up: benchmarks/predict_startup.py).
NOT_FOR_PREDICT = ("tensorflow_datasets", "matplotlib", "scipy", "grain", "pandas",
                   "au_jax.evaluate", "au_jax.viz", "au_jax.data.pipeline",
                   "au_jax.models.ccnn", "au_jax.models.dsin", "au_jax.models.heatmaps",
                   "au_jax.models.multilabel")


def test_each_registered_package_holds_the_spec_of_its_name():
  for name, package in models.PACKAGES.items():
    assert importlib.import_module(package).SPEC.name == name
    assert models.get_spec(name) is importlib.import_module(package).SPEC
  with pytest.raises(KeyError, match="unknown model 'nope'.*gudi_fera2015"):
    models.get_spec("nope")


def test_registry_is_a_mapping_tests_can_extend(monkeypatch):
  spec = models.ModelSpec(name="extra", build=lambda *a: None)
  monkeypatch.setitem(models.MODELS, "extra", spec)
  assert models.get_spec("extra") is spec and "extra" in models.MODELS
  assert set(models.PACKAGES) < set(models.MODELS)


@pytest.mark.slow
def test_predict_imports_only_what_a_prediction_needs():
  code = ("import json, sys\n"
          "import au_jax.predict\n"
          "from au_jax import models\n"
          "models.get_spec('gudi_fera2015').build\n"
          f"print(json.dumps([m for m in {NOT_FOR_PREDICT!r} if m in sys.modules]))\n")
  env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "AU_JAX_"))}
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120, check=True)
  assert json.loads(out.stdout.strip().splitlines()[-1]) == []
