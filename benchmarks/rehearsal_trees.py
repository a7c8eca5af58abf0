r"""Raw DISFA and BP4D trees of synthetic_au faces, at the datasets' real layout and size.

  python -m benchmarks.rehearsal_trees --out=/tmp/rehearsal/raw --frame_fraction=0.01

writes `<out>/DISFA` and `<out>/BP4D` in the layouts the licensed builders read
(tfds_builders/README.md), with the real subject ids (those of each dataset's
protocols.json: DISFA 27, BP4D 41), the real frame resolutions (DISFA 1024x768
left-camera video, BP4D 1040x1392 JPEG frames) and the real frame counts scaled by
ONE factor, `--frame_fraction` (frames per subject; 1.0 = the full datasets):

  DISFA  Videos_LeftCamera/LeftVideoSN001_comp.avi       MJPG, 20 fps, 4845 x f frames
         ActionUnit_Labels/SN001/SN001_au<k>.txt         "<frame>,<intensity 0-5>", 12 AUs
         Landmark_Points/SN001/tmp_frame_lm/SN001_<i>_lm.mat   pts [66, 2], one per frame
  BP4D   BP4D-training/F001/T<t>/<frame>.jpg             8 tasks x 445 x f frames each
         AUCoding/F001_T<t>.csv                          header "0,1,...,39", occurrence 0/1
         AU Intensity Codes3.0/AU06/F001_T<t>_AU06.csv   "<frame>,<intensity>", AUs 6/10/12/14/17

(DISFA: 4845 frames per subject, 4844 for SN010; BP4D: ~146k frames over 41
subjects x 8 tasks = 445 per task.) BP4D ships no landmarks (its builder detects
faces), so none are written. The right-camera videos, which no builder reads, are
not written.

Faces are synthetic_au 2.x renderer output (`render.render_frame` with the
`disfa_like` camera: near-frontal pose, studio light) at its 160-px raw size, with
labels from its expression model (`disfa_like` for DISFA, `bp4d_like` for BP4D),
then upscaled (bicubic) and placed in the middle of the big frame on a grey
background: the rehearsal measures the pipeline (decode, detect, align, encode,
train), not the art. The renderer's camera-resolution shrink (`face_size`) is off,
so the upscaled face stays sharp enough for OpenCV's Haar detector, which the BP4D
build runs on every frame. Occurrence of a BP4D AU the renderer does not draw
(AU24 and the other columns outside synthetic_au's 16 AUs) is written as 0.

Resumable: a subject whose `.done` marker exists is not written again.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np

from au_jax.aus import DISFA_AUS, FERA2015_INT_AUS, SYNTHETIC_AUS

_ROOT = Path(__file__).resolve().parent.parent

DISFA_SIZE = (1024, 768)          # width, height
DISFA_FRAMES = 4845
DISFA_SHORT = {"SN010": 4844}     # SN010 has one frame less (tfds_builders/README.md, DISFA)
DISFA_FPS = 20.0
DISFA_FACE_SIDE = 560             # px of the upscaled face square in the frame
BP4D_SIZE = (1040, 1392)          # width, height
BP4D_TOTAL_FRAMES = 146_000
BP4D_TASKS = tuple(f"T{t}" for t in range(1, 9))
BP4D_FACE_SIDE = 700
BP4D_OCC_COLUMNS = tuple(range(1, 40))
RENDER_SIZE = 160                 # synthetic_au's raw_size
BACKGROUND = 96                   # grey of the frame around the face


def subjects(dataset: str) -> list[str]:
  """The dataset's real subject ids: every subject its protocols.json names."""
  p = json.loads((_ROOT / "tfds_builders" / dataset / "protocols.json").read_text())
  out = set()
  for name, splits in p.items():
    if not name.startswith("_"):
      for ids in splits.values():
        out.update(ids)
  return sorted(out)


def scaled(n: int, fraction: float) -> int:
  """round(n * fraction), at least 1."""
  return max(1, round(n * fraction))


