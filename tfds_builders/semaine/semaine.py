"""SEMAINE (McKeown et al. 2012) as released for FERA 2015: user-frontal
videos of operator-user sessions at 50 fps, 6 AUs coded for occurrence in
ELAN files.

Records: `au_occurrence` 0/1 for SEMAINE_AUS (2 12 17 25 28 45; an AU the
EAF has no tier for is -1), `au_intensity` -1 (occurrence-only coding).
`frame` is the 1-based annotation frame; it shows video frame `frame - 1`
(0-based). Subject = sequence = the session id (`rec1` ...): FERA gives no
person ids beyond the session.

Segments: `recN.txt` gives the FERA-evaluated segment [start, end). Config
"default" keeps every annotated frame and stores the segments in
`info.metadata["segments"]` ({rec: [start, end)}); config "segment" keeps
only the frames inside them. Sessions rec9, rec50 and rec56 are flagged in
`info.metadata["flagged_sessions"]` (an OpenFace script excludes them, "Issues
with the following recordings"); they are kept. SEMAINE has no landmarks:
faces come from the detector.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from au_jax import aus as au_lists
from tfds_builders import raw_utils
from tfds_builders.semaine import parse

_DIR = Path(__file__).parent
FLAGGED = {r: "excluded by an OpenFace evaluation script: 'Issues with the following recordings 9, 50, 56'"
           for r in ("rec9", "rec50", "rec56")}


@dataclasses.dataclass
class SemaineConfig(raw_utils.RawAUBuilderConfig):
  """RawAUBuilderConfig + segment_only: keep only the recN.txt segment."""
  segment_only: bool = False


class Semaine(raw_utils.RawAUBuilder):
  """SEMAINE (FERA 2015): occurrence of 6 AUs at 50 fps, detected faces."""

  VERSION = tfds.core.Version("1.3.0")
  RELEASE_NOTES = {
      "1.0.0": "FERA 2015 release; EAF occurrence; session segments.",
      **raw_utils.SCHEMA_RELEASE_NOTES}
  BUILDER_CONFIGS = [SemaineConfig(name="default"), SemaineConfig(name="segment", segment_only=True)]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  SEMAINE is licensed: the FERA 2015 release comes from the FERA 2015
  organisers (https://semaine-db.eu/ holds the full SEMAINE database; sign its
  EULA). Pass as --manual_dir the folder that contains SEMAINE-Sessions/
  (a doubled SEMAINE-Sessions/SEMAINE-Sessions/ is fine), with
    rec1.txt, rec1/<...>_User Frontal_<...>.avi, rec1/<...>.eaf, rec12.txt, ...
  """

  def _aus(self):
    return au_lists.SEMAINE_AUS

  def _protocols(self):
    return raw_utils.load_protocols(_DIR)

  def _metadata(self):
    return dict(flagged_sessions=FLAGGED, fps=parse.FPS)

  def _scan(self, root):
    found = parse.scan(root, self._report)
    self._extra_meta["segments"] = {}
    for rec, e in list(found.items()):
      del found[rec]  # back in only once its labels are read
      with self._tolerate("session"):
        n, labels = parse.parse_eaf(raw_utils.read_text(e["eaf"]), self._aus(), e["eaf"], self._report)
        e.update(n=n, labels=labels)
        if e["bounds"] is None:
          seg = (1, n + 1)
        else:
          raw = parse.parse_bounds(raw_utils.read_text(e["bounds"]), e["bounds"])
          seg = parse.clamp_segment(*raw, n)
          if seg != raw:
            self._report.skip("segment bounds past the annotation clamped to its last 3000 frames",
                              f"{rec}: {list(raw)} -> {list(seg)}")
        e["segment"] = seg
        self._extra_meta["segments"][rec] = list(seg)
        if rec in FLAGGED:
          self._report.skip("flagged session kept (see metadata flagged_sessions)", rec)
        found[rec] = e
    return found

  def _examples(self, dl_manager, subject):
    e = self._scanned[subject]
    aus = self._aus()
    rep = self._report
    missing = [a for a in aus if a not in e["labels"]]
    if missing:
      rep.skip("AU without an activation tier in the EAF (-1)", f"{subject}: {missing}", n=len(missing))
    frames = range(1, e["n"] + 1)
    if self.builder_config.segment_only:
      frames = range(*e["segment"])
    kept = [f for pos, f in enumerate(frames) if self._keep(pos)]
    wanted = {f - 1: f for f in kept}
    seen = 0
    for index, rgb in raw_utils.iter_video(e["video"], keep=wanted.__contains__,
                                           stop=max(wanted) + 1 if wanted else 0):
      frame = wanted[index]
      seen += 1
      occ = np.array([e["labels"][a][frame - 1] if a in e["labels"] else -1 for a in aus], np.int32)
      rec = self._record(image=rgb, landmarks=None, where=f"{subject} frame {frame}",
                         au_intensity=np.full(len(aus), -1, np.int32), au_occurrence=occ,
                         subject=subject, sequence=subject, frame=frame)
      if rec is not None:
        yield f"{subject}/{frame:07d}", rec
    rep.skip("annotated frames beyond the end of the video (label/video length mismatch)",
             subject, n=len(kept) - seen)
