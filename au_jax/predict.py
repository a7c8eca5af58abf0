r"""Inference: a trained workdir -> AU predictions for faces, images and videos.

Python / notebooks:

  from au_jax.predict import Predictor
  p = Predictor.from_workdir("runs/gudi")
  out = p.predict_images([rgb_image, ...])        # detect, align, transform, predict
  out["intensity"], out["occurrence"], out["success"]
  p.predict(aligned_faces, landmarks)             # faces already aligned like the records

Command line (images, folders of images, videos -> one CSV with OpenFace-style
columns frame, face_id, timestamp, confidence, success, AU01_r, ..., AU01_c, ...):

  python -m au_jax.predict --workdir=runs/gudi --input=clip.mp4 --output=clip_aus.csv

`AUxx_r` (intensity 0-5) is written for AUs the training data coded for
intensity, `AUxx_c` (0/1 with the per-AU thresholds tuned on validation,
from report.json) for every AU. As in OpenFace, a frame where no face is
found has success = 0 and zeros. `confidence` is 1 when a face was found
(no landmark-fit confidence is computed). Predictions are made in fixed-size
batches (the last one padded), so the jitted function compiles once.
Models whose preprocessing uses per-session statistics (Gudi's session
contrast normalisation) fall back to per-image statistics here.
"""
from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import sys
from typing import Iterable, Iterator, Sequence

import ml_collections
import numpy as np

from au_jax import aus as au_lib
from au_jax import models
from au_jax.data.sources import DataInfo
from au_jax.face.align import align_face
from au_jax.face.template import CANONICAL_68
from au_jax.train import checkpoint, steps
from au_jax.train.loop import initial_state

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv")


