"""benchmarks/compare_equal_budget.py without training: the budget arithmetic of
every method's config, the refusal naming the key, the summary and its
intervals against a hand computation, and the strata columns."""
import math

import numpy as np
import pytest

from benchmarks import compare_equal_budget as ceb

BUDGET = 64_000


@pytest.mark.parametrize("method", list(ceb.METHODS))
def test_every_method_sees_the_budget_with_its_own_batch(method):
  overrides, config = ceb.plan(method, "equal_budget", BUDGET, {})
  base = ceb.load_config(method)
  assert config.train.batch_size == base.train.batch_size
  # steps x repeat x batch x copies, counted here independently of images_seen
  stages = [s for s in config.train.stages if not s.get("fit")]
  repeat = config.train.get("repeat", 1)
  copies = config.model.get("train_copies", 1)
  assert sum(s["steps"] for s in stages) * repeat * config.train.batch_size * copies == BUDGET
  task = ceb.METHODS[method][2]
  assert overrides["train.select_metric"] == {"intensity": "icc", "occurrence": "f1"}[task]
  assert config.eval.threshold_metric == "f1" and config.train.patience == 0
  assert [s["name"] for s in config.data.sources] == ["synthetic_au/disfa_like"]


def test_budget_arithmetic_by_hand():
  # 64,000 images: gudi batch 100 -> 640 steps; heatmaps batch 32 -> 2,000;
  # CCNN-IT batch 64, 5 cycles -> 200 steps a cycle, split 50/25/25 % as its recipe
  o = ceb.plan("gudi", "equal_budget", BUDGET, {})[0]
  assert o["train.stages[0].steps"] == 640 and o["train.eval_every"] == 64
  assert ceb.plan("heatmaps", "equal_budget", BUDGET, {})[0]["train.stages[0].steps"] == 2000
  o = ceb.plan("ccnn", "equal_budget", BUDGET, {})[0]
  assert [o[f"train.stages[{i}].steps"] for i in range(3)] == [100, 50, 50]
  # DSIN: 1,000 steps over (800, 1000, 400, 3000, 1000) / 6200, the anchors fit untouched
  o = ceb.plan("dsin", "equal_budget", BUDGET, {})[0]
  steps = [o[f"train.stages[{i}].steps"] for i in range(1, 6)]
  assert steps == [129, 161, 65, 484, 161] and "train.stages[0].steps" not in o
  # the table's steps column: gradient steps, a fit stage (QDA, anchors) not counted
  expected = {"ccnn": 1000, "gudi": 640, "dsin": 1000, "multilabel": 1000, "heatmaps": 2000}
  assert {m: ceb.gradient_steps(ceb.plan(m, "equal_budget", BUDGET, {})[1])
          for m in ceb.METHODS} == expected


def test_scale_steps_keeps_proportions_and_total():
  for steps, total in [((800, 1000, 400, 3000, 1000), 1000), ((3, 1, 2), 7), ((5,), 13),
                       ((1, 1, 1), 3)]:
    out = ceb.scale_steps(steps, total)
    assert sum(out) == total and min(out) >= 1
    exact = [s * total / sum(steps) for s in steps]
    assert all(abs(o - e) < 1 for o, e in zip(out, exact))
  with pytest.raises(ceb.TableError):
    ceb.scale_steps((1, 1, 1), 2)


@pytest.mark.parametrize("item,key", [
    ("gudi:config.train.batch_size=50", "config.train.batch_size"),
    ("gudi:config.model.train_copies=2", "config.model.train_copies"),
    ("dsin:config.train.stages[4].steps=10", "config.train.stages[4].steps"),
    ("multilabel:config.train.select_metric=auc", "config.train.select_metric"),
    ("ccnn:config.eval.threshold_metric=''", "config.eval.threshold_metric"),
    ("heatmaps:config.train.patience=3", "config.train.patience"),
])
def test_refusal_names_the_key_unless_paper_recipe(item, key):
  sets = ceb.parse_sets([item])
  method = item.split(":")[0]
  with pytest.raises(ceb.TableError, match=key.replace("[", r"\[").replace("]", r"\]")):
    ceb.plan(method, "equal_budget", BUDGET, sets)
  overrides, _ = ceb.plan(method, "paper_recipe", BUDGET, sets)
  assert overrides == sets[method]   # the recipe table: the config unchanged but for --set


