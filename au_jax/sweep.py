r"""Run one config over several folds (or any config arg) and report the mean.

  python -m au_jax.sweep --config=configs/dsin_bp4d.py --sweep=fold=1,2,3 --workroot=runs/dsin_folds
  python -m au_jax.sweep --config=configs/multilabel_disfa.py --sweep=protocol=loso75 \
      --workroot=runs/ml_disfa_loso            # leave-one-subject-out: every subject once

Each value runs `configs/x.py:<fixed args>,<key>=<value>` in its own workdir
`<workroot>/<key>=<value>/` through au_jax.experiment.train_and_evaluate, one after the
other, so the sweep resumes like any workdir (a finished fold is reused, an
interrupted one continues). `protocol=loso` expands to `loso:<subject>` for
every subject of the config's first dataset, `protocol=loso75` to
`loso75:<subject>` (validation = 25% of the other subjects by a seed, the
config's to set; see au_jax.data.sources.resolve_subjects). At the end (and after every
fold) `<workroot>/sweep.json` and `sweep.md` hold each fold's test means and,
per metric, the mean, sd and 95% t-interval over folds, plus the per-AU mean
over folds.
"""
from __future__ import annotations

import sys

if __name__ == "__main__":   # machine tuning before JAX starts, as launch.py does
  from au_jax import host_memory, xla_options
  xla_options.apply()                    # XLA:CPU's Eigen convolutions (au_jax/xla_options.py)
  host_memory.reexec_with_hugepages()    # huge pages for XLA:CPU's buffers (au_jax/host_memory.py)

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from au_jax import experiment  # noqa: E402
from au_jax.data import sources  # noqa: E402
from au_jax.errors import UserError  # noqa: E402
from au_jax.io import atomic_write  # noqa: E402


def _load(config_path: str, arg: str):
  """get_config(arg) of a config file given by path (`configs/x.py`) or module."""
  module = config_path[:-3].replace(os.sep, ".") if config_path.endswith(".py") else config_path
  return importlib.import_module(module).get_config(arg or None)


LOSO_FORMS = ("loso", "loso75")   # au_jax.data.sources.resolve_subjects


def expand(config_path: str, fixed: str, key: str, values: list[str]) -> list[str]:
  """The sweep's values; `protocol=loso` (or `loso75`) becomes `loso:<s>` (or
  `loso75:<s>`) for every subject of the first dataset."""
  if key == "protocol" and len(values) == 1 and values[0] in LOSO_FORMS:
    config = _load(config_path, fixed)
    src = dict(config.data.sources[0])
    builder = sources.get_builder(src["name"], config.data.get("data_dir"), src.get("manual_dir"))
    subjects = sources.resolve_subjects(dict(builder.info.metadata), "all", "train")
    return [f"{values[0]}:{s}" for s in subjects]
  return values


def summarise(folds: dict[str, dict]) -> dict:
  """Per-metric mean / sd / 95% interval over folds, and per-AU means."""
  names = list(folds)
  metrics = sorted({k for r in folds.values() for k in r["test"]["mean"]})
  out = {"folds": names, "mean": {}, "per_au_mean": {}}
  for m in metrics:
    v = np.array([folds[f]["test"]["mean"].get(m, np.nan) for f in names], float)
    v = v[np.isfinite(v)]
    n = len(v)
    sd = float(v.std(ddof=1)) if n > 1 else float("nan")
    half = float(stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n)) if n > 1 else float("nan")
    out["mean"][m] = {"mean": float(v.mean()) if n else float("nan"), "sd": sd,
                      "ci95": [float(v.mean()) - half, float(v.mean()) + half] if n else None,
                      "n": n}
  aus = list(next(iter(folds.values()))["test"]["per_au"])
  for au in aus:
    row = {}
    for m in metrics:
      v = [folds[f]["test"]["per_au"].get(au, {}).get(m) for f in names]
      v = [x for x in v if x is not None and np.isfinite(x)]
      if v:
        row[m] = float(np.mean(v))
    out["per_au_mean"][au] = row
  return out


def _markdown(config_path, key, folds, summary) -> str:
  metrics = list(summary["mean"])
  lines = [f"# Sweep of {config_path} over {key}", "",
           "| fold | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
  fmt = lambda x: "–" if x is None or not np.isfinite(x) else f"{x:.3f}"
  for f, r in folds.items():
    lines.append(f"| {f} | " + " | ".join(fmt(r["test"]["mean"].get(m)) for m in metrics) + " |")
  lines.append("| **mean** | " + " | ".join(
      f"{fmt(summary['mean'][m]['mean'])} ± {fmt(summary['mean'][m]['sd'])}" for m in metrics)
               + " |")
  return "\n".join(lines) + "\n"


def run(config_path: str, fixed: str, key: str, values: list[str], workroot: str) -> dict:
  values = expand(config_path, fixed, key, values)
  os.makedirs(workroot, exist_ok=True)
  folds = {}
  for value in values:
    arg = ",".join(a for a in (fixed, f"{key}={value}") if a)
    wd = os.path.join(workroot, f"{key}={value}".replace(":", "_"))
    # a config with retrain_on_validation reports the retrained model (au_jax.train.retrain)
    done = next((p for p in (os.path.join(wd, "retrain", "report.json"),
                             os.path.join(wd, "report.json")) if os.path.exists(p)), None)
    if done and os.path.exists(os.path.join(wd, "sweep_done")):
      report = json.load(open(done))
    else:
      print(f"[sweep] {config_path}:{arg} -> {wd}", flush=True)
      report = experiment.train_and_evaluate(_load(config_path, arg), wd)
      atomic_write(os.path.join(wd, "sweep_done"), "1\n")
    folds[f"{key}={value}"] = report
    summary = summarise(folds)
    atomic_write(os.path.join(workroot, "sweep.json"), json.dumps(
        {"config": config_path, "fixed_args": fixed, "key": key, "values": values,
         "summary": summary, "folds": {f: r["test"] for f, r in folds.items()}},
        indent=1, default=float))
    atomic_write(os.path.join(workroot, "sweep.md"), _markdown(config_path, key, folds, summary))
  return summary


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--config", required=True, help="configs/x.py, optionally :fixed,args")
  ap.add_argument("--sweep", required=True, help="key=v1,v2,... (or protocol=loso)")
  ap.add_argument("--workroot", required=True, help="folder for the per-fold workdirs")
  args = ap.parse_args(argv)
  path, _, fixed = args.config.partition(":")
  key, eq, values = args.sweep.partition("=")
  if not eq or not values:
    ap.error(f"--sweep must be key=v1,v2,..., got {args.sweep!r}")
  try:
    summary = run(path, fixed, key.strip(), [v.strip() for v in values.split(",") if v.strip()],
                  args.workroot)
  except (UserError, KeyError, ModuleNotFoundError) as e:
    print(f"au_jax.sweep: {e.args[0] if e.args else e}", file=sys.stderr)
    return 2
  print(open(os.path.join(args.workroot, "sweep.md")).read())
  return 0 if summary else 1


# The dataset builders launch.py registers, so that the command line, like
# launch.py, builds a dataset on first use. tfds_builders sits above au_jax:
# it is loaded by name, as the config file is.
BUILDERS = ("bp4d", "ckplus", "disfa", "semaine", "synthetic_au", "unbc_mcmaster")


def register_builders() -> None:
  for name in BUILDERS:
    importlib.import_module(f"tfds_builders.{name}")


if __name__ == "__main__":
  register_builders()
  sys.exit(main())
