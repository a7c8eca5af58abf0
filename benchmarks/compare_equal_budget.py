r"""The five methods at an equal training budget, and each paper's own recipe: two tables.

  python -m benchmarks.compare_equal_budget                            # 5 seeds, hours
  python -m benchmarks.compare_equal_budget --seeds=5,6,7              # other seeds
  python -m benchmarks.compare_equal_budget --table=paper_recipe       # each config unchanged
  python -m benchmarks.compare_equal_budget --summarise_only           # the table from the JSON
  python -m benchmarks.compare_equal_budget --runlocal --budget=96 --seeds=0 \
      --workroot=/tmp/eqb                                              # plumbing only, minutes

Every method trains on synthetic_au/disfa_like, protocol `default` (the same
16 training, 4 validation and 4 test subjects for every method and seed;
the heat-map method with its config arg `dataset=disfa_like`).

`--table=equal_budget` (the default) imposes on each method's synthetic
config, through launch.py's `--config.` overrides:
  - the same number of training images seen, `--budget` (64,000):
    images = sum of the gradient stages' steps x config.train.repeat x
    config.train.batch_size x config.model.train_copies. Each config keeps
    its own batch size (and copies, cycles); the steps are set so the
    product is the budget. A multi-stage schedule (DSIN's five stages of
    Alg. 1, CCNN-IT's three stages per cycle) keeps its proportions: every
    stage's steps are scaled by the same factor (largest-remainder rounding
    so the total is exact). Fit stages (DSIN's anchors, the multi-label
    QDA) take no gradient step and are left as they are;
  - model selection on validation by the task's metric
    (config.train.select_metric): ICC for the methods that predict
    intensity (CCNN-IT, the FERA 2015 CNN, the heat maps), F1 for those that
    predict occurrence only (DSIN, the multi-label CNN), among evaluations
    at every tenth of the budget (config.train.eval_every; DSIN selects
    among its last stage's evaluations, as its recipe does), no early
    stopping (config.train.patience = 0);
  - thresholds tuned per AU on validation F1 (config.eval.threshold_metric).
`--set=METHOD:KEY=VALUE` adds an override of one method's config (e.g.
`--set=gudi:config.train.batch_size=50`); the script then refuses to run a
method whose budget, selection metric, threshold tuning or dataset differs
from the table's, naming the config key, unless `--table=paper_recipe`
(each config unchanged but for `--set`; its budget and selection metric
are stated per row).

Each (method, seed) trains in its own workdir `<workroot>/<table>/<method>_s<seed>`
(`--config.seed=S`); a finished one (its report.json exists) is reused and an
interrupted one resumes from its checkpoint, so a rerun of the command skips
what is done (a workdir whose config.json has another seed or other override
values, e.g. another --budget, is refused, naming the key). After each run, `--out` (default benchmarks/results/
compare_<table>.json; with --runlocal under the workroot) holds every finished
run and the summary, and the markdown beside it (`.md`): test metrics
averaged over the AUs (those defined in every run of the table), then mean and
95 % t-interval over seeds (benchmarks/common.mean_interval), and the strata of
each run's report.json["strata"] (docs/benchmark.md 4.1): each AU with its
region visible vs occluded (the per-AU metrics of the stratum, averaged over
the AUs as the unstratified metric is, then over seeds; per AU too, an AU
flagged where some run has fewer than 30 positive frames in the stratum), and
the |yaw| bins 0-10, 10-25, 25-40 degrees.

The budget (64,000 images) and its arithmetic (docs/results.md): the training
throughputs measured on this 2-core machine by benchmarks/compare_methods.py
(benchmarks/results/compare_methods.json, `throughput`: CCNN-IT 466, FERA
2015 CNN 63, DSIN 1191, multi-label CNN 1372, heat maps (disfa_like) 240
images/s) give 64,000 x (1/466 + 1/63 + 1/1191 + 1/1372 + 1/240) = 1,521 s
of training per seed; the same file's runs spent 53-187 s each (about 115 s
on average) outside training (compilation, evaluation, reports), so about
1,521 + 5 x 115 = 2,100 s per seed and 5 seeds in about 2.9 hours (2.2 hours
where the FERA 2015 CNN trains at 120 images/s).
"""
from __future__ import annotations

import argparse
import ast
import copy
import importlib
import json
import os
import subprocess
import sys
import time

