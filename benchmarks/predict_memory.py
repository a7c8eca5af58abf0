r"""Peak resident memory of `python -m au_jax.predict` against the length of its input.

  python -m benchmarks.predict_memory --workdir=runs/gudi --minutes 1 10 30 \
      --images 1000 10000 --out=benchmarks/results/predict_memory.json

For each length, a video of that many minutes (the demo clip's real faces,
au_jax/inference/demo_media.py: two faces for 60% of the frames, then one,
then none; --width x 9/16 pixels at --fps, MJPG AVI) and a folder of that
many images (JPEG frames of the same clip) are generated in --scratch, and
the predict command line runs on each in its own process (Haar detector:
no optional package needed). Measured per run:

  peak_rss_mb     the child's peak resident set (os.wait4 rusage ru_maxrss)
  rss_mb_samples  its resident set sampled every --sample_s (/proc/<pid>/status):
                  flat when memory does not grow with the input
  rows_while_running  bytes of its partial CSV seen while it ran: rows are
                  written as they are predicted, not kept for the end
  wall_s, rows, frames

The JSON summary (written atomically) holds each run, the machine and the
load average at the start: run it on an idle machine. The workdir is any
trained au-jax workdir (e.g. `python launch.py
--config=configs/gudi_synthetic.py:runlocal --workdir=/tmp/gudi_tiny`); the
model's size shifts the whole curve, not its slope.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import cv2

from au_jax.inference import demo_media
from benchmarks import common

def _frame(i: int, n: int, width: int):
  height = width * 9 // 16
  rgb = demo_media.demo_frame(i, n)
  if width != demo_media.WIDTH:
    rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
  return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)

def write_video(path: str, frames: int, fps: float, width: int) -> str:
  """The demo clip stretched to `frames` frames (its motion slows, the faces stay)."""
  w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, width * 9 // 16))
  if not w.isOpened():
    raise SystemExit(f"OpenCV cannot write {path}")
  try:
    for i in range(frames):
      w.write(_frame(i, frames, width))
  finally:
    w.release()
  return path

def write_folder(folder: str, images: int, width: int, distinct: int = 200) -> str:
  """`images` JPEGs, copies of `distinct` frames of the demo clip."""
  os.makedirs(folder, exist_ok=True)
  encoded = [cv2.imencode(".jpg", _frame(k, distinct, width))[1].tobytes()
             for k in range(min(distinct, images))]
  for i in range(images):
    with open(os.path.join(folder, f"{i:07d}.jpg"), "wb") as f:
      f.write(encoded[i % len(encoded)])
  return folder

def _rss_mb(pid: int) -> float | None:
  try:
    with open(f"/proc/{pid}/status") as f:
      for line in f:
        if line.startswith("VmRSS:"):
          return int(line.split()[1]) / 1024
  except OSError:
    return None
  return None

def run_predict(workdir: str, media: str, output: str, sample_s: float,
                extra: list[str]) -> dict:
  """One `python -m au_jax.predict` process on `media`: its peak RSS and the rest."""
  cmd = [sys.executable, "-m", "au_jax.predict", "--workdir", workdir, "--input", media,
         "--output", output, "--detector", "haar", "--overwrite", *extra]
  env = dict(os.environ, AU_JAX_NO_PROGRESS="1")
  t0 = time.time()
  proc = subprocess.Popen(cmd, cwd=common.ROOT, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
  samples, partial_bytes = [], 0
  while True:
    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    if pid:
      break
    rss = _rss_mb(proc.pid)
    if rss is not None:
      samples.append(round(rss, 1))
    for p in glob.glob(glob.escape(output) + ".*.partial"):
      try:
        partial_bytes = max(partial_bytes, os.path.getsize(p))
      except OSError:
        pass
    time.sleep(sample_s)
  proc.returncode = os.waitstatus_to_exitcode(status)
  err = proc.stderr.read()
  proc.stderr.close()
  if proc.returncode != 0:
    raise SystemExit(f"predict failed on {media} (exit {proc.returncode}):\n{err[-3000:]}")
  summary = json.load(open(output + ".summary.json"))
  return dict(peak_rss_mb=round(usage.ru_maxrss / 1024, 1), wall_s=round(time.time() - t0, 1),
              rows=summary["rows"], frames=summary["frames"], faces=summary["faces"],
              rows_while_running=partial_bytes, rss_mb_samples=samples[::max(1, len(samples)
                                                                            // 40)])

def main(argv=None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--workdir", required=True, help="a trained au-jax workdir")
  ap.add_argument("--minutes", type=float, nargs="*", default=[1.0, 10.0, 30.0],
                  help="video lengths in minutes")
  ap.add_argument("--images", type=int, nargs="*", default=[1000, 10000],
                  help="image folder sizes")
  ap.add_argument("--fps", type=float, default=25.0)
  ap.add_argument("--width", type=int, default=320, help="frame width (height = 9/16 of it)")
  ap.add_argument("--sample_s", type=float, default=1.0)
  ap.add_argument("--scratch", default=None, help="where media are generated (default: a "
                                                   "temporary folder, removed after)")
  ap.add_argument("--out", default=os.path.join(common.RESULTS, "predict_memory.json"))
  ap.add_argument("--predict_args", default="",
                  help="more predict flags, e.g. '--batch_size 32 --detect_every 5'")
  args = ap.parse_args(argv)
  scratch = args.scratch or tempfile.mkdtemp(prefix="au_jax_predict_memory_")
  os.makedirs(scratch, exist_ok=True)
  result = dict(
      command=common.command(),
      machine=dict(platform=platform.platform(), cpus=os.cpu_count(),
                   load_average_at_start=list(os.getloadavg())),
      fps=args.fps, frame_size=[args.width, args.width * 9 // 16], detector="haar",
      workdir=os.path.abspath(args.workdir), videos=[], folders=[])
  try:
    for minutes in args.minutes:
      frames = int(round(minutes * 60 * args.fps))
      video = write_video(os.path.join(scratch, f"clip_{frames}.avi"), frames, args.fps,
                          args.width)
      run = run_predict(args.workdir, video, os.path.join(scratch, "video.csv"), args.sample_s,
                        shlex.split(args.predict_args))
      assert run["frames"] == frames, (run["frames"], frames)     # every frame decoded
      result["videos"].append(dict(minutes=minutes, **run))
      print(f"video {minutes:g} min ({frames} frames): peak RSS {run['peak_rss_mb']} MB, "
            f"{run['wall_s']} s", flush=True)
      os.remove(video)
    for n in args.images:
      folder = write_folder(os.path.join(scratch, f"images_{n}"), n, args.width)
      run = run_predict(args.workdir, folder, os.path.join(scratch, "folder.csv"),
                        args.sample_s, shlex.split(args.predict_args))
      assert run["frames"] == n, (run["frames"], n)
      result["folders"].append(dict(images=n, **run))
      print(f"folder of {n} images: peak RSS {run['peak_rss_mb']} MB, {run['wall_s']} s",
            flush=True)
      shutil.rmtree(folder)
  finally:
    if not args.scratch:
      shutil.rmtree(scratch, ignore_errors=True)
  common.write_json(args.out, result)
  print(f"wrote {args.out}")

if __name__ == "__main__":
  main()
