"""Pictures of an inference table: AU traces over time, an overlay video.

`au_traces(df, png)`: one panel per face (face_id), AU intensity (AUxx_r, or
the occurrence probability AUxx_p for models without intensity) against
time (or frame / image number), frames without that face left as gaps.

`overlay_video(video, csv, out, aus)`: the video re-encoded with each face's
box, id, landmarks and its three strongest AUs drawn (for short clips: it
decodes and encodes every frame again).
"""
from __future__ import annotations

import os

import cv2
import numpy as np

from au_jax.errors import UserError


def _value_columns(df) -> tuple[list[str], str]:
  """The AU columns to draw: AUxx_r (else AUxx_p) of the AUs the model predicts
  (OpenFace's AUs it does not predict are empty columns)."""
  def named(suffix):
    return [c for c in df.columns if c.startswith("AU") and c.endswith(suffix)
            and (len(df) == 0 or df[c].notna().any())]
  r = named("_r")
  if r:
    return r, "intensity (0-5)"
  return named("_p"), "probability"


def au_traces(df, path: str, *, max_faces: int = 6) -> str:
  """Writes a PNG of AU traces per face over time; returns its path."""
  # A bare Figure (no pyplot): leaves the caller's backend alone (notebooks).
  from matplotlib import colormaps
  from matplotlib.figure import Figure
  cols, what = _value_columns(df)
  faces = df[df["success"] == 1]
  ids = sorted(faces["face_id"].unique())[:max_faces] or [None]
  video_like = faces["timestamp"].max() > 0 if len(faces) else False
  xcol, xlabel = ("timestamp", "time (s)") if video_like else ("frame", "frame / image")
  fig = Figure(figsize=(10, 2.6 * len(ids)))
  axes = fig.subplots(len(ids), 1, squeeze=False, sharex=True)
  cmap = colormaps["tab20"]
  for ax, fid in zip(axes[:, 0], ids):
    if fid is None:
      ax.text(0.5, 0.5, "no face found", ha="center", va="center", transform=ax.transAxes)
      continue
    sub = faces[faces["face_id"] == fid]
    # One line per input (a folder's images or one video), gaps where the face is absent.
    # (images: the x column is "frame" itself, selected once)
    full = df.drop_duplicates(["input", "frame"])[list(dict.fromkeys(["input", "frame", xcol]))]
    merged = full.merge(sub[["input", "frame"] + cols], on=["input", "frame"], how="left")
    for k, c in enumerate(cols):
      ax.plot(merged[xcol].to_numpy(), merged[c].to_numpy(), lw=1.2, color=cmap(k % 20),
              label=c.rsplit("_", 1)[0])
    ax.set_ylabel(f"face {fid}\n{what}")
    ax.set_ylim(0, 5.2 if what.startswith("intensity") else 1.05)
    ax.grid(alpha=0.3)
  axes[0, 0].legend(ncol=min(8, len(cols)), fontsize=7, loc="upper left",
                    bbox_to_anchor=(0, 1.35), frameon=False)
  axes[-1, 0].set_xlabel(xlabel)
  fig.tight_layout()
  tmp = path + ".tmp.png"
  fig.savefig(tmp, dpi=100)
  os.replace(tmp, path)       # atomic, as the CSV
  return path


def top_aus(row, cols: list[str], k: int = 3) -> list[tuple[str, float, float | None]]:
  """The k AUs with the largest values in a table row (ties broken by AUxx_p):
  [(AU label, value, probability or None)]."""
  vals = []
  for c in cols:
    au = c.rsplit("_", 1)[0]
    prob = float(row[f"{au}_p"]) if f"{au}_p" in row else None
    vals.append((au, float(row[c]), prob))
  return sorted(vals, key=lambda t: (-t[1], -(t[2] or 0.0)))[:k]


def draw_faces(rgb: np.ndarray, rows, cols: list[str]) -> np.ndarray:
  """A copy of an RGB frame with each face's box, id, landmarks and top AUs."""
  img = np.ascontiguousarray(rgb).copy()
  for _, r in rows.iterrows():
    if r["success"] != 1:
      continue
    x, y, w, h = (int(round(r[c])) for c in ("face_x", "face_y", "face_width", "face_height"))
    cv2.rectangle(img, (x, y), (x + w, y + h), (0, 255, 0), 2)
    cv2.putText(img, f"id {int(r['face_id'])}  {r['confidence']:.2f}", (x, max(12, y - 6)),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 0), 1, cv2.LINE_AA)
    if "x_0" in r:
      for i in range(68):
        cv2.circle(img, (int(round(r[f"x_{i}"])), int(round(r[f"y_{i}"]))), 1, (255, 60, 60), -1)
    for j, (au, v, prob) in enumerate(top_aus(r, cols)):
      text = f"{au} {v:.2f}" + (f" p={prob:.2f}" if prob is not None and v != prob else "")
      cv2.putText(img, text, (x, y + h + 14 + 14 * j), cv2.FONT_HERSHEY_SIMPLEX,
                  0.42, (255, 255, 0), 1, cv2.LINE_AA)
  return img


def overlay_video(video: str, csv_path: str, out: str, aus=None) -> str:
  """Writes `video` with the faces of `csv_path` drawn on it (MJPG AVI)."""
  import pandas as pd  # pandas (slow to import) only to read a CSV back
  del aus  # the table names its AUs
  df = pd.read_csv(csv_path)
  df = df[df["input"] == video]
  cols, _ = _value_columns(df)
  cap = cv2.VideoCapture(video)
  if not cap.isOpened():
    raise UserError(f"{video}: OpenCV cannot open this video for the overlay")
  fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
  writer, i = None, 0
  by_frame = dict(tuple(df.groupby("frame")))
  try:
    while True:
      ok, bgr = cap.read()
      if not ok:
        break
      i += 1
      rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
      if i in by_frame:
        rgb = draw_faces(rgb, by_frame[i], cols)
      if writer is None:
        writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*"MJPG"), fps,
                                 (rgb.shape[1], rgb.shape[0]))
        if not writer.isOpened():
          raise UserError(f"cannot write the overlay video {out}")
      writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
  finally:
    cap.release()
    if writer is not None:
      writer.release()
  return out
