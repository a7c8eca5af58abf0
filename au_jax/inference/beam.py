"""Batch inference as an Apache Beam pipeline: one element per media file.

`python -m au_jax.predict --beam_workers=N` (or `--beam_pipeline_options=...`)
runs `au_jax.predict.write_csv_beam`, which uses this module:

  map_files   runs a per-file function over (path, part CSV) elements on Beam
              (DirectRunner on this machine; Dataflow / Flink / Spark with the
              same code) and returns one result per element, in element order.
              Each worker process loads the predictor once (`load_once`: a
              process-wide cache keyed by the pickled loader, filled on the
              worker's first file, shared by its threads) and reuses it for
              every file it is given, one file at a time per process. A file
              whose function raises becomes a result with its error; the others
              are kept.
  part_paths  where each input's own CSV goes: `<output>.per_input/` plus the
              input's path relative to the inputs' common folder, + ".csv".
  merge_csv   the merged table: the parts' rows in input order, under one
              header, written atomically.
  expand_globs  `--input 'videos/*.mp4'`: quoted patterns expanded in name order.

apache-beam is optional (the `[beam]` extra): this module imports it only when
a pipeline runs, so importing au_jax.predict never needs it. The per-file
function and the loader are passed in (and pickled to the workers by
reference), so this module sits below au_jax.predict.

Every worker reads the inputs and the workdir, and writes the per-input CSVs,
through ordinary file access: on a runner beyond this machine they must be at
the same absolute paths on the driver and on every worker (a shared mount).
"""
from __future__ import annotations

import glob
import json
import os
import pickle
import secrets
import threading
from typing import Callable, Sequence

from au_jax.errors import UserError
from au_jax.io import atomic_open

EXTRA = "pip install 'au-jax[beam]' (or: pip install apache-beam)"

_LOADED: dict[bytes, tuple[str, object]] = {}
_LOAD_LOCK = threading.Lock()
# One file at a time per process: a file's decoding redirects the process's fd 2
# (au_jax.predict's capture of OpenCV/FFmpeg messages), so two files in two threads
# of one worker (Dataflow and Flink run several) would mix their counts.
_WORK_LOCK = threading.Lock()
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def beam_module():
  """apache_beam, or a one-line UserError naming the [beam] extra."""
  try:
    import apache_beam  # pylint: disable=g-import-not-at-top (optional: the [beam] extra)
  except ImportError:
    raise UserError(f"predicting on Beam (--beam_workers, --beam_pipeline_options) needs "
                    f"apache-beam: {EXTRA}") from None
  return apache_beam


def pipeline_options(beam_workers: int | None = None, options: str | None = None):
  """Beam PipelineOptions: `beam_workers` worker processes of the DirectRunner on
  this machine (1: in this process), and/or `options`, "key=value,..." passed to
  Beam as given (e.g. "runner=FlinkRunner,flink_master=host:8081")."""
  beam = beam_module()
  flags = [f"--{o.strip()}" for o in (options or "").split(",") if o.strip()]
  if beam_workers is not None:
    if any(f.startswith("--runner=") for f in flags):
      raise UserError("--beam_workers runs the DirectRunner on this machine; for another "
                      "runner give --beam_pipeline_options alone")
    if beam_workers > 1:
      _export_import_root()
    flags += ["--runner=DirectRunner", f"--direct_num_workers={beam_workers}",
              "--direct_running_mode=" + ("multi_processing" if beam_workers > 1
                                          else "in_memory")]
    if not any(f.startswith("--default_sdk_harness_log_level=") for f in flags):
      flags.append("--default_sdk_harness_log_level=WARNING")   # the workers' INFO lines
  return beam.options.pipeline_options.PipelineOptions(flags)


def _export_import_root() -> None:
  """Puts the folder holding au_jax on PYTHONPATH (inherited by the DirectRunner's
  worker processes), so that a checkout works from any directory."""
  paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
  if _ROOT not in paths:
    os.environ["PYTHONPATH"] = os.pathsep.join([_ROOT, *paths])


def load_once(load: Callable[[], object]) -> tuple[str, object]:
  """("ok", load()) or ("error", its message), computed once per process for
  each distinct (pickled) loader; a loader that failed is not retried."""
  key = pickle.dumps(load)
  with _LOAD_LOCK:
    if key not in _LOADED:
      try:
        _LOADED[key] = ("ok", load())
      except Exception as e:  # pylint: disable=broad-except (reported by the driver)
        _LOADED[key] = ("error", _one_line(e))
    return _LOADED[key]


