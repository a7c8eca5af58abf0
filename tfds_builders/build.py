"""Builds an AU dataset (a licensed one from its raw tree), without `tfds build` or TF.

  python -m tfds_builders.build disfa --manual_dir=/data/DISFA --data_dir=~/tensorflow_datasets
  python -m tfds_builders.build semaine/segment --manual_dir=/data/FERA2015_SEMAINE
  python -m tfds_builders.build bp4d --manual_dir=/data/BP4D --frame_step=10 --image_size=128
  python -m tfds_builders.build bp4d --manual_dir=/data/BP4D --beam_workers=8
  python -m tfds_builders.build synthetic_au/disfa_like_large --beam_workers=8

NAME[/CONFIG] picks a builder and one of its named configs (default:
"default", synthetic_au's "disfa_like"). --image_size, --frame_step,
--alignment, --missing_landmarks and --detector override fields of that
config (those it has); the overridden config gets a name that encodes them,
so builds with different settings live side by side. A licensed dataset
needs --manual_dir (missing or empty: its download instructions are
printed); synthetic_au is generated and takes none.
After the build the skip report (what was tolerated or skipped, with counts)
is printed; it is also stored in the dataset's metadata ("build_report").

Unreadable raw files (a malformed label line, a zero-byte video, a corrupt
image) skip the frame, sequence or subject that needs them; each one is
counted and listed with its file (and line) in the report. --strict stops the
build at the first one instead, naming the file and line.

Beam (pip install 'au-jax[beam]'): --beam_workers=N builds the subjects as
one Apache Beam pipeline on this machine (DirectRunner, N worker processes,
one work item per subject); --beam_pipeline_options="runner=...,..." passes
any Beam pipeline options instead (Dataflow, Flink, Spark: docs/scaling.md).
The records and the skip report are those of the single-process build; a
subject left without any record fails a Beam build, naming the subject.

Rebuilds: the metadata records the source of a build ("source": the absolute
--manual_dir and a fingerprint of its top two levels, see
raw_utils.describe_source). Running the same command again reuses the
dataset; a different --manual_dir, or one whose content changed, is refused
(the data_dir would silently keep the old records): pass --overwrite to
rebuild, or another --data_dir to keep both.

Interrupted builds are safe to rerun: TFDS writes into an `incomplete.*`
folder and renames it only when the build finished, and a rerun ignores such
folders; this CLI deletes stale ones of the same config before building
(do not run two builds of the same config into one data_dir at once).
--overwrite first renames the old dataset to `incomplete.*` (one atomic
step), then deletes it and builds: a kill at any point leaves no folder that
looks like a finished build.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import shutil
from pathlib import Path

from au_jax.errors import run_cli
from au_jax.io import positive_int

BUILDERS = {  # name -> (module, class)
    "disfa": ("tfds_builders.disfa", "Disfa"),
    "bp4d": ("tfds_builders.bp4d", "Bp4d"),
    "semaine": ("tfds_builders.semaine", "Semaine"),
    "unbc_mcmaster": ("tfds_builders.unbc_mcmaster", "UnbcMcmaster"),
    "ckplus": ("tfds_builders.ckplus", "Ckplus"),
    "synthetic_au": ("tfds_builders.synthetic_au", "SyntheticAu"),
}
OVERRIDES = ("image_size", "frame_step", "alignment", "missing_landmarks", "detector")


def check_overrides(overrides) -> None:
  """Refuses invalid config overrides up front (also for callers of build())."""
  from au_jax.face.align import REGISTRATIONS  # pylint: disable=g-import-not-at-top
  for k in ("image_size", "frame_step"):
    v = overrides.get(k)
    if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
      raise SystemExit(f"--{k} must be a positive integer, got {v!r}")
  if overrides.get("alignment") not in (None, *REGISTRATIONS):
    raise SystemExit(f"--alignment {overrides['alignment']!r} is unknown; "
                     f"choose from {sorted(REGISTRATIONS)}")


def builder_class(name: str):
  if name not in BUILDERS:
    raise SystemExit(f"unknown dataset {name!r}; choose from {sorted(BUILDERS)}")
  module, cls = BUILDERS[name]
  return getattr(importlib.import_module(module), cls)


def make_config(cls, config_name: str | None, **overrides):
  """The named config of cls, with overrides applied (renamed when changed)."""
  configs = {c.name: c for c in cls.BUILDER_CONFIGS}
  name = config_name or ("default" if "default" in configs else cls.BUILDER_CONFIGS[0].name)
  if name not in configs:
    raise SystemExit(f"{cls.name} has no config {name!r}; choose from {sorted(configs)}")
  base = configs[name]
  for k, v in overrides.items():
    if v is not None and not hasattr(base, k):
      raise SystemExit(f"--{k} does not apply to {cls.name}")
  changed = {k: v for k, v in overrides.items() if v is not None and getattr(base, k) != v}
  if not changed:
    return base
  suffix = "_".join(f"{k}{v}" for k, v in sorted(changed.items()))
  return dataclasses.replace(base, name=f"{base.name}_{suffix}", **changed)


def remove_stale_incomplete(builder) -> list[str]:
  """Deletes `incomplete.*` folders a killed build of this config left behind."""
  parent = Path(builder.data_dir).parent
  stale = sorted(p for p in parent.glob("incomplete.*") if p.is_dir()) if parent.exists() else []
  for p in stale:
    shutil.rmtree(p)
  return [str(p) for p in stale]


def discard_built(builder) -> str:
  """Takes a finished build out of sight atomically, then deletes it."""
  path = Path(builder.data_dir)
  doomed = path.with_name(f"incomplete.overwritten.{os.getpid()}")
  os.replace(path, doomed)  # from here on, nothing looks finished
  shutil.rmtree(doomed)
  return str(path)


def check_source(builder, source: dict, label: str) -> None:
  """Refuses to reuse a build made from another raw tree (see the module doc)."""
  old = builder.info.metadata.get("source")
  if old is None:
    print(f"{label}: reusing the build in {builder.data_dir}; it was made before sources "
          f"were recorded (--overwrite rebuilds it from --manual_dir)")
    return
  if old.get("manual_dir") != source["manual_dir"]:
    raise SystemExit(
        f"{label} in {builder.data_dir} was built from {old.get('manual_dir')}, "
        f"not from --manual_dir {source['manual_dir']}.\n"
        f"Rebuild it with --overwrite, or build into another --data_dir.")
  if old.get("fingerprint") != source["fingerprint"]:
    raise SystemExit(
        f"{label} in {builder.data_dir} was built from {source['manual_dir']} when its "
        f"content differed (fingerprint {old.get('fingerprint')}, now {source['fingerprint']}).\n"
        f"Rebuild it with --overwrite, or build into another --data_dir.")
  print(f"{label}: already built from {source['manual_dir']}; reusing it (--overwrite rebuilds)")


def beam_options(beam_workers: int | None = None, pipeline_options: str | None = None):
  """Beam PipelineOptions of a build, or None for a single-process build.

  beam_workers: DirectRunner with that many worker processes on this
  machine. pipeline_options: "key=value,..." Beam options (e.g.
  "runner=FlinkRunner,flink_master=host:8081"), used as given.
  """
  if beam_workers is None and not pipeline_options:
    return None
  from tfds_builders import common  # pylint: disable=g-import-not-at-top
  try:
    beam = common.beam_module()
  except ImportError as e:
    raise SystemExit(str(e)) from None
  flags = [f"--{o.strip()}" for o in (pipeline_options or "").split(",") if o.strip()]
  if beam_workers is not None:
    if beam_workers > 1:   # worker processes import the builders as this process does
      _export_import_root()
    flags += ["--runner=DirectRunner", f"--direct_num_workers={beam_workers}",
              "--direct_running_mode=" + ("multi_processing" if beam_workers > 1
                                          else "in_memory")]
  return beam.options.pipeline_options.PipelineOptions(flags)


def _export_import_root() -> None:
  """Puts the folder holding tfds_builders and au_jax on PYTHONPATH (inherited by the
  DirectRunner's worker processes), so that a checkout works from any directory."""
  root = str(Path(__file__).resolve().parent.parent)
  paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
  if root not in paths:
    os.environ["PYTHONPATH"] = os.pathsep.join([root, *paths])


def build(name: str, manual_dir: str, data_dir: str, config: str | None = None, *,
          overwrite: bool = False, strict: bool = False, beam_workers: int | None = None,
          beam_pipeline_options: str | None = None, **overrides):
  """Builds and returns the (reloaded) builder; raises SystemExit on bad input.

  An existing build of the same config is reused when it was made from the
  same source, refused when not, and rebuilt with overwrite=True. strict:
  stop at the first unreadable raw file (see raw_utils.RawAUBuilder).
  beam_workers / beam_pipeline_options: build with Apache Beam (`beam_options`).
  """
  cls = builder_class(name)
  check_overrides(overrides)
  options = beam_options(beam_workers, beam_pipeline_options)
  if not generated(cls):
    manual = _checked_manual_dir(cls, manual_dir)
  elif manual_dir:
    raise SystemExit(f"{cls.name} is generated, not read from a raw tree: leave out --manual_dir")
  else:
    manual = None
  cfg = make_config(cls, config, **overrides)
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  from tfds_builders import raw_utils  # pylint: disable=g-import-not-at-top
  data_dir = os.path.expanduser(data_dir)
  label = f"{cls.name}/{cfg.name}"
  init = {} if manual is None else {"strict": strict}
  builder = cls(data_dir=data_dir, config=cfg, **init)
  for p in remove_stale_incomplete(builder):
    print(f"removed the leftover of an interrupted build: {p}")
  if builder.is_prepared():
    if overwrite:
      print(f"{label}: deleted the previous build {discard_built(builder)} (--overwrite)")
      builder = cls(data_dir=data_dir, config=cfg, **init)
    elif manual is None:   # generated deterministically from the config
      print(f"{label}: already built in {builder.data_dir}; reusing it (--overwrite rebuilds)")
    else:
      check_source(builder, raw_utils.describe_source(manual), label)
  if options is not None and not builder.is_prepared():
    from tfds_builders import common  # pylint: disable=g-import-not-at-top
    common.use_beam(builder)
  try:
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=None if manual is None else str(manual), beam_options=options))
  except raw_utils.RawFormatError as e:
    hint = ("\n--strict: the build stopped here; without --strict this file would be "
            "skipped and counted." if strict and e.path != manual else "")
    raise SystemExit(f"{e}{hint}") from None
  except RuntimeError as e:   # a Beam worker's failure: the line that names the subject
    if options is None:
      raise
    lines = [ln for ln in str(e).splitlines() if ": subject " in ln]
    raise SystemExit(lines[-1].split("RuntimeError: ")[-1] if lines else str(e)) from None
  builder = cls(data_dir=data_dir, config=cfg)
  print(f"\n{cls.name}/{cfg.name}: {builder.data_dir}")
  for split, info in sorted(builder.info.splits.items()):
    print(f"  {split:>14s} {info.num_examples:8d} frames")
  print("skipped / tolerated:\n" + raw_utils.format_report(builder.info.metadata.get("build_report", {})))
  return builder


