"""How visible each AU is in synthetic_au, against how much subjects differ.

For every AU and subject (identities drawn with the default identity
confounders, render.CONFOUNDERS), the head canvas is rendered (no pose, light
or noise) at neutral and with only that AU at level k = 1..5, at the
default cue ratio (render.CUE_RATIO, the builder's `cue_ratio`). Images are grey
levels relative to the subject's skin tone (exposure changes per frame
anyway, so a darker skin is not counted as identity variation).

  region_i   = the AU's footprint on subject i: pixels of the face (inside its
               outline at level 0 or 5) whose grey changes by more than
               FOOTPRINT at level 5; hair and neck belong to the subject,
               not to an AU
  effect[k]  = mean over subjects of mean_{region_i} |g_i(k) - g_i(0)|
  spread     = sd over subjects (ddof 1) of mean_{region_i} g_i(0): how much
               the same region looks different from subject to subject at
               neutral (texture, shading, age folds, feature shape)
  ratio[k]   = effect[k] / spread

A ratio of ~1 at level 1 means a level-1 face of one subject looks like a
neutral face of another in that region: the ambiguity FACS coders face at
levels A-B, which synthetic_au 2.0 aims for (1.x had >= 1.5).

  python -m tfds_builders.synthetic_au.measure_cues [--subjects 24] [--scale]
"""
from __future__ import annotations

import argparse

import numpy as np

from au_jax.aus import MAX_INTENSITY, SYNTHETIC_AUS
from tfds_builders.synthetic_au import render

FOOTPRINT = 0.05   # grey change (fraction of skin tone) that marks the AU's region
SIZE = 160         # the builders' raw_size


def _grey(ident, levels, style, cue_ratio):
  """(grey / skin tone [C, C], face mask [C, C] bool) of the head canvas."""
  img, _, p, _ = render.render_face(ident, levels, style, SIZE, cue_ratio=cue_ratio)
  return img.mean(-1) / ident.skin.mean(), render.face_mask(p, SIZE) > 127


def cue_ratios(style: str = "disfa_like", num_subjects: int = 24, seed: int = 0,
               cue_ratio: float = render.CUE_RATIO, confounders=None) -> dict:
  """Per AU (SYNTHETIC_AUS order): effect [16, 5], spread [16], ratio [16, 5].

  confounders: {name: (probability, strength)}, default render.CONFOUNDERS.
  """
  st = render.STYLES[style]
  conf = render.CONFOUNDERS if confounders is None else confounders
  idents = [render.make_identity(np.random.default_rng([seed, i]), st, SIZE, conf)
            for i in range(num_subjects)]
  neutral = [_grey(ident, {}, st, cue_ratio) for ident in idents]
  effect = np.zeros((len(SYNTHETIC_AUS), MAX_INTENSITY))
  spread = np.zeros(len(SYNTHETIC_AUS))
  for a, au in enumerate(SYNTHETIC_AUS):
    eff, region_mean = [], []
    for ident, (g0, face0) in zip(idents, neutral):
      levels, faces = zip(*[_grey(ident, {au: k}, st, cue_ratio)
                            for k in range(1, MAX_INTENSITY + 1)])
      region = (np.abs(levels[-1] - g0) > FOOTPRINT) & (face0 | faces[-1])
      eff.append([np.abs(g[region] - g0[region]).mean() for g in levels])
      region_mean.append(g0[region].mean())
    effect[a] = np.mean(eff, 0)
    spread[a] = np.std(region_mean, ddof=1)
  return dict(aus=SYNTHETIC_AUS, effect=effect, spread=spread,
              ratio=effect / spread[:, None])


def table(result: dict) -> str:
  """Markdown table: AU, spread, effect and ratio at levels 1..5."""
  rows = ["| AU | spread | effect 1..5 | ratio 1..5 |", "|---|---|---|---|"]
  for au, sd, e, r in zip(result["aus"], result["spread"], result["effect"], result["ratio"]):
    rows.append(f"| {au} | {sd:.3f} | {' '.join(f'{v:.3f}' for v in e)} | "
                f"{' '.join(f'{v:.1f}' for v in r)} |")
  return "\n".join(rows)


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--subjects", type=int, default=24)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--cue_ratio", type=float, default=render.CUE_RATIO)
  parser.add_argument("--scale", action="store_true",
                      help="print render.CUE_SCALE (spread / level-5 effect, mean of the styles)")
  args = parser.parse_args()
  if args.scale:
    res = [cue_ratios(n, args.subjects, args.seed, args.cue_ratio) for n in render.STYLES]
    scale = np.mean([r["spread"] / r["effect"][:, -1] for r in res], 0)
    print({a: round(float(v), 4) for a, v in zip(SYNTHETIC_AUS, scale)})
    raise SystemExit
  for name in render.STYLES:
    res = cue_ratios(name, args.subjects, args.seed, args.cue_ratio)
    print(f"## {name}\n\n{table(res)}\n\nmedian ratio at level 1: "
          f"{np.median(res['ratio'][:, 0]):.2f}, at level 2: {np.median(res['ratio'][:, 1]):.2f}\n")
