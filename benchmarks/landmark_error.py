r"""Landmark error of each face backend against known landmarks.

  python -m benchmarks.landmark_error --out=benchmarks/results/landmark_error.json

Faces with known landmarks:
  fixture    the builders' fixture face (tests/fixtures/raw_trees.py: the
             canonical template drawn as a cartoon face, 9 background levels),
             upscaled x8 (288-px face) so that both detectors can see it;
  synthetic  frames rendered by the synthetic_au generator (disfa_like style,
             160 x 160, random subjects, AU levels, pose +-15 deg, light, no
             occluder), with the renderer's TRUE landmarks;
  real       the two real photographs of au_jax.inference.demo_media
             (astronaut, Grace Hopper): no ground truth, so Haar is compared
             with dlib.

Per backend: faces found, and for found faces the normalised mean error
(mean point error over the 68 points / inter-ocular distance, eye centre to
eye centre) and the eye-centre error / IOD (what eye-based registration uses).
The largest face per image is taken, as `detect_landmarks` does.
"""
from __future__ import annotations

import argparse
import json

import cv2
import numpy as np

from au_jax.face import detect
from au_jax.face.template import eye_centres
from benchmarks import common


def errors(found: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
  r, l = eye_centres(truth)
  iod = np.linalg.norm(l - r)
  nme = np.linalg.norm(found - truth, axis=1).mean() / iod
  fr, fl = eye_centres(found)
  eye = max(np.linalg.norm(fr - r), np.linalg.norm(fl - l)) / iod
  return float(nme), float(eye)


def fixture_faces(scale: int = 8):
  from tests.fixtures import raw_trees as rt
  truth = (rt.face_landmarks() + 0.5) * scale - 0.5    # pixel centres under resize
  for i in range(9):
    img = cv2.resize(rt.draw_frame(i), None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    yield img, truth


def synthetic_faces(n: int, seed: int = 0):
  from tfds_builders.synthetic_au import render
  style = render.STYLES["disfa_like"]
  rng = np.random.default_rng(seed)
  for k in range(n):
    ident = render.make_identity(np.random.default_rng([seed, k]), style, 160)
    levels = rng.integers(0, 6, 16) * (rng.uniform(size=16) < 0.3)
    nuis = render.sample_nuisance(rng, style, occluder_rate=0.0, landmark_noise=0.0)
    img, true_lm, _ = render.render_frame(ident, levels, nuis, style, 160, rng)
    yield img, true_lm


def measure(faces, backend: str) -> dict:
  nme, eye, n = [], [], 0
  for img, truth in faces:
    n += 1
    found = detect.detect_landmarks(img, backend=backend)
    if found is None:
      continue
    a, b = errors(found, truth)
    nme.append(a)
    eye.append(b)
  return dict(images=n, found=len(nme),
              nme_mean=float(np.mean(nme)) if nme else None,
              nme_median=float(np.median(nme)) if nme else None,
              eye_error_mean=float(np.mean(eye)) if eye else None,
              eye_error_median=float(np.median(eye)) if eye else None)


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--out", default="benchmarks/results/landmark_error.json")
  ap.add_argument("--synthetic", type=int, default=60, help="synthetic frames")
  args = ap.parse_args(argv)
  backends = ["haar"] + (["dlib"] if detect.dlib_available() else [])
  result = dict(metric="NME = mean 68-point error / inter-ocular distance (eye centres); "
                       "eye = worse eye-centre error / IOD", backends={})
  for b in backends:
    result["backends"][b] = dict(fixture=measure(fixture_faces(), b),
                                 synthetic=measure(synthetic_faces(args.synthetic), b))
  if "dlib" in backends:
    from au_jax.inference import demo_media
    real = {}
    for name in ("astronaut", "grace_hopper"):
      img = demo_media.photos()[name]
      ref = detect.detect_landmarks(img, backend="dlib")
      got = detect.detect_landmarks(img, backend="haar")
      real[name] = (dict(zip(("nme", "eye_error"), errors(got, ref)))
                    if ref is not None and got is not None else None)
    result["real_haar_vs_dlib"] = real
  common.write_json(args.out, result)
  print(json.dumps(result, indent=1))


if __name__ == "__main__":
  main()