def generated(cls) -> bool:
  """True for a builder that reads no raw tree (synthetic_au)."""
  return not getattr(cls, "MANUAL_DOWNLOAD_INSTRUCTIONS", None)


def _checked_manual_dir(cls, manual_dir: str | None) -> Path:
  """The licensed dataset's --manual_dir, or SystemExit with its instructions."""
  if not manual_dir:
    raise SystemExit(f"{cls.name} is built from your copy of the dataset: give its folder "
                     f"as --manual_dir.\n\n{cls.MANUAL_DOWNLOAD_INSTRUCTIONS}")
  manual = Path(os.path.expanduser(manual_dir))
  if not manual.exists():
    raise SystemExit(f"--manual_dir {manual_dir!r} is missing or empty.\n\n"
                     f"{cls.MANUAL_DOWNLOAD_INSTRUCTIONS}")
  if not manual.is_dir():
    raise SystemExit(f"--manual_dir {manual_dir!r} is a file, not the dataset's folder.\n\n"
                     f"{cls.MANUAL_DOWNLOAD_INSTRUCTIONS}")
  if not any(manual.iterdir()):
    raise SystemExit(f"--manual_dir {manual_dir!r} is missing or empty.\n\n"
                     f"{cls.MANUAL_DOWNLOAD_INSTRUCTIONS}")
  return manual


