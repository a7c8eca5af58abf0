r"""Files per second of `python -m au_jax.predict` over many files: plain, and on Beam.

  python launch.py --config=configs/gudi_synthetic.py:runlocal --workdir=/tmp/gudi_tiny
  python -m benchmarks.predict_beam --workdir=/tmp/gudi_tiny --files 24 --repeats 2 \
      --out=benchmarks/results/predict_beam.json

(apache-beam installed: `pip install 'au-jax[beam]'`.) The inputs are --files
short MJPG clips (--frames frames of 320x180 each, from the demo clip of
au_jax/inference/demo_media.py: two real faces, then one, then none), each its
own file. Three settings, each one fresh `python -m au_jax.predict` process over
all the files, timed from start to exit (what a user waits for: process start,
Beam's start-up and worker processes, model loads, prediction, merge):

  plain   the command without Beam (one process, the files one after another)
  beam1   --beam_workers=1 (DirectRunner in the driver's process)
  beam2   --beam_workers=2 (DirectRunner, two worker processes)

Settings are interleaved per repeat (load drifts hit all), with one warm
compilation cache shared by all (filled by an untimed first run). Every Beam
run's merged CSV is checked byte for byte against the plain run's. Reported:
every run's seconds, the min (the figure to quote on a shared machine: other
processes only ever add time), files/s = files / min, and the load average.
"""
from __future__ import annotations

import argparse
import filecmp
import os
import subprocess
import sys
import tempfile
import time

import cv2

from au_jax.inference import demo_media
from benchmarks import common

SETTINGS = {"plain": [], "beam1": ["--beam_workers=1"], "beam2": ["--beam_workers=2"]}


def _clips(folder: str, files: int, frames: int) -> list[str]:
  """`files` copies of one short clip (the same content: equal work per file)."""
  first = os.path.join(folder, "clip000.avi")
  w = cv2.VideoWriter(first, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 180))
  for i in range(frames):
    frame = cv2.resize(demo_media.demo_frame(i, frames), (320, 180))
    w.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
  w.release()
  with open(first, "rb") as f:
    data = f.read()
  paths = [first]
  for k in range(1, files):
    paths.append(os.path.join(folder, f"clip{k:03d}.avi"))
    with open(paths[-1], "wb") as f:
      f.write(data)
  return paths


def _run(cmd: list[str], env: dict) -> float:
  t0 = time.perf_counter()
  out = subprocess.run(cmd, env=env, cwd=common.ROOT, capture_output=True, text=True,
                       check=False)
  dt = time.perf_counter() - t0
  if out.returncode != 0:
    raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
  return dt


def measure(workdir: str, files: int, frames: int, repeats: int, detector: str = "haar",
            scratch: str | None = None) -> dict:
  """{setting: {"runs": [s], "min": s, "files_per_s": files / min}}."""
  with tempfile.TemporaryDirectory(dir=scratch) as tmp:
    media = os.path.join(tmp, "media")
    os.mkdir(media)
    _clips(media, files, frames)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    env["AU_JAX_NO_PROGRESS"] = "1"
    cache = os.path.join(tmp, "cache")

    def predict(setting: str) -> list[str]:
      return [sys.executable, "-m", "au_jax.predict", f"--workdir={workdir}",
              f"--input={os.path.join(media, '*.avi')}",
              f"--output={os.path.join(tmp, setting + '.csv')}", f"--detector={detector}",
              f"--compilation_cache={cache}", *SETTINGS[setting]]

    _run(predict("plain"), env)                         # fills the cache (not timed)
    runs: dict[str, list[float]] = {k: [] for k in SETTINGS}
    for _ in range(repeats):
      for setting in SETTINGS:
        runs[setting].append(_run(predict(setting), env))
    for setting in ("beam1", "beam2"):
      if not filecmp.cmp(os.path.join(tmp, "plain.csv"), os.path.join(tmp, f"{setting}.csv"),
                         shallow=False):
        raise SystemExit(f"{setting}: the merged CSV differs from the plain command's")
    with open(os.path.join(tmp, "plain.csv")) as f:
      rows = sum(1 for _ in f) - 1
  return dict(rows=rows, settings={
      k: dict(runs=[round(x, 2) for x in v], min=round(min(v), 2),
              files_per_s=round(files / min(v), 3)) for k, v in runs.items()})


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--workdir", required=True, help="a trained au-jax workdir")
  ap.add_argument("--files", type=int, default=24)
  ap.add_argument("--frames", type=int, default=8, help="frames per clip")
  ap.add_argument("--repeats", type=int, default=2)
  ap.add_argument("--detector", default="haar", choices=("haar", "dlib", "auto"))
  ap.add_argument("--scratch", default=None, help="folder for the clips, CSVs and cache")
  ap.add_argument("--out", default=f"{common.RESULTS}/predict_beam.json")
  args = ap.parse_args(argv)
  load = list(os.getloadavg())
  res = measure(args.workdir, args.files, args.frames, args.repeats, args.detector,
                args.scratch)
  result = dict(what="wall seconds of one `python -m au_jax.predict` process over --files "
                     "short clips, plain and on Beam's DirectRunner with 1 and 2 workers; "
                     "min = the figure to quote on a shared machine; files/s = files / min",
                workdir=os.path.abspath(args.workdir), files=args.files, frames=args.frames,
                detector=args.detector, repeats=args.repeats, cpus=os.cpu_count(),
                load_average_at_start=load, load_average_at_end=list(os.getloadavg()),
                **res, environment=common.environment())
  common.write_json(args.out, result)
  for k, v in res["settings"].items():
    print(f"{k:6s} min {v['min']:.2f} s  {v['files_per_s']:.3f} files/s  runs {v['runs']}")
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
