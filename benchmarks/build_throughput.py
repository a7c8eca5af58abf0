r"""Dataset build throughput: one process against Apache Beam with 1 and 2 workers.

  python -m benchmarks.build_throughput --subjects 4 --frames 24 --repeats 3 \
      --out=benchmarks/results/build_throughput.json

Builds a synthetic_au config (`disfa_like` faces: --subjects subjects x 2
sequences x --frames frames, --image_size pixels) into a fresh data_dir per
build, in three ways, interleaved --repeats times:

  single      download_and_prepare as `tfds_builders.build` runs it (no Beam)
  beam1       Beam DirectRunner, 1 worker (in-process)
  beam2       Beam DirectRunner, 2 worker processes (multi_processing)

(`tfds_builders.build NAME --beam_workers=N` builds a licensed dataset the
same way.) Each build's records are checked to be the single build's, in the
same order. Reported per mode: wall seconds of each build, the median, and
records per second. Needs the [beam] extra. The time of a Beam build includes
its fixed start (workers, pipeline) of a few seconds; the work per subject is
the same in every mode, so the 2-worker gain grows with the dataset. Run it
on an idle machine: the load average at the start is in the result.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time

import numpy as np

from benchmarks import common as bc


def build_once(mode: str, config, data_dir: str):
  """(wall seconds, reloaded builder) of one build of `config` into data_dir."""
  import tensorflow_datasets as tfds

  from tfds_builders import build as build_cli
  from tfds_builders import common
  from tfds_builders.synthetic_au import SyntheticAu
  options = None if mode == "single" else build_cli.beam_options(int(mode[len("beam"):]))
  builder = SyntheticAu(data_dir=data_dir, config=config)
  if options is not None:
    common.use_beam(builder)
  t0 = time.perf_counter()
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(beam_options=options))
  wall = time.perf_counter() - t0
  return wall, SyntheticAu(data_dir=data_dir, config=config)


def records(builder) -> dict:
  return {s: [r["image"] for r in builder.as_data_source(split=s)] for s in builder.info.splits}


def main(argv=None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--subjects", type=int, default=4)
  ap.add_argument("--frames", type=int, default=24, help="frames per sequence (2 per subject)")
  ap.add_argument("--image_size", type=int, default=96)
  ap.add_argument("--repeats", type=int, default=3)
  ap.add_argument("--modes", nargs="+", default=["single", "beam1", "beam2"])
  ap.add_argument("--out", default=os.path.join(bc.RESULTS, "build_throughput.json"))
  args = ap.parse_args(argv)
  from tfds_builders.synthetic_au.synthetic_au import SyntheticAuConfig
  config = SyntheticAuConfig(name="bench", num_subjects=args.subjects, sequences_per_subject=2,
                             frames_per_sequence=args.frames, image_size=args.image_size)
  env = bc.environment()
  n = args.subjects * 2 * args.frames
  walls: dict[str, list[float]] = {m: [] for m in args.modes}
  reference = None
  scratch = tempfile.mkdtemp(prefix="au_jax_build_throughput_")
  try:
    for r in range(args.repeats):
      for mode in args.modes:
        d = os.path.join(scratch, f"{mode}_{r}")
        wall, b = build_once(mode, config, d)
        got = records(b)
        assert sum(len(v) for v in got.values()) == n, (mode, n)
        if reference is None:
          reference = got
        for s in reference:   # the same records, in the same order, in every mode
          assert all(np.array_equal(x, y) for x, y in zip(reference[s], got[s])), (mode, s)
        walls[mode].append(wall)
        print(f"{mode:7s} repeat {r}: {wall:6.2f} s  {n / wall:6.1f} records/s", flush=True)
        shutil.rmtree(d)
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
  out = dict(
      dataset=dict(builder="synthetic_au", subjects=args.subjects, sequences_per_subject=2,
                   frames_per_sequence=args.frames, image_size=args.image_size, records=n),
      modes={m: dict(wall_s=[round(w, 3) for w in ws], median_s=round(statistics.median(ws), 3),
                     records_per_s=round(n / statistics.median(ws), 1))
             for m, ws in walls.items()},
      environment=env)
  bc.write_json(args.out, out)
  for m, v in out["modes"].items():
    print(f"{m:7s} median {v['median_s']:6.2f} s  {v['records_per_s']:6.1f} records/s")
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
