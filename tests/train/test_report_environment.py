"""report.json / report.md say where the evaluation ran (backend, device, versions)."""
import json
import os

import jax

from au_jax import evaluate


def _split():
  return {"per_au": {"AU12": {"f1": 0.5}}, "mean": {"f1": 0.5}, "n": 3}


def test_report_records_the_environment(tmp_path):
  report = {"model": "m", "datasets": ["d"], "protocol": "default", "steps": 2,
            "threshold_metric": "f1", "selection": {}, "test": _split(),
            "validation": _split()}
  evaluate.write_report(str(tmp_path), report)
  env = json.load(open(os.path.join(tmp_path, "report.json")))["environment"]
  assert env["backend"] == jax.default_backend()
  assert env["jax"] == jax.__version__ and env["device_count"] == jax.device_count()
  md = open(os.path.join(tmp_path, "report.md")).read()
  assert f"- evaluated on: {jax.default_backend()} (" in md and f"jax {jax.__version__}" in md
