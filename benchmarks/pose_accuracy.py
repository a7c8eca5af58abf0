r"""Error of the head pose estimate (au_jax/face/pose.py) on faces of known pose.

  python -m benchmarks.pose_accuracy --out=benchmarks/results/pose_accuracy.json
  python -m benchmarks.pose_accuracy --n 10 --noise_px 0 --rendered 20 --out=/tmp/pose.json

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

Rendered frames (`rendered`): synthetic_au 2.0's renderer
(tfds_builders/synthetic_au/render.py) draws raw frames, before any
alignment, of random subjects with random AU intensities at known yaw, pitch
and roll (same ranges; head scale 0.8-1.1, shift up to 5 % of the frame), a
--size square frame, no blur, noise or JPEG. Raw frames, not the dataset's
records: a record's face is aligned (roll and scale undone, cropped), so its
pose is not the frame's and its camera is not the one predict guesses from a
frame's size. The renderer's angles are converted to OpenFace's
(`openface_angles`: z toward the camera there, away here; R = Rz Ry Rx there,
Rx Ry Rz here; to first order pose_Rx = pitch, pose_Ry = -yaw,
pose_Rz = -roll: pose_Ry > 0 when the nose points to the image's left, the
subject's right, pose_Rx > 0 when it points down, pose_Rz > 0 when the face
turns clockwise in the image). Statistics per setting:

  own shape       the renderer's own 3-D landmarks fitted with its own camera:
                  checks the conversion and the Euler convention (~0)
  true camera     the renderer's true landmarks, the template, its camera
  guessed camera  the same with the camera guessed from the frame size, as
                  predict does: the pose predict writes with perfect landmarks
  no jaw line     the two above without jaw points 0-7, 9-16 (diagnostic: the
                  renderer's jaw line sits 4-13 mm behind the eyes on a
                  subject measured, the template's 40-46 mm)
  detector        `errors_on_frames`: --detector's landmarks (au_jax/face),
                  the template, the guessed camera: the whole pipeline

Reported: mean, 95th percentile and largest absolute error of each angle
(degrees), the mean signed error, the slope of estimate on truth (1 = no
shrinkage), and the yaw error per |yaw| bin.
"""
from __future__ import annotations

import argparse
import itertools
import time

import cv2
import numpy as np

from au_jax.aus import SYNTHETIC_AUS
from au_jax.face import pose
from au_jax.face.tracking import FaceTracker
from benchmarks import common
from tfds_builders.synthetic_au import render

YAW_BINS = (0, 10, 20, 30, 40)
_FLIP_Z = np.diag([1.0, 1.0, -1.0])
_JAW_LINE = [*range(8), *range(9, 17)]


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


def openface_angles(yaw: float, pitch: float, roll: float) -> np.ndarray:
  """The renderer's pose (degrees; `render.rotation`) as OpenFace's (pose_Rx, pose_Ry,
  pose_Rz) in radians: the same head -> camera rotation written in OpenFace's
  axes (z away from the camera) and split as Rx @ Ry @ Rz (see the module doc)."""
  return pose.matrix_to_euler(_FLIP_Z @ render.rotation(yaw, pitch, roll) @ _FLIP_Z)


def renderer_camera(nuis, size: int) -> np.ndarray:
  """3x3 intrinsics of a rendered frame: focal length = camera distance (face
  units) x canvas px per unit x scale; principal point = where the affine
  (roll, scale, shift) puts the canvas centre."""
  m = render.canvas_matrix(size)
  f = nuis.distance * m[0, 0] * nuis.scale
  c = render.pose_matrix(nuis, size) @ np.array([size / 2, size / 2, 1.0])
  return np.array([[f, 0.0, c[0]], [0.0, f, c[1]], [0.0, 0.0, 1.0]])


def own_shape(frame_lm_unit, ident, size: int) -> np.ndarray:
  """[68, 3] mm: the rendered head's own 3-D landmarks in OpenFace's axes (the
  unit face frame's inter-ocular distance 0.4 = pose.EYE_DISTANCE_MM)."""
  lm3 = render.landmarks_3d(ident, frame_lm_unit, size)
  mm = pose.EYE_DISTANCE_MM / 0.4
  return np.concatenate([(lm3[:, :2] - render.HEAD_CENTRE) * mm, -lm3[:, 2:3] * mm], 1)


