r"""What a model trained on synthetic_au reads on real photographs (a check by eye).

  python -m benchmarks.realism_check --workdir=runs/ccnn \
      --out=benchmarks/results/realism_check.json --figure=benchmarks/results/realism_check.png \
      --write_photos=/tmp/realism_photos
  python -m au_jax.predict --workdir=runs/ccnn --input /tmp/realism_photos --output=/tmp/realism.csv \
      --detect_width=512

No ground truth and no download: the photographs are the public-domain ones
that installed packages ship (`au_jax.inference.demo_media.photos()`):

  astronaut               scikit-image `data.astronaut()`: astronaut Eileen Collins,
                          NASA, public domain. A posed smile with teeth shown.
  grace_hopper            matplotlib `sample_data/grace_hopper.jpg`: Rear Admiral
                          Grace Hopper, US Navy, public domain. A near-neutral face
                          with glasses and deep age wrinkles.
  astronaut_brows_raised  the astronaut photograph EDITED here: the brows and the
                          skin between them and the hairline moved up by a smooth
                          displacement field (at most `BROW_LIFT` px, about a fifth
                          of her inter-ocular distance). No shipped public-domain
                          photograph shows raised brows, so this is the only 1+2
                          probe; it has the geometry of AU1+2, not its forehead
                          wrinkles.

Each photograph goes through `Predictor` as `python -m au_jax.predict` runs it
(detector `auto`: dlib when installed, else OpenCV Haar; the largest face;
the model's alignment and transform) and the JSON keeps, per AU, the decoded
intensity the CSV's `AUxx_r` holds (when the CLI detects on the full-size
photograph, `--detect_width=512`: its default detects on a 320-px copy, which
moves the face box and can flip a MAP decoding), the expected intensity under the model's
marginals and the occurrence probability where the model gives them. The
JSON also keeps the readings of the astronaut at brow lifts of 0-16 px (a
dose-response of the edit), and the readings of synthetic frames of the
model's own renderer (`synthetic_probe`: 8 new identities, frontal, AU1+2
with and without its forehead folds or its brow motion, and a smile), which
tell a miss of the domain gap from a miss of the training data. The figure
shows each photograph's face, the model's input and the readings.
Nothing is asserted: the FACS reading of each photograph is in docs/benchmark.md.
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np

from benchmarks import common

SOURCES = {
    "astronaut": "scikit-image skimage.data.astronaut(): astronaut Eileen Collins, NASA, "
                 "public domain",
    "grace_hopper": "matplotlib mpl-data/sample_data/grace_hopper.jpg: Rear Admiral Grace "
                    "Hopper, US Navy, public domain",
    "astronaut_brows_raised": "the astronaut photograph, brows raised by a displacement "
                              "field (benchmarks/realism_check.py:raise_brows); an edit, not "
                              "a real expression",
}
# The astronaut photograph's brow band (512 x 512 pixels, read off the photograph):
# brows at y ~ 90-94 over x ~ 190-262, eyes at y ~ 101, hairline at y ~ 70.
BROW_LIFT = 8.0      # pixels at the brow line (her inter-ocular distance is ~42 px)
_BROW_Y, _BROW_SD_Y = 90.0, 7.0
_BROW_X, _BROW_SD_X = 226.0, 34.0
LIFTS = (0.0, 4.0, 8.0, 12.0, 16.0)     # the dose-response of the edit, in px


def raise_brows(rgb: np.ndarray, lift: float = BROW_LIFT) -> np.ndarray:
  """The astronaut photograph with the brow band moved up by a smooth field.

  out(x, y) = in(x, y + d(x, y)), d = lift * exp(-((y - y_b) / s_y)^2 / 2) *
  exp(-((x - x_b) / s_x)^2 / 2): content comes from below, so the brows rise
  by about `lift` px, the upper lids open a little and the eyes themselves
  (11 px below the brow line) move by under a third of that.
  """
  import cv2
  h, w = rgb.shape[:2]
  y, x = np.mgrid[0:h, 0:w].astype(np.float32)
  d = lift * np.exp(-0.5 * ((y - _BROW_Y) / _BROW_SD_Y) ** 2) \
      * np.exp(-0.5 * ((x - _BROW_X) / _BROW_SD_X) ** 2)
  return cv2.remap(rgb, x, (y + d).astype(np.float32), cv2.INTER_CUBIC,
                   borderMode=cv2.BORDER_REFLECT)


PROBE_LEVEL = 4
PROBE_SUBJECTS = 8


def probe_frames(variant: str, level: float = PROBE_LEVEL, subjects: int = PROBE_SUBJECTS):
  """Frontal synthetic_au frames (disfa_like look, default confounders, mild
  light and camera) of new identities, for one variant: "neutral", "1+2"
  (AU1 and AU2 at `level`), "1+2 motion only" (without the forehead folds),
  "1+2 folds only" (without the brow motion) or "6+12+25". Returns (images,
  true landmarks)."""
  import dataclasses

  from au_jax.aus import SYNTHETIC_AUS
  from tfds_builders.synthetic_au import render
  levels = {"neutral": {}, "1+2": {1: level, 2: level}, "1+2 motion only": {1: level, 2: level},
            "1+2 folds only": {1: level, 2: level},
            "6+12+25": {6: level, 12: level, 25: level}}[variant]
  style = render.STYLES["disfa_like"]
  cue_layers, motion = render._cue_layers, dict(render.AU_DISPLACEMENTS)

  def without_folds(p, s, ident, f, size):
    return cue_layers(p, {**s, 1: 0.0, 2: 0.0}, ident, f, size)

  images, landmarks = [], []
  try:
    if variant == "1+2 motion only":
      render._cue_layers = without_folds
    if variant == "1+2 folds only":
      render.AU_DISPLACEMENTS.update({1: motion[1] * 0, 2: motion[2] * 0})
    for i in range(subjects):
      ident = render.make_identity(np.random.default_rng([77, i]), style, 160,
                                   render.CONFOUNDERS)
      ident = dataclasses.replace(ident, hairline=min(ident.hairline, 0.06))   # forehead visible
      lv = np.array([levels.get(a, 0) for a in SYNTHETIC_AUS], float)
      nuis = render.Nuisance(light=(0.0, 30.0, 0.5), face_size=34.0, noise_sd=2.0,
                             jpeg_quality=90)
      frame = render.render_frame(ident, lv, nuis, style, 160, np.random.default_rng(i))
      images.append(frame.image)
      landmarks.append(frame.landmarks)
  finally:
    render._cue_layers = cue_layers
    render.AU_DISPLACEMENTS.update(motion)
  return images, landmarks


def synthetic_probe(predictor, aus) -> dict:
  """Mean expected intensity of each AU over the probe frames of each variant
  (aligned on their true landmarks)."""
  import jax
  out = {}
  for variant in ("neutral", "1+2", "1+2 motion only", "1+2 folds only", "6+12+25"):
    images, landmarks = probe_frames(variant)
    aligned = [predictor.align(im, lm) for im, lm in zip(images, landmarks)]
    batch = predictor.transform_batch(np.stack([a.image for a in aligned]),
                                      np.stack([a.landmarks for a in aligned]))
    res = jax.device_get(jax.jit(predictor.method.predict)(predictor.variables, batch))
    val = np.asarray(res.get("intensity_expected", res["intensity"]), float).mean(0)
    out[variant] = {f"AU{a:02d}": round(float(v), 3) for a, v in zip(aus, val)}
  return out


def photographs() -> dict[str, np.ndarray]:
  from au_jax.inference import demo_media
  p = demo_media.photos()
  return {"astronaut": p["astronaut"], "grace_hopper": p["grace_hopper"],
          "astronaut_brows_raised": raise_brows(p["astronaut"])}


def read_photo(predictor, rgb: np.ndarray, detector: str) -> dict | None:
  """The model's outputs for the largest face of one photograph (None: no face)."""
  import jax
  aligned = predictor.align(rgb, None, detector)
  if aligned is None:
    return None
  batch = predictor.transform_batch(aligned.image[None], aligned.landmarks[None])
  out = jax.device_get(jax.jit(predictor.method.predict)(predictor.variables, batch))
  # What the CSV holds (AUxx_r), from the same call the command line makes.
  csv = predictor.predict(aligned.image[None], aligned.landmarks[None])
  res = {"aligned": aligned.image, "input": np.asarray(batch["image"][0]),
         "intensity": np.asarray(csv["intensity"][0], float)}
  for key in ("intensity_expected", "occurrence"):
    if key in out and np.ndim(out[key]) == 2:
      res[key] = np.asarray(out[key][0], float)
  return res