def disfa_frames(subject: str, fraction: float) -> int:
  return scaled(DISFA_SHORT.get(subject, DISFA_FRAMES), fraction)


def bp4d_frames_per_task(fraction: float) -> int:
  return scaled(round(BP4D_TOTAL_FRAMES / (len(subjects("bp4d")) * len(BP4D_TASKS))), fraction)


def _render_config(label_model: str, seed: int, sequences: int, frames: int):
  from tfds_builders.synthetic_au import synthetic_au as sa
  base = next(c for c in sa.SyntheticAu.BUILDER_CONFIGS if c.name == "disfa_like")
  return dataclasses.replace(base, label_model=label_model, seed=seed, raw_size=RENDER_SIZE,
                             sequences_per_subject=sequences, frames_per_sequence=frames,
                             frame_step=1, num_subjects=max(base.num_subjects, 64))


def place(face: np.ndarray, landmarks: np.ndarray, size: tuple[int, int], side: int):
  """(frame uint8 [H, W, 3] RGB, landmarks [68, 2] in frame px): `face` (a square
  render) resized to side x side in the middle of a grey W x H frame."""
  w, h = size
  img = np.full((h, w, 3), BACKGROUND, np.uint8)
  x0, y0 = (w - side) // 2, (h - side) // 2
  img[y0:y0 + side, x0:x0 + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
  k = side / face.shape[0]
  return img, (np.asarray(landmarks, np.float64) + 0.5) * k - 0.5 + [x0, y0]


def render_subject(cfg, index: int):
  """Yields (sequence q, frame t, frame RGB [S, S, 3], observed landmarks [68, 2],
  intensities [16] in SYNTHETIC_AUS order) of subject `index` of `cfg`."""
  from tfds_builders.synthetic_au import render
  from tfds_builders.synthetic_au import synthetic_au as sa
  style = render.STYLES[cfg.style]
  ident = sa.subject_identity(cfg, index)
  lab = sa.subject_expressions(cfg, index)
  nuisance = sa.subject_nuisance(cfg, index)
  gain = float(lab.expressivity) ** cfg.expressivity_geometry
  for q in range(cfg.sequences_per_subject):
    for t in range(cfg.frames_per_sequence):
      nuis = dataclasses.replace(nuisance[q][t], face_size=1e9)   # full render resolution
      rng = np.random.default_rng([cfg.seed, index, q, t])
      f = render.render_frame(ident, lab.intensity[q, t], nuis, style, cfg.raw_size, rng,
                              cue_ratio=cfg.cue_ratio, gain=gain)
      yield q, t, f.image, f.observed, lab.intensity[q, t]


def _write_text(path: Path, text: str) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(text)


def write_disfa_subject(root: Path, subject: str, index: int, fraction: float) -> int:
  """One DISFA subject: video, 12 label files, one landmark .mat per frame. Returns frames."""
  import scipy.io
  n = disfa_frames(subject, fraction)
  cfg = _render_config("disfa_like", seed=0, sequences=1, frames=n)
  video = root / "Videos_LeftCamera" / f"LeftVideo{subject}_comp.avi"
  video.parent.mkdir(parents=True, exist_ok=True)
  lm_dir = root / "Landmark_Points" / subject / "tmp_frame_lm"
  lm_dir.mkdir(parents=True, exist_ok=True)
  vw = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), DISFA_FPS, DISFA_SIZE)
  if not vw.isOpened():
    raise RuntimeError(f"OpenCV cannot write MJPG video {video}")
  cols = [SYNTHETIC_AUS.index(a) for a in DISFA_AUS]
  labels = []
  for _, t, face, lm, inten in render_subject(cfg, index):
    img, lm_big = place(face, lm, DISFA_SIZE, DISFA_FACE_SIDE)
    vw.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    # 66-point scheme: iBUG-68 without the inner mouth corners 60 and 64.
    scipy.io.savemat(str(lm_dir / f"{subject}_{t:04d}_lm.mat"),
                     {"pts": np.delete(lm_big, [60, 64], axis=0)})
    labels.append(inten[cols])
  vw.release()
  labels = np.asarray(labels)
  for k, au in enumerate(DISFA_AUS):
    _write_text(root / "ActionUnit_Labels" / subject / f"{subject}_au{au}.txt",
                "".join(f"{i + 1},{int(v)}\n" for i, v in enumerate(labels[:, k])))
  return n


