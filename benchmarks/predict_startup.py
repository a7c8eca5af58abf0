r"""Wall time of `python -m au_jax.predict` on one photo: cold and warm compilation cache.

  python -m benchmarks.predict_startup --workdir=runs/gudi --repeats 5 \
      --out=benchmarks/results/predict_startup.json

Each run is a fresh process (what a script calling the command once per photo
pays), timed from start to exit, predicting one 512x512 photo with one face
(skimage's astronaut, au_jax/inference/demo_media.py) with the --detector
(default Haar: no optional package). Four settings, --repeats runs each:

  import   python -c "import au_jax.predict" (the imports, and the interpreter's
           shutdown, which the command skips)
  off      --compilation_cache=off: every program compiled in the run
  cold     a new, empty cache folder per run (compiled, then written)
  warm     one cache folder filled by a first run (not timed), then read

With --baseline=DIR (the root of another checkout, e.g. `git worktree add` of
main), `import` and `warm` are also timed with DIR's au_jax, interleaved with
the rest, so that a change is compared under the same load; --baseline_env
KEY=VALUE sets variables of those runs (PYTHONPATH=DIR: other package versions,
with --baseline=. for this checkout).

Reported per setting: every run's wall seconds, the min (the figure to quote
on a shared machine: other processes only ever add time) and the median, and
the CPU seconds of each run (user + system, all threads: less sensitive to
other processes than wall time, though not immune), with the load average at
the start and the end. The workdir is any trained au-jax workdir (e.g.
`python launch.py --config=configs/gudi_synthetic.py:runlocal --workdir=/tmp/gudi_tiny`).
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import cv2

from au_jax.inference import demo_media
from benchmarks import common


def _cpu() -> float:
  r = resource.getrusage(resource.RUSAGE_CHILDREN)
  return r.ru_utime + r.ru_stime


def _run(cmd: list[str], env: dict, cwd: str = common.ROOT) -> tuple[float, float]:
  """(wall seconds, CPU seconds: user + system of the process and its threads)."""
  c0, t0 = _cpu(), time.perf_counter()
  out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
  dt, cpu = time.perf_counter() - t0, _cpu() - c0
  if out.returncode != 0:
    raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
  return dt, cpu


def measure(workdir: str, repeats: int, detector: str = "haar", scratch: str | None = None,
            baseline: str | None = None, baseline_env: dict | None = None) -> dict:
  """{setting: {"runs": [s], "min": s, "median": s, "cpu_runs": [s], "cpu_min": s}}
  (see the module docstring)."""
  with tempfile.TemporaryDirectory(dir=scratch) as tmp:
    photo = os.path.join(tmp, "astronaut.png")
    cv2.imwrite(photo, cv2.cvtColor(demo_media.photos()["astronaut"], cv2.COLOR_RGB2BGR))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    env["AU_JAX_NO_PROGRESS"] = "1"

    def predict(cache: str, out: str = "aus.csv") -> list[str]:
      return [sys.executable, "-m", "au_jax.predict", f"--workdir={workdir}",
              f"--input={photo}", f"--output={os.path.join(tmp, out)}",
              f"--detector={detector}", f"--compilation_cache={cache}", "--overwrite"]

    warm, warm_b = os.path.join(tmp, "warm"), os.path.join(tmp, "warm_baseline")
    _run(predict(warm), env)                              # fills the warm cache (not timed)
    names = ("import", "off", "cold", "warm")
    env_b = {**env, **(baseline_env or {})}
    if baseline:
      names += ("baseline import", "baseline warm")
      _run(predict(warm_b, "base.csv"), env_b, baseline)
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in names}
    for i in range(repeats):                               # interleaved: load drifts hit all
      runs["import"].append(_run([sys.executable, "-c", "import au_jax.predict"], env))
      runs["off"].append(_run(predict("off"), env))
      runs["cold"].append(_run(predict(os.path.join(tmp, f"cold{i}")), env))
      runs["warm"].append(_run(predict(warm), env))
      if baseline:
        runs["baseline import"].append(
            _run([sys.executable, "-c", "import au_jax.predict"], env_b, baseline))
        runs["baseline warm"].append(_run(predict(warm_b, "base.csv"), env_b, baseline))
  out = {}
  for k, v in runs.items():
    wall, cpu = [w for w, _ in v], [c for _, c in v]
    out[k] = dict(runs=[round(x, 3) for x in wall], min=round(min(wall), 3),
                  median=round(statistics.median(wall), 3), cpu_runs=[round(x, 3) for x in cpu],
                  cpu_min=round(min(cpu), 3))
  return out


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--workdir", required=True, help="a trained au-jax workdir")
  ap.add_argument("--repeats", type=int, default=5)
  ap.add_argument("--detector", default="haar", choices=("haar", "dlib", "auto"))
  ap.add_argument("--scratch", default=None, help="folder for the photo, CSV and caches")
  ap.add_argument("--baseline", default=None, metavar="DIR",
                  help="also time `import` and `warm` with the au_jax of this other checkout "
                       "(its root), interleaved with these: a fair comparison on a busy machine")
  ap.add_argument("--baseline_env", nargs="*", default=[], metavar="KEY=VALUE",
                  help="environment of the baseline's runs (e.g. PYTHONPATH=DIR: other "
                       "versions of packages)")
  ap.add_argument("--out", default=f"{common.RESULTS}/predict_startup.json")
  args = ap.parse_args(argv)
  load = list(os.getloadavg())
  baseline_env = dict(kv.split("=", 1) for kv in args.baseline_env)
  res = measure(args.workdir, args.repeats, args.detector, args.scratch, args.baseline,
                baseline_env)
  result = dict(what="wall seconds of one `python -m au_jax.predict` process on one 512x512 "
                     "photo (one face), fresh process per run; min = the figure to quote on a "
                     "shared machine",
                workdir=os.path.abspath(args.workdir), detector=args.detector,
                baseline=args.baseline, baseline_env=baseline_env,
                repeats=args.repeats, load_average_at_start=load,
                load_average_at_end=list(os.getloadavg()), settings=res,
                environment=common.environment())
  common.write_json(args.out, result)
  for k, v in res.items():
    print(f"{k:15s} min {v['min']:.2f} s  median {v['median']:.2f} s  runs {v['runs']}  "
          f"cpu min {v['cpu_min']:.2f} s")
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