def figure(readings: dict, aus, path: str) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  names = list(readings)
  fig, axes = plt.subplots(len(names), 3, figsize=(11, 3.2 * len(names)),
                           gridspec_kw={"width_ratios": [1, 1, 2.4]})
  axes = np.atleast_2d(axes)
  for row, name in zip(axes, names):
    r = readings[name]
    if r is None:
      row[0].set_title(f"{name}: no face")
      continue
    row[0].imshow(r["aligned"])
    row[0].set_title(name, fontsize=9)
    img = r["input"]
    row[1].imshow(img[..., 0] if img.shape[-1] == 1 else
                  (img - img.min()) / max(float(np.ptp(img)), 1e-6), cmap="gray")
    row[1].set_title("model input", fontsize=9)
    for a in row[:2]:
      a.axis("off")
    x = np.arange(len(aus))
    row[2].bar(x - 0.2, r["intensity"], 0.4, label="decoded (AUxx_r)")
    if "intensity_expected" in r:
      row[2].bar(x + 0.2, r["intensity_expected"], 0.4, label="expected")
    row[2].set_xticks(x, [f"{a}" for a in aus], fontsize=8)
    row[2].set_ylim(0, 5)
    row[2].set_ylabel("intensity")
    row[2].legend(fontsize=7, loc="upper left")
  fig.tight_layout()
  fig.savefig(path, dpi=80)
  plt.close(fig)


