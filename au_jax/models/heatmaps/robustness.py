"""Robustness to landmark noise (Sanchez et al., BMVC 2018, Sec. 5, Fig. 4).

  python -m au_jax.models.heatmaps.robustness --workdir=runs/heatmaps \
      --sigmas=0,5,10,15,20,25,30,35,40,45,50,55

A trained model is evaluated on the test split with Gaussian noise of sd
sigma added to each landmark before registration: every test record (an
aligned face and its 68 landmarks) is re-registered with its noisy
landmarks (`augment.noisy_registration`, the data's registration method)
and predicted. Sigma is in pixels at the paper's 256 px scale and scaled to
the records' size (sigma * S / 256). The noise of each record is one fixed
standard-normal draw times sigma (common random numbers: the curve's
steps come from sigma, not from redrawing). Writes

  noise_robustness.json   sigmas, mean and per-AU ICC(3,1) and MSE, and
                          `icc_drop_sigma`: the sigma at which the mean ICC
                          first falls 10% below its sigma = 0 value (linear
                          interpolation between the evaluated sigmas; null if
                          it never does). The paper: degradation from ~13 px.
                          `icc_by_yaw`: the mean ICC at each sigma within each
                          |yaw| bin of au_jax.strata (records with a head pose;
                          `records_by_yaw` counts them).
  plots/noise_robustness.png  ICC and MSE against sigma (Fig. 4's two plots).
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np

from au_jax import metrics as M
from au_jax import strata
from au_jax.data import transforms as T
from au_jax.face.transforms import transform_points, warp_image
from au_jax.io import atomic_write
from au_jax.models.heatmaps import augment
from au_jax.models.heatmaps.report import load_test
from au_jax.viz import _save, figure


def drop_level(sigmas, values, fraction: float = 0.1) -> float | None:
  """First sigma where `values` falls below (1 - fraction) * values[0],
  linearly interpolated between the two bracketing sigmas; None if never."""
  sigmas, values = np.asarray(sigmas, float), np.asarray(values, float)
  level = (1.0 - fraction) * values[0]
  for k in range(1, len(values)):
    if values[k] < level:
      s0, s1, v0, v1 = sigmas[k - 1], sigmas[k], values[k - 1], values[k]
      return float(s0 + (v0 - level) / (v0 - v1) * (s1 - s0))
  return None


def noisy_faces(faces, landmarks, z, sigma_px: float, method: str):
  """Faces [N, S, S, 3] uint8 and landmarks [N, 68, 2] re-registered with
  landmarks + sigma_px * z (z: [N, 68, 2] standard normal)."""
  size = faces.shape[1]
  out_f, out_l = np.empty_like(faces), np.empty(landmarks.shape, np.float32)
  for i in range(len(faces)):
    noise = sigma_px * z[i]
    m = augment.noisy_registration(landmarks[i], noise, size, method)
    out_f[i] = warp_image(faces[i], m, size)
    out_l[i] = transform_points(landmarks[i] + noise, m)
  return out_f, out_l


def evaluate_noise(workdir: str, sigmas, seed: int = 0, batch_size: int = 32) -> dict:
  """ICC and MSE of the test split at each sigma; writes the JSON and plot."""
  predictor, split = load_test(workdir, batch_size)
  recs = [split.source[i] for i in range(len(split.source))]
  faces = np.stack([T.decode(r["image"]) for r in recs])
  landmarks = np.stack([r["landmarks"] for r in recs]).astype(np.float64)
  true = np.where(np.asarray(predictor.info.intensity_coded)[None],
                  np.stack([r["intensity"] for r in recs]), -1)
  z = np.random.default_rng(seed).standard_normal(landmarks.shape)
  scale = faces.shape[1] / augment.PAPER_INPUT
  # |yaw| bins of the records that carry a head pose (au_jax.strata's bins)
  yaw = split.index.field("yaw")   # None where the data has no pose
  yaw_bins = {} if yaw is None else {k: m for k, m in strata.yaw_records(yaw).items() if m.any()}
  icc, mse, icc_yaw = [], [], {k: [] for k in yaw_bins}
  for s in sigmas:
    f, lm = noisy_faces(faces, landmarks, z, s * scale, predictor.alignment)
    pred = predictor.predict(f, lm)["intensity"]
    m = M.intensity_metrics(true, pred)
    icc.append(np.asarray(m["icc"], float))
    mse.append(np.asarray(m["mse"], float))
    for k, rows in yaw_bins.items():
      icc_yaw[k].append(M.finite_mean(M.intensity_metrics(true[rows], pred[rows])["icc"]))
  mean_icc = [float(np.nanmean(v)) for v in icc]
  result = {
      "workdir": workdir, "aus": list(predictor.info.aus), "records": len(recs),
      "sigmas_256px": [float(s) for s in sigmas], "sigma_scale": scale, "seed": seed,
      "icc": mean_icc, "mse": [float(np.nanmean(v)) for v in mse],
      "icc_per_au": [v.tolist() for v in icc], "mse_per_au": [v.tolist() for v in mse],
      "icc_drop_sigma": drop_level(sigmas, mean_icc, 0.1),
      # mean ICC over AUs per sigma within each |yaw| bin (records with a pose only)
      "icc_by_yaw": icc_yaw, "records_by_yaw": {k: int(m.sum()) for k, m in yaw_bins.items()},
  }
  atomic_write(os.path.join(workdir, "noise_robustness.json"),
               json.dumps(result, indent=1).replace("NaN", "null"))
  plot_curves(result, os.path.join(workdir, "plots", "noise_robustness.png"))
  return result


def plot_curves(result: dict, path: str) -> None:
  s = result["sigmas_256px"]
  fig = figure(figsize=(9, 3.4))
  a, b = fig.subplots(1, 2)
  a.plot(s, result["icc"], "o-")
  if result["icc_drop_sigma"] is not None:
    a.axvline(result["icc_drop_sigma"], ls="--", c="grey",
              label=f"ICC -10% at {result['icc_drop_sigma']:.1f} px")
    a.legend(fontsize=8)
  a.set(xlabel="landmark noise sd (px at 256)", ylabel="mean ICC(3,1)")
  b.plot(s, result["mse"], "o-", c="C3")
  b.set(xlabel="landmark noise sd (px at 256)", ylabel="mean MSE")
  fig.suptitle("Robustness to landmark noise (Fig. 4)", fontsize=9)
  _save(fig, path)


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--workdir", required=True)
  p.add_argument("--sigmas", default="0,5,10,15,20,25,30,35,40,45,50,55",
                 help="comma-separated noise sds in px at the 256 px scale")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--batch_size", type=int, default=32)
  args = p.parse_args(argv)
  sigmas = [float(x) for x in args.sigmas.split(",")]
  r = evaluate_noise(args.workdir, sigmas, args.seed, args.batch_size)
  for s, i, m in zip(r["sigmas_256px"], r["icc"], r["mse"]):
    print(f"sigma {s:5.1f} px: ICC {i:.3f}  MSE {m:.3f}")
  print(f"ICC falls by 10% at sigma = {r['icc_drop_sigma']} px (at 256 px); "
        f"{args.workdir}/noise_robustness.json, plots/noise_robustness.png")


if __name__ == "__main__":
  main()