def test_command_refuses_before_running(tmp_path, capsys):
  with pytest.raises(SystemExit, match="config.train.batch_size"):
    ceb.main(["--methods=gudi", "--seeds=0", f"--workroot={tmp_path}",
              "--set=gudi:config.train.batch_size=50"])
  assert not any(tmp_path.iterdir())


def test_command_passes_the_overrides_to_launch():
  overrides, _ = ceb.plan("dsin", "equal_budget", BUDGET, {})
  cmd = ceb.command("dsin", 3, "/w", overrides, runlocal=False)
  assert "--config.seed=3" in cmd and "--config.train.stages[4].steps=484" in cmd
  assert "--config.train.select_metric=f1" in cmd


def test_a_finished_run_of_another_budget_is_not_reused(tmp_path):
  import json
  overrides, _ = ceb.plan("gudi", "equal_budget", BUDGET, {})
  saved = {"seed": 1, "train": {"stages": [{"steps": 320}], "select_metric": "icc",
                                "patience": 0, "eval_every": 32},
           "eval": {"threshold_metric": "f1"}}
  (tmp_path / "config.json").write_text(json.dumps(saved))
  with pytest.raises(ceb.TableError, match=r"config.train.stages\[0\].steps = 320"):
    ceb.check_workdir(str(tmp_path), 1, overrides)
  saved["train"].update(stages=[{"steps": 640}], eval_every=64)
  (tmp_path / "config.json").write_text(json.dumps(saved))
  ceb.check_workdir(str(tmp_path), 1, overrides)            # the same table: reused
  with pytest.raises(ceb.TableError, match="config.seed"):
    ceb.check_workdir(str(tmp_path), 2, overrides)


def _report(f1s, iccs, vis_f1, occ_f1, yaw_f1, few=()):
  """A fake report.json with two AUs."""
  aus = ["AU01", "AU12"]

  def rows(f, i):
    return {a: {"f1": f[k], "auc": 0.8, "icc": i[k], "mae": 0.4, "n_positives": 40}
            for k, a in enumerate(aus)}

  def stratum(f):
    return {"n": 50, "few_positives": list(few), "per_au": rows(f, iccs)}
  return {"datasets": ["synthetic_au/disfa_like"], "steps": 640, "threshold_metric": "f1",
          "selection": {"metric": "icc"}, "test": {"per_au": rows(f1s, iccs)},
          "strata": {"by": {
              "occlusion": {"strata": {"visible": stratum(vis_f1), "occluded": stratum(occ_f1)}},
              "yaw": {"strata": {"0-10": stratum(yaw_f1)}}}}}


def _runs():
  _, config = ceb.plan("gudi", "equal_budget", BUDGET, {})
  runs = []
  per_seed = [((0.5, 0.7), (0.6, 0.8), (0.4, 0.6), (0.3, float("nan"))),
              ((0.6, 0.8), (0.7, 0.9), (0.5, 0.5), (0.4, 0.2)),
              ((0.4, 0.9), (0.5, 0.6), (0.2, 0.7), (0.5, 0.4))]
  for seed, (f1, icc, vis, occ) in enumerate(per_seed):
    rep = _report(f1, icc, vis, occ, yaw_f1=(0.1 * seed, 0.2), few=("AU12",) if seed == 2 else ())
    runs.append(ceb.record("gudi", seed, f"/w/gudi_s{seed}", rep, config, ["py", "launch.py"]))
  return runs


def _t_half(values):
  # 95 % t half-width with n - 1 = 2 degrees of freedom: t(.975, 2) = 4.302653
  sd = math.sqrt(sum((v - sum(values) / 3) ** 2 for v in values) / 2)
  return 4.302653 * sd / math.sqrt(3)


