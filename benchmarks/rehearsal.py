r"""Dress rehearsal: DISFA- and BP4D-sized raw trees through build, train, evaluate, predict.

  nice -n 15 python -m benchmarks.rehearsal --work=/tmp/rehearsal --frame_fraction=0.01 \
      --beam_python=/path/to/env-with-apache-beam/bin/python
  python -m benchmarks.rehearsal --compare
  python -m benchmarks.rehearsal --summary

Runs every stage as a user would, as a subprocess of the real command line
(`benchmarks.rehearsal_trees`, `tfds_builders.build`, `launch.py`,
`au_jax.predict`), one after the other, and records each into
benchmarks/results/rehearsal.json as soon as it finishes: wall time, CPU time
(user + system of the child and its descendants), peak resident memory (the
largest single process, from wait4; and the whole process tree's sum, sampled
every 0.2 s), the disk of its outputs and the sizes of named output files.
A stage already recorded with exit status 0 is skipped, so the script resumes
after an interruption (`--redo=NAME,...` reruns stages); a failed stage is retried
and its failure kept in `failed_attempts`. The Beam stages run under
`--beam_python` (apache-beam is the `[beam]` extra). `--compare` checks that each
Beam build holds the single-process build's records, split by split, in order.
`--summary` prints the table and the extrapolation to the full datasets from the
recorded stages only (after reading back facts of their outputs that an earlier
version did not record).

Stages (names as recorded):
  generate_disfa, generate_bp4d   raw trees, `--frame_fraction` of the real frames per subject
  build_<ds>_single               one process
  train_<config>                  launch.py on the single-process build for `--steps` steps
                                  (per stage), then its evaluation (report, test predictions)
  predict_{plain,beam2}           au_jax.predict on `--predict_videos` generated DISFA videos
  predict_plain_all               au_jax.predict on all 27 generated DISFA videos
  build_<ds>_{beam1,beam2}        Beam DirectRunner with 1 and 2 workers (BP4D: the tree
                                  without the subjects the single-process build dropped)
  build_bp4d_beam2_whole_tree     the whole BP4D tree on Beam (fails on such a subject)

Extrapolation (`extrapolate`): linear in frames, stated as such, not measured.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
RESULTS = _ROOT / "benchmarks" / "results" / "rehearsal.json"

# Full sizes (docs/scaling.md): DISFA 27 x 4845 frames (SN010 4844); BP4D ~146k coded frames.
FULL_FRAMES = {"disfa": 27 * 4845 - 1, "bp4d": 146_000}

# config, dataset, config args, extra flags (the paper's network; only the length is cut).
# CCNN: one Alg. 1 cycle of 4 steps (cnn 2, unary 1, pairwise 1: the fewest its schedule
# makes) with a fixed lambda (`lam=tune` trains the grid first); the zero-gradient
# check is off because its window is then the pairwise stage's single step, whose
# gradient was exactly zero in the first attempt (recorded in failed_attempts).
TRAINS = (
    ("ccnn_disfa", "disfa", "fold=1,lam=1e-4,cycles=1,steps=4",
     ["--config.train.divergence.zero_grad_windows=0"]),
    ("dsin_bp4d", "bp4d", "fold=1,steps={steps}", []),
    ("heatmaps_fera2015", "bp4d", "steps={steps}", []),
    ("gudi_fera2015", "bp4d", "steps={steps}", []),
    ("multilabel_disfa", "disfa", "steps={steps}", []),
)
BUILD_MODES = {"single": [], "beam1": ["--beam_workers=1"], "beam2": ["--beam_workers=2"]}
# Output files whose sizes are recorded (relative to the stage's output folder).
NAMED_OUTPUTS = ("test_predictions.npz", "report.json", "report.md", "metrics.jsonl",
                 "config.json", "aus.csv", "aus.csv.summary.json")


def disk_bytes(path) -> int:
  """Allocated bytes (st_blocks) of every file under path (0 if missing)."""
  path = Path(path)
  if path.is_file():
    return path.stat().st_blocks * 512
  total = 0
  for dirpath, _, files in os.walk(path):
    for f in files:
      try:
        total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
      except FileNotFoundError:
        pass
  return total


def named_sizes(folder) -> dict[str, int]:
  """{relative path: bytes} of NAMED_OUTPUTS found anywhere under folder."""
  out = {}
  folder = Path(folder)
  if not folder.is_dir():
    return out
  for dirpath, _, files in os.walk(folder):
    for f in files:
      if f in NAMED_OUTPUTS:
        p = Path(dirpath) / f
        out[str(p.relative_to(folder))] = p.stat().st_size
  return out


class TreeRss:
  """Samples the summed RSS of a process and its descendants; keeps the peak."""

  def __init__(self, pid: int, every: float = 0.2):
    import psutil
    self._proc, self._every, self.peak = psutil.Process(pid), every, 0
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._run, daemon=True)
    self._thread.start()

  def _run(self):
    import psutil
    while not self._stop.is_set():
      try:
        procs = [self._proc] + self._proc.children(recursive=True)
        rss = 0
        for p in procs:
          try:
            rss += p.memory_info().rss
          except psutil.Error:
            pass
        self.peak = max(self.peak, rss)
      except psutil.Error:
        return
      self._stop.wait(self._every)

  def stop(self) -> int:
    self._stop.set()
    self._thread.join()
    return self.peak


def run_measured(cmd: list[str], log_path: Path, env=None) -> dict:
  """Runs cmd (stdout+stderr to log_path); returns rc, wall_s, cpu_s, peak RSS."""
  log_path.parent.mkdir(parents=True, exist_ok=True)
  with open(log_path, "w") as log:
    log.write("$ " + shlex.join(cmd) + "\n")
    log.flush()
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=_ROOT, env=env)
    sampler = TreeRss(proc.pid)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    tree_peak = sampler.stop()
  return dict(rc=proc.returncode, wall_s=round(wall, 1),
              cpu_s=round(ru.ru_utime + ru.ru_stime, 1),
              peak_rss_process_mb=round(ru.ru_maxrss / 1024, 1),    # Linux: KiB
              peak_rss_tree_mb=round(tree_peak / 2**20, 1))


def _frames_of_build(data_dir: Path, dataset: str) -> int | None:
  """Records of a finished build (its dataset_info.json splits), None if not found."""
  for info in Path(data_dir).glob(f"{dataset}/*/*/dataset_info.json"):
    splits = json.loads(info.read_text()).get("splits", [])
    return sum(int(n) for s in splits for n in s.get("shardLengths", []))
  return None


def stages(args) -> list[tuple[str, dict]]:
  """[(name, {cmd, out, frames_of, dataset})] in run order."""
  work = Path(args.work).resolve()
  raw, data, runs = work / "raw", work / "data", work / "runs"
  py = sys.executable
  beam_py = args.beam_python or py
  out = []
  for ds in ("disfa", "bp4d"):
    out.append((f"generate_{ds}", dict(
        cmd=[py, "-m", "benchmarks.rehearsal_trees", f"--out={raw}",
             f"--frame_fraction={args.frame_fraction}", f"--datasets={ds}"],
        out=raw / ds.upper(), dataset=ds)))
  builds = [(ds, m) for m in BUILD_MODES for ds in ("disfa", "bp4d")]
  for ds, mode in builds[:2]:
    out.append(_build(py, raw, data, ds, mode))
  py_of = lambda mode: beam_py if BUILD_MODES[mode] else py
  for name, ds, cfg_args, extra in TRAINS:
    out.append((f"train_{name}", dict(
        cmd=[py, "launch.py", f"--config=configs/{name}.py:{cfg_args.format(steps=args.steps)}",
             f"--workdir={runs / name}", f"--config.data.data_dir={data / 'single'}", *extra],
        out=runs / name, dataset=ds)))
  # A quoted glob (expanded by au_jax.predict): the videos exist only once generated.
  videos = str(raw / "DISFA" / "Videos_LeftCamera"
               / f"LeftVideoSN00[1-{args.predict_videos}]_comp.avi")
  for mode, extra in (("plain", []), ("beam2", ["--beam_workers=2"])):
    folder = work / "predict" / mode
    out.append((f"predict_{mode}", dict(
        cmd=[beam_py if extra else py, "-m", "au_jax.predict",
             f"--workdir={runs / args.predict_config}",
             "--input", videos, f"--output={work / 'predict' / mode / 'aus.csv'}",
             "--overwrite", *extra],
        out=folder, dataset="disfa_videos", videos=args.predict_videos,
        prepare=lambda folder=folder: folder.mkdir(parents=True, exist_ok=True))))
  # A Beam build fails on a subject left without any record (docs/scaling.md), as BP4D
  # subjects whose every frame defeats the face detector are: the Beam BP4D builds
  # read the tree without the subjects the single-process build dropped (the documented
  # workaround), and the last stage shows the failure on the whole tree.
  # Every generated video: with predict_plain, separates start-up from per-frame cost.
  folder = work / "predict" / "plain_all"
  out.append(("predict_plain_all", dict(
      cmd=[py, "-m", "au_jax.predict", f"--workdir={runs / args.predict_config}", "--input",
           str(raw / "DISFA" / "Videos_LeftCamera" / "*.avi"), f"--output={folder / 'aus.csv'}",
           "--overwrite"],
      out=folder, dataset="disfa_videos", videos=27,
      prepare=lambda folder=folder: folder.mkdir(parents=True, exist_ok=True))))
  for ds, mode in builds[2:]:
    out.append(_build(py_of(mode), raw, data, ds, mode,
                      tree=f"{ds.upper()}_kept" if ds == "bp4d" else ""))
  out.append(_build(beam_py, raw, data, "bp4d", "beam2", name="build_bp4d_beam2_whole_tree",
                    data_dir=data / "beam2_whole_tree"))
  return out


def _build(py, raw, data, ds, mode, *, tree="", name="", data_dir=None):
  data_dir = data_dir or data / mode
  return (name or f"build_{ds}_{mode}", dict(
      cmd=[py, "-m", "tfds_builders.build", ds, f"--manual_dir={raw / (tree or ds.upper())}",
           f"--data_dir={data_dir}", *BUILD_MODES[mode]],
      out=data_dir / ds, dataset=ds, data_dir=data_dir,
      prepare=(lambda: kept_tree(raw / ds.upper(), raw / tree, data / "single", ds)) if tree
      else None))


def built_subjects(data_dir: Path, dataset: str) -> list[str]:
  """Subjects (splits) of a finished build."""
  for info in Path(data_dir).glob(f"{dataset}/*/*/dataset_info.json"):
    return sorted(s["name"] for s in json.loads(info.read_text()).get("splits", []))
  raise FileNotFoundError(f"no finished {dataset} build under {data_dir}")


def kept_tree(src: Path, dst: Path, built: Path, dataset: str) -> None:
  """dst = src (hard links) without the files of subjects the build in `built` dropped."""
  if dst.exists():
    return
  import re
  dropped = sorted({p.name for p in (src / "BP4D-training").iterdir()}
                   - set(built_subjects(built, dataset)))
  pattern = re.compile("|".join(dropped)) if dropped else None
  tmp = dst.with_name(dst.name + ".tmp")
  for dirpath, _, files in os.walk(src):
    rel = Path(dirpath).relative_to(src)
    for f in files:
      if pattern and pattern.search(str(rel / f)):
        continue
      (tmp / rel).mkdir(parents=True, exist_ok=True)
      os.link(Path(dirpath) / f, tmp / rel / f)
  os.replace(tmp, dst)
  (dst.parent / f"{dst.name}.dropped.json").write_text(json.dumps(dropped))


def frames_in_tree(cmd) -> int:
  """Frames of the raw tree a build command reads: BP4D's JPEGs, DISFA's landmark
  files (one per video frame)."""
  manual = next(c.split("=", 1)[1] for c in cmd if str(c).startswith("--manual_dir="))
  return sum(1 for _, _, files in os.walk(manual) for f in files
             if f.endswith((".jpg", "_lm.mat")))


def outputs_facts(name: str, out: Path) -> dict:
  """Counts read back from a stage's outputs: the frames a prediction read (its
  summary), the test records a training saved predictions of."""
  try:
    if name.startswith("predict_"):
      summary = json.loads((Path(out) / "aus.csv.summary.json").read_text())
      return dict(videos=summary["inputs"], frames=summary["frames"])
    if name.startswith("train_"):
      import numpy as np
      with np.load(Path(out) / "test_predictions.npz") as z:
        return dict(test_records=len(z["intensity_true"]))
  except (OSError, KeyError, ValueError):
    pass
  return {}


def _equal(np, a, b) -> bool:
  """Equal arrays, NaN equal to NaN (missing values are NaN in float features)."""
  try:
    return np.array_equal(a, b, equal_nan=True)
  except TypeError:   # strings, bytes
    return np.array_equal(a, b)


def compare_builds(work: Path, dataset: str, modes=("beam1", "beam2")) -> dict:
  """{mode: differences} of each Beam build against the single-process one: splits
  missing on either side, and per split the record count or the first record whose
  features differ ({} = every record of every split equal, in order)."""
  import numpy as np
  import tensorflow_datasets as tfds

  def open_build(mode):
    info = next((Path(work) / "data" / mode).glob(f"{dataset}/*/*/dataset_info.json"))
    return tfds.builder_from_directory(str(info.parent))

  ref = open_build("single")
  out = {}
  for mode in modes:
    try:
      other = open_build(mode)
    except StopIteration:
      continue
    diffs = {}
    a, b = set(ref.info.splits), set(other.info.splits)
    if a != b:
      diffs["splits"] = dict(only_single=sorted(a - b), only_beam=sorted(b - a))
    for split in sorted(a & b):
      ra, rb = ref.as_data_source(split=split), other.as_data_source(split=split)
      if len(ra) != len(rb):
        diffs[split] = f"{len(ra)} vs {len(rb)} records"
        continue
      for i in range(len(ra)):
        x, y = ra[i], rb[i]
        bad = [f for f in x if not _equal(np, x[f], y.get(f))]
        if bad or x.keys() != y.keys():
          diffs[split] = f"record {i} differs in {bad or 'its features'}"
          break
    out[mode] = dict(records=sum(s.num_examples for s in ref.info.splits.values()),
                     differences=diffs)
  return out


def load(path: Path) -> dict:
  return json.loads(path.read_text()) if path.exists() else {}


def save(path: Path, results: dict) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_suffix(".tmp")
  tmp.write_text(json.dumps(results, indent=1) + "\n")
  os.replace(tmp, path)


def frames_written(raw: Path, dataset: str) -> int:
  done = raw / f".done_{dataset}"
  return sum(int(p.read_text()) for p in done.iterdir()) if done.is_dir() else 0


def run(args) -> dict:
  results = load(Path(args.results))
  if results.get("frame_fraction", args.frame_fraction) != args.frame_fraction:
    raise SystemExit(f"{args.results} holds a rehearsal at frame_fraction="
                     f"{results['frame_fraction']}; give that, or another --results")
  results.update(frame_fraction=args.frame_fraction, steps=args.steps, work=str(args.work),
                 machine=dict(cpus=os.cpu_count(), platform=platform.platform(),
                              python=platform.python_version()))
  results.setdefault("stages", {})
  redo = set(filter(None, args.redo.split(",")))
  only = set(filter(None, args.only.split(",")))
  for name, st in stages(args):
    if only and name not in only:
      continue
    prev = results["stages"].get(name)
    if prev and prev.get("rc") == 0 and name not in redo:
      print(f"{name}: done ({prev['wall_s']} s), skipped", flush=True)
      continue
    if prev and prev.get("rc") != 0:   # kept: what broke is part of the rehearsal
      k = len(results.setdefault("failed_attempts", []))
      results["failed_attempts"].append(dict(prev, stage=name, attempt=k))
      log = Path(args.work) / "logs" / f"{name}.log"
      if log.exists():
        os.replace(log, log.with_name(f"{name}.attempt{k}.log"))
      if name.startswith("train_") and Path(st["out"]).exists():   # a new config, a new run
        os.replace(st["out"], f"{st['out']}.attempt{k}")
    if st.get("prepare"):
      st["prepare"]()
    print(f"{name}: {shlex.join(map(str, st['cmd']))}", flush=True)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    m = run_measured(st["cmd"], Path(args.work) / "logs" / f"{name}.log")
    m.update(started=started, cmd=shlex.join(map(str, st["cmd"])), dataset=st["dataset"],
             disk_mb=round(disk_bytes(st["out"]) / 2**20, 1), files=named_sizes(st["out"]))
    if name.startswith("generate_"):
      m["frames"] = frames_written(Path(args.work) / "raw", st["dataset"])
    elif name.startswith("build_"):
      m["frames"] = _frames_of_build(st["data_dir"], st["dataset"])
      m["frames_read"] = frames_in_tree(st["cmd"])
    else:
      m.update(outputs_facts(name, st["out"]))
    results["stages"][name] = m
    save(Path(args.results), results)
    print(f"{name}: rc={m['rc']} wall={m['wall_s']} s cpu={m['cpu_s']} s "
          f"rss={m['peak_rss_tree_mb']} MB disk={m['disk_mb']} MB", flush=True)
  return results


def extrapolate(results: dict) -> list[dict]:
  """Linear in frames, per stage whose cost follows the frames it reads.

  generate / build / predict: wall, CPU and disk x full frames / frames (a build:
  the frames of the tree it reads, detected or not; predict: the frames of every
  DISFA video). predict_marginal: start-up taken out, from the two prediction runs
  (3 and 27 videos): full = the 3-video run + the cost per further frame x the
  further frames. train: its time is set by its step count, not extrapolated; its
  test_predictions.npz x full / generated frames (the test split grows with the
  dataset).
  """
  rows = []
  stages_ = results.get("stages", {})
  gen = {s["dataset"]: s.get("frames") for n, s in stages_.items() if n.startswith("generate_")}
  for name, s in stages_.items():
    ds = "disfa" if name.startswith("predict_") else s.get("dataset")
    if s.get("rc") != 0 or ds not in FULL_FRAMES:
      continue
    if name.startswith("train_"):
      npz = s.get("files", {}).get("test_predictions.npz")
      if npz and gen.get(ds):
        k = FULL_FRAMES[ds] / gen[ds]
        rows.append(dict(stage=name, frames=gen[ds], full_frames=FULL_FRAMES[ds],
                         full_test_predictions_mb=round(npz * k / 2**20, 1)))
      continue
    frames = s.get("frames_read") or s.get("frames")
    if not frames:
      continue
    k = FULL_FRAMES[ds] / frames
    rows.append(dict(stage=name, frames=frames, full_frames=FULL_FRAMES[ds],
                     full_wall_h=round(s["wall_s"] * k / 3600, 2),
                     full_cpu_h=round(s["cpu_s"] * k / 3600, 2),
                     full_disk_gb=round(s["disk_mb"] * k / 1024, 1)))
  a, b = stages_.get("predict_plain"), stages_.get("predict_plain_all")
  if (a and b and a.get("rc") == 0 and b.get("rc") == 0 and a.get("frames")
      and b.get("frames", 0) > a["frames"]):
    extra = FULL_FRAMES["disfa"] - a["frames"]
    per = lambda key: (b[key] - a[key]) / (b["frames"] - a["frames"])
    rows.append(dict(stage="predict_marginal", frames=b["frames"], full_frames=FULL_FRAMES["disfa"],
                     full_wall_h=round((a["wall_s"] + per("wall_s") * extra) / 3600, 2),
                     full_cpu_h=round((a["cpu_s"] + per("cpu_s") * extra) / 3600, 2),
                     full_disk_gb=round(b["disk_mb"] / b["frames"] * FULL_FRAMES["disfa"] / 1024,
                                        2)))
  return rows


def table(results: dict) -> str:
  lines = [("| stage | rc | frames | wall s | CPU s | peak RSS MB (process / tree) | disk MB | "
            "named outputs (bytes) |"), "|---|---|---|---|---|---|---|---|"]
  for name, s in results.get("stages", {}).items():
    files = ", ".join(f"{k} {v}" for k, v in sorted(s.get("files", {}).items()) if "/" not in k)
    lines.append(f"| {name} | {s['rc']} | {s.get('frames', s.get('videos', ''))} | {s['wall_s']} | "
                 f"{s['cpu_s']} | {s['peak_rss_process_mb']} / {s['peak_rss_tree_mb']} | "
                 f"{s['disk_mb']} | {files} |")
  lines += ["", ("| stage | frames | full frames | full wall h | full CPU h | full disk GB | "
                 "full test_predictions.npz MB |"), "|---|---|---|---|---|---|---|"]
  for r in extrapolate(results):
    lines.append(f"| {r['stage']} | {r['frames']} | {r['full_frames']} | "
                 f"{r.get('full_wall_h', '')} | {r.get('full_cpu_h', '')} | "
                 f"{r.get('full_disk_gb', '')} | {r.get('full_test_predictions_mb', '')} |")
  return "\n".join(lines)


def main(argv=None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--work", default="/tmp/rehearsal", help="raw trees, builds, runs, logs")
  ap.add_argument("--frame_fraction", type=float, default=0.01)
  ap.add_argument("--steps", type=int, default=3, help="training steps (per stage for DSIN)")
  ap.add_argument("--predict_config", default="gudi_fera2015", help="the run predict uses")
  ap.add_argument("--predict_videos", type=int, default=3)
  ap.add_argument("--results", default=str(RESULTS))
  ap.add_argument("--beam_python", default="",
                  help="the Python of an environment with apache-beam (the [beam] extra) for the "
                       "Beam stages (default: this one)")
  ap.add_argument("--only", default="", help="comma-separated stage names (default: all)")
  ap.add_argument("--redo", default="", help="comma-separated stage names to rerun")
  ap.add_argument("--summary", action="store_true", help="print the table and stop")
  ap.add_argument("--compare", action="store_true",
                  help="compare the Beam builds' records with the single-process build's, record "
                       "the differences (beam_vs_single) and stop")
  args = ap.parse_args(argv)
  if not 1 <= args.predict_videos <= 9:
    ap.error("--predict_videos must be 1..9 (DISFA's SN001..SN009)")
  if args.compare:
    results = load(Path(args.results))
    results["beam_vs_single"] = {ds: compare_builds(Path(args.work), ds)
                                 for ds in ("disfa", "bp4d")}
    save(Path(args.results), results)
    print(json.dumps(results["beam_vs_single"], indent=1))
    return
  if args.summary:   # also reads back the output facts of stages recorded without them
    results = load(Path(args.results))
    for name, st in stages(args):
      if name in results.get("stages", {}) and not name.startswith("generate_"):
        if name.startswith("build_"):
          results["stages"][name]["frames_read"] = frames_in_tree(st["cmd"])
        else:
          results["stages"][name].update(outputs_facts(name, st["out"]))
    save(Path(args.results), results)
    print(table(results))
    return
  print(table(run(args)))


if __name__ == "__main__":
  main()
