"""report.json / report.md say where the evaluation ran (backend, device, CPU, versions)."""
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
  assert env["cpu"] == evaluate.cpu_model() and env["cpu"] in md


def test_cpu_model_is_read_from_cpuinfo(tmp_path):
  info = tmp_path / "cpuinfo"
  info.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\n"
                  "model name\t: Intel(R) Xeon(R) Platinum 8488C\n"
                  "flags\t: fpu sse4_2 avx avx2 fma avx512f avx512bw avx512fp16\n")
  assert evaluate.cpu_model(str(info)) == "Intel(R) Xeon(R) Platinum 8488C"
  assert evaluate.cpu_simd(str(info)) == ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw"]
  assert evaluate.cpu_model(str(tmp_path / "missing"))      # falls back to platform: not empty
  assert evaluate.cpu_simd(str(tmp_path / "missing")) is None