def render_known_poses(n: int, seed: int = 0, size: int = 320, style: str = "disfa_like",
                       subjects: int = 6) -> list[dict]:
  """`n` raw frames at random known poses (module doc): [{image, landmarks (true,
  frame px), truth (OpenFace angles, rad), camera (3x3), shape ([68, 3] mm)}]."""
  rng = np.random.default_rng(seed)
  look = render.STYLES[style]
  idents = [render.make_identity(np.random.default_rng([seed, i]), look, size)
            for i in range(subjects)]
  out = []
  for i in range(n):
    yaw, pitch, roll = rng.uniform([-40, -25, -20], [40, 25, 20])
    nuis = render.Nuisance(yaw=float(yaw), pitch=float(pitch), roll=float(roll),
                           scale=float(rng.uniform(0.8, 1.1)),
                           shift=tuple(float(v) for v in rng.uniform(-0.05, 0.05, 2)))
    levels = rng.integers(0, 6, len(SYNTHETIC_AUS)) * (rng.uniform(size=len(SYNTHETIC_AUS)) < 0.25)
    ident = idents[i % subjects]
    frame = render.render_frame(ident, levels, nuis, look, size, np.random.default_rng([seed, i]))
    lm_unit = render.render_face(ident, levels, look, size)[3]
    out.append(dict(image=frame.image, landmarks=frame.landmarks,
                    truth=openface_angles(nuis.yaw, nuis.pitch, nuis.roll),
                    camera=renderer_camera(nuis, size), shape=own_shape(lm_unit, ident, size)))
  return out


def angle_errors(est: np.ndarray, truth: np.ndarray, n: int | None = None) -> dict:
  """Statistics of estimated against true (pose_Rx, pose_Ry, pose_Rz) [N, 3], radians;
  rows of `est` with a NaN are failures (`n`: frames asked for, when some had no estimate)."""
  est, truth = np.asarray(est, np.float64).reshape(-1, 3), np.asarray(truth, np.float64)
  ok = np.isfinite(est).all(1)
  out = dict(n=int(len(truth) if n is None else n), estimated=int(ok.sum()))
  if not ok.any():
    return out
  e, t = np.degrees(est[ok]), np.degrees(truth[ok])
  err = e - t
  out["angles_deg"] = _stats(err)
  for j, name in enumerate(("pitch", "yaw", "roll")):
    out["angles_deg"][name]["mean_signed"] = round(float(err[:, j].mean()), 3)
    out["angles_deg"][name]["slope"] = round(float(np.polyfit(t[:, j], e[:, j], 1)[0]), 3)
  yaw = np.abs(t[:, 1])
  out["by_yaw"] = {}
  for lo, hi in itertools.pairwise(YAW_BINS):
    sel = (yaw >= lo) & (yaw < hi)
    if sel.any():
      out["by_yaw"][f"|yaw| {lo}-{hi}"] = dict(
          n=int(sel.sum()), yaw_mean_abs=round(float(np.abs(err[sel, 1]).mean()), 3))
  return out


def errors_on_frames(images, truth, detector: str = "auto") -> dict:
  """Pose error of the whole pipeline on RGB frames of known pose.

  Each frame is a still: its largest face is detected (au_jax/face/tracking.py,
  `detector`), its 68 landmarks fitted and its pose estimated with the camera
  guessed from the frame size, as predict does. `truth`: [N, 3] OpenFace
  angles (pose_Rx, pose_Ry, pose_Rz) in radians (`openface_angles` for
  rendered frames). Returns `angle_errors` plus `found` (faces detected).
  """
  tracker = FaceTracker(detector, detect_every=1, max_faces=1)
  est = np.full((len(truth), 3), np.nan)
  found = 0
  for i, img in enumerate(images):
    tracker.reset()
    faces = tracker(np.asarray(img))
    if faces:
      found += 1
      h, w = np.asarray(img).shape[:2]
      est[i] = pose.estimate(faces[0].landmarks68, w, h)[3:]
  ok = np.isfinite(est).all(1)
  return dict(found=found, detector=detector,
              **angle_errors(est[ok], np.asarray(truth)[ok], n=len(truth)))


