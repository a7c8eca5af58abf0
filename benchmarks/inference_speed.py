r"""Inference speed on a real-face 640x360 clip: frames/s per stage and end to end.

  python -m benchmarks.inference_speed --workdir=runs/ccnn \
      --out=benchmarks/results/inference_speed.json

The clip is `au_jax.inference.demo_media` (480 frames, 30 frames/s, MJPG):
a camera panning and zooming over two public-domain photographs shipped by
scikit-image and matplotlib (astronaut Eileen Collins, Grace Hopper: two
faces for 60% of the frames, one for 25%, none for 15%). Stages, each timed
alone over the whole clip:

  decode        OpenCV decoding + BGR->RGB
  faces         face tracker (detect every k frames on the downscaled frame,
                re-detect in a window in between) + landmarks + alignment
  faces_k1      the same with a full detection on every frame (reference)
  predict       the model's transform + jitted predict on the aligned faces
                (faces/s; frames/s = faces/s / faces per frame)
  end_to_end    decode | faces | predict pipeline (threads) + CSV rows
                written, as `python -m au_jax.predict` does
  end_to_end_k1 the same with detection on every frame

`agreement` compares the tracked run with the per-frame-detection run: face
count per frame, eye landmarks (error / inter-ocular distance) and the AU
outputs (mean |AUxx_r| difference, AUxx_c agreement) of the faces both found.
The load average of the machine is recorded before and after: figures taken
while other jobs run are marked `under_load`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile

import numpy as np

from au_jax import predict
from au_jax.face import detect
from au_jax.face.align import align_face
from au_jax.face.template import eye_centres
from au_jax.face.tracking import FaceTracker
from au_jax.inference import demo_media
from benchmarks import common  # (the XLA options, before the first JAX computation)


def _frames(path):
  entry = predict._new_entry(path, "video")
  return predict.iter_frames(path, "video", entry, predict._DecoderLog())


_CPU: list[float] = []


def _timed(fn):
  """(fn(), wall seconds); the CPU seconds of the process (all threads) go to _CPU."""
  out, wall, cpu = common.run_timed(fn)
  _CPU.append(cpu)
  return out, wall


def _cpu_ms(frames: int) -> float:
  return 1000 * _CPU[-1] / frames


def stage_faces(p, path, detector, k, width):
  tracker = FaceTracker(detector, detect_every=k, detect_width=width)
  frames = [fr.image for fr in _frames(path)]   # decoded beforehand: faces alone are timed

  def run():
    out = []
    for img in frames:
      faces = tracker(img)
      for f in faces:
        f.aligned = align_face(img, f.landmarks68, size=p.image_size, method=p.alignment)
      out.append(faces)
    return out
  out, dt = _timed(run)
  return out, dict(frames_per_s=len(frames) / dt, seconds=dt, cpu_ms_per_frame=_cpu_ms(len(frames)),
                   full_detections=tracker.full_detections)


def end_to_end(p, path, threads=True, **options):
  """The CLI's work for one video: pipeline + CSV rows; returns (DataFrame, figures)."""
  import pandas as pd
  with tempfile.TemporaryDirectory() as tmp:
    sink = predict._CsvSink(os.path.join(tmp, "aus.csv"), p.csv_columns())
    entry = predict._new_entry(path, "video")
    chunks = []

    def run():
      for df in p.stream_frames(predict.iter_frames(path, "video", entry, predict._DecoderLog()),
                                entry=entry, threads=threads, **options):
        sink.write(df)
        chunks.append(df)
      sink.commit()
    _, dt = _timed(run)
  return pd.concat(chunks, ignore_index=True), dict(
      frames_per_s=entry["frames"] / dt, seconds=dt, cpu_ms_per_frame=_cpu_ms(entry["frames"]),
      frames=entry["frames"], faces=entry["faces"])


def agreement(p, tracked, reference) -> dict:
  """Tracked vs per-frame detection, on the tables of both runs."""
  a = tracked[tracked["success"] == 1]
  b = reference[reference["success"] == 1]
  count_a = tracked.groupby("frame")["success"].sum()
  count_b = reference.groupby("frame")["success"].sum()
  both = a.merge(b, on=["frame", "face_id"], suffixes=("", "_ref"))
  eye_err = []
  for _, r in both.iterrows():
    la = np.stack([[r[f"x_{i}"], r[f"y_{i}"]] for i in range(68)])
    lb = np.stack([[r[f"x_{i}_ref"], r[f"y_{i}_ref"]] for i in range(68)])
    ra, le_a = eye_centres(la)
    rb, le_b = eye_centres(lb)
    iod = np.linalg.norm(rb - le_b)
    eye_err.append(max(np.linalg.norm(ra - rb), np.linalg.norm(le_a - le_b)) / iod)
  lab = [f"AU{au:02d}" for au in p.info.aus]
  r_cols = [f"{lab[k]}_r" for k in p.layout().r_index]
  dr = np.abs(both[r_cols].to_numpy() - both[[c + "_ref" for c in r_cols]].to_numpy())
  p_cols = [f"{x}_p" for x in lab] if p.layout().with_p else []
  dp = np.abs(both[p_cols].to_numpy() - both[[c + "_ref" for c in p_cols]].to_numpy())
  c_cols = [f"{x}_c" for x in lab]
  same_c = both[c_cols].to_numpy() == both[[c + "_ref" for c in c_cols]].to_numpy()
  return dict(
      frames_same_face_count=float((count_a == count_b).mean()),
      faces_tracked=int(len(a)), faces_reference=int(len(b)), faces_matched_by_id=int(len(both)),
      eye_error_over_iod_median=float(np.median(eye_err)),
      eye_error_over_iod_p95=float(np.percentile(eye_err, 95)),
      au_r_mean_abs_diff=float(dr.mean()) if dr.size else None,
      au_p_mean_abs_diff=float(dp.mean()) if dp.size else None,
      au_c_agreement=float(same_c.mean()) if same_c.size else None)