def main(argv=None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--workdir", required=True, help="a finished training workdir")
  ap.add_argument("--out", required=True, help="JSON to write")
  ap.add_argument("--figure", default="", help="PNG: faces, model inputs, readings")
  ap.add_argument("--detector", default="auto", choices=("auto", "haar", "dlib"))
  ap.add_argument("--write_photos", default="",
                  help="also write the three photographs as PNGs into this folder "
                       "(to run python -m au_jax.predict on them)")
  args = ap.parse_args(argv)

  from au_jax.face import detect
  from au_jax.predict import Predictor
  predictor = Predictor.from_workdir(args.workdir)
  aus = [int(a) for a in predictor.info.aus]
  photos_rgb = photographs()
  if args.write_photos:
    import cv2
    os.makedirs(args.write_photos, exist_ok=True)
    for name, rgb in photos_rgb.items():
      cv2.imwrite(os.path.join(args.write_photos, f"{name}.png"),
                  cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
  readings = {name: read_photo(predictor, rgb, args.detector) for name, rgb in photos_rgb.items()}
  # Dose-response of the edit: the expected intensity of each AU at each brow lift.
  lift_response = {}
  for lift in LIFTS:
    r = read_photo(predictor, raise_brows(photos_rgb["astronaut"], lift), args.detector)
    key = "intensity_expected" if r is not None and "intensity_expected" in r else "intensity"
    lift_response[f"{lift:g}"] = None if r is None else {
        f"AU{a:02d}": round(float(v), 3) for a, v in zip(aus, r[key])}

  probe = synthetic_probe(predictor, aus)

  with open(os.path.join(args.workdir, "config.json")) as f:
    config = json.load(f)
  report_path = os.path.join(args.workdir, "report.json")
  test_mean = None
  if os.path.exists(report_path):
    with open(report_path) as f:
      test_mean = json.load(f).get("test", {}).get("mean")
  backend = args.detector if args.detector != "auto" else (
      "dlib" if detect.dlib_available() else "haar")
  photos = {}
  for name, r in readings.items():
    entry = {"source": SOURCES[name], "face_found": r is not None}
    if r is not None:
      for key in ("intensity", "intensity_expected", "occurrence"):
        if key in r:
          entry[key] = {f"AU{a:02d}": round(float(v), 3) for a, v in zip(aus, r[key])}
    photos[name] = entry
  result = {
      "command": "python -m benchmarks.realism_check " + " ".join(
          f"--{k}={v}" for k, v in vars(args).items() if v),
      "model": {"workdir": args.workdir, "name": config["model"]["name"],
                "variant": config["model"].get("variant"),
                "datasets": [s["name"] for s in config["data"]["sources"]],
                "seed": config.get("seed"), "checkpoint_step": predictor.step,
                "test_mean": test_mean},
      "detector": backend, "aus": aus,
      "notes": ("intensity = decoded intensity, as AUxx_r of python -m au_jax.predict; "
                "intensity_expected = sum of level x marginal probability; occurrence = "
                "P(intensity >= the occurrence level). No ground truth: the FACS reading "
                "of each photograph is in docs/benchmark.md."),
      "brow_lift_px": BROW_LIFT, "photos": photos,
      "brow_lift_response": {"what": "astronaut with the brows raised by each lift (px): "
                                     "expected intensity (decoded where the model has no "
                                     "marginals)", "by_lift": lift_response},
      "synthetic_probe": {"what": f"mean expected intensity over {PROBE_SUBJECTS} frontal "
                                  f"synthetic_au frames of new identities per variant, AUs at "
                                  f"level {PROBE_LEVEL} (benchmarks/realism_check.py:"
                                  f"probe_frames)", "by_variant": probe},
      "environment": common.environment()}
  common.write_json(args.out, result)
  if args.figure:
    figure(readings, aus, args.figure)
  for name, e in photos.items():
    vals = e.get("intensity_expected") or e.get("intensity") or {}
    print(name, " ".join(f"{k}={v:.2f}" for k, v in vals.items()))
  for name, vals in probe.items():
    print("synthetic", name, " ".join(f"{k}={v:.2f}" for k, v in vals.items()))


if __name__ == "__main__":
  main()