def test_summary_and_interval_by_hand():
  runs = _runs()
  for r, wall in zip(runs, ({"wall_s": 100.0}, {"wall_s": 300.0}, {"wall_s": 10.0, "resumed": True})):
    r.update(wall)
  s = ceb.summarise(runs)
  e = s["methods"]["gudi"]
  assert e["wall_s"]["per_seed"] == [100.0, 300.0]   # the resumed run's part left out
  assert e["images_seen"] == [BUDGET] and e["select_metric"] == ["icc"]
  f1 = [0.6, 0.7, 0.65]                       # per seed, mean over the two AUs
  assert np.allclose(e["f1"]["per_seed"], f1)
  assert math.isclose(e["f1"]["mean"], 0.65)
  assert math.isclose(e["f1"]["half"], _t_half(f1), rel_tol=1e-5)
  icc = [0.7, 0.8, 0.55]
  assert np.allclose(e["icc"]["per_seed"], icc)
  assert math.isclose(e["icc"]["half"], _t_half(icc), rel_tol=1e-5)


def test_strata_columns():
  s = ceb.summarise(_runs())
  st = s["methods"]["gudi"]["strata"]
  assert set(st) == {"occlusion/visible", "occlusion/occluded", "yaw/0-10"}
  # visible F1: mean over both AUs per seed
  assert np.allclose(st["occlusion/visible"]["f1"]["per_seed"], [0.5, 0.5, 0.45])
  # occluded: AU12's F1 is undefined in seed 0, so the mean is over AU01 only, in every seed
  assert s["strata_aus_in_mean"]["occlusion/occluded"]["f1"] == ["AU01"]
  assert np.allclose(st["occlusion/occluded"]["f1"]["per_seed"], [0.3, 0.4, 0.5])
  # per AU, over the seeds where it is defined
  assert math.isclose(st["occlusion/occluded"]["per_au"]["f1"]["AU12"], 0.3)
  assert st["occlusion/visible"]["few_positives"] == ["AU12"]
  md = ceb.markdown(s, "equal_budget", BUDGET)
  assert "64,000 training images per run" in md and "| ICC(3,1) | F1 |" in md
  assert "visible 2 of 2; occluded 1 of 2" in md
  row = next(line for line in md.splitlines()
             if line.startswith("| FERA 2015 CNN") and "*" in line)
  assert "0.483 ± " in row          # visible F1 mean of 0.5, 0.5, 0.45, flagged
  assert "0.37 / 0.40" in md        # AU01 visible / occluded F1, mean over seeds


def test_summarise_only_without_a_summary_is_one_line_and_status_2(tmp_path, capsys):
  with pytest.raises(SystemExit) as e:
    ceb.main(["--summarise_only", f"--out={tmp_path / 'none.json'}"])
  assert e.value.code == 2
  err = capsys.readouterr().err
  assert "no summary at" in err and "none.json" in err and len(err.strip().splitlines()) == 1


def test_a_failed_run_names_its_workdir_and_the_others_go_on(tmp_path, monkeypatch, capsys):
  import json
  import sys
  wd = str(tmp_path / "gudi_s0")
  with pytest.raises(ceb.RunFailed, match=r"gudi_s0: launch.py ended with status 3"):
    ceb.train(wd, [sys.executable, "-c", "import sys; sys.exit(3)"], 0, {})
  assert not (tmp_path / "gudi_s0" / "compare_wall.json").exists()
  done = {r["seed"]: r for r in _runs()}

  def one_run(workroot, table, method, seed, overrides, config, runlocal):
    if seed == 0:
      raise ceb.RunFailed(f"{workroot}/{table}/gudi_s0: launch.py ended with status 3")
    return done[seed]
  monkeypatch.setattr(ceb, "one_run", one_run)
  out = tmp_path / "t.json"
  with pytest.raises(SystemExit) as e:
    ceb.main(["--methods=gudi", "--seeds=0,1,2", f"--workroot={tmp_path}", f"--out={out}"])
  assert "1 run(s) failed" in str(e.value.code) and "gudi_s0" in str(e.value.code)
  assert "failed, going on" in capsys.readouterr().err
  assert [r["seed"] for r in json.loads(out.read_text())["runs"]] == [1, 2]
