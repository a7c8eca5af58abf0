r"""How many occluded positive frames the occlusion strata get: the size of S1's data.

  python -m benchmarks.occlusion_power        # -> benchmarks/results/occlusion_power.json

docs/benchmark.md (section 4.3) decides a stratum row only on AUs with at
least 30 positive frames in the stratum, and builds a larger config for S1
if the default one leaves the occluded strata short. This counts, on the
built `synthetic_au/disfa_like` (every subject; no model is trained), the
frames where an AU is positive (occurrence, intensity >= 2) and its region
occluded (`au_covered` >= .5, au_jax.strata's rule), per AU; divides by the
number of frames for a per-frame rate; and projects the expected count in
protocol "default"'s test split (a sixth of the subjects, 240 frames each)
for several numbers of subjects, with the AUs that reach 30. The built
dataset is read (built on first use) from $AU_JAX_DATA_DIR.
"""
from __future__ import annotations

import argparse

import numpy as np

from benchmarks import common

MIN_POSITIVES = 30
SIZES = (24, 96, 144, 240, 360)


def occluded_positives(index) -> tuple[np.ndarray, np.ndarray, int]:
  """(occluded positives [A], visible positives [A], frames) of a LabelIndex."""
  from au_jax import strata
  cells = strata.occlusion_cells(index.field("au_covered"))
  occ = np.asarray(index.occurrence)
  return (((occ == 1) & cells["occluded"]).sum(0), ((occ == 1) & cells["visible"]).sum(0),
          len(occ))


def projection(rate: np.ndarray, subjects: int, frames_per_subject: int) -> np.ndarray:
  """Expected occluded positives per AU in the default protocol's test split
  (round(subjects / 6) subjects, as tfds_builders.synthetic_au.protocols)."""
  return rate * max(1, round(subjects / 6)) * frames_per_subject


def main(argv=None) -> dict:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--dataset", default="disfa_like")
  ap.add_argument("--out", default="benchmarks/results/occlusion_power.json")
  args = ap.parse_args(argv)
  from au_jax.data import sources
  from configs import ccnn_synthetic
  config = ccnn_synthetic.get_config(f"dataset={args.dataset}")
  occluded = visible = 0
  frames = 0
  subjects = set()
  for split in ("train", "validation", "test"):
    s = sources.load_split(config.data, split)
    o, v, n = occluded_positives(s.index)
    occluded, visible, frames = occluded + o, visible + v, frames + n
    subjects |= set(np.asarray(s.index.subject).tolist())
    aus = list(s.info.aus)
  per_subject = frames // len(subjects)
  rate = occluded / frames
  out = {
      "command": common.command(), "dataset": f"synthetic_au/{args.dataset}",
      "aus": aus, "subjects": len(subjects), "frames": int(frames),
      "rule": "positive: occurrence (intensity >= 2); occluded: au_covered >= .5",
      "occluded_positives": occluded.tolist(), "visible_positives": visible.tolist(),
      "rate_per_frame": [round(float(r), 5) for r in rate],
      "projected_test_occluded_positives": {
          str(n): [int(round(x)) for x in projection(rate, n, per_subject)] for n in SIZES},
      "aus_reaching_30": {
          str(n): [a for a, x in zip(aus, projection(rate, n, per_subject))
                   if x >= MIN_POSITIVES] for n in SIZES},
  }
  common.write_json(args.out, out)
  for n in SIZES:
    print(f"{n:4d} subjects: test occluded positives {out['projected_test_occluded_positives'][str(n)]}"
          f"  AUs >= 30: {out['aus_reaching_30'][str(n)]}")
  return out


if __name__ == "__main__":
  main()
