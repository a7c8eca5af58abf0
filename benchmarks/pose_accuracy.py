r"""Error of the head pose estimate (au_jax/face/pose.py) on faces of known pose.

  python -m benchmarks.pose_accuracy --out=benchmarks/results/pose_accuracy.json

Projected template: the 3-D face template is projected at random known poses
(|pitch| <= 25, |yaw| <= 40, |roll| <= 20 degrees, 400-900 mm from a 640x480
camera with OpenFace's focal-length guess), Gaussian noise of --noise_px pixels is
added to the 68 landmarks, and the pose is estimated back. Per noise level: the
mean, 95th percentile and largest absolute error of pitch (pose_Rx), yaw
(pose_Ry) and roll (pose_Rz) in degrees, the median relative error of the
distance (pose_Tz), the yaw error per |yaw| bin, and the time of one estimate
(min over 5 x 100 calls, one thread). This measures the fit
(solvePnP on the template, the Euler convention), not the template's fit to a
real face nor the landmark detector.

Rendered frames of known pose (synthetic_au's renderer records yaw and pitch):
`errors_on_frames(images, yaw_deg, pitch_deg)` runs the detector and the
estimate on each frame and returns the same statistics (faces not found are
counted); point it at those frames once the renderer's sign convention is
checked on a turned frame: with OpenFace's signs, pose_Ry > 0 when the nose
points to the image's left (the subject's right), pose_Rx > 0 when it points down.
"""
from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from au_jax.face import pose
from benchmarks import common

YAW_BINS = (0, 10, 20, 30, 40)


def _stats(err_deg: np.ndarray) -> dict:
  """mean / p95 / max of absolute errors [N, 3] (pitch, yaw, roll), degrees."""
  a = np.abs(err_deg)
  return {name: dict(mean=round(float(a[:, j].mean()), 3),
                     p95=round(float(np.percentile(a[:, j], 95)), 3),
                     max=round(float(a[:, j].max()), 3))
          for j, name in enumerate(("pitch", "yaw", "roll"))}


def random_poses(n: int, rng) -> np.ndarray:
  """[n, 6] poses: Tx, Ty, Tz (mm), Rx, Ry, Rz (rad) in the benchmark's ranges."""
  e = np.radians(rng.uniform([-25, -40, -20], [25, 40, 20], (n, 3)))
  t = rng.uniform([-60, -40, 400], [60, 40, 900], (n, 3))
  return np.concatenate([t, e], 1)


def projected(n: int, noise_px: float, seed: int = 0, width: int = 640,
              height: int = 480) -> dict:
  """The statistics of `n` template projections with landmark noise `noise_px`."""
  rng = np.random.default_rng(seed)
  k = pose.camera_matrix(width, height)
  truth = random_poses(n, rng)
  est = np.stack([pose.estimate(pose.project(p, k) + rng.normal(0, noise_px, (68, 2)),
                                width, height) for p in truth])
  err = np.degrees(est[:, 3:] - truth[:, 3:])
  yaw = np.abs(np.degrees(truth[:, 4]))
  by_yaw = {}
  for lo, hi in itertools.pairwise(YAW_BINS):
    sel = (yaw >= lo) & (yaw < hi)
    if sel.any():
      by_yaw[f"|yaw| {lo}-{hi}"] = dict(n=int(sel.sum()),
                                        yaw_mean_abs=round(float(np.abs(err[sel, 1]).mean()), 3))
  lm = pose.project(truth[0], k)
  calls = []
  for _ in range(5):
    t0 = time.perf_counter()
    for _ in range(100):
      pose.estimate(lm, width, height)
    calls.append((time.perf_counter() - t0) / 100)
  return dict(n=n, noise_px=noise_px, failed=int(np.isnan(est).any(1).sum()),
              ms_per_estimate=round(1e3 * min(calls), 3),
              angles_deg=_stats(err), by_yaw=by_yaw,
              distance_median_rel_err=round(float(np.median(np.abs(est[:, 2] / truth[:, 2] - 1))),
                                            4))


def errors_on_frames(images, yaw_deg, pitch_deg, detector: str = "auto",
                     yaw_sign: float = 1.0, pitch_sign: float = 1.0) -> dict:
  """Pose error on rendered RGB frames of known yaw and pitch (degrees).

  Each frame is a still: its largest face is detected (au_jax/face/tracking.py,
  `detector`), its 68 landmarks fitted and its pose estimated with the camera
  guessed from the frame size. The renderer's angles are compared with
  yaw_sign * pose_Ry and pitch_sign * pose_Rx (OpenFace's signs: R = Rx Ry Rz
  applied to a face in camera axes, x right, y down, z away from the camera).
  Returns {n, found, yaw: {mean, p95, max}, pitch: {...}} in degrees.
  """
  from au_jax.face.tracking import FaceTracker
  tracker = FaceTracker(detector, detect_every=1, max_faces=1)
  err = []
  for img, yaw, pitch in zip(images, yaw_deg, pitch_deg):
    tracker.reset()
    faces = tracker(np.asarray(img))
    if not faces:
      continue
    h, w = np.asarray(img).shape[:2]
    p = pose.estimate(faces[0].landmarks68, w, h)
    if np.isfinite(p).all():
      err.append([pitch_sign * np.degrees(p[3]) - pitch, yaw_sign * np.degrees(p[4]) - yaw])
  out = dict(n=len(yaw_deg), found=len(err))
  if err:
    a = np.abs(np.asarray(err))
    for j, name in enumerate(("pitch", "yaw")):
      out[name] = dict(mean=round(float(a[:, j].mean()), 3),
                       p95=round(float(np.percentile(a[:, j], 95)), 3),
                       max=round(float(a[:, j].max()), 3))
  return out


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--n", type=int, default=1000, help="poses per noise level")
  ap.add_argument("--noise_px", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0])
  ap.add_argument("--seed", type=int, default=0)
  ap.add_argument("--out", default=f"{common.RESULTS}/pose_accuracy.json")
  args = ap.parse_args(argv)
  t0 = time.perf_counter()
  runs = [projected(args.n, s, args.seed) for s in args.noise_px]
  result = dict(what="head pose error on the 3-D template projected at known poses "
                     "(|pitch|<=25, |yaw|<=40, |roll|<=20 deg, 400-900 mm, 640x480 camera), "
                     "landmark noise noise_px (Gaussian sigma, pixels)",
                runs=runs, seconds=round(time.perf_counter() - t0, 2),
                environment=common.environment())
  common.write_json(args.out, result)
  for r in runs:
    a = r["angles_deg"]
    print(f"noise {r['noise_px']:.1f} px: mean |err| pitch {a['pitch']['mean']:.2f}  yaw "
          f"{a['yaw']['mean']:.2f}  roll {a['roll']['mean']:.2f} deg; max {a['pitch']['max']:.2f} "
          f"/ {a['yaw']['max']:.2f} / {a['roll']['max']:.2f}; distance "
          f"{100 * r['distance_median_rel_err']:.2f}%")
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
