"""DISFA (Mavadati et al. 2013): 27 adults, left-camera video, 12 AUs coded
for intensity 0-5 on every frame, 66 tracked landmarks per frame.

Records: one per labelled video frame (left camera). `au_intensity` holds the
raw 0-5 codes of DISFA_AUS (-1 where an AU file is missing or a value is out
of range); `au_occurrence` is -1 (DISFA is coded for intensity only; the data
pipeline derives occurrence, by default intensity >= 2). `frame` is the
1-based label frame number; it shows video frame `frame - 1` (0-based).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from au_jax import aus as au_lists
from au_jax.face.schemes import to_68
from tfds_builders import raw_utils
from tfds_builders.disfa import parse

_DIR = Path(__file__).parent


class Disfa(raw_utils.RawAUBuilder):
  """DISFA: left-camera frames, 12 AU intensities, 66 landmarks aligned."""

  VERSION = tfds.core.Version("1.3.0")
  RELEASE_NOTES = {
      "1.0.0": "Left camera, 12 AU intensities, dataset landmarks.",
      **raw_utils.SCHEMA_RELEASE_NOTES}
  BUILDER_CONFIGS = [raw_utils.RawAUBuilderConfig(name="default")]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  DISFA is licensed: request it at http://mohammadmahoor.com/disfa/ (University
  of Denver; sign the agreement). Unpack the archives into one folder and pass
  that folder as --manual_dir. It must contain (folder names in any case, an
  extra top-level folder is fine):
    Videos_LeftCamera/LeftVideoSN001_comp.avi ...
    ActionUnit_Labels/SN001/SN001_au1.txt ...
    Landmark_Points/SN001/tmp_frame_lm/SN001_0000_lm.mat ...   (optional)
  The right-camera videos are not used.
  """

  def _aus(self):
    return au_lists.DISFA_AUS

  def _protocols(self):
    return raw_utils.load_protocols(_DIR)

  def _scan(self, root):
    return parse.scan(root, self._aus(), self._report)

  def _examples(self, dl_manager, subject):
    entry = self._scanned[subject]
    aus = self._aus()
    rep = self._report
    columns = {}
    for au in aus:
      path = entry["au_files"].get(au)
      if path is None:
        rep.skip("missing AU file: that AU is unknown (-1) for the subject", f"{subject} AU{au}")
        continue
      rows = None
      with self._tolerate("AU file: that AU is unknown (-1) for the subject"):
        rows = parse.read_au_file(path)
      if rows is None:
        continue
      if not rows:
        rep.skip("empty AU file: that AU is unknown (-1) for the subject", path)
        continue
      columns[au] = rows
    if not columns:
      rep.skip("subject without any readable AU file", subject)
      return
    # A frame is kept when every present AU file codes it (DISFA section 1.6:
    # n = min over the files); frames coded by only some files are counted.
    frame_sets = [set(c) for c in columns.values()]
    frames = set.intersection(*frame_sets)
    rep.skip("label frame missing from some AU files", subject,
             n=len(set.union(*frame_sets) - frames))
    bad = sorted(f for f in frames if f < 1)
    rep.skip("label frame number < 1", subject, n=len(bad))
    frames = sorted(f for f in frames if f >= 1)
    kept = frames[::self.builder_config.frame_step]
    wanted = {f - 1: f for f in kept}  # video index (0-based) -> label frame
    seen = set()
    for index, rgb in raw_utils.iter_video(entry["video"], keep=wanted.__contains__,
                                           stop=max(wanted) + 1 if wanted else 0):
      frame = wanted[index]
      seen.add(frame)
      with self._tolerate("frame"):
        inten = np.full(len(aus), -1, np.int32)
        for k, au in enumerate(aus):
          v = columns.get(au, {}).get(frame, -1)
          if au in columns and not 0 <= v <= au_lists.MAX_INTENSITY:
            rep.skip("intensity outside 0-5 stored as -1", f"{subject} AU{au} frame {frame}: {v}")
            v = -1
          inten[k] = v
        lm_path = entry["landmarks"].get(frame)
        if lm_path is None and entry["landmarks"]:
          rep.skip("landmark file missing for a frame", f"{subject} frame {frame}")
        lm = to_68(parse.read_landmarks(lm_path), 66) if lm_path is not None else None
        rec = self._record(image=rgb, landmarks=lm, where=f"{subject} frame {frame}",
                           au_intensity=inten, au_occurrence=np.full(len(aus), -1, np.int32),
                           subject=subject, sequence=subject, frame=frame)
        if rec is not None:
          yield f"{subject}/{frame:06d}", rec
    missing = len(kept) - len(seen)
    rep.skip("label frames beyond the end of the video (label/video length mismatch)",
             subject, n=missing)
