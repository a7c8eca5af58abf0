"""Evaluation: predictions over a whole split -> the papers' metrics -> report.

Every record of a split is predicted once (padded + masked batches); metrics
are computed once from all predictions (never averaged over batches). Per-AU
decision thresholds are tuned on the validation split (F1-optimal, Gudi et
al. Sec. IV-C) and applied unchanged to test.
"""
from __future__ import annotations

import json
import os
import platform

import flax
import jax
import jaxlib
import numpy as np

from au_jax import host_memory, strata, viz
from au_jax import metrics as M
from au_jax.data import pipeline, sharding
from au_jax.io import atomic_write
from au_jax.strata import INTENSITY_KEYS, OCCURRENCE_KEYS  # re-exported: callers use these


def predict_split(predict_step, state, split, transform, *, batch_size, mesh,
                  num_threads=2) -> dict[str, np.ndarray]:
  """{'intensity': [N, A], 'occurrence': [N, A]} for every record of `split`."""
  outs: dict[str, list] = {}
  for batch in pipeline.eval_batches(split.source, transform, batch_size=batch_size,
                                     num_threads=num_threads,
                                     process_index=jax.process_index(),
                                     process_count=jax.process_count()):
    sharded = sharding.shard_batch(batch, mesh)
    pred = predict_step(state.params, state.model_state, state.fitted, sharded)
    pred["mask"] = sharded["mask"]
    pred = sharding.to_host(pred)
    keep = pred.pop("mask") > 0
    for k, v in pred.items():
      outs.setdefault(k, []).append(v[keep])
  return {k: np.concatenate(v) for k, v in outs.items()}


def tune_thresholds(preds, index, metric="f1") -> np.ndarray:
  return M.tune_thresholds(index.occurrence, preds["occurrence"], metric=metric)


def split_metrics(preds, index, info, thresholds=0.5) -> dict:
  """Per-AU and mean metrics of one split's predictions (au_jax.strata.au_table
  of every record)."""
  return strata.au_table(index.occurrence, index.intensity, preds, info.aus,
                         info.intensity_coded, thresholds)


def stratified_metrics(preds, index, info, thresholds=0.5, train_index=None,
                       split="test") -> dict:
  """Every metric of `split_metrics` per stratum of the records' nuisance
  (au_jax.strata.stratify; the expressivity cut points from `train_index`)."""
  return strata.stratify(preds, index, info.aus, info.intensity_coded, thresholds,
                         train_index=train_index, split=split)


def format_table(result: dict, title: str = "") -> str:
  """Markdown table: one row per AU, then the mean (as the papers' tables)."""
  cols = [k for k in OCCURRENCE_KEYS + INTENSITY_KEYS
          if any(k in r for r in result["per_au"].values())]
  names = {"f1": "F1", "accuracy": "Acc", "auc": "2AFC/AUC", "phi": "phi", "icc": "ICC(3,1)",
           "mae": "MAE", "mse": "MSE", "pcc": "PCC"}
  lines = [f"### {title}", ""] if title else []
  lines.append("| AU | " + " | ".join(names[c] for c in cols) + " | base rate | threshold |")
  lines.append("|---" * (len(cols) + 3) + "|")
  fmt = lambda v: "–" if v is None or not np.isfinite(v) else f"{v:.3f}"
  for au, r in result["per_au"].items():
    lines.append(f"| {au} | " + " | ".join(fmt(r.get(c)) for c in cols)
                 + f" | {fmt(r.get('base_rate'))} | {fmt(r.get('threshold'))} |")
  lines.append("| **Mean** | " + " | ".join(fmt(result["mean"].get(c)) for c in cols)
               + " | | |")
  return "\n".join(lines)


