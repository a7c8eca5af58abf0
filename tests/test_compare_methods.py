"""benchmarks/compare_methods.py's summary: like with like, intensity metrics
only where a method predicts intensity, t-intervals over seeds (no training)."""
import numpy as np
from scipy import stats

from benchmarks import compare_methods, throughput


def _module():
  return compare_methods


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
             _run("heatmaps", s, "bp4d_like", fl, 0.2, icc=0.5)]
  summary = cm.summarise(runs)
  assert set(summary) == {"disfa_like", "bp4d_like"}
  g = summary["disfa_like"]
  assert list(g["methods"]) == ["ccnn", "dsin"] and list(summary["bp4d_like"]["methods"]) == [
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
  assert "nothing here is comparable" in md          # the lone bp4d_like table says so
  dsin_row = next(line for line in md.splitlines() if line.startswith("| DSIN"))
  assert dsin_row.split("|")[5].strip() == "–"       # no ICC for an occurrence-only method


def test_throughput_columns_and_older_json_without_them():
  cm = _module()
  runs = [_run("ccnn", s, "disfa_like", ["AU01", "AU02"], 0.5 + 0.1 * s, icc=0.4) for s in range(2)]
  runs += [_run("dsin", s, "disfa_like", ["AU01", "AU02"], 0.4) for s in range(2)]
  summary = cm.summarise(runs)
  tp = {"ccnn": {"num_params": 123456, "train_step_images_per_s": 250.4,
                 "predict_images_per_s": 1999.6, "batch_size": 64, "cpu_count": 2,
                 "backend": "cpu", "load_average_at_start": 1.5, "load_average_at_end": 2.0}}
  row = lambda md, title: next(ln for ln in md.splitlines() if ln.startswith("| " + title))
  md = cm.markdown(summary, [0, 1], tp)
  cells = [c.strip() for c in row(md, "CCNN").split("|")]
  assert cells[7:10] == ["123,456", "250", "2000"]
  assert [c.strip() for c in row(md, "DSIN").split("|")][7:10] == ["–", "–", "–"]
  assert "load 1.5→2.0" in md
  old = cm.markdown(summary, [0, 1])                 # a JSON written before throughput existed
  assert [c.strip() for c in row(old, "CCNN").split("|")][7:10] == ["–", "–", "–"]


def _throughput():
  return throughput


def test_throughput_times_the_gradient_stages_of_a_schedule_with_fit_stages():
  """benchmarks/throughput.py on configs whose stages include `fit=` stages
  (DSIN's anchors first, the multi-label CNN's QDA last): the fit stages are
  named, not timed; every distinct gradient stage is timed, weighted by its
  steps in the schedule (CCNN: 5 cycles of 3 stages)."""
  from types import SimpleNamespace

  from configs import ccnn_synthetic, dsin_synthetic, multilabel_synthetic
  tp = _throughput()
  dsin = SimpleNamespace(groups=("patch_conv", "patch_fc", "fusion", "structure"),
                         heads={"anchors": None})
  stages, fits = tp.gradient_stages(dsin_synthetic.get_config(""), dsin)
  assert fits == ["anchors"] and [s.name for s, _ in stages] == ["pp", "fusion", "pp_f", "si", "all"]
  assert all(s.fit is None and s.trainable for s, _ in stages)
  first, _ = tp.gradient_stages(dsin_synthetic.get_config(""), dsin, first_only=True)
  assert [s.name for s, _ in first] == ["pp"]
  ml = SimpleNamespace(groups=("cnn", "head"), heads={"qda": None})
  stages, fits = tp.gradient_stages(multilabel_synthetic.get_config(""), ml)
  assert fits == ["qda"] and [(s.name, n) for s, n in stages] == [("sgd", 1500)]
  ccnn = SimpleNamespace(groups=("cnn", "unary", "pairwise"), heads={})
  stages, _ = tp.gradient_stages(ccnn_synthetic.get_config(""), ccnn)
  assert [(s.name, n) for s, n in stages] == [("cnn", 300), ("unary", 150), ("pairwise", 150)]
  # the schedule's rate: total images / total time (batch 64)
  timed = [{"schedule_steps": 300, "images_per_s": 100.0}, {"schedule_steps": 150,
                                                           "images_per_s": 400.0}]
  seconds = 300 * 64 / 100.0 + 150 * 64 / 400.0
  assert np.isclose(tp.schedule_rate(timed), 450 * 64 / seconds)
