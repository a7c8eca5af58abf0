"""Builds a licensed AU dataset from its raw tree, without `tfds build` or TF.

  python -m tfds_builders.build disfa --manual_dir=/data/DISFA --data_dir=~/tensorflow_datasets
  python -m tfds_builders.build semaine/segment --manual_dir=/data/FERA2015_SEMAINE
  python -m tfds_builders.build bp4d --manual_dir=/data/BP4D --frame_step=10 --image_size=128

NAME[/CONFIG] picks a builder and one of its named configs (default:
"default"). --image_size, --frame_step, --alignment, --missing_landmarks and
--detector override fields of that config; the overridden config gets a name
that encodes them, so builds with different settings live side by side.
A missing or empty --manual_dir prints the dataset's download instructions.
After the build the skip report (what was tolerated or skipped, with counts)
is printed; it is also stored in the dataset's metadata ("build_report").

Interrupted builds are safe to rerun: TFDS writes into an `incomplete.*`
folder and renames it only when the build finished, and a rerun ignores such
folders; this CLI deletes stale ones of the same config before building
(do not run two builds of the same config into one data_dir at once).
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import shutil
import sys
from pathlib import Path

BUILDERS = {  # name -> (module, class)
    "disfa": ("tfds_builders.disfa", "Disfa"),
    "bp4d": ("tfds_builders.bp4d", "Bp4d"),
    "semaine": ("tfds_builders.semaine", "Semaine"),
    "unbc_mcmaster": ("tfds_builders.unbc_mcmaster", "UnbcMcmaster"),
    "ckplus": ("tfds_builders.ckplus", "Ckplus"),
}
OVERRIDES = ("image_size", "frame_step", "alignment", "missing_landmarks", "detector")


def builder_class(name: str):
  if name not in BUILDERS:
    raise SystemExit(f"unknown dataset {name!r}; choose from {sorted(BUILDERS)}")
  module, cls = BUILDERS[name]
  return getattr(importlib.import_module(module), cls)


def make_config(cls, config_name: str | None, **overrides):
  """The named config of cls, with overrides applied (renamed when changed)."""
  configs = {c.name: c for c in cls.BUILDER_CONFIGS}
  name = config_name or "default"
  if name not in configs:
    raise SystemExit(f"{cls.name} has no config {name!r}; choose from {sorted(configs)}")
  base = configs[name]
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


def build(name: str, manual_dir: str, data_dir: str, config: str | None = None,
          **overrides):
  """Builds and returns the (reloaded) builder; raises SystemExit on bad input."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from tfds_builders import raw_utils  # pylint: disable=g-import-not-at-top
  cls = builder_class(name)
  manual = Path(os.path.expanduser(manual_dir)) if manual_dir else None
  if manual is None or not manual.is_dir() or not any(manual.iterdir()):
    raise SystemExit(f"--manual_dir {manual_dir!r} is missing or empty.\n\n"
                     f"{cls.MANUAL_DOWNLOAD_INSTRUCTIONS}")
  cfg = make_config(cls, config, **overrides)
  data_dir = os.path.expanduser(data_dir)
  builder = cls(data_dir=data_dir, config=cfg)
  for p in remove_stale_incomplete(builder):
    print(f"removed the leftover of an interrupted build: {p}")
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
  builder = cls(data_dir=data_dir, config=cfg)
  print(f"\n{cls.name}/{cfg.name}: {builder.data_dir}")
  for split, info in sorted(builder.info.splits.items()):
    print(f"  {split:>14s} {info.num_examples:8d} frames")
  print("skipped / tolerated:\n" + raw_utils.format_report(builder.info.metadata.get("build_report", {})))
  return builder


def main(argv=None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("name", help="dataset[/config], e.g. disfa or semaine/segment")
  ap.add_argument("--manual_dir", required=True, help="the raw tree (see the dataset's instructions)")
  ap.add_argument("--data_dir", default="~/tensorflow_datasets")
  ap.add_argument("--image_size", type=int)
  ap.add_argument("--frame_step", type=int, help="keep every k-th frame (fast experiments)")
  ap.add_argument("--alignment", help="au_jax.face.align registration (default similarity)")
  ap.add_argument("--missing_landmarks", choices=("detect", "skip"))
  ap.add_argument("--detector", choices=("auto", "haar", "dlib"))
  args = ap.parse_args(argv)
  name, _, config = args.name.partition("/")
  build(name, args.manual_dir, args.data_dir, config or None,
        **{k: getattr(args, k) for k in OVERRIDES})


if __name__ == "__main__":
  sys.exit(main())