def environment() -> dict:
  """Where this evaluation ran: backend, device kind and count, the host's CPU
  model and SIMD extensions (XLA:CPU's code depends on them), library versions."""

  dev = jax.devices()[0]
  return {"backend": jax.default_backend(), "device_kind": getattr(dev, "device_kind", str(dev)),
          "device_count": jax.device_count(), "cpu": cpu_model(), "cpu_simd": cpu_simd(),
          "jax": jax.__version__, "jaxlib": jaxlib.__version__, "flax": flax.__version__,
          "numpy": np.__version__,
          "python": platform.python_version(), "xla_flags": os.environ.get("XLA_FLAGS", ""),
          "malloc_hugetlb": host_memory.status()["malloc_hugetlb"]}


# The vector extensions XLA:CPU generates code for (a model name such as "AMD
# EPYC" does not say whether the host has AVX-512).
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni",
              "avx512_bf16", "amx_tile", "asimd", "sve")


def _cpuinfo_field(name: str, cpuinfo: str) -> str | None:
  try:
    with open(cpuinfo) as f:
      for line in f:
        key, _, value = line.partition(":")
        if key.strip() == name and value.strip():
          return value.strip()
  except OSError:
    pass
  return None


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
  """The host CPU's model name (Linux's `cpuinfo`), else what `platform` knows."""
  return _cpuinfo_field("model name", cpuinfo) or platform.processor() or platform.machine()


def cpu_simd(cpuinfo: str = "/proc/cpuinfo") -> list[str] | None:
  """Which of SIMD_FLAGS the host CPU has (None where `cpuinfo` cannot be read)."""
  flags = _cpuinfo_field("flags", cpuinfo) or _cpuinfo_field("Features", cpuinfo)
  return None if flags is None else [f for f in SIMD_FLAGS if f in flags.split()]


def write_report(workdir: str, report: dict, plots: bool = True) -> None:
  """report.json and report.md, written atomically (with the `environment`
  the report was computed in, unless the caller gave one); with `plots`,
  plots/strata.png too."""
  report.setdefault("environment", environment())
  atomic_write(os.path.join(workdir, "report.json"),
               json.dumps(report, indent=1, default=_jsonable, allow_nan=True))
  md = [f"# au-jax report: {report['model']}", ""]
  if report.get("diverged"):
    md += [f"**DIVERGED: {report['diverged']}**", ""]
  md += [
        f"- datasets: {', '.join(report['datasets'])}; protocol: {report['protocol']}",
        f"- steps: {report['steps']}; thresholds tuned on: validation ({report['threshold_metric']})",
        f"- {_selection_line(report.get('selection') or {})}",
        f"- test records: {report['test']['n']}; validation records: {report['validation']['n']}",
        f"- evaluated on: {_environment_line(report.get('environment') or {})}",
        "", format_table(report["test"], "Test"), "",
        format_table(report["validation"], "Validation (thresholds tuned here)"), ""]
  if report.get("strata"):
    md += [strata.format_strata(report["strata"]), ""]
  atomic_write(os.path.join(workdir, "report.md"), "\n".join(md))
  if plots and report.get("strata"):
    try:  # figures must never lose a written report
      viz.strata_plots(report["strata"], os.path.join(workdir, "plots"))
    except Exception as e:
      print(f"[au_jax] could not write the strata plots: {e!r}", flush=True)


def _environment_line(env: dict) -> str:
  cpu = f"; CPU {env['cpu']}" if env.get("cpu") else ""
  if env.get("cpu_simd"):
    cpu += f" ({', '.join(env['cpu_simd'])})"
  return (f"{env.get('backend')} ({env.get('device_kind')} x {env.get('device_count')}{cpu}), "
          f"jax {env.get('jax')}, flax {env.get('flax')}, python {env.get('python')}")


def _selection_line(sel: dict) -> str:
  if not sel.get("metric"):
    return f"model: the last step ({sel.get('step')}); no selection on validation"
  value = sel.get("value")
  value = "n/a" if value is None else f"{value:.4f}"
  return (f"model selected on validation mean {sel['metric']} = {value}: **step {sel['step']}** "
          f"of {sel.get('evaluations')} evaluations (every {sel.get('eval_every')} steps)")


def _jsonable(v):
  if isinstance(v, (np.floating, np.integer)):
    return v.item()
  if isinstance(v, np.ndarray):
    return v.tolist()
  return str(v)
