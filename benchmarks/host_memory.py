r"""Page faults of XLA:CPU's fresh buffers, with and without huge pages (issue 14).

  python benchmarks/host_memory.py --out=benchmarks/results/host_memory.json
  python benchmarks/host_memory.py --parts=runs --runs=2 \
      --command='python launch.py --config=configs/ccnn_synthetic.py --workdir={workdir}'

Every measurement runs in its own process, once with glibc's default malloc
("off": AU_JAX_HUGEPAGES=0 and no glibc.malloc.hugetlb in GLIBC_TUNABLES)
and once with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` ("on"), the two in
alternating order per repeat (au_jax/host_memory.py explains why this is a
process-start setting):

  micro   a jitted `w * 2.0` on a 28800 x 3072 float32 array (the FERA 2015
          CNN's FC kernel, 354 MB), its output fresh every call or donated
          back; median ms per call and minor page faults per call;
  steps   the engine's jitted train step and the jitted predict step of the
          FERA 2015 CNN (batch 100) and the CCNN trunk (batch 64), the
          networks and steps of benchmarks/versus_torch.py; median ms per
          step and minor faults per step;
  runs    --command (default: the README's main job) with {workdir} replaced
          by a fresh directory: wall seconds, the child's minor faults (from
          its rusage), and the report's test means, so that one can check
          that the two settings give the same numbers.

The load average is written with each measurement: run it on an idle machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

MAIN_JOB = "python launch.py --config=configs/ccnn_synthetic.py --workdir={workdir}"
SETTINGS = ("off", "on")


def setting_env(setting: str) -> dict:
  """The environment of a child measured with huge pages `setting` ("off" / "on")."""
  from au_jax import host_memory
  env = {k: v for k, v in os.environ.items() if k != host_memory.MARKER}
  tunables = [t for t in env.get("GLIBC_TUNABLES", "").split(":")
              if t and not t.startswith(host_memory.TUNABLE)]
  if setting == "on":
    tunables.append(host_memory.SETTING)
  env["GLIBC_TUNABLES"] = ":".join(tunables)
  env[host_memory.ENV_VAR] = "0"     # launch.py must not add it to the "off" runs
  return env


def _faults() -> int:
  return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _timed(fn, calls: int, warmup: int) -> dict:
  """Median ms per call and minor faults per call of `calls` calls, after
  `warmup` calls whose times are kept apart: with huge pages the first calls of
  a process can be slow (on the development machine, a VM, up to 0.4 s of
  kernel time for a 354-MB buffer) until the kernel has 2-MiB pages to reuse."""
  import numpy as np
  warm = []
  for _ in range(warmup):
    t = time.perf_counter()
    fn()
    warm.append(round((time.perf_counter() - t) * 1e3, 2))
  times, f0 = [], _faults()
  for _ in range(calls):
    t = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t)
  return {"ms": float(np.median(times)) * 1e3, "faults": (_faults() - f0) / calls,
          "all_ms": [round(x * 1e3, 2) for x in times], "warmup_ms": warm}


def child_micro(calls: int, warmup: int) -> dict:
  import au_jax  # noqa: F401  (before JAX starts its backend)
  import jax
  import jax.numpy as jnp
  w = jnp.ones((28800, 3072), jnp.float32)
  fresh = jax.jit(lambda a: a * 2.0)
  donated = jax.jit(lambda a: a * 2.0, donate_argnums=0)
  holder = [w + 0.0]

  def run_fresh():
    jax.block_until_ready(fresh(w))

  def run_donated():
    holder[0] = donated(holder[0])
    jax.block_until_ready(holder[0])
  out = {}
  for name, fn in (("fresh_output", run_fresh), ("donated_output", run_donated)):
    m = _timed(fn, calls, warmup)
    out[name] = {"ms_per_call": m["ms"], "minor_faults_per_call": m["faults"],
                 "ms_each_call": m["all_ms"], "warmup_ms": m["warmup_ms"]}
  return out


def child_steps(calls: int, warmup: int) -> dict:
  import au_jax  # noqa: F401
  import versus_torch as vt
  out = {}
  for net, batch in (("gudi", 100), ("ccnn", 64)):
    data = vt.make_data(net, 12, 6, batch)
    c = vt.jax_contestants(net, 12, 6, "xla:mask", batch, data)
    out[net] = {"batch_size": batch}
    for part in ("train", "predict"):
      m = _timed(lambda p=part: c[p](1), calls, warmup)
      out[net][part] = {"ms_per_step": m["ms"], "images_per_s": batch / m["ms"] * 1e3,
                        "minor_faults_per_step": m["faults"], "ms_each_step": m["all_ms"],
                        "warmup_ms": m["warmup_ms"]}
  return out


def run_child(part: str, setting: str, calls: int, warmup: int) -> dict:
  proc = subprocess.run([sys.executable, os.path.abspath(__file__), f"--child={part}",
                         f"--calls={calls}", f"--warmup={warmup}"], env=setting_env(setting),
                        cwd=ROOT,
                        capture_output=True, text=True, check=False)
  if proc.returncode:
    return {"error": proc.stderr[-2000:]}
  return json.loads(proc.stdout.split("=== JSON ===")[-1])


def run_command(command: str, setting: str) -> dict:
  """One whole run of `command` in a fresh workdir: wall s, minor faults, test means."""
  with tempfile.TemporaryDirectory() as tmp:
    workdir = os.path.join(tmp, "run")
    argv = [sys.executable if a == "python" else a
            for a in shlex.split(command.replace("{workdir}", workdir))]
    load = os.getloadavg()
    t = time.perf_counter()
    proc = subprocess.Popen(argv, env=setting_env(setting), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, stderr = proc.communicate()
    wall = time.perf_counter() - t
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)   # cumulative: differenced by caller
    entry = {"wall_s": wall, "returncode": proc.returncode, "load_average_before": load,
             "children_minor_faults_cumulative": usage.ru_minflt}
    if proc.returncode:
      entry["error"] = stderr[-2000:]
      return entry
    report = os.path.join(workdir, "report.json")
    if os.path.exists(report):
      with open(report) as f:
        entry["test_mean"] = json.load(f)["test"]["mean"]
  return entry


def median(xs):
  return statistics.median(x for x in xs if x is not None)


def summarise(result: dict) -> dict:
  s = {}
  if "micro" in result:
    for name in ("fresh_output", "donated_output"):
      s[f"micro_{name}_ms"] = {st: median([r[st][name]["ms_per_call"] for r in result["micro"]
                                          if name in r.get(st, {})]) for st in SETTINGS}
  if "steps" in result:
    for net in ("gudi", "ccnn"):
      for part in ("train", "predict"):
        v = {st: median([r[st][net][part]["ms_per_step"] for r in result["steps"]
                         if net in r.get(st, {})]) for st in SETTINGS}
        v["speedup_on_vs_off"] = v["off"] / v["on"] if v["on"] else None
        v["minor_faults_per_step"] = {st: median([r[st][net][part]["minor_faults_per_step"]
                                                  for r in result["steps"]
                                                  if net in r.get(st, {})]) for st in SETTINGS}
        s[f"{net}_{part}_ms_per_step"] = v
  if "runs" in result:
    v = {st: median([r[st]["wall_s"] for r in result["runs"] if "wall_s" in r.get(st, {})])
         for st in SETTINGS}
    v["speedup_on_vs_off"] = v["off"] / v["on"] if v["on"] else None
    v["same_test_means"] = all(r["on"].get("test_mean") == r["off"].get("test_mean")
                               for r in result["runs"])
    s["run_wall_s"] = v
  return s


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--parts", default="micro,steps,runs")
  p.add_argument("--repeats", type=int, default=2, help="micro and steps: processes per setting")
  p.add_argument("--runs", type=int, default=2, help="whole runs per setting")
  p.add_argument("--calls", type=int, default=10, help="timed calls per measurement")
  p.add_argument("--warmup", type=int, default=3,
                 help="calls before the timed ones (compilation and the first huge pages)")
  p.add_argument("--command", default=MAIN_JOB)
  p.add_argument("--out", default="")
  p.add_argument("--child", default="", help=argparse.SUPPRESS)
  args = p.parse_args()
  if args.child:
    fn = {"micro": child_micro, "steps": child_steps}[args.child]
    from au_jax import host_memory
    res = {"host_memory": host_memory.status(), "load_average_before": os.getloadavg(),
           **fn(args.calls, args.warmup)}
    print("=== JSON ===\n" + json.dumps(res))
    return
  from au_jax import host_memory
  from au_jax.io import atomic_write
  result = {"command": "python " + " ".join(sys.argv), "host": platform.node(),
            "cpu_count": os.cpu_count(), "libc": list(platform.libc_ver()),
            "thp_mode": host_memory.thp_mode(), "kernel": platform.release()}
  parts = args.parts.split(",")
  for part in ("micro", "steps"):
    if part in parts:
      result[part] = []
      for r in range(args.repeats):
        order = SETTINGS if r % 2 == 0 else SETTINGS[::-1]
        result[part].append({st: run_child(part, st, args.calls, args.warmup)
                             for st in order})
        print(f"[host_memory] {part} repeat {r}: done", file=sys.stderr, flush=True)
  if "runs" in parts:
    result["run_command"] = args.command
    result["runs"] = []
    faults0 = resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt
    for r in range(args.runs):
      order = SETTINGS if r % 2 == 0 else SETTINGS[::-1]
      entry = {}
      for st in order:
        entry[st] = run_command(args.command, st)
        cum = entry[st].pop("children_minor_faults_cumulative")
        entry[st]["minor_faults"] = cum - faults0
        faults0 = cum
        print(f"[host_memory] run {r} {st}: {entry[st].get('wall_s', 0):.1f} s",
              file=sys.stderr, flush=True)
      result["runs"].append(entry)
  result["summary"] = summarise(result)
  text = json.dumps(result, indent=1)
  print(json.dumps(result["summary"], indent=1))
  if args.out:
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    atomic_write(args.out, text + "\n")


if __name__ == "__main__":
  main()