def load() -> dict:
  one, five, _ = os.getloadavg()
  return dict(loadavg_1min=one, loadavg_5min=five)


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--workdir", required=True, help="a trained au-jax workdir")
  ap.add_argument("--out", default="benchmarks/results/inference_speed.json")
  ap.add_argument("--frames", type=int, default=480)
  ap.add_argument("--detector", default="auto", choices=("auto", "dlib", "haar"))
  ap.add_argument("--detect_every", type=int, default=10)
  ap.add_argument("--detect_width", type=int, default=0,
                  help="0: 640 for dlib, 320 for Haar")
  args = ap.parse_args(argv)
  detector = args.detector
  if detector == "auto":
    detector = "dlib" if detect.dlib_available() else "haar"
  width = args.detect_width or (640 if detector == "dlib" else 320)
  before = load()
  p = predict.Predictor.from_workdir(args.workdir)
  with tempfile.TemporaryDirectory() as tmp:
    clip = demo_media.write_demo_video(os.path.join(tmp, "clip.avi"), args.frames)
    n_dec, t_dec = _timed(lambda: sum(1 for _ in _frames(clip)))
    stages = dict(decode=dict(frames_per_s=n_dec / t_dec, seconds=t_dec,
                              cpu_ms_per_frame=_cpu_ms(n_dec)))
    faces, stages["faces"] = stage_faces(p, clip, detector, args.detect_every, width)
    _, stages["faces_k1"] = stage_faces(p, clip, detector, 1, width)
    aligned = [f.aligned for fs in faces for f in fs]
    per_frame = len(aligned) / len(faces)
    imgs = np.stack([a.image for a in aligned])
    lms = np.stack([a.landmarks for a in aligned])
    p.predict(imgs[:p.batch_size], lms[:p.batch_size])         # compile
    _, dt = _timed(lambda: p.predict(imgs, lms))
    stages["predict"] = dict(faces_per_s=len(imgs) / dt, faces_per_frame=per_frame,
                             frames_per_s=len(imgs) / dt / per_frame, seconds=dt,
                             cpu_ms_per_frame=_cpu_ms(len(imgs)) * per_frame)
    opts = dict(detector=detector, detect_width=width)
    tracked, stages["end_to_end"] = end_to_end(p, clip, detect_every=args.detect_every, **opts)
    _, stages["end_to_end_no_threads"] = end_to_end(p, clip, threads=False,
                                                    detect_every=args.detect_every, **opts)
    reference, stages["end_to_end_k1"] = end_to_end(p, clip, detect_every=1, **opts)
  after = load()
  # Under load the wall clock measures the share of the CPUs this process got;
  # its CPU time per frame does not depend on that share (up to cache and
  # memory contention). On an idle machine with `cpus` cores the pipeline
  # cannot beat cpus / CPU-time-per-frame, nor 1 / (the slowest stage's CPU
  # time per frame, one thread each): an estimate, labelled as such.
  cpus = os.cpu_count()
  e2e = stages["end_to_end"]["cpu_ms_per_frame"]
  slowest = max(stages[s]["cpu_ms_per_frame"] for s in ("decode", "faces", "predict"))
  idle_estimate = dict(
      frames_per_s=min(1000 * cpus / e2e, 1000 / slowest),
      rule=f"min({cpus} cores / end-to-end CPU ms per frame, 1 / slowest stage's CPU ms per "
           f"frame): an upper bound for a perfectly overlapped pipeline, not a measurement")
  under_load = bool(max(before["loadavg_1min"], after["loadavg_1min"]) > 0.5 * os.cpu_count())
  result = dict(
      clip=dict(source="au_jax.inference.demo_media (scikit-image astronaut, matplotlib "
                       "grace_hopper; skimage chelsea/coffee without a face)",
                frames=args.frames, size="640x360", fps=30, codec="MJPG"),
      workdir=os.path.abspath(args.workdir), model=p.config.model.to_dict(),
      batch_size=p.batch_size, image_size=p.image_size,
      detector=detector, detect_every=args.detect_every, detect_width=width,
      stages=stages, idle_estimate=idle_estimate,
      agreement_with_per_frame_detection=agreement(p, tracked, reference),
      machine=dict(cpus=os.cpu_count(), platform=platform.platform(),
                   python=platform.python_version()), environment=common.environment(),
      load_before=before, load_after=after, under_load=under_load,
      note=("measured while other jobs ran: frames/s are lower bounds of an idle machine"
            if under_load else "idle machine"))
  common.write_json(args.out, result)
  print(json.dumps(dict(stages={k: round(v["frames_per_s"], 1) for k, v in stages.items()},
                        cpu_ms_per_frame={k: round(v["cpu_ms_per_frame"], 2)
                                          for k, v in stages.items()},
                        idle_estimate=round(idle_estimate["frames_per_s"], 1),
                        predict_faces_per_s=round(stages["predict"]["faces_per_s"], 1),
                        agreement=result["agreement_with_per_frame_detection"],
                        under_load=under_load, load=[before, after]), indent=1))


if __name__ == "__main__":
  main()
