"""benchmarks/paper_size_runs.py without training: the commands, the
validation curve and its still-rising rule, the paired means, one summary by
hand, and the refusal of methods that are paper-sized already."""
import json

import pytest

from benchmarks import paper_size_runs as P


def test_commands_add_the_paper_arg_to_the_table_2_config():
  cmd = P.command("heatmaps", 2, "/w/hm")
  assert "--config=configs/heatmaps_synthetic.py:dataset=disfa_like,paper" in cmd
  assert "--config.seed=2" in cmd and "--workdir=/w/hm" in cmd
  assert "--config=configs/dsin_synthetic.py:paper" in P.command("dsin", 0, "/w/d")


def test_validation_curve_and_still_rising(tmp_path):
  lines = [{"step": 50, "split": "train", "loss": 1.0},
           {"step": 100, "split": "validation", "f1": 0.30, "icc": 0.1},
           {"step": 200, "split": "validation", "f1": 0.42},
           {"step": 300, "split": "validation", "f1": 0.45}]
  (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
  curve = P.validation_curve(str(tmp_path), "f1")
  assert curve == [(100, 0.30), (200, 0.42), (300, 0.45)]
  assert P.still_rising(curve) is True                        # +.03 over the best before
  assert P.still_rising([(1, .40), (2, .405)]) is False       # within the margin
  assert P.still_rising([(1, .40), (2, .30), (3, .35)]) is False
  assert P.still_rising([(1, .40)]) is None
  assert P.validation_curve(str(tmp_path / "none"), "f1") == []


def test_paired_means_use_the_aus_defined_in_both():
  a = {"AU01": {"f1": .5, "icc": .2}, "AU02": {"f1": float("nan")}, "AU04": {"f1": .7}}
  b = {"AU01": {"f1": .3, "icc": .4}, "AU02": {"f1": .9}, "AU04": {"f1": .1}}
  got = P.paired_means(a, b, ("f1", "icc", "mae"))
  assert got["f1"] == pytest.approx((.6, .2, 2)) and got["icc"] == pytest.approx((.2, .4, 1))
  assert "mae" not in got


def test_summary_by_hand(tmp_path):
  (tmp_path / "metrics.jsonl").write_text(
      json.dumps({"step": 10, "split": "validation", "f1": .2}) + "\n"
      + json.dumps({"step": 20, "split": "validation", "f1": .25}) + "\n")
  report = {"test": {"per_au": {"AU01": {"f1": .6, "auc": .8}, "AU02": {"f1": .4, "auc": .7}}},
            "selection": {"metric": "f1", "step": 20}, "steps": 20}
  table2 = [{"method": "dsin", "seed": 0, "workdir": "/t2", "selection": {"step": 6000},
             "per_au": {"AU01": {"f1": .5, "auc": .9}, "AU02": {"f1": .2, "auc": .6}}},
            {"method": "dsin", "seed": 1, "workdir": "/t2b", "per_au": {}}]
  r = P.summarise("dsin", 0, str(tmp_path), report, {"wall_s": 12.0}, table2)
  assert r["paper_vs_table2"]["f1"] == {"paper": pytest.approx(.5), "synthetic": pytest.approx(.35),
                                        "aus": 2}
  assert r["paper_vs_table2"]["auc"]["synthetic"] == pytest.approx(.75)
  assert r["still_rising"] is True and r["table2"]["workdir"] == "/t2"
  assert "| DSIN (Corneanu et al. 2018) | 0 | F1 | 0.500 | 0.350 | 2 | 20 | yes |" in \
      P.markdown([r])


def test_methods_paper_sized_already_are_refused(tmp_path):
  with pytest.raises(SystemExit, match="gudi.*paper-sized there already"):
    P.main(["--methods=gudi", f"--workroot={tmp_path}", f"--out={tmp_path / 'p.json'}"])