def fit(lm: np.ndarray, size: int, camera=None, shape=None) -> np.ndarray:
  """(pose_Rx, pose_Ry, pose_Rz) radians of landmarks in a `size` square frame:
  pose.estimate (the template; camera guessed unless given), or with `shape`
  [68, 3] mm the same fit of that shape instead (cv2.solvePnP, `camera`)."""
  if shape is None:
    return pose.estimate(lm, size, size, k=camera)[3:]
  ok, rvec, _ = cv2.solvePnP(shape, np.asarray(lm, np.float64), camera, None,
                             flags=cv2.SOLVEPNP_ITERATIVE)
  return pose.matrix_to_euler(cv2.Rodrigues(rvec)[0]) if ok else np.full(3, np.nan)


def _no_jaw(lm: np.ndarray) -> np.ndarray:
  lm = np.array(lm, np.float64)
  lm[_JAW_LINE] = np.nan
  return lm


def rendered(n: int, seed: int = 0, size: int = 320, detector: str = "haar") -> dict:
  """The settings of the module doc on `n` rendered frames."""
  frames = render_known_poses(n, seed, size)
  truth = np.stack([f["truth"] for f in frames])

  settings = {
      "own shape": [fit(f["landmarks"], size, f["camera"], f["shape"]) for f in frames],
      "true camera": [fit(f["landmarks"], size, f["camera"]) for f in frames],
      "guessed camera": [fit(f["landmarks"], size) for f in frames],
      "no jaw line, true camera": [fit(_no_jaw(f["landmarks"]), size, f["camera"])
                                   for f in frames],
      "no jaw line, guessed camera": [fit(_no_jaw(f["landmarks"]), size) for f in frames],
  }
  out = {k: angle_errors(np.stack(v), truth) for k, v in settings.items()}
  out[f"detector {detector}"] = errors_on_frames([f["image"] for f in frames], truth, detector)
  return dict(n=n, seed=seed, size=size, settings=out)


def _line(name: str, r: dict) -> str:
  if "angles_deg" not in r:
    return f"{name:28s} no estimate ({r.get('found', 0)} faces found of {r['n']})"
  a = r["angles_deg"]
  return (f"{name:28s} mean |err| pitch {a['pitch']['mean']:5.2f} yaw {a['yaw']['mean']:5.2f} "
          f"roll {a['roll']['mean']:5.2f} deg; max {a['pitch']['max']:5.2f} / "
          f"{a['yaw']['max']:5.2f} / {a['roll']['max']:5.2f}; yaw slope "
          f"{a['yaw']['slope']:.2f} ({r['estimated']} of {r['n']})")


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--n", type=int, default=1000, help="poses per noise level")
  ap.add_argument("--noise_px", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0])
  ap.add_argument("--seed", type=int, default=0)
  ap.add_argument("--rendered", type=int, default=200, help="rendered frames (0: none)")
  ap.add_argument("--size", type=int, default=320, help="side of a rendered frame, px")
  ap.add_argument("--detector", default="haar", choices=("haar", "dlib", "auto"))
  ap.add_argument("--out", default=f"{common.RESULTS}/pose_accuracy.json")
  args = ap.parse_args(argv)
  t0 = time.perf_counter()
  runs = [projected(args.n, s, args.seed) for s in args.noise_px]
  result = dict(what="head pose error on the 3-D template projected at known poses "
                     "(|pitch|<=25, |yaw|<=40, |roll|<=20 deg, 400-900 mm, 640x480 camera), "
                     "landmark noise noise_px (Gaussian sigma, pixels); `rendered`: on raw "
                     "synthetic_au frames of known pose (module doc of "
                     "benchmarks/pose_accuracy.py)",
                runs=runs)
  if args.rendered:
    result["rendered"] = rendered(args.rendered, args.seed, args.size, args.detector)
  result.update(seconds=round(time.perf_counter() - t0, 2), environment=common.environment())
  common.write_json(args.out, result)
  for r in runs:
    a = r["angles_deg"]
    print(f"noise {r['noise_px']:.1f} px: mean |err| pitch {a['pitch']['mean']:.2f}  yaw "
          f"{a['yaw']['mean']:.2f}  roll {a['roll']['mean']:.2f} deg; max {a['pitch']['max']:.2f} "
          f"/ {a['yaw']['max']:.2f} / {a['roll']['max']:.2f}; distance "
          f"{100 * r['distance_median_rel_err']:.2f}%")
  for name, r in result.get("rendered", {}).get("settings", {}).items():
    print(_line(name, r))
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