def write_bp4d_subject(root: Path, subject: str, index: int, fraction: float) -> int:
  """One BP4D subject: 8 tasks of JPEG frames, occurrence and intensity CSVs. Returns frames."""
  n = bp4d_frames_per_task(fraction)
  cfg = _render_config("bp4d_like", seed=1, sequences=len(BP4D_TASKS), frames=n)
  occ_rows = {task: [] for task in BP4D_TASKS}
  int_rows = {task: {au: [] for au in FERA2015_INT_AUS} for task in BP4D_TASKS}
  header = "0," + ",".join(str(a) for a in BP4D_OCC_COLUMNS)
  for q, t, face, lm, inten in render_subject(cfg, index):
    task, frame = BP4D_TASKS[q], t + 1
    img, _ = place(face, lm, BP4D_SIZE, BP4D_FACE_SIDE)
    path = root / "BP4D-training" / subject / task / f"{frame:04d}.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                       [cv2.IMWRITE_JPEG_QUALITY, 90]):
      raise RuntimeError(f"OpenCV cannot write {path}")
    level = {au: int(inten[SYNTHETIC_AUS.index(au)]) for au in SYNTHETIC_AUS}
    occ_rows[task].append(f"{frame}," + ",".join(str(int(level.get(a, 0) >= 1))
                                                 for a in BP4D_OCC_COLUMNS))
    for au in FERA2015_INT_AUS:
      int_rows[task][au].append(f"{frame},{level[au]}")
  for task in BP4D_TASKS:
    _write_text(root / "AUCoding" / f"{subject}_{task}.csv",
                header + "\n" + "\n".join(occ_rows[task]) + "\n")
    for au in FERA2015_INT_AUS:
      _write_text(root / "AU Intensity Codes3.0" / f"AU{au:02d}"
                  / f"{subject}_{task}_AU{au:02d}.csv",
                  "\n".join(int_rows[task][au]) + "\n")
  return n * len(BP4D_TASKS)


WRITERS = {"disfa": ("DISFA", write_disfa_subject), "bp4d": ("BP4D", write_bp4d_subject)}


def write_tree(out: Path, dataset: str, fraction: float, log=print) -> dict:
  """Writes (or completes) one dataset's tree under out/<DISFA|BP4D>. Returns its facts."""
  folder, writer = WRITERS[dataset]
  root = Path(out) / folder
  done_dir = Path(out) / f".done_{dataset}"
  done_dir.mkdir(parents=True, exist_ok=True)
  frames = {}
  for index, subject in enumerate(subjects(dataset)):
    marker = done_dir / subject
    if marker.exists():
      frames[subject] = int(marker.read_text())
      continue
    t = time.perf_counter()
    frames[subject] = writer(root, subject, index, fraction)
    marker.write_text(str(frames[subject]))
    log(f"{dataset} {subject}: {frames[subject]} frames in {time.perf_counter() - t:.1f} s")
  return dict(root=str(root), subjects=len(frames), frames=sum(frames.values()))


def main(argv=None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--out", required=True, help="folder for DISFA/ and BP4D/")
  ap.add_argument("--frame_fraction", type=float, required=True,
                  help="frames per subject as a share of the real dataset's (1.0 = full size)")
  ap.add_argument("--datasets", default="disfa,bp4d")
  args = ap.parse_args(argv)
  if not 0 < args.frame_fraction <= 1:
    ap.error(f"--frame_fraction must be in (0, 1], got {args.frame_fraction}")
  os.makedirs(args.out, exist_ok=True)
  for name in args.datasets.split(","):
    print(json.dumps({name: write_tree(Path(args.out), name, args.frame_fraction)}))


if __name__ == "__main__":
  main()