import numpy as np

from benchmarks import common

ROOT = common.ROOT
TABLES = ("equal_budget", "paper_recipe")
BUDGET = 64_000
DATASET = "synthetic_au/disfa_like"
EVALUATIONS = 10          # validation evaluations per run in the equal-budget table
# name -> (config file, config arg, task)
METHODS = {
    "ccnn": ("configs/ccnn_synthetic.py", "", "intensity"),
    "gudi": ("configs/gudi_synthetic.py", "", "intensity"),
    "dsin": ("configs/dsin_synthetic.py", "", "occurrence"),
    "multilabel": ("configs/multilabel_synthetic.py", "", "occurrence"),
    "heatmaps": ("configs/heatmaps_synthetic.py", "dataset=disfa_like", "intensity"),
}
TITLES = {"ccnn": "CCNN-IT (Walecki et al. 2017)", "gudi": "FERA 2015 CNN (Gudi et al. 2015)",
          "dsin": "DSIN (Corneanu et al. 2018)",
          "multilabel": "Multi-label CNN + QDA (Ghosh et al. 2015)",
          "heatmaps": "AU heatmaps (Sanchez et al. 2018)"}
SELECT = {"intensity": "icc", "occurrence": "f1"}   # the task's selection metric
THRESHOLD_METRIC = "f1"
METRICS = {"intensity": ("f1", "auc", "icc", "mae"), "occurrence": ("f1", "auc")}
NAMES = {"f1": "F1", "auc": "2AFC", "icc": "ICC(3,1)", "mae": "MAE"}
# The strata columns: (stratification, stratum) of report.json["strata"]["by"].
STRATA = (("occlusion", "visible"), ("occlusion", "occluded"), ("yaw", "0-10"),
          ("yaw", "10-25"), ("yaw", "25-40"))
MIN_POSITIVES = 30


class TableError(ValueError):
  """A method's config departs from the table (the message names the key)."""


class RunFailed(RuntimeError):
  """One launch.py run ended with a non-zero status: it is reported and the
  other runs go on (the message names the workdir)."""


# --------------------------------------------------------------------------- configs

def load_config(method: str, runlocal: bool = False):
  path, arg, _ = METHODS[method]
  module = importlib.import_module(path[:-3].replace("/", "."))
  arg = ",".join(a for a in (arg, "runlocal" if runlocal else "") if a)
  return module.get_config(arg or None)


def _get(config, key: str):
  """config value at an override path ("train.stages[3].steps"); None if absent."""
  node = config
  for part in key.replace("]", "").replace("[", ".").split("."):
    if isinstance(node, (list, tuple)):
      node = node[int(part)]
    else:
      node = node.get(part) if hasattr(node, "get") else None
    if node is None:
      return None
  return node


def _set(config, key: str, value) -> None:
  parts = key.replace("]", "").replace("[", ".").split(".")
  node = config
  for part in parts[:-1]:
    node = node[int(part)] if isinstance(node, (list, tuple)) else node[part]
  if isinstance(node, (list, tuple)):
    node[int(parts[-1])] = value
  else:
    node[parts[-1]] = value


def gradient_stages(config) -> list[int]:
  """Indices of config.train.stages that take gradient steps (not fit stages)."""
  return [i for i, s in enumerate(config.train.stages) if not s.get("fit")]


def images_per_step(config) -> int:
  return int(config.train.batch_size) * int(config.model.get("train_copies", 1) or 1)


def gradient_steps(config) -> int:
  """Gradient steps of a run (x repeat): a fit stage (DSIN's anchors, the
  multi-label CNN's QDA) is no step, though the run's own counter counts it."""
  return (sum(int(config.train.stages[i]["steps"]) for i in gradient_stages(config))
          * int(config.train.get("repeat", 1) or 1))


def images_seen(config) -> int:
  """Training images of a run: gradient steps x repeat x batch x train_copies."""
  return gradient_steps(config) * images_per_step(config)


