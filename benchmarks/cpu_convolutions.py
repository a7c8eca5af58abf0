r"""Each method's train and predict steps with XLA:CPU's two convolution paths (issue 14).

  python benchmarks/cpu_convolutions.py --out=benchmarks/results/cpu_convolutions.json
  python benchmarks/cpu_convolutions.py --configs=gudi_synthetic.py --steps=5 --out=...

au_jax sets XLA:CPU's convolutions to its Eigen path when imported
(au_jax/xla_options.py); AU_JAX_CPU_CONV=xla keeps XLA's default (YNNPACK
fusions). This runs `benchmarks/throughput.py --parts=train_step,predict`
on every config of --configs, once per choice, each in its own process
(XLA_FLAGS is read when the backend starts), the two choices of one config
back to back and in alternating order, and writes per config the train and
predict images/s of both, their ratio (eigen / xla) and the process CPU
seconds per step. The load average is recorded with each measurement: run it
on an otherwise idle machine. Resumable: a config/choice already in --out
with the same --steps is not measured again; each entry keeps its --steps
(small networks need more steps for a stable rate: 40 for DSIN and the
multi-label CNN, whose steps take 40-50 ms), `commands` lists every
invocation that wrote the file.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from au_jax.io import atomic_write  # noqa: E402

CONFIGS = ("gudi_synthetic.py", "ccnn_synthetic.py", "dsin_synthetic.py",
           "multilabel_synthetic.py", "heatmaps_synthetic.py",
           "heatmaps_synthetic.py:arch=resnet18")
CHOICES = ("xla", "eigen")
KEYS = ("train_step_images_per_s", "predict_images_per_s", "predict_cpu_s_per_batch",
        "batch_size", "num_params", "load_average_at_start", "load_average_at_end", "xla_flags")


def measure(config: str, choice: str, steps: int) -> dict:
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  env["AU_JAX_CPU_CONV"] = choice
  with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "throughput.json")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "throughput.py"),
                           f"--config={os.path.join(ROOT, 'configs', config)}",
                           "--parts=train_step,predict", f"--steps={steps}", f"--out={out}"],
                          env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
      return {"error": proc.stderr[-1500:]}
    with open(out) as f:
      result = json.load(f)
  kept = {k: result[k] for k in KEYS if k in result}
  kept["train_cpu_s_per_step"] = [s.get("cpu_s_per_step") for s in result.get("train_segments", [])]
  return kept


def summarise(entry: dict) -> None:
  xla, eigen = entry.get("xla", {}), entry.get("eigen", {})
  for key, name in (("train_step_images_per_s", "train"), ("predict_images_per_s", "predict")):
    if key in xla and key in eigen:
      entry[f"{name}_speedup_eigen_over_xla"] = eigen[key] / xla[key]


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--configs", default=",".join(CONFIGS),
                 help="config files under configs/ (with ':args'), comma-separated")
  p.add_argument("--steps", type=int, default=5)
  p.add_argument("--out", required=True)
  args = p.parse_args()
  results = {}
  if os.path.exists(args.out):
    with open(args.out) as f:
      results = json.load(f)
  command = "python " + " ".join(sys.argv)
  commands = results.setdefault("commands", [])
  if command not in commands:
    commands.append(command)
  runs = results.setdefault("runs", {})
  for i, config in enumerate(args.configs.split(",")):
    entry = runs.setdefault(config, {})
    for choice in (CHOICES if i % 2 == 0 else CHOICES[::-1]):
      done = entry.get(choice, {})
      if done.get("steps") == args.steps and "error" not in done:
        continue
      entry[choice] = {**measure(config, choice, args.steps), "steps": args.steps}
      summarise(entry)
      print(f"[cpu_convolutions] {config} {choice}: {json.dumps(entry[choice])}", flush=True)
      atomic_write(args.out, json.dumps(results, indent=1) + "\n")
  print(json.dumps({c: {k: v for k, v in e.items() if "speedup" in k} for c, e in runs.items()},
                   indent=1))


if __name__ == "__main__":
  main()
