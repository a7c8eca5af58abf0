r"""lambda of Eq. 11 per AU, tuned on validation: the CCNN paper's procedure.

Walecki et al. (CVPR 2017, Sec. 3.3): "we tune the validation parameter
lambda_r separately for each AU" (Alg. 1 step 2: lambda_q ||phi_q||^2); the
paper gives neither the grid nor the values. Here: one training per lambda of
a grid (the same lambda for every AU), each in its own workdir; per AU the
lambda whose run has the best VALIDATION metric (report.json "validation"
section; test is never read); then the final model with that lambda per AU.

Two entry points share the functions below:

- a config with `config.lambda_tuning = dict(grid=(...), metric="icc")`
  (the default of configs/ccnn_disfa.py, ccnn_fera2015.py, ccnn_multi.py):
  `au_jax.train.retrain.train_and_retrain(config, W)` comes here
  (`train_and_evaluate`), trains the grid in `W/lambda_tuning/lam_<v>/`,
  writes `W/lambda_tuning/lambdas.json`, trains the final model in W and adds
  the choice and the validation table to W/report.{json,md};
- benchmarks/ccnn_tune_lambda.py: the grid and the JSON only (`grid_runs`,
  `select_lambdas`, `write_json`), for `lambda_file=`.

Every step resumes: a grid run with a report.json (and the same config) is
reused, an interrupted one continues from its checkpoint, lambdas.json is
rewritten (atomically) from the grid's reports, the final run resumes as any
workdir. Cost: len(grid) + 1 trainings.
"""
from __future__ import annotations

import json
import math
import os

import jax
import ml_collections

from au_jax import evaluate
from au_jax.errors import ConfigValueError, WorkdirError
from au_jax.io import atomic_write
from au_jax.train import distributed, loop, retrain, validate
from au_jax.train.workdir import WorkdirLock, config_differences

DEFAULT_GRID = (0.0, 1e-5, 1e-4, 1e-3, 1e-2)
TUNING_DIR = "lambda_tuning"
LAMBDAS_FILE = "lambdas.json"
DIVERGED_FILE = "diverged.txt"
# per-AU validation metrics: +1 higher is better, -1 lower is better
METRICS = {"icc": 1, "pcc": 1, "mae": -1, "mse": -1}
SELECTION = "per AU, the best validation {metric} (Walecki et al. Sec. 3.3)"


def run_dir(workroot: str, lam: float) -> str:
  """The workdir of the grid run with one `lam` for every AU."""
  return os.path.join(workroot, f"lam_{lam:g}")


def select_lambdas(reports: dict[float, dict], metric: str = "icc") -> dict:
  """Per AU, the lambda whose run has the best validation `metric`.

  Args:
    reports: lambda -> report.json dict (reads `aus` and
      `validation.per_au[AU][metric]` only; never `test`). A run without
      validation values (diverged) has an empty `validation.per_au`.
    metric: a per-AU validation metric of METRICS (icc, pcc: higher is
      better; mae, mse: lower).

  Returns:
    dict: `aus` (report order), `lambda` [A] chosen per AU, `validation`
    {AU label: {lambda: value}}. Ties go to the smaller lambda; an AU with
    no finite value takes the lambda with the best mean validation value.
  """
  if metric not in METRICS:
    raise ConfigValueError(f"lambda_tuning.metric {metric!r} unknown; use one of {list(METRICS)}")
  sign = METRICS[metric]
  grid = sorted(reports)
  scored = [r for r in (reports[lam] for lam in grid) if r["validation"]["per_au"]]
  if not scored:
    raise ConfigValueError(f"no lambda of the grid {grid} has validation results (every run "
                           f"diverged): lower the learning rate or change the grid")
  first = scored[0]
  labels = list(first["validation"]["per_au"])

  def value(lam, label):
    v = reports[lam]["validation"]["per_au"].get(label, {}).get(metric, math.nan)
    return float(v) if v is not None and math.isfinite(v) else math.nan

  def mean(lam):
    vals = [sign * value(lam, a) for a in labels if math.isfinite(value(lam, a))]
    return sum(vals) / len(vals) if vals else -math.inf

  fallback = max(grid, key=lambda lam: (mean(lam), -lam))
  chosen, table = [], {}
  for label in labels:
    table[label] = {lam: value(lam, label) for lam in grid}
    finite = [lam for lam in grid if math.isfinite(table[label][lam])]
    chosen.append(max(finite, key=lambda lam: (sign * table[label][lam], -lam))
                  if finite else fallback)
  return {"aus": list(first["aus"]), "lambda": chosen, "validation": table}


