"""Facial Action Units: FACS ids, names, dataset AU lists, occurrence rule.

Everything that needs to know "which AUs does dataset X code, and how" reads it
from here, so a dataset's AU list is written down exactly once.
"""
from __future__ import annotations

import numpy as np

# FACS names (Ekman, Friesen & Hager 2002) of the AUs used by au-jax datasets.
AU_NAMES: dict[int, str] = {
    1: "Inner brow raiser",
    2: "Outer brow raiser",
    4: "Brow lowerer",
    5: "Upper lid raiser",
    6: "Cheek raiser",
    7: "Lid tightener",
    9: "Nose wrinkler",
    10: "Upper lip raiser",
    12: "Lip corner puller",
    14: "Dimpler",
    15: "Lip corner depressor",
    17: "Chin raiser",
    20: "Lip stretcher",
    23: "Lip tightener",
    24: "Lip pressor",
    25: "Lips part",
    26: "Jaw drop",
    27: "Mouth stretch",
    28: "Lip suck",
    43: "Eyes closed",
    45: "Blink",
}

# Dataset AU lists (order = order of the record's au_intensity / au_occurrence).
DISFA_AUS = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)
FERA2015_OCC_AUS = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23)
FERA2015_INT_AUS = (6, 10, 12, 14, 17)
BP4D_AUS = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)
SEMAINE_AUS = (2, 12, 17, 25, 28, 45)
UNBC_AUS = (4, 6, 7, 9, 10, 12, 15, 20, 25, 26, 27, 43)
# Every AU the synthetic renderer can draw.
SYNTHETIC_AUS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26)

# Intensity codes: 0 absent, 1..5 = FACS A..E; -1 = not coded / unknown.
MAX_INTENSITY = 5
UNKNOWN = -1
# Occurrence from intensity: the usual DISFA protocol counts A (=1) as absent.
DEFAULT_OCCURRENCE_THRESHOLD = 2


def au_label(au: int) -> str:
  """'AU01'-style label, as in OpenFace CSVs and the papers' tables."""
  return f"AU{au:02d}"


def occurrence_from_intensity(
    intensity: np.ndarray, threshold: int = DEFAULT_OCCURRENCE_THRESHOLD
) -> np.ndarray:
  """Occurrence 0/1 from intensity 0..5, keeping -1 (unknown) as -1.

  Args:
    intensity: int array [..., A], values in {-1, 0..5}.
    threshold: smallest intensity counted as "present" (DISFA protocol: 2).
  """
  intensity = np.asarray(intensity)
  occ = (intensity >= threshold).astype(np.int32)
  return np.where(intensity < 0, UNKNOWN, occ).astype(np.int32)


def merge_occurrence(
    occurrence: np.ndarray,
    intensity: np.ndarray,
    threshold: int = DEFAULT_OCCURRENCE_THRESHOLD,
) -> np.ndarray:
  """Occurrence labels, derived from intensity wherever occurrence is unknown.

  Datasets coded only for intensity store -1 in `au_occurrence`; datasets
  coded for occurrence keep their own codes (the FACS coder's word wins).
  """
  occurrence = np.asarray(occurrence)
  derived = occurrence_from_intensity(intensity, threshold)
  return np.where(occurrence >= 0, occurrence, derived).astype(np.int32)


# How `occurrence_from_coded_intensity` labels an AU coded present with an
# unspecified intensity (CK+ FACS files: intensity 0).
UNSPECIFIED_RULES = ("uncoded", "absent", "present")


def occurrence_from_coded_intensity(
    occurrence: np.ndarray,
    intensity: np.ndarray,
    min_intensity: int,
    unspecified: str = "uncoded",
) -> np.ndarray:
  """A per-dataset occurrence rule that overrides the coders' occurrence codes.

  Present iff the coded intensity is >= `min_intensity` (Ghosh et al. 2015 on
  CK+: "any frame containing an intensity of 3 or higher" is positive).
  Where the AU is coded present but its intensity is not specified
  (occurrence 1, intensity -1): `unspecified` = "uncoded" (-1, masked),
  "absent" (0) or "present" (1). Otherwise unknown stays -1.

  Args:
    occurrence, intensity: int arrays [..., A] ({-1, 0, 1} and {-1, 0..5}).
  """
  if unspecified not in UNSPECIFIED_RULES:
    raise ValueError(f"unspecified must be one of {UNSPECIFIED_RULES}, got {unspecified!r}")
  occurrence, intensity = np.asarray(occurrence), np.asarray(intensity)
  out = np.where(intensity >= 0, (intensity >= min_intensity).astype(np.int32), UNKNOWN)
  fill = {"uncoded": UNKNOWN, "absent": 0, "present": 1}[unspecified]
  return np.where((intensity < 0) & (occurrence == 1), fill, out).astype(np.int32)
