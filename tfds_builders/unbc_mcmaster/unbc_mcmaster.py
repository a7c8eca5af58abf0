"""UNBC-McMaster Shoulder Pain Expression Archive (Lucey et al. 2011): 25
people with shoulder pain, 200 sequences, per-frame FACS with intensities,
PSPI, 66 AAM landmarks, sequence-level self/observer pain ratings.

Labels for UNBC_AUS (4 6 7 9 10 12 15 20 25 26 27 43), from each frame's FACS
file (an AU listed = present; empty or missing file = no AU):
  * AU with an intensity 1-5: `au_intensity` = that value, `au_occurrence` -1
    (intensity-coded, like DISFA: the data pipeline derives occurrence);
  * AU listed with intensity 0 (unspecified): intensity -1, occurrence 1;
  * AU43 (eye closure, coded 0/1, not an A-E intensity): occurrence 0/1,
    intensity -1;
  * AU not listed: intensity 0, occurrence -1 (0 for AU43).
Codes outside the list (e.g. 50 = speech) are ignored and counted.
PSPI is not a record feature: it is AU4 + max(AU6, AU7) + max(AU9, AU10) +
AU43 of the raw codes (`parse.pspi`); the build checks every PSPI file
against it and counts disagreements. The sequence ratings (AFF, OPR, SEN,
VAS) go to `info.metadata["sequence_labels"]`.
`frame` = the 1-based number in the image name; sequence = the sequence folder.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from au_jax import aus as au_lists
from au_jax.face.schemes import to_68
from tfds_builders import raw_utils
from tfds_builders.unbc_mcmaster import parse

_DIR = Path(__file__).parent
OCCURRENCE_ONLY_AUS = (43,)


def frame_labels(facs: list[tuple[int, int]], aus) -> tuple[np.ndarray, np.ndarray, list[int]]:
  """(au_intensity, au_occurrence, ignored AU codes) of one frame (rules above)."""
  listed = dict(facs)
  inten = np.zeros(len(aus), np.int32)
  occ = np.full(len(aus), -1, np.int32)
  for k, au in enumerate(aus):
    v = listed.get(au)
    if au in OCCURRENCE_ONLY_AUS:
      inten[k], occ[k] = -1, int(v is not None)
    elif v is None:
      continue
    elif 1 <= v <= au_lists.MAX_INTENSITY:
      inten[k] = v
    else:
      inten[k], occ[k] = -1, 1
  return inten, occ, sorted(a for a in listed if a not in aus)


class UnbcMcmaster(raw_utils.RawAUBuilder):
  """UNBC-McMaster: per-frame FACS intensities, AAM landmarks aligned."""

  VERSION = tfds.core.Version("1.3.0")
  RELEASE_NOTES = {
      "1.0.0": "Per-frame FACS (12 AUs), PSPI checked, AAM landmarks.",
      **raw_utils.SCHEMA_RELEASE_NOTES}
  BUILDER_CONFIGS = [raw_utils.RawAUBuilderConfig(name="default")]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  The UNBC-McMaster Shoulder Pain Expression Archive is licensed: request it
  from Jeffrey Cohn's group (https://www.jeffcohn.net/Resources/, sign the
  agreement). Pass as --manual_dir the folder that contains (any case, any
  extra top folder):
    Images/042-ll042/ll042t1aaaff/*.png
    Frame_Labels/FACS/..., Frame_Labels/PSPI/..., AAM_landmarks/...,
    Sequence_Labels/{AFF,OPR,SEN,VAS}/...
  """

  def _aus(self):
    return au_lists.UNBC_AUS

  def _protocols(self):
    return raw_utils.load_protocols(_DIR)

  def _scan(self, root):
    found = parse.scan(root, self._report)
    ratings = {}
    for subject, seqs in found.items():
      for seq, e in seqs.items():
        ratings[seq] = {}
        for scale, p in e["scales"].items():
          with self._tolerate("sequence rating (left out of sequence_labels)"):
            v = raw_utils.read_matlab_ascii(p).ravel()
            if v.size:
              ratings[seq][scale] = float(v[0])
    self._extra_meta["sequence_labels"] = ratings
    return found

  def _examples(self, dl_manager, subject):
    for seq, e in sorted(self._scanned[subject].items()):
      for pos, (frame, path) in enumerate(sorted(e["images"].items())):
        if not self._keep(pos):
          continue
        with self._tolerate("frame"):
          rec = self._frame_record(subject, seq, e, frame, path)
          if rec is not None:
            yield f"{seq}/{frame:05d}", rec

  def _frame_record(self, subject, seq, e, frame, path):
    """The record of one frame, or None (counted)."""
    aus = self._aus()
    rep = self._report
    where = f"{subject}/{seq} frame {frame}"
    if frame in e["facs"]:
      facs = parse.parse_facs(raw_utils.read_text(e["facs"][frame]), e["facs"][frame])
    else:
      facs = []
      rep.skip("frame without a FACS file: no AU (as for an empty file)", where)
    inten, occ, ignored = frame_labels(facs, aus)
    for a in ignored:
      rep.skip(f"FACS code outside the UNBC AU list ignored (AU{a})", where)
    if frame in e["pspi"]:
      got = raw_utils.read_matlab_ascii(e["pspi"][frame]).ravel()
      if got.size != 1 or int(round(got[0])) != parse.pspi(facs):
        rep.skip("PSPI file disagrees with the FACS codes (records keep FACS)",
                 f"{where}: file {got.tolist()} vs FACS {parse.pspi(facs)}")
    lm = None
    if frame in e["aam"]:
      pts = raw_utils.read_matlab_ascii(e["aam"][frame])
      if pts.shape != (66, 2):
        raise raw_utils.RawFormatError(e["aam"][frame], f"expected 66 x 2 numbers, got {pts.shape}")
      lm = to_68(pts, 66)
    else:
      rep.skip("frame without an AAM landmark file", where)
    image = raw_utils.read_image_rgb(path)
    if image.mean() < 10:
      rep.skip("almost black frame (mean < 10, kept)", where)
    return self._record(image=image, landmarks=lm, where=where, au_intensity=inten,
                        au_occurrence=occ, subject=subject, sequence=seq, frame=frame)
