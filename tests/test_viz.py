"""Learning curves (au_jax/viz.py): one training series per stage, every
validation metric, the selected step, and a message when nothing was validated."""
import json

import numpy as np

from au_jax import viz


def _write(path, records):
  path.write_text("".join(json.dumps(r) + "\n" for r in records))
  return str(path)


def _two_stage_run(validate=True):
  """CCNN-IT-like: stages 'cnn' (loss ~50) and 'pairwise' (loss ~0.5) alternate for 2 cycles."""
  recs = []
  for cycle in range(2):
    base = cycle * 20
    recs += [dict(split="train", stage="cnn", cycle=cycle, step=base + s, loss=50.0 - s - cycle,
                  steps_per_s=3.0) for s in (5, 10)]
    recs += [dict(split="train", stage="pairwise", cycle=cycle, step=base + s, loss=0.5 - 0.01 * s)
             for s in (15, 20)]
    if validate:
      recs.append(dict(split="validation", step=base + 20, f1=0.4 + 0.1 * cycle, auc=None,
                       icc=0.3 + cycle * 0.05, mae=0.9 - 0.1 * cycle))
  recs.append(dict(split="train", stage="qda", cycle=1, step=41, fit="qda"))  # no loss: skipped
  if validate:
    recs += [dict(split="selection", step=20, best_step=20, metric="icc", value=0.3),
             dict(split="selection", step=40, best_step=40, metric="icc", value=0.35)]
  recs.append(dict(split="test", step=41, f1=0.5))
  return recs


def test_each_stage_is_its_own_series_on_a_log_axis(tmp_path):
  path = _write(tmp_path / "metrics.jsonl", _two_stage_run())
  series = viz.learning_curves(path, str(tmp_path / "plots" / "curves.png"))
  assert (tmp_path / "plots" / "curves.png").stat().st_size > 0
  assert list(series["train"]) == ["cnn", "pairwise"]
  assert series["train"]["cnn"] == ([5, 10, 25, 30], [45.0, 40.0, 44.0, 39.0])
  np.testing.assert_allclose(series["train"]["pairwise"][1], [0.35, 0.3, 0.35, 0.3])
  assert series["log_loss"]                      # medians 42 vs 0.33: > 10x
  assert sorted(series["validation"]) == ["f1", "icc", "mae"]   # auc is None (NaN): skipped
  assert series["validation"]["icc"] == ([20, 40], [0.3, 0.35])
  assert series["selected_step"] == 40 and series["selection_metric"] == "icc"

  fig = viz.learning_curve_figure(series)
  ax_train, ax_val = fig.axes[:2]
  train_lines = [l for l in ax_train.get_lines() if l.get_linestyle() != ":"]
  assert [l.get_label() for l in train_lines] == ["cnn", "pairwise"]
  np.testing.assert_array_equal(train_lines[0].get_xdata(), [5, 10, 25, 30])
  assert ax_train.get_yscale() == "log"
  assert [l.get_label() for l in ax_val.get_lines() if l.get_linestyle() != ":"] == ["F1", "ICC"]
  assert [l.get_label() for l in fig.axes[2].get_lines()] == ["MAE (right)"]   # errors: twin axis
  marks = [l for l in ax_val.get_lines() if l.get_linestyle() == ":"]
  assert len(marks) == 1 and list(marks[0].get_xdata()) == [40, 40]


def test_one_stage_on_a_linear_axis_and_no_validation_message(tmp_path):
  recs = [r for r in _two_stage_run(validate=False) if r.get("stage") != "pairwise"]
  series = viz.learning_curves(_write(tmp_path / "m.jsonl", recs), str(tmp_path / "c.png"))
  assert list(series["train"]) == ["cnn"] and not series["log_loss"]
  assert series["validation"] == {} and series["selected_step"] is None
  fig = viz.learning_curve_figure(series)
  texts = [t.get_text() for t in fig.axes[1].texts]
  assert any("no validation evaluations" in t and "eval_every = 0" in t for t in texts)
  assert fig.axes[0].get_yscale() == "linear"
