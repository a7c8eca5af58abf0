"""Real faces to try inference on, from images that installed packages ship.

No download: the photographs come with scikit-image (`skimage.data.astronaut()`,
NASA, public domain: astronaut Eileen Collins) and matplotlib
(`mpl-data/sample_data/grace_hopper.jpg`, US Navy, public domain: Rear
Admiral Grace Hopper); `skimage.data.chelsea()` / `coffee()` / `rocket()`
give frames without a face. They are photographs the project did not make.

`demo_video` builds a 640x360 clip from them with a virtual camera that pans
and zooms over each photograph (two faces side by side, then one, then
none), so tracking, face ids and `success = 0` rows can be tried on real
faces. The clip is synthetic in its motion only: the faces do not change
expression, so AU traces over it are flat up to the model's response to
pose and scale.

  python -m au_jax.inference.demo_media /tmp/au_demo    # writes faces/ and clip.avi
"""
from __future__ import annotations

import argparse
import os

import cv2
import numpy as np

from au_jax.errors import UserError, run_cli

WIDTH, HEIGHT = 640, 360


def _skimage_data():
  try:
    import skimage.data  # pylint: disable=g-import-not-at-top (optional)
  except ImportError:
    raise UserError("the demo media come from scikit-image's sample images: "
                    "pip install scikit-image") from None
  return skimage.data


def photos() -> dict[str, np.ndarray]:
  """{name: RGB uint8 photograph}: two with one face each, three without."""
  import matplotlib  # only for the demo figure
  data = _skimage_data()
  hopper = cv2.imread(os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data",
                                   "sample_data", "grace_hopper.jpg"))
  return {"astronaut": data.astronaut(), "grace_hopper": cv2.cvtColor(hopper, cv2.COLOR_BGR2RGB),
          "chelsea": data.chelsea(), "coffee": data.coffee(), "rocket": data.rocket()}


# Centre (x, y) and half-height of each photograph's view at zoom 1, in its pixels.
_VIEWS = {"astronaut": (220, 140, 150), "grace_hopper": (265, 230, 240),
          "chelsea": (225, 150, 140), "coffee": (300, 200, 190), "rocket": (320, 200, 200)}


def _view(img, name, t, phase, out_w, out_h):
  """A panning/zooming crop of `img` resized to out_w x out_h (time t in [0, 1])."""
  cx, cy, half = _VIEWS[name]
  zoom = 1.0 + 0.2 * np.sin(2 * np.pi * (t + phase))
  cx += 25 * np.sin(2 * np.pi * (1.5 * t + phase))
  cy += 12 * np.cos(2 * np.pi * (t + phase))
  hh = half / zoom
  hw = hh * out_w / out_h
  # Crop by an affine warp (subpixel, replicated border), as a camera would move.
  s = out_h / (2 * hh)
  m = np.array([[s, 0, -s * (cx - hw)], [0, s, -s * (cy - hh)]], np.float64)
  return cv2.warpAffine(img, m, (out_w, out_h), flags=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)


def demo_frame(i: int, n: int) -> np.ndarray:
  """Frame i (0-based) of an n-frame clip: RGB uint8 [360, 640, 3].

  The first 60% of the frames show both faces side by side, the next 25%
  the astronaut beside a cat, the last 15% no face (cat and coffee).
  """
  p = photos_cached()
  t = i / max(n - 1, 1)
  if t < 0.6:
    left, right = "astronaut", "grace_hopper"
  elif t < 0.85:
    left, right = "astronaut", "chelsea"
  else:
    left, right = "chelsea", "coffee"
  half = WIDTH // 2
  return np.concatenate([_view(p[left], left, t, 0.0, half, HEIGHT),
                         _view(p[right], right, t, 0.3, half, HEIGHT)], axis=1)


_PHOTOS: dict | None = None


def photos_cached() -> dict[str, np.ndarray]:
  global _PHOTOS
  if _PHOTOS is None:
    _PHOTOS = photos()
  return _PHOTOS


def write_demo_video(path: str, n: int = 480, fps: float = 30.0) -> str:
  """Writes the n-frame 640x360 clip (MJPG AVI, readable by every OpenCV build)."""
  vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), fps, (WIDTH, HEIGHT))
  if not vw.isOpened():
    raise UserError(f"OpenCV cannot write the video {path}")
  try:
    for i in range(n):
      vw.write(cv2.cvtColor(demo_frame(i, n), cv2.COLOR_RGB2BGR))
  finally:
    vw.release()
  return path


def write_demo_folder(folder: str) -> list[str]:
  """Writes the photographs as PNGs (two faces, three without) into `folder`."""
  os.makedirs(folder, exist_ok=True)
  paths = []
  for name, img in photos_cached().items():
    path = os.path.join(folder, f"{name}.png")
    cv2.imwrite(path, cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    paths.append(path)
  return paths


def main(argv=None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("out", help="folder to write faces/ and clip.avi into")
  ap.add_argument("--frames", type=int, default=480)
  args = ap.parse_args(argv)
  try:
    os.makedirs(args.out, exist_ok=True)
    write_demo_folder(os.path.join(args.out, "faces"))
    write_demo_video(os.path.join(args.out, "clip.avi"), args.frames)
  except UserError as e:
    raise SystemExit(f"au_jax.inference.demo_media: {e}") from None
  except OSError as e:   # the folder is a file, read-only, the disk full, ...
    raise SystemExit(f"au_jax.inference.demo_media: cannot write into {args.out!r}: "
                     f"{e.strerror or e}") from None
  print(f"wrote {args.out}/faces/ (5 photographs) and {args.out}/clip.avi "
        f"({args.frames} frames, {WIDTH}x{HEIGHT})")


if __name__ == "__main__":
  run_cli(main)