def _one_line(e: BaseException, limit: int = 300) -> str:
  text = str(e).strip().splitlines()
  text = text[0] if text else ""
  text = f"{type(e).__name__}: {text}" if not isinstance(e, UserError) else text
  return text[:limit]


def _run_element(element: tuple, load: Callable, work: Callable) -> str:
  """One element on a worker: {index, worker, **work(predictor, path, part)},
  or with "error" (the file failed) or "load_error" (the model did not load)."""
  index, (path, part) = element
  out = dict(index=index, worker=f"{os.uname().nodename}:{os.getpid()}")
  status, value = load_once(load)
  if status == "error":
    out["load_error"] = value
  else:
    try:
      with _WORK_LOCK:
        out.update(work(value, path, part))
    except Exception as e:  # pylint: disable=broad-except (one file never stops the run)
      out["error"] = _one_line(e)
  return json.dumps(out)


def map_files(load: Callable[[], object], work: Callable[[object, str, str], dict],
              elements: Sequence[tuple[str, str]], *, scratch: str,
              beam_workers: int | None = None, options: str | None = None) -> list[dict]:
  """Runs `work(predictor, path, part)` for every (path, part) element as a Beam
  pipeline; returns the results in element order.

  Args:
    load: picklable zero-argument function returning the predictor (called once
      per worker process).
    work: picklable function returning a JSON-able dict.
    scratch: a folder every worker and the driver can write (the results pass
      through a file there, removed at the end).
    beam_workers, options: see `pipeline_options`.
  """
  beam = beam_module()
  opts = pipeline_options(beam_workers, options)
  os.makedirs(scratch, exist_ok=True)
  results_path = os.path.join(scratch, f".results.{os.getpid()}.{secrets.token_hex(3)}.jsonl")
  try:
    with beam.Pipeline(options=opts) as p:
      _ = (p
           | "Files" >> beam.Create(list(enumerate(elements)))
           | "Spread" >> beam.Reshuffle()
           | "Predict" >> beam.Map(_run_element, load=load, work=work)
           | "Results" >> beam.io.WriteToText(results_path, num_shards=1,
                                              shard_name_template=""))
    with open(results_path) as f:
      results = {r["index"]: r for r in map(json.loads, filter(str.strip, f))}
  finally:
    if os.path.exists(results_path):
      os.remove(results_path)
  missing = [elements[i][0] for i in range(len(elements)) if i not in results]
  if missing:
    raise RuntimeError(f"the Beam pipeline returned no result for {len(missing)} file(s), "
                       f"e.g. {missing[0]}")
  return [results[i] for i in range(len(elements))]


def part_paths(paths: Sequence[str], folder: str) -> list[str]:
  """Each input's own CSV: `folder` / (its path relative to the inputs' common
  folder) + ".csv", e.g. a/clip.mp4 and b/clip.mp4 -> a/clip.mp4.csv and
  b/clip.mp4.csv; an input folder `photos` -> photos.csv. The same input named
  twice gets the same part."""
  absolute = [os.path.abspath(p) for p in paths]
  if not absolute:
    return []
  base = os.path.commonpath([os.path.dirname(a) for a in absolute])
  return [os.path.join(folder, os.path.relpath(a, base) + ".csv") for a in absolute]


def merge_csv(parts: Sequence[str], output: str) -> None:
  """`output` = the header of the first part, then every part's rows in order
  (byte for byte), written to a temporary file beside it and renamed.

  Raises:
    ValueError: the parts' headers differ.
  """
  header = None
  with atomic_open(output, "wb") as out:
    for part in parts:
      with open(part, "rb") as f:
        first = f.readline()
        if header is None:
          header = first
          out.write(first)
        elif first != header:
          raise ValueError(f"{part} has other columns than {parts[0]}")
        while block := f.read(1 << 20):
          out.write(block)


def expand_globs(inputs: Sequence[str]) -> list[str]:
  """Inputs with a glob pattern (`*`, `?`, `[`) that is not itself an existing path
  replaced by their matches in name order; a pattern without a match is kept
  (and reported as a missing input)."""
  out = []
  for path in inputs:
    pattern = any(c in path for c in "*?[") and not os.path.lexists(path)
    matches = sorted(glob.glob(path)) if pattern else []
    out += matches or [path]
  return out