class Predictor:
  """A trained model, restored from its workdir, with jitted prediction."""

  def __init__(self, config, info: DataInfo, image_size: int, alignment: str, state,
               method, thresholds: np.ndarray, batch_size: int = 64):
    self.config, self.info, self.method = config, info, method
    self.image_size, self.alignment = image_size, alignment
    self.params, self.model_state = state.params, state.model_state
    self.thresholds = thresholds
    self.batch_size = batch_size
    self._predict = steps.make_predict_step(method)

  @classmethod
  def from_workdir(cls, workdir: str, batch_size: int = 64) -> "Predictor":
    workdir = os.path.expanduser(workdir)
    for f in ("config.json", "data_info.json"):
      if not os.path.exists(os.path.join(workdir, f)):
        raise FileNotFoundError(f"{workdir} has no {f}: is it an au-jax training workdir?")
    config = ml_collections.ConfigDict(json.load(open(os.path.join(workdir, "config.json"))))
    d = json.load(open(os.path.join(workdir, "data_info.json")))
    info = DataInfo(aus=tuple(d["aus"]), intensity_coded=tuple(d["intensity_coded"]),
                    occurrence_coded=tuple(d["occurrence_coded"]),
                    datasets=tuple(d["datasets"]), metadata=tuple({} for _ in d["datasets"]))
    size = int(d.get("image_size") or 96)
    method = models.get_spec(config.model.name).build(config.model, info)
    example = _batch([method.transform(_blank_record(size, info.num_aus), None, False)])
    fresh, _, _ = initial_state(method, config.train, example)
    ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"))
    try:
      state, _ = ckpt.restore(fresh)
    finally:
      ckpt.close()
    if state is None:
      raise FileNotFoundError(f"{workdir}/checkpoints holds no complete checkpoint")
    thresholds = np.full(info.num_aus, 0.5)
    report = os.path.join(workdir, "report.json")
    if os.path.exists(report):
      thresholds = np.asarray(json.load(open(report))["thresholds"], np.float64)
    return cls(config, info, size, d.get("alignment") or "similarity", state, method,
               thresholds, batch_size)

  def predict(self, faces: np.ndarray, landmarks: np.ndarray | None = None) -> dict:
    """Predictions for faces aligned like the training records.

    Args:
      faces: uint8 [N, S, S, 3] RGB faces aligned to the canonical template
        (S = the training data's image size).
      landmarks: float [N, 68, 2] in aligned pixels (default: the template).
    Returns:
      {"intensity": [N, A], "occurrence": [N, A] score, "occurrence_label": [N, A] 0/1}
    """
    faces = np.asarray(faces)
    if faces.ndim != 4 or faces.shape[1:] != (self.image_size, self.image_size, 3):
      raise ValueError(f"faces must be [N, {self.image_size}, {self.image_size}, 3] uint8, "
                       f"got {faces.shape}")
    if landmarks is None:
      landmarks = np.broadcast_to(CANONICAL_68 * self.image_size, (len(faces), 68, 2))
    records = (_record(f, lm, self.info.num_aus) for f, lm in zip(faces, landmarks))
    return self._run(records, len(faces))

  def predict_images(self, images: Sequence[np.ndarray],
                     landmarks: Sequence[np.ndarray | None] | None = None,
                     detector: str = "auto") -> dict:
    """Detect (unless landmarks are given), align, transform and predict.

    Returns the `predict` outputs plus "success" [N] bool (a face was found);
    rows without a face are zeros.
    """
    faces, lms, ok = [], [], []
    for i, img in enumerate(images):
      lm = landmarks[i] if landmarks is not None else None
      aligned = self.align(img, lm, detector)
      ok.append(aligned is not None)
      if aligned is not None:
        faces.append(aligned.image)
        lms.append(aligned.landmarks)
    ok = np.asarray(ok, bool)
    a = self.info.num_aus
    out = {k: np.zeros((len(ok), a), np.float32) for k in ("intensity", "occurrence")}
    out["occurrence_label"] = np.zeros((len(ok), a), np.int32)
    if ok.any():
      pred = self.predict(np.stack(faces), np.stack(lms))
      for k in out:
        out[k][ok] = pred[k]
    out["success"] = ok
    return out

  def align(self, image: np.ndarray, landmarks=None, detector: str = "auto"):
    """The aligned face of an RGB image, or None when no face is found."""
    if landmarks is None:
      from au_jax.face import detect
      landmarks = detect.detect_landmarks(image, backend=detector)
      if landmarks is None:
        return None
    return align_face(image, landmarks, size=self.image_size, method=self.alignment)

  def _run(self, records: Iterable[dict], n: int) -> dict:
    outs: dict[str, list] = {}
    for chunk in _chunks(records, self.batch_size):
      examples = [self.method.transform(r, None, False) for r in chunk]
      k = len(examples)
      examples += [examples[0]] * (self.batch_size - k)      # fixed shape: one compilation
      pred = self._predict(self.params, self.model_state, _batch(examples))
      for key in ("intensity", "occurrence"):
        outs.setdefault(key, []).append(np.asarray(pred[key])[:k])
    if not outs:
      a = self.info.num_aus
      return {"intensity": np.zeros((0, a), np.float32),
              "occurrence": np.zeros((0, a), np.float32),
              "occurrence_label": np.zeros((0, a), np.int32)}
    res = {k: np.concatenate(v) for k, v in outs.items()}
    res["occurrence_label"] = (res["occurrence"] >= self.thresholds[None]).astype(np.int32)
    assert len(res["intensity"]) == n
    return res

  def csv_columns(self) -> list[str]:
    r = [f"{au_lib.au_label(a)}_r" for a, c in zip(self.info.aus, self.info.intensity_coded) if c]
    c = [f"{au_lib.au_label(a)}_c" for a in self.info.aus]
    return ["frame", "face_id", "timestamp", "confidence", "success"] + r + c


def _blank_record(size, num_aus):
  return _record(np.zeros((size, size, 3), np.uint8), CANONICAL_68 * size, num_aus)


