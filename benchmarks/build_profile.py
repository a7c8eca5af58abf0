r"""Where the synthetic_au build spends its time (issue 14, item 3).

  AU_JAX_DATA_DIR=/tmp/au_build python benchmarks/build_profile.py \
      --config=disfa_like --out=benchmarks/results/build_profile.json

Builds `synthetic_au/<config>` from scratch into a fresh data dir (--data_dir,
default a new temporary directory, removed afterwards; a dir already
holding the build is refused, and so is $AU_JAX_DATA_DIR, the data the
runs use), then builds the label index the engine builds on
first use (au_jax.data.sources: every record's labels, cached next to the
data). Each phase is timed by wrapping the function that does it, in wall
seconds and in CPU seconds of this process (time.process_time: all its
threads, so OpenCV's worker threads count; under a loaded machine the CPU
seconds are the stabler figure, the wall seconds an upper bound):

  metadata     the builder's construction (DatasetInfo, the dependence
               summary, Kendall taus), its label simulation excluded
  labels       label simulation (per subject in the generator, and the
               label-only pass of the metadata)
  identity     per-subject face identity (shape, palette, texture)
  rendering    render.sample_nuisance + render.render_frame (drawing the
               face, pose warp, light, occluder, noise)
  alignment    au_jax.face.align.align_face (registration + warp)
  encoding     PNG encoding of the aligned face (common.encode_png)
  record       the rest of common.make_record (label checks)
  serializing  TFDS' example serialisation (FeaturesDict + tf.train.Example)
  writing      everything else inside download_and_prepare: ArrayRecord
               writes, shard finalisation, split bookkeeping, dataset_info
  label_index  reading every record's labels back (images not decoded) into
               the engine's per-subject label cache

plus records/s, the load average at start and end, and (--top) the functions
with the most CPU time under cProfile (a second, profiled build when
--top > 0, of --profile_config; cProfile slows Python-heavy code, so the
phase table comes from the unprofiled build, written before profiling).
Output: JSON (stdout and --out, written atomically).
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

PHASES = ("metadata", "labels", "identity", "rendering", "alignment", "encoding", "record",
          "serializing", "writing", "label_index")


class Clock:
  """Wall and CPU seconds per phase; nested phases are charged to the innermost."""

  def __init__(self):
    self.wall = {p: 0.0 for p in PHASES}
    self.cpu = {p: 0.0 for p in PHASES}
    self.calls = {p: 0 for p in PHASES}
    self._stack: list[list] = []   # [phase, wall0, cpu0, child_wall, child_cpu]

  @contextlib.contextmanager
  def phase(self, name: str):
    frame = [name, time.perf_counter(), time.process_time(), 0.0, 0.0]
    self._stack.append(frame)
    try:
      yield
    finally:
      self._stack.pop()
      wall = time.perf_counter() - frame[1]
      cpu = time.process_time() - frame[2]
      self.wall[name] += wall - frame[3]
      self.cpu[name] += cpu - frame[4]
      self.calls[name] += 1
      if self._stack:
        self._stack[-1][3] += wall
        self._stack[-1][4] += cpu

  def wrap(self, owner, attr: str, name: str, patches: list):
    """Replaces owner.attr by a timed version (undone by `restore(patches)`)."""
    orig = getattr(owner, attr)

    def timed(*args, **kwargs):
      with self.phase(name):
        return orig(*args, **kwargs)
    patches.append((owner, attr, orig))
    setattr(owner, attr, timed)


def restore(patches: list) -> None:
  for owner, attr, orig in reversed(patches):
    setattr(owner, attr, orig)
  patches.clear()


def _target_dir(args) -> tuple[str, bool]:
  """(data dir, created here). The shared dir is only used when named on purpose."""
  if args.data_dir:
    d = os.path.abspath(os.path.expanduser(args.data_dir))
    return d, False
  return tempfile.mkdtemp(prefix="au_build_profile_"), True


def build_once(name: str, data_dir: str, clock: Clock | None, profile: cProfile.Profile | None):
  """One build of synthetic_au/<name> into data_dir, then its label index.

  Returns (number of records, total wall s, total cpu s, wall s of the build
  proper, cpu s of the build proper)."""
  import tensorflow_datasets as tfds
  from tensorflow_datasets.core import example_serializer

  import tfds_builders.synthetic_au  # noqa: F401  registers the builder
  from au_jax.data import sources
  from configs import common as config_common
  from tfds_builders import common
  from tfds_builders.synthetic_au import labels, render, synthetic_au

  patches: list = []
  if clock is not None:
    clock.wrap(synthetic_au, "subject_intensities", "labels", patches)
    clock.wrap(synthetic_au, "subject_labels", "labels", patches)
    clock.wrap(render, "make_identity", "identity", patches)
    clock.wrap(render, "sample_nuisance", "rendering", patches)
    clock.wrap(render, "render_frame", "rendering", patches)
    clock.wrap(synthetic_au, "align_face", "alignment", patches)
    clock.wrap(common, "make_record", "record", patches)
    clock.wrap(common, "encode_png", "encoding", patches)
    clock.wrap(example_serializer.ExampleSerializer, "serialize_example", "serializing", patches)
    clock.wrap(sources._DatasetPart, "label_arrays", "label_index", patches)
  synthetic_au._metadata_cached.cache_clear()
  del labels
  full = f"synthetic_au/{name}"
  try:
    if profile is not None:
      profile.enable()
    w0, c0 = time.perf_counter(), time.process_time()
    if clock is not None:
      with clock.phase("writing"):          # what no inner phase claims
        with clock.phase("metadata"):
          builder = tfds.builder(full, data_dir=data_dir)
        if builder.is_prepared():
          raise SystemExit(f"build_profile: {full} is already built in {data_dir}; "
                           f"give an empty --data_dir")
        builder.download_and_prepare()
    else:
      builder = tfds.builder(full, data_dir=data_dir)
      if builder.is_prepared():
        raise SystemExit(f"build_profile: {full} is already built in {data_dir}")
      builder.download_and_prepare()
    bw, bc = time.perf_counter() - w0, time.process_time() - c0
    data_cfg = config_common.data_config([dict(name=full, protocol="default")])
    data_cfg.data_dir = data_dir
    sources.load_data_info(data_cfg)       # builds the label index of every subject
    tw, tc = time.perf_counter() - w0, time.process_time() - c0
    if profile is not None:
      profile.disable()
  finally:
    restore(patches)
  n = sum(s.num_examples for s in builder.info.splits.values())
  return n, tw, tc, bw, bc


def top_functions(profile: cProfile.Profile, k: int) -> list[dict]:
  stats = pstats.Stats(profile, stream=io.StringIO())
  rows = []
  for (file, line, fn), (cc, nc, tt, ct, _) in stats.stats.items():
    where = os.path.relpath(file, ROOT) if file.startswith(ROOT) else os.path.basename(file)
    rows.append(dict(function=f"{where}:{line}({fn})", calls=nc, own_cpu_s=round(tt, 3),
                     cumulative_cpu_s=round(ct, 3)))
  return sorted(rows, key=lambda r: -r["own_cpu_s"])[:k]


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--config", default="disfa_like", help="synthetic_au builder config")
  p.add_argument("--data_dir", default="", help="empty dir to build into (default: a new "
                 "temporary dir, removed afterwards)")
  p.add_argument("--top", type=int, default=25, help="cProfile rows (0 = no profiled build)")
  p.add_argument("--profile_config", default="", help="builder config of the profiled build "
                 "(default: --config; a *_tiny one profiles the same code in seconds)")
  p.add_argument("--keep", action="store_true", help="keep the temporary build")
  p.add_argument("--out", default="")
  args = p.parse_args(argv)
  args.argv = sys.argv[1:] if argv is None else list(argv)
  load0 = os.getloadavg()
  data_dir, created = _target_dir(args)
  shared = os.environ.get("AU_JAX_DATA_DIR", "")
  if shared and os.path.realpath(os.path.expanduser(shared)) == os.path.realpath(data_dir):
    raise SystemExit(f"build_profile: --data_dir {data_dir} is $AU_JAX_DATA_DIR, the data the "
                     f"runs use; give a scratch dir")
  clock = Clock()
  try:
    n, wall, cpu, build_wall, build_cpu = build_once(args.config, data_dir, clock, None)
  finally:
    if created and not args.keep:
      shutil.rmtree(data_dir, ignore_errors=True)
  result = summary(args, clock, n, wall, cpu, build_wall, build_cpu, load0)
  write(args.out, result)              # the phase table is kept even if profiling is cut short
  if args.top > 0:
    prof_dir = tempfile.mkdtemp(prefix="au_build_profile_cprofile_")
    try:
      prof = cProfile.Profile(time.process_time)
      pn, _, pcpu, _, _ = build_once(args.profile_config or args.config, prof_dir, None, prof)
      result["cprofile"] = dict(dataset=f"synthetic_au/{args.profile_config or args.config}",
                                records=pn, cpu_s_under_cprofile=round(pcpu, 3),
                                top_functions_by_own_cpu=top_functions(prof, args.top))
    finally:
      shutil.rmtree(prof_dir, ignore_errors=True)
    result["load_average_at_end"] = list(os.getloadavg())
    write(args.out, result)
  print(json.dumps(result, indent=1))
  return result


def write(out: str, result: dict) -> None:
  if out:
    from au_jax.io import atomic_write
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    atomic_write(out, json.dumps(result, indent=1) + "\n")


def summary(args, clock, n, wall, cpu, build_wall, build_cpu, load0) -> dict:
  import numpy as np
  import tensorflow_datasets as tfds
  import cv2
  phases = {k: dict(wall_s=round(clock.wall[k], 3), cpu_s=round(clock.cpu[k], 3),
                    calls=clock.calls[k],
                    share_of_cpu=round(clock.cpu[k] / cpu, 4) if cpu else None)
            for k in PHASES}
  result = dict(
      dataset=f"synthetic_au/{args.config}", records=n,
      total_wall_s=round(wall, 3), total_cpu_s=round(cpu, 3),
      build_wall_s=round(build_wall, 3), build_cpu_s=round(build_cpu, 3),
      records_per_s_wall=round(n / build_wall, 1), records_per_s_cpu=round(n / build_cpu, 1),
      phases=phases,
      unaccounted_wall_s=round(wall - sum(clock.wall.values()), 3),
      load_average_at_start=list(load0), load_average_at_end=list(os.getloadavg()),
      cpu_count=os.cpu_count(), host=platform.node(), numpy=np.__version__,
      opencv=cv2.__version__, tfds=tfds.__version__, cv2_threads=cv2.getNumThreads(),
      command="python benchmarks/build_profile.py " + " ".join(args.argv))
  return result


if __name__ == "__main__":
  main()
