"""benchmarks/common.py's timer, both orders: which calls each makes, in what
order, and that the medians are of the timed calls only (a fake clock that
each contestant's call advances by its own known cost; no JAX needed)."""
import numpy as np
import pytest

from benchmarks import common


class _Clock:
  def __init__(self):
    self.now = 0.0

  def perf_counter(self):
    return self.now


def _contestants(clock, calls, costs):
  """fn(steps) records (name, steps); the n-th call of `name` costs costs[name](n) s per step."""
  def make(name):
    def fn(steps):
      n = sum(1 for c in calls if c[0] == name)
      calls.append((name, steps))
      clock.now += costs[name](n) * steps
    return fn
  return {name: make(name) for name in costs}


@pytest.fixture
def clock(monkeypatch):
  c = _Clock()
  monkeypatch.setattr(common.time, "perf_counter", c.perf_counter)
  return c


def test_blocks_runs_each_contestant_back_to_back_and_drops_the_first_call(clock):
  calls = []
  # each block's first call is slow (10 s/step): it must not be timed
  costs = {"jax": lambda n: 10.0 if n in (0, 4) else 1.0 + 0.01 * n,
           "torch": lambda n: 10.0 if n in (0, 4) else 2.0}
  out = common.time_calls(_contestants(clock, calls, costs), steps=2, repeats=3, order="blocks")
  med, raw = {k: v["s"] for k, v in out.items()}, {k: v["each_s"] for k, v in out.items()}
  names = [c[0] for c in calls]
  assert names == ["jax"] * 4 + ["torch"] * 4 + ["torch"] * 4 + ["jax"] * 4
  assert all(steps == 2 for _, steps in calls)
  np.testing.assert_allclose(raw["jax"], [1.01, 1.02, 1.03, 1.05, 1.06, 1.07])
  np.testing.assert_allclose(raw["torch"], [2.0] * 6)
  assert med == pytest.approx({"jax": 1.04, "torch": 2.0})


def test_interleaved_alternates_with_the_order_rotated(clock):
  calls = []
  costs = {"a": lambda n: 1.0, "b": lambda n: 3.0 if n == 2 else 2.0, "c": lambda n: 0.5}
  out = common.time_calls(_contestants(clock, calls, costs), steps=1, repeats=3, warmup=1)
  med, raw = {k: v["s"] for k, v in out.items()}, {k: v["each_s"] for k, v in out.items()}
  # one untimed warm-up call each (the costs' n counts it), then the rotated rounds
  assert [c[0] for c in calls] == ["a", "b", "c"] + ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
  assert raw == {"a": [1.0] * 3, "b": [2.0, 3.0, 2.0], "c": [0.5] * 3}
  assert med == {"a": 1.0, "b": 2.0, "c": 0.5}