def scale_steps(steps, total: int) -> list[int]:
  """`steps` scaled to sum to `total`, proportions kept (largest remainder, >= 1 each)."""
  steps = [int(s) for s in steps]
  if total < len(steps):
    raise TableError(f"{total} steps cannot give each of {len(steps)} stages one")
  exact = [s * total / sum(steps) for s in steps]
  out = [max(1, int(e)) for e in exact]
  order = sorted(range(len(steps)), key=lambda i: -(exact[i] - int(exact[i])))
  k = 0
  while sum(out) != total:
    i = order[k % len(order)]
    if sum(out) < total:
      out[i] += 1
    elif out[i] > 1:
      out[i] -= 1
    k += 1
  return out


def table_overrides(method: str, config, budget: int, select: str | None = None) -> dict:
  """{override path (no "config." prefix): value} imposing the equal-budget table
  (`select`: a selection metric other than the task's, e.g. benchmarks/claims.py's
  2AFC for the multi-label CNN)."""
  task = METHODS[method][2]
  per_step = images_per_step(config) * int(config.train.get("repeat", 1) or 1)
  if budget % per_step:
    raise TableError(
        f"{method}: the budget {budget:,} is not a multiple of config.train.batch_size x "
        f"config.model.train_copies x config.train.repeat = {per_step}")
  idx = gradient_stages(config)
  new = scale_steps([config.train.stages[i]["steps"] for i in idx], budget // per_step)
  out = {f"train.stages[{i}].steps": s for i, s in zip(idx, new)}
  total_steps = budget // images_per_step(config)
  out.update({"train.select_metric": select or SELECT[task], "train.patience": 0,
              "train.eval_every": max(1, total_steps // EVALUATIONS),
              "eval.threshold_metric": THRESHOLD_METRIC})
  return out


def apply(config, overrides: dict):
  out = copy.deepcopy(config)
  for k, v in overrides.items():
    _set(out, k, v)
  return out


def check(method: str, config, budget: int, base, dataset: str = DATASET,
          select: str | None = None, datasets: list | None = None) -> None:
  """Raise TableError naming the key where `config` departs from the
  equal-budget table (`base`: the config with the table's overrides only;
  `select`, `datasets`: another selection metric or training sources than the
  task's and [`dataset`])."""
  task = METHODS[method][2]
  sources = [s["name"] for s in config.data.sources]
  want_sources = list(datasets) if datasets is not None else [dataset]
  if sources != want_sources:
    raise TableError(f"{method}: config.data.sources is {sources}; the table trains "
                     f"{method} on {want_sources}")
  got = images_seen(config)
  if got != budget:
    keys = ["train.batch_size", "model.train_copies", "train.repeat"] + [
        f"train.stages[{i}].steps" for i in gradient_stages(base)]
    key = next((k for k in keys if _get(config, k) != _get(base, k)), keys[0])
    raise TableError(
        f"{method}: config.{key} = {_get(config, key)} gives {got:,} training images, the "
        f"table's budget is {budget:,} (config.{key} = {_get(base, key)}); use "
        "--table=paper_recipe for runs at their own budget")
  for key, want in (("train.select_metric", select or SELECT[task]),
                    ("eval.threshold_metric", THRESHOLD_METRIC), ("train.patience", 0)):
    if _get(config, key) != want:
      raise TableError(f"{method}: config.{key} = {_get(config, key)!r}; the table's is "
                       f"{want!r} for every {task} method; use --table=paper_recipe for runs "
                       "with their own selection")


def parse_sets(items) -> dict:
  """["gudi:config.train.batch_size=50", ...] -> {method: {path: value}}."""
  out: dict = {}
  for item in items or ():
    method, _, rest = item.partition(":")
    key, eq, value = rest.partition("=")
    if method not in METHODS or not eq or not key.startswith("config."):
      raise TableError(f"--set={item!r}: give METHOD:config.KEY=VALUE, METHOD in "
                       f"{list(METHODS)}")
    try:
      value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      pass
    out.setdefault(method, {})[key[len("config."):]] = value
  return out


def plan(method: str, table: str, budget: int, sets: dict, runlocal: bool = False):
  """(overrides for launch.py, the effective config) of one method in `table`;
  raises TableError for the equal-budget table when the config departs from it."""
  base = load_config(method, runlocal)
  extra = sets.get(method, {})
  if table == "paper_recipe":
    return dict(extra), apply(base, extra)
  imposed = table_overrides(method, base, budget)
  expected = apply(base, imposed)
  overrides = {**imposed, **extra}
  effective = apply(base, overrides)
  check(method, effective, budget, expected, DATASET + ("_tiny" if runlocal else ""))
  return overrides, effective


def _fmt_value(v) -> str:
  return v if isinstance(v, str) else repr(v)


def command(method: str, seed: int, workdir: str, overrides: dict, runlocal: bool) -> list[str]:
  path, arg, _ = METHODS[method]
  return launch_command(path, arg, seed, workdir, overrides, runlocal)


def launch_command(path: str, arg: str, seed: int, workdir: str, overrides: dict,
                   runlocal: bool) -> list[str]:
  """launch.py's command line: config file `path` with its `arg` (+ runlocal),
  `--config.seed` and one `--config.KEY=VALUE` per override."""
  arg = ",".join(a for a in (arg, "runlocal" if runlocal else "") if a)
  return ([sys.executable, os.path.join(ROOT, "launch.py"),
           f"--config={path}" + (f":{arg}" if arg else ""), f"--workdir={workdir}",
           f"--config.seed={seed}"]
          + [f"--config.{k}={_fmt_value(v)}" for k, v in overrides.items()])


# --------------------------------------------------------------------------- runs

def strata_of(report: dict) -> dict:
  """{"<stratification>/<stratum>": {"n", "per_au": {AU: {metric..., n_positives}},
  "few_positives"}} of the STRATA columns present in report.json["strata"]."""
  by = (report.get("strata") or {}).get("by", {})
  out = {}
  for name, stratum in STRATA:
    s = by.get(name, {}).get("strata", {}).get(stratum)
    if s is None:
      continue
    out[f"{name}/{stratum}"] = {
        "n": s.get("n"), "few_positives": list(s.get("few_positives", [])),
        "per_au": {au: {k: r[k] for k in ("f1", "auc", "icc", "mae", "n_positives") if k in r}
                   for au, r in s["per_au"].items()}}
  return out


def record(method: str, seed: int, workdir: str, report: dict, config, cmd) -> dict:
  task = METHODS[method][2]
  per_au = {au: {k: r[k] for k in METRICS[task] if k in r}
            for au, r in report["test"]["per_au"].items()}
  return {"method": method, "seed": seed, "workdir": workdir, "task": task,
          "command": " ".join(cmd[1:]), "datasets": report.get("datasets"),
          "images_seen": images_seen(config), "batch_size": int(config.train.batch_size),
          "steps": gradient_steps(config), "select_metric": (report.get("selection") or {}).get(
              "metric", config.train.get("select_metric")),
          "threshold_metric": report.get("threshold_metric", config.eval.get("threshold_metric")),
          "selection": report.get("selection"), "per_au": per_au,
          "strata": strata_of(report), "strata_missing": (report.get("strata") or {}).get(
              "missing")}


def _plain(v):
  return [_plain(x) for x in v] if isinstance(v, (list, tuple)) else v


def check_workdir(workdir: str, seed: int, overrides: dict) -> None:
  """Raise TableError where a workdir's saved config (config.json) was trained
  with another seed or other values of the overrides (e.g. another --budget in
  the same --workroot): a finished run is reused only for the same table."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return
  saved = common.read_json(path)
  for key, want in {"seed": seed, **overrides}.items():
    got = _get(saved, key)
    if _plain(got) != _plain(want):     # JSON keeps a tuple as a list
      raise TableError(f"{workdir} was trained with config.{key} = {got!r}, this table's is "
                       f"{want!r}: give another --workroot")


def train(wd: str, cmd: list[str], seed: int, overrides: dict, tag: str = "equal_budget"
          ) -> tuple[dict, dict]:
  """(report.json, {"wall_s", "load_at_start"[, "resumed"]} or {}) of the run in
  `wd`, trained by `cmd` unless its report.json exists (an interrupted run
  resumes from its checkpoint); a workdir trained with another seed or other
  override values is refused (check_workdir)."""
  report_path = os.path.join(wd, "report.json")
  timing = os.path.join(wd, "compare_wall.json")
  check_workdir(wd, seed, overrides)
  if not os.path.exists(report_path):
    resumed = os.path.isdir(wd)
    t, load = time.time(), os.getloadavg()[0]
    print(f"[{tag}] " + " ".join(cmd), flush=True)
    status = subprocess.run(cmd, cwd=ROOT).returncode
    if status != 0:
      raise RunFailed(f"{wd}: launch.py ended with status {status} (its output is above); "
                      f"running the command again resumes it")
    wall = {"wall_s": round(time.time() - t, 1), "load_at_start": round(load, 2)}
    if resumed:
      wall["resumed"] = True
    common.write_json(timing, wall)
  with open(report_path) as f:
    report = json.load(f)
  return report, (common.read_json(timing, {}) if os.path.exists(timing) else {})


def one_run(workroot: str, table: str, method: str, seed: int, overrides: dict, config,
            runlocal: bool) -> dict:
  wd = os.path.join(os.path.abspath(workroot), table, f"{method}_s{seed}")
  cmd = command(method, seed, wd, overrides, runlocal)
  report, wall = train(wd, cmd, seed, overrides)
  rec = record(method, seed, wd, report, config, cmd)
  rec.update(wall)
  return rec


# --------------------------------------------------------------------------- summary

def _finite(x) -> bool:
  return x is not None and np.isfinite(float(x))


def aus_defined(rows: list[dict], aus, metric) -> list:
  """AUs whose `metric` is finite in every one of `rows` ({AU: {metric}}) that has it."""
  have = [r for r in rows if any(metric in v for v in r.values())]
  return [a for a in aus if have and all(_finite(r.get(a, {}).get(metric)) for r in have)]


def summarise(runs: list[dict]) -> dict:
  """Per method: each metric (overall and per stratum) averaged over the AUs
  defined in every run of the table that reports it, then mean and 95 %
  t-interval over seeds; per-AU means over seeds in the occlusion strata."""
  methods = list(dict.fromkeys(r["method"] for r in runs))
  aus = list(dict.fromkeys(a for r in runs for a in r["per_au"]))
  out = {"aus": aus, "aus_in_mean": {}, "strata_aus_in_mean": {}, "methods": {}}
  for m in ("f1", "auc", "icc", "mae"):
    out["aus_in_mean"][m] = aus_defined([r["per_au"] for r in runs], aus, m)
  columns = [f"{a}/{b}" for a, b in STRATA]
  for col in columns:
    rows = [r["strata"][col]["per_au"] for r in runs if col in r.get("strata", {})]
    out["strata_aus_in_mean"][col] = {m: aus_defined(rows, aus, m) for m in ("f1", "icc")}
  for method in methods:
    rs = sorted((r for r in runs if r["method"] == method), key=lambda r: r["seed"])
    task = rs[0]["task"]
    e = {"title": TITLES.get(method, method), "task": task, "seeds": [r["seed"] for r in rs],
         "images_seen": sorted({r["images_seen"] for r in rs}),
         "batch_size": rs[0]["batch_size"], "steps": sorted({r["steps"] for r in rs}),
         "select_metric": sorted({str(r["select_metric"]) for r in rs}),
         "threshold_metric": sorted({str(r["threshold_metric"]) for r in rs})}
    for m in METRICS[task]:
      au_set = out["aus_in_mean"][m]
      e[m] = common.mean_interval(
          [np.mean([r["per_au"][a][m] for a in au_set]) if au_set else np.nan for r in rs])
    strata = {}
    for col in columns:
      have = [r for r in rs if col in r.get("strata", {})]
      if not have:
        continue
      s = {"n": [r["strata"][col]["n"] for r in have]}
      for m in ("f1", "icc"):
        if m not in METRICS[task]:
          continue
        au_set = out["strata_aus_in_mean"][col][m]
        s[m] = common.mean_interval(
            [np.mean([r["strata"][col]["per_au"][a][m] for a in au_set]) if au_set else np.nan
             for r in have])
        s.setdefault("per_au", {})[m] = {
            a: float(np.mean(vals)) if vals else float("nan")
            for a in aus for vals in [[r["strata"][col]["per_au"][a][m] for r in have
                                       if _finite(r["strata"][col]["per_au"].get(a, {}).get(m))]]}
      s["few_positives"] = sorted({a for r in have for a in r["strata"][col]["few_positives"]})
      s["min_positives"] = {a: min(r["strata"][col]["per_au"].get(a, {}).get("n_positives", 0)
                                   for r in have) for a in aus}
      strata[col] = s
    e["strata"] = strata
    # a resumed run's wall time is only its last part: left out of the mean
    walls = [r["wall_s"] for r in rs if "wall_s" in r and not r.get("resumed")]
    e["wall_s"] = common.mean_interval(walls) if walls else None
    out["methods"][method] = e
  return out


def _fmt(e, digits=3) -> str:
  if not e or not np.isfinite(e["mean"]):
    return "–"
  if not np.isfinite(e["half"]):
    return f"{e['mean']:.{digits}f}"
  return f"{e['mean']:.{digits}f} ± {e['half']:.{digits}f}"


def _join(values) -> str:
  return ", ".join(format(v, ",") if isinstance(v, int) else str(v) for v in values)


def _stratum_cell(s: dict, metric: str, au: str) -> str:
  v = s.get("per_au", {}).get(metric, {}).get(au, float("nan"))
  return ("–" if not np.isfinite(v) else f"{v:.2f}") + (
      "*" if au in s.get("few_positives", []) else "")


def markdown(summary: dict, table: str, budget: int | None) -> str:
  methods = summary["methods"]
  seeds = sorted({s for e in methods.values() for s in e["seeds"]})
  if table == "equal_budget":
    head = (f"### Equal budget: {budget:,} training images per run, selection on validation "
            "ICC (methods that predict intensity) or F1 (occurrence only), thresholds per AU "
            "on validation F1")
  else:
    head = ("### Each paper's recipe: every synthetic config unchanged (its own steps, batch "
            "and selection metric, stated per row)")
  lines = [head, "", (f"synthetic_au/disfa_like, protocol default, {len(summary['aus'])} AUs; "
                      f"seeds {','.join(map(str, seeds))}; mean ± 95% t half-width over seeds "
                      "of the mean over AUs."), "",
           ("| method | predicts | images seen | batch | steps | selected on | thresholds on "
            "| F1 | 2AFC | ICC(3,1) | MAE | seeds |"), "|---" * 12 + "|"]
  for e in methods.values():
    cells = [_fmt(e.get(m)) for m in ("f1", "auc", "icc", "mae")]
    lines.append(f"| {e['title']} | {e['task']} | {_join(e['images_seen'])} | {e['batch_size']} "
                 f"| {_join(e['steps'])} | {_join(NAMES.get(x, x) for x in e['select_metric'])} | "
                 f"{_join(NAMES.get(x, x) for x in e['threshold_metric'])} | " + " | ".join(cells)
                 + f" | {len(e['seeds'])} |")
  lines.append("")
  left = {NAMES[m]: [a for a in summary["aus"] if a not in v]
          for m, v in summary["aus_in_mean"].items()}
  left = {k: v for k, v in left.items() if v}
  if left:
    lines += ["Left out of the means (undefined in some run): "
              + "; ".join(f"{k}: {', '.join(v)}" for k, v in left.items()), ""]
  cols = [f"{a}/{b}" for a, b in STRATA]
  heads = {"occlusion/visible": "visible", "occlusion/occluded": "occluded",
           "yaw/0-10": "\\|yaw\\| 0-10°", "yaw/10-25": "10-25°", "yaw/25-40": "25-40°"}
  for m in ("f1", "icc"):
    have = {k: e for k, e in methods.items() if any(m in s for s in e["strata"].values())}
    if not have:
      continue
    lines += [(f"{NAMES[m]} per stratum (test frames of each stratum; visible: the AU's "
               "region au_covered < .1, occluded: >= .5; mean over AUs, then over seeds; `*`: "
               f"some AU has fewer than {MIN_POSITIVES} positive frames there in some run):"), "",
              "| method | " + " | ".join(heads[c] for c in cols) + " |",
              "|---" * (len(cols) + 1) + "|"]
    for e in have.values():
      cells = []
      for c in cols:
        s = e["strata"].get(c, {})
        cells.append(_fmt(s.get(m)) + (" *" if s.get("few_positives") else ""))
      lines.append(f"| {e['title']} | " + " | ".join(cells) + " |")
    lines += ["", "AUs in each stratum's mean (defined in every run): " + "; ".join(
        f"{heads[c]} {len(summary['strata_aus_in_mean'][c][m])} of {len(summary['aus'])}"
        for c in cols if c in summary["strata_aus_in_mean"])]
    lines += ["", (f"{NAMES[m]} per AU, visible / occluded (mean over seeds; `*`: fewer than "
                   f"{MIN_POSITIVES} positive frames in some run):"), "",
              "| method | " + " | ".join(summary["aus"]) + " |",
              "|---" * (len(summary["aus"]) + 1) + "|"]
    for e in have.values():
      vis, occ = e["strata"].get("occlusion/visible", {}), e["strata"].get("occlusion/occluded", {})
      lines.append(f"| {e['title']} | " + " | ".join(
          f"{_stratum_cell(vis, m, a)} / {_stratum_cell(occ, m, a)}" for a in summary["aus"])
          + " |")
    lines.append("")
  return "\n".join(lines)


# --------------------------------------------------------------------------- main

def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--table", choices=TABLES, default="equal_budget")
  ap.add_argument("--seeds", default="0,1,2,3,4")
  ap.add_argument("--methods", default=",".join(METHODS))
  ap.add_argument("--budget", type=int, default=BUDGET,
                  help="training images per run in the equal-budget table")
  ap.add_argument("--set", action="append", default=[], metavar="METHOD:config.KEY=VALUE",
                  help="an extra override of one method's config (repeatable)")
  ap.add_argument("--workroot", default="runs/compare_equal_budget")
  ap.add_argument("--out", default=None, help="summary JSON (the markdown beside it, .md)")
  ap.add_argument("--runlocal", action="store_true",
                  help="each config's :runlocal (tiny data and networks; plumbing only)")
  ap.add_argument("--summarise_only", action="store_true")
  args = ap.parse_args(argv)
  seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
  methods = [m.strip() for m in args.methods.split(",") if m.strip()]
  unknown = [m for m in methods if m not in METHODS]
  if unknown:
    sys.exit(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
  if args.out is None:   # a dry run never overwrites the measured results
    args.out = (os.path.join(args.workroot, f"compare_{args.table}.json") if args.runlocal
                else os.path.join(common.RESULTS, f"compare_{args.table}.json"))
  md_path = os.path.splitext(args.out)[0] + ".md"
  budget = args.budget if args.table == "equal_budget" else None
  if args.summarise_only:
    prev = common.read_json(args.out)
    if not prev or "runs" not in prev:
      print(f"--summarise_only: no summary at {args.out} (no run of this table has finished "
            f"yet, or give --out)", file=sys.stderr)
      sys.exit(2)
    print(markdown(summarise(prev["runs"]), prev["table"], prev.get("budget")))
    return
  try:
    sets = parse_sets(args.set)
    plans = {m: plan(m, args.table, args.budget, sets, args.runlocal) for m in methods}
  except TableError as e:     # before any run: the whole table is refused
    sys.exit(f"refused: {e}")
  prev = common.read_json(args.out, {}) if os.path.exists(args.out) else {}
  kept = []
  if (prev.get("table"), prev.get("budget"), prev.get("runlocal")) == (
      args.table, budget, args.runlocal):
    kept = [r for r in prev.get("runs", []) if not (r["method"] in methods and r["seed"] in seeds)]
  runs, failed = [], []
  for seed in seeds:          # seed-major: an interrupted table has every method for its seeds
    for method in methods:
      overrides, config = plans[method]
      try:
        runs.append(one_run(args.workroot, args.table, method, seed, overrides, config,
                            args.runlocal))
      except TableError as e:
        sys.exit(f"refused: {e}")
      except RunFailed as e:  # the other runs go on; the table leaves this one out
        failed.append(str(e))
        print(f"[equal_budget] failed, going on: {e}", file=sys.stderr, flush=True)
        continue
      every = kept + runs
      summary = summarise(every)
      common.write_json(args.out, {
          "table": args.table, "budget": budget, "runlocal": args.runlocal,
          "dataset": DATASET, "evaluations_per_run": EVALUATIONS if budget else None,
          "methods": {m: {"config": METHODS[m][0], "arg": METHODS[m][1], "task": METHODS[m][2],
                          "overrides": plans[m][0] if m in plans else None}
                      for m in dict.fromkeys(r["method"] for r in every)},
          "runs": every, "summary": summary})
      with open(md_path, "w") as f:
        f.write(markdown(summary, args.table, budget) + "\n")
  if os.path.exists(md_path):
    with open(md_path) as f:
      print(f.read())
  if failed:
    sys.exit(f"{len(failed)} run(s) failed and are left out of the table:\n  " +
             "\n  ".join(failed))


if __name__ == "__main__":
  main()
