"""benchmarks/ccnn_ablation.py: the paired claims (pure functions)."""
import numpy as np

from benchmarks import ccnn_ablation as ablation


def _run(name, seed, icc):
  per_au = {f"AU{a:02d}": {"icc": icc + 0.01 * a, "mae": 0.3} for a in (1, 2, 6, 12)}
  dec = {"per_au": per_au, "mean": {"icc": icc, "mae": 0.3}}
  return {"name": name, "seed": seed, "multi": False, "map": dec, "expected": dec,
          "base_rate": {k: 0.1 for k in per_au}}


def test_interaction_scnn_claims_are_paired_by_seed():
  runs = []
  for seed, shift in enumerate((0.05, 0.06, 0.04)):
    runs += [_run("SCNN", seed, 0.5), _run("SCNN [interaction]", seed, 0.5 + shift),
             _run("CCNN", seed, 0.6)]
  assert ablation.run_name("scnn", True, table="interaction") == "SCNN-IT [interaction]"
  got = {c["claim"]: c for c in ablation.claims(runs) if c["decoding"] == "map"}
  c = got["SCNN's table without row/column offsets is better (not a paper claim)"]
  np.testing.assert_allclose(c["diffs"], [0.05, 0.06, 0.04], atol=1e-12)
  assert c["verdict"] == "holds"
  c = got["copula beats linear pairwise (interaction table)"]
  np.testing.assert_allclose(c["diffs"], [0.05, 0.04, 0.06], atol=1e-12)