def _record(face, landmarks, num_aus):
  return dict(image=np.asarray(face, np.uint8), landmarks=np.asarray(landmarks, np.float32),
              intensity=np.full(num_aus, -1, np.int32), occurrence=np.full(num_aus, -1, np.int32),
              dataset=np.int32(0), subject="", sequence="", frame=np.int32(0))


def _batch(examples):
  b = {k: np.stack([e[k] for e in examples]) for k in examples[0]}
  b["mask"] = np.ones(len(examples), np.float32)
  return b


def _chunks(it: Iterable, n: int) -> Iterator[list]:
  chunk = []
  for x in it:
    chunk.append(x)
    if len(chunk) == n:
      yield chunk
      chunk = []
  if chunk:
    yield chunk


# ----------------------------------------------------------------------------- CLI


def iter_frames(path: str) -> Iterator[tuple[str, int, float, np.ndarray]]:
  """(source, frame, timestamp_s, RGB image) for an image, a folder or a video."""
  import cv2
  if os.path.isdir(path):
    files = sorted(f for f in glob.glob(os.path.join(path, "*"))
                   if f.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
      raise FileNotFoundError(f"{path}: no images ({', '.join(IMAGE_EXTENSIONS)})")
    for i, f in enumerate(files):
      yield f, i + 1, 0.0, _read_image(f)
  elif path.lower().endswith(VIDEO_EXTENSIONS):
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
      raise IOError(f"{path}: OpenCV cannot open this video")
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    i = 0
    while True:
      ok, bgr = cap.read()
      if not ok:
        break
      i += 1
      yield path, i, (i - 1) / fps if fps else 0.0, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    cap.release()
    if i == 0:
      raise IOError(f"{path}: no frame could be decoded")
  elif os.path.isfile(path):
    yield path, 1, 0.0, _read_image(path)
  else:
    raise FileNotFoundError(f"{path}: no such image, folder or video")


def _read_image(path):
  import cv2
  bgr = cv2.imread(path, cv2.IMREAD_COLOR)
  if bgr is None:
    raise IOError(f"{path}: not a readable image")
  return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def write_csv(predictor: Predictor, inputs: Sequence[str], output: str, detector="auto",
              chunk: int = 256, progress: bool = True) -> int:
  """Predict every frame of `inputs` and write one CSV (atomically). Returns rows."""
  cols = predictor.csv_columns()
  int_cols = [k for k, c in enumerate(predictor.info.intensity_coded) if c]
  tmp = f"{output}.tmp{os.getpid()}"
  rows = 0
  with open(tmp, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow((["input"] if len(inputs) > 1 else []) + cols)
    for path in inputs:
      for block in _chunks(iter_frames(path), chunk):
        pred = predictor.predict_images([b[3] for b in block], detector=detector)
        for j, (src, frame, ts, _) in enumerate(block):
          ok = bool(pred["success"][j])
          row = [frame, 0, f"{ts:.3f}", f"{float(ok):.2f}", int(ok)]
          row += [f"{pred['intensity'][j, k]:.3f}" for k in int_cols]
          row += [int(v) for v in pred["occurrence_label"][j]]
          w.writerow(([src] if len(inputs) > 1 else []) + row)
          rows += 1
        if progress:
          print(f"\r[au_jax] {rows} frames", end="", file=sys.stderr, flush=True)
  os.replace(tmp, output)
  if progress:
    print(file=sys.stderr)
  return rows


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--workdir", required=True, help="training workdir (checkpoints, config)")
  ap.add_argument("--input", required=True, nargs="+", help="images, folders or videos")
  ap.add_argument("--output", required=True, help="CSV to write")
  ap.add_argument("--detector", default="auto", choices=("auto", "haar", "dlib"))
  ap.add_argument("--batch_size", type=int, default=64)
  args = ap.parse_args(argv)
  p = Predictor.from_workdir(args.workdir, batch_size=args.batch_size)
  n = write_csv(p, args.input, args.output, detector=args.detector)
  print(f"[au_jax] wrote {n} rows to {args.output}")


if __name__ == "__main__":
  main()