def grid_runs(make_config, grid, workroot: str, log=print) -> dict[float, dict]:
  """Train (or reuse) one run per lambda of `grid` under `workroot`.

  make_config(lam) -> the config of that run. A run whose workdir holds a
  report.json and the same config (au_jax.train.workdir) is reused without
  loading a model; any other is handed to the engine, which resumes it from
  its checkpoint (or refuses a changed config, naming the keys). A run that
  diverges (loop.TrainingDiverged) is recorded in its workdir's diverged.txt
  and counts as having no validation values, so a rerun does not repeat it.
  Returns lambda -> report dict.
  """
  reports = {}
  for lam in sorted(float(x) for x in grid):
    wd = run_dir(workroot, lam)
    config = make_config(lam)
    path = os.path.join(wd, "report.json")
    diverged = os.path.join(wd, DIVERGED_FILE)
    if _finished(config, wd, (path, diverged)):
      log(f"[lambda] lambda={lam:g}: reusing {wd}")
    else:
      log(f"[lambda] lambda={lam:g}: training in {wd}")
      try:
        retrain.train_and_retrain(config, wd)
      except loop.TrainingDiverged as e:
        if distributed.is_writer():   # one process writes a multi-process run's files
          os.makedirs(wd, exist_ok=True)
          atomic_write(diverged, f"{e}\n")
        distributed.barrier("au_jax: lambda run marked diverged")
        log(f"[lambda] lambda={lam:g} diverged ({e}); it is left out of the selection")
    if os.path.exists(path) and not os.path.exists(diverged):
      with open(path) as f:
        reports[lam] = json.load(f)
    else:
      reports[lam] = {"aus": [], "validation": {"per_au": {}}, "diverged": True}
  return reports


def _finished(config, wd: str, done_files) -> bool:
  saved = os.path.join(wd, "config.json")
  if not any(os.path.exists(p) for p in done_files) or not os.path.exists(saved):
    return False
  try:
    with open(saved) as f:
      old = json.load(f)
  except (OSError, json.JSONDecodeError):
    return False   # the engine names the damaged file
  return not config_differences(old, json.loads(config.to_json_best_effort()))


def write_json(path: str, result: dict) -> None:
  """The selection as JSON (atomic); float keys of the validation table as
  strings, NaN as NaN (as json writes it)."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  atomic_write(path, json.dumps(result, indent=1))


def tuning_spec(spec) -> tuple[tuple[float, ...], str]:
  """(grid, metric) of `config.lambda_tuning`; a bad value fails naming it."""
  spec = dict(spec)
  extra = sorted(set(spec) - {"grid", "metric"})
  if extra:
    raise ConfigValueError(f"config.lambda_tuning has unknown key {extra[0]!r}; allowed: "
                           f"['grid', 'metric']")
  try:
    grid = tuple(sorted({float(x) for x in spec.get("grid", DEFAULT_GRID)}))
  except (TypeError, ValueError):
    raise ConfigValueError(f"config.lambda_tuning.grid must be numbers, got "
                           f"{spec.get('grid')!r}") from None
  if len(grid) < 2 or any(not math.isfinite(x) or x < 0 for x in grid):
    raise ConfigValueError(f"config.lambda_tuning.grid must hold >= 2 distinct finite lambdas "
                           f">= 0, got {spec.get('grid')!r}")
  metric = str(spec.get("metric", "icc"))
  if metric not in METRICS:
    raise ConfigValueError(f"config.lambda_tuning.metric {metric!r} unknown; use one of "
                           f"{list(METRICS)}")
  return grid, metric


def with_lambda(config, lam, drop=("lambda_tuning",)) -> ml_collections.ConfigDict:
  """A copy of `config` with config.model.unary_l2 = lam (a scalar or one per
  AU) and without the keys `drop`."""
  d = config.to_dict()
  for key in drop:
    d.pop(key, None)
  d["model"]["unary_l2"] = tuple(float(x) for x in lam) if isinstance(lam, (list, tuple)) \
      else float(lam)
  return ml_collections.ConfigDict(d)


def train_and_evaluate(config, workdir: str) -> dict:
  """The paper's procedure as one resumable run (see the module docstring);
  reached from au_jax.experiment.train_and_evaluate when the config has
  `lambda_tuning`. Returns the final run's report, with `lambda_tuning`."""
  spec = config.get("lambda_tuning")
  if not spec:   # present but off: the plain run
    d = config.to_dict()
    d.pop("lambda_tuning", None)
    return retrain.train_and_retrain(ml_collections.ConfigDict(d), workdir)
  grid, metric = tuning_spec(spec)
  if config.model.get("name") != "ccnn":
    raise ConfigValueError(f"config.lambda_tuning is for the CCNN's unary_l2; "
                           f"config.model.name is {config.model.get('name')!r}")
  if not workdir or not str(workdir).strip():
    raise WorkdirError("--workdir is empty: name the run directory (it is created)")
  workdir = os.path.abspath(os.path.expanduser(workdir))
  base = with_lambda(config, grid[0])
  validate.check_config(base)       # before any training
  _check_final_workdir(base, workdir)
  root = os.path.join(workdir, TUNING_DIR)
  try:
    os.makedirs(root, exist_ok=True)
  except OSError as e:
    raise WorkdirError(f"cannot create {root}: {e.strerror}") from None
  lock = WorkdirLock(root, jax.process_index())   # each process of a run holds its own
  lock.acquire()
  try:
    print(f"[lambda] tuning lambda per AU on validation {metric} (Walecki et al. Sec. 3.3): "
          f"{len(grid)} runs in {root}, then the final run", flush=True)
    reports = grid_runs(lambda lam: with_lambda(config, lam), grid, root,
                        log=lambda m: print(m, flush=True))
    sel = select_lambdas(reports, metric)
    result = {"grid": list(grid), "metric": metric,
              "selection": SELECTION.format(metric=metric), "workroot": root, **sel}
    if distributed.is_writer():
      write_json(os.path.join(root, LAMBDAS_FILE), result)
  finally:
    lock.release()
  report = retrain.train_and_retrain(with_lambda(config, sel["lambda"]), workdir)
  report["lambda_tuning"] = dict(
      grid=list(grid), metric=metric, selection=result["selection"],
      file=os.path.join(TUNING_DIR, LAMBDAS_FILE),
      runs={f"{lam:g}": os.path.relpath(run_dir(root, lam), workdir) for lam in grid},
      diverged=[lam for lam in grid if reports[lam].get("diverged")],
      **{"lambda": dict(zip(sel["validation"], sel["lambda"]))},
      validation={a: {f"{lam:g}": v for lam, v in row.items()}
                  for a, row in sel["validation"].items()})
  if distributed.is_writer():
    evaluate.write_report(workdir, report, plots=bool(config.eval.get("plots", True)))
    md_path = os.path.join(workdir, "report.md")
    with open(md_path) as f:
      md = f.read()
    atomic_write(md_path, md.rstrip("\n") + "\n\n" + markdown(report["lambda_tuning"]))
  distributed.barrier("au_jax: lambda tuning written")
  return report


