"""benchmarks/compare_methods.py's summary: like with like, intensity metrics
only where a method predicts intensity, t-intervals over seeds (no training)."""
import importlib.util
import os

import numpy as np
from scipy import stats

from tests.conftest import ROOT


def _module():
  spec = importlib.util.spec_from_file_location(
      "compare_methods", os.path.join(ROOT, "benchmarks", "compare_methods.py"))
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


def _run(method, seed, dataset, aus, f1, icc=None, nan_au=None):
  per_au = {}
  for k, a in enumerate(aus):
    row = {"f1": f1 + 0.01 * k, "auc": 0.7}
    if icc is not None:
      row.update(icc=icc, mae=0.5)
    if a == nan_au:
      row["f1"] = float("nan")
    per_au[a] = row
  return {"method": method, "seed": seed, "dataset": dataset, "per_au": per_au, "steps": 10,
          "datasets": [f"synthetic_au/{dataset}"], "wall_s": 60.0 + seed}


def test_groups_intervals_and_occurrence_only_methods():
  cm = _module()
  dl, fl = ["AU01", "AU02", "AU04"], ["AU06", "AU12"]
  runs = []
  for s, (f_ccnn, f_dsin) in enumerate([(0.5, 0.3), (0.6, 0.35), (0.7, 0.4)]):
    runs += [_run("ccnn", s, "disfa_like", dl, f_ccnn, icc=0.4, nan_au="AU02" if s == 1 else None),
             # DSIN's report has an ICC (a placeholder): never shown
             _run("dsin", s, "disfa_like", dl, f_dsin, icc=0.9),
             _run("heatmaps", s, "fera_like", fl, 0.2, icc=0.5)]
  summary = cm.summarise(runs)
  assert set(summary) == {"disfa_like", "fera_like"}
  g = summary["disfa_like"]
  assert list(g["methods"]) == ["ccnn", "dsin"] and list(summary["fera_like"]["methods"]) == [
      "heatmaps"]
  # AU02's F1 is undefined in one run: out of every method's F1 mean
  assert g["aus_in_mean"]["f1"] == ["AU01", "AU04"]
  ccnn = g["methods"]["ccnn"]
  per_seed = [np.mean([f + 0.0, f + 0.02]) for f in (0.5, 0.6, 0.7)]
  assert np.allclose(ccnn["f1"]["per_seed"], per_seed)
  half = stats.t.ppf(0.975, 2) * np.std(per_seed, ddof=1) / np.sqrt(3)
  assert np.isclose(ccnn["f1"]["half"], half)
  assert "icc" in ccnn and "icc" not in g["methods"]["dsin"]
  md = cm.markdown(summary, [0, 1, 2])
  assert "nothing here is comparable" in md          # the lone fera_like table says so
  dsin_row = next(line for line in md.splitlines() if line.startswith("| DSIN"))
  assert dsin_row.split("|")[5].strip() == "–"       # no ICC for an occurrence-only method