def main(argv=None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("name", help="dataset[/config], e.g. disfa or semaine/segment")
  ap.add_argument("--manual_dir", help="a licensed dataset's raw tree (see its instructions); "
                                      "synthetic_au takes none")
  ap.add_argument("--data_dir", default="~/tensorflow_datasets")
  ap.add_argument("--image_size", type=positive_int)
  ap.add_argument("--frame_step", type=positive_int, help="keep every k-th frame (fast experiments)")
  ap.add_argument("--alignment", help="au_jax.face.align registration (default similarity)")
  ap.add_argument("--missing_landmarks", choices=("detect", "skip"))
  ap.add_argument("--detector", choices=("auto", "haar", "dlib"))
  ap.add_argument("--overwrite", action="store_true",
                  help="rebuild even if this config is already built in --data_dir")
  ap.add_argument("--strict", action="store_true",
                  help="stop at the first unreadable raw file instead of skipping it")
  ap.add_argument("--beam_workers", type=positive_int,
                  help="build with Apache Beam on this machine, N worker processes "
                       "(needs the [beam] extra)")
  ap.add_argument("--beam_pipeline_options",
                  help='Beam options "key=value,...", e.g. "runner=DataflowRunner,project=P,'
                       'region=R,temp_location=gs://B/tmp" (needs the [beam] extra)')
  args = ap.parse_args(argv)
  name, _, config = args.name.partition("/")
  build(name, args.manual_dir, args.data_dir, config or None, overwrite=args.overwrite,
        strict=args.strict, beam_workers=args.beam_workers,
        beam_pipeline_options=args.beam_pipeline_options,
        **{k: getattr(args, k) for k in OVERRIDES})


if __name__ == "__main__":
  run_cli(main)