def markdown(tuning: dict) -> str:
  """The report.md section: validation metric per AU and lambda, the choice in bold."""
  grid = tuning["grid"]
  lines = [f"## lambda of Eq. 11 per AU, tuned on validation {tuning['metric']}", "",
           f"{tuning['selection']}; one run per lambda in {TUNING_DIR}/lam_<lambda>/, the choice "
           f"in {tuning['file']}." + (f" Diverged (left out): "
                                       f"{', '.join(f'{x:g}' for x in tuning['diverged'])}."
                                       if tuning["diverged"] else ""), "",
           "| AU | " + " | ".join(f"lambda={x:g}" for x in grid) + " | chosen |",
           "|---" * (len(grid) + 2) + "|"]
  for au, chosen in tuning["lambda"].items():
    row = tuning["validation"][au]
    cells = []
    for x in grid:
      v = row.get(f"{x:g}", math.nan)
      text = "–" if v is None or not math.isfinite(v) else f"{v:.3f}"
      cells.append(f"**{text}**" if x == chosen else text)
    lines.append(f"| {au} | " + " | ".join(cells) + f" | {chosen:g} |")
  return "\n".join(lines) + "\n"


def _check_final_workdir(base, workdir: str) -> None:
  """Refuse before any training when W already holds a run that the final
  run could not resume: another config apart from lambda, or one scalar
  lambda (the old default) where tuning gives one per AU."""
  saved_path = os.path.join(workdir, "config.json")
  if not os.path.exists(saved_path) or validate.train_value(base.train, "allow_config_change"):
    return
  try:
    with open(saved_path) as f:
      saved = json.load(f)
  except (OSError, json.JSONDecodeError):
    return   # the engine names the damaged file
  diffs = [d for d in config_differences(saved, json.loads(base.to_json_best_effort()))
           if d[0] != "model.unary_l2"]
  lam = (saved.get("model") or {}).get("unary_l2")
  if not isinstance(lam, list):
    diffs.insert(0, ("model.unary_l2", lam, "one lambda per AU, tuned"))
  if diffs:
    shown = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in diffs[:4])
    raise WorkdirError(f"{workdir} was trained with another config ({shown}); tuning lambda "
                       f"per AU needs another --workdir (or config arg lam=<value> for one "
                       f"lambda)")
