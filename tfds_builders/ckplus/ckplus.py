"""CK+ (Extended Cohn-Kanade, Lucey et al. 2010): 123 subjects, 593 posed
sequences from neutral to peak; FACS coded on the peak (last) frame only;
68 AAM landmarks on every frame. For testing and transfer.

AU list = every AU au-jax datasets use (CKPLUS_AUS, the keys of
au_jax.aus.AU_NAMES), so a model trained on any of them can be evaluated
here. Peak-frame labels: AU listed with intensity 1-5 (A-E) -> intensity
= value, occurrence 1; listed with 0 ("not specified") -> intensity -1,
occurrence 1; not listed -> 0 and 0 (FACS coding of the peak names every AU
present). Codes outside the list are ignored and counted. Rules such as
Ghosh et al.'s "intensity >= 3" are not baked into the records: a data
config sets them per source (`occurrence_rule`, au_jax/data/sources.py;
configs/multilabel_cross.py).
Config "peak_and_neutral" adds the first frame of every coded sequence with
all AUs 0/0: the CK+ convention that sequences start neutral (not coded).
Emotion labels (0-7) go to `info.metadata["emotions"]` {"S005/001": 3}.
frame_step does not apply (one or two frames per sequence).

Protocols: CK+ has no official split and its subject list is not shipped
here, so protocols are computed at build time from the subjects found:
`all_test` (every subject in test: transfer evaluation) and fold1..fold10,
the usual 10-fold rule (IFP: fold = index % 10 over the sorted subjects;
validation = the next fold).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from au_jax import aus as au_lists
from tfds_builders import raw_utils
from tfds_builders.ckplus import parse

CKPLUS_AUS = tuple(sorted(au_lists.AU_NAMES))
NUM_FOLDS = 10


@dataclasses.dataclass
class CkplusConfig(raw_utils.RawAUBuilderConfig):
  """RawAUBuilderConfig + include_neutral: add each sequence's first frame as all-absent."""
  include_neutral: bool = False


def peak_labels(facs, aus) -> tuple[np.ndarray, np.ndarray, list[int]]:
  """(au_intensity, au_occurrence, ignored codes) of a peak frame (rules above)."""
  listed = dict(facs)
  inten = np.zeros(len(aus), np.int32)
  for k, a in enumerate(aus):
    if a in listed:
      inten[k] = listed[a] if 1 <= listed[a] <= au_lists.MAX_INTENSITY else -1
  occ = np.array([int(a in listed) for a in aus], np.int32)
  return inten, occ, sorted(a for a in listed if a not in aus)


def subject_protocols(subjects) -> dict[str, dict[str, list[str]]]:
  """all_test and the 10-fold rule over the sorted subjects."""
  subjects = sorted(subjects)
  folds = [[s for i, s in enumerate(subjects) if i % NUM_FOLDS == k] for k in range(NUM_FOLDS)]
  out = {"all_test": {"train": [], "validation": [], "test": subjects}}
  for k in range(NUM_FOLDS):
    if folds[k]:
      val = folds[(k + 1) % NUM_FOLDS]
      out[f"fold{k + 1}"] = {"train": [s for s in subjects if s not in folds[k] + val],
                             "validation": val, "test": folds[k]}
  return out


class Ckplus(raw_utils.RawAUBuilder):
  """CK+: peak-frame FACS, 68 landmarks aligned; for testing and transfer."""

  VERSION = tfds.core.Version("1.3.0")
  RELEASE_NOTES = {
      "1.0.0": "Peak frames (optionally + neutral first frames), 68 landmarks.",
      **raw_utils.SCHEMA_RELEASE_NOTES}
  BUILDER_CONFIGS = [CkplusConfig(name="default"),
                     CkplusConfig(name="peak_and_neutral", include_neutral=True)]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  CK+ is licensed: request it at https://www.jeffcohn.net/Resources/ (sign the
  agreement). Unzip extended-cohn-kanade-images.zip, Landmarks.zip,
  FACS_labels.zip and Emotion_labels.zip into one folder and pass it as
  --manual_dir:
    cohn-kanade-images/S005/001/*.png, Landmarks/S005/001/*_landmarks.txt,
    FACS/S005/001/*_facs.txt (or FACS_labels/FACS/...), Emotion/... (optional)
  """

  def _aus(self):
    return CKPLUS_AUS

  def _protocols(self):
    return {}  # computed from the subjects found (see the module docstring)

  def _metadata(self):
    return dict(emotion_names=list(parse.EMOTIONS))

  def _scan(self, root):
    found = parse.scan(root, self._report)
    self._extra_meta["protocols"] = subject_protocols(found)
    emotions = {}
    for s, seqs in found.items():
      for q, e in seqs.items():
        if e["emotion"] is not None:
          with self._tolerate("emotion label (left out of emotions)"):
            v = raw_utils.read_matlab_ascii(e["emotion"][1]).ravel()
            if v.size != 1 or v[0] not in range(len(parse.EMOTIONS)):
              raise raw_utils.RawFormatError(e["emotion"][1], f"expected one code 0-7, got {v.tolist()}")
            emotions[f"{s}/{q}"] = int(v[0])
    self._extra_meta["emotions"] = emotions
    return found

  def _examples(self, dl_manager, subject):
    for seq, e in sorted(self._scanned[subject].items()):
      with self._tolerate("sequence"):
        yield from self._sequence_examples(subject, seq, e)

  def _sequence_examples(self, subject, seq, e):
    """Records of one sequence (peak, and the neutral first frame if asked)."""
    aus = self._aus()
    rep = self._report
    peak, facs_path = e["facs"]
    inten, occ, ignored = peak_labels(parse.parse_facs(raw_utils.read_text(facs_path), facs_path), aus)
    for a in ignored:
      rep.skip(f"FACS code outside the CK+ AU list ignored (AU{a})", facs_path)
    frames = [(peak, inten, occ)]
    if self.builder_config.include_neutral:
      first = min(e["images"])
      if first != peak:
        frames.insert(0, (first, np.zeros(len(aus), np.int32), np.zeros(len(aus), np.int32)))
    for frame, i, o in frames:
      where = f"{subject}/{seq} frame {frame}"
      if frame not in e["images"]:
        rep.skip("FACS frame without an image", where)
        continue
      lm = None
      if frame in e["landmarks"]:
        lm = parse.read_landmarks(e["landmarks"][frame])
      else:
        rep.skip("frame without a landmark file", where)
      rec = self._record(image=raw_utils.read_image_rgb(e["images"][frame]), landmarks=lm,
                         where=where, au_intensity=i, au_occurrence=o, subject=subject,
                         sequence=seq, frame=frame)
      if rec is not None:
        yield f"{seq}/{frame:08d}", rec
