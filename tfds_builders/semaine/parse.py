"""Raw-format readers of SEMAINE as released for FERA 2015.

  SEMAINE-Sessions/            (may be doubled: SEMAINE-Sessions/SEMAINE-Sessions/)
    rec1.txt                   "<start> <end>": evaluated segment, [start, end) 1-based frames
    rec1/<date>_User Frontal_C_<name>.avi   50 fps
    rec1/<anything>.eaf        ELAN XML; activation tiers "AU<k>"
"""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Optional

import numpy as np

from tfds_builders import raw_utils

FPS = 50  # "50 is a valid framerate for all SEMAINE videos" (FERA organisers' parser)
SEGMENT_FRAMES = 3000


def parse_eaf(text: str, aus, path="<eaf>", report: Optional[raw_utils.SkipReport] = None
              ) -> tuple[int, dict[int, np.ndarray]]:
  """Decodes AU activations of an ELAN file to per-frame 0/1 labels.

  As the FERA 2015 organisers' parser: frames run 1..floor(last_ms / 1000 *
  50), where last_ms is the largest time slot; an annotation from t1 to t2
  marks frames floor(t1 * 50 / 1000) .. floor(t2 * 50 / 1000) inclusive.
  Activation tiers are found by TIER_ID "AU<k>" (any case, zero padding
  allowed), not by position, so intensity tiers and the speech tier are
  ignored whatever their names.

  Args:
    text: the .eaf XML.
    aus: AU ids wanted.

  Returns:
    (n_frames, {au: int32 [n_frames] 0/1, index 0 = frame 1}) for the AUs
    that have a tier; AUs without a tier are absent.

  Raises:
    RawFormatError: not XML, or no time slot with a value.
  """
  try:
    root = ET.fromstring(text.encode("utf-8") if isinstance(text, str) else text)
  except ET.ParseError as e:
    raise raw_utils.RawFormatError(path, f"not valid XML ({e})") from None
  slots = {}
  for ts in root.iter("TIME_SLOT"):
    if ts.get("TIME_VALUE") not in (None, ""):
      slots[ts.get("TIME_SLOT_ID")] = float(ts.get("TIME_VALUE"))
  if not slots:
    raise raw_utils.RawFormatError(path, "no TIME_SLOT with a TIME_VALUE")
  n = int(math.floor(max(slots.values()) / 1000 * FPS))
  labels: dict[int, np.ndarray] = {}
  for tier in root.iter("TIER"):
    m = re.fullmatch(r"AU0*(\d+)", (tier.get("TIER_ID") or "").strip(), re.IGNORECASE)
    if not m or int(m.group(1)) not in aus or int(m.group(1)) in labels:
      continue
    lab = np.zeros(n, np.int32)
    for ann in tier.iter("ALIGNABLE_ANNOTATION"):
      t1, t2 = slots.get(ann.get("TIME_SLOT_REF1")), slots.get(ann.get("TIME_SLOT_REF2"))
      if t1 is None or t2 is None:
        if report is not None:
          report.skip("EAF annotation with an unaligned time slot (ignored)",
                      f"{path} {ann.get('ANNOTATION_ID')}")
        continue
      a, b = int(math.floor(t1 / 1000 * FPS)), int(math.floor(t2 / 1000 * FPS))
      lab[max(a, 1) - 1:min(b, n)] = 1
    labels[int(m.group(1))] = lab
  return n, labels


def parse_bounds(text: str, path="<bounds>") -> tuple[int, int]:
  """(start, end) of a recN.txt: the evaluated segment [start, end), 1-based."""
  nums = raw_utils.parse_matlab_ascii(text, path).ravel()
  if nums.size != 2 or not all(float(v).is_integer() for v in nums):
    raise raw_utils.RawFormatError(path, f"expected two integers '<start> <end>', got {nums.tolist()}")
  return int(nums[0]), int(nums[1])


def clamp_segment(start: int, end: int, n: int) -> tuple[int, int]:
  """The segment inside 1..n, as OpenFace does when the bounds overrun.

  If `end` lies past the annotation, the segment becomes the last 3000
  frames (60 s at 50 fps): [max(1, n + 1 - 3000), n + 1).
  """
  if end - 1 > n:
    end = n + 1
    start = max(1, end - SEGMENT_FRAMES)
  return max(start, 1), end


def scan(root: Path, report: raw_utils.SkipReport) -> dict[str, dict]:
  """{rec: {eaf, video, bounds (path or None)}} for every rec folder with an .eaf."""
  out = {}
  for eaf in raw_utils.walk_files(root, r".*\.eaf"):
    rec_dir = eaf.parent
    rec = rec_dir.name
    if not re.fullmatch(r"rec\d+", rec, re.IGNORECASE):
      report.skip("EAF file outside a recN folder", eaf)
      continue
    rec = rec.lower()
    if rec in out:
      report.skip("second EAF of a session (first kept)", eaf)
      continue
    videos = [p for p in rec_dir.iterdir() if p.suffix.lower() == ".avi"]
    frontal = [p for p in videos if "user frontal" in p.name.lower()]
    video = frontal[0] if len(frontal) == 1 else videos[0] if len(videos) == 1 else None
    if video is None:
      report.skip("session without exactly one (User Frontal) AVI", f"{rec_dir}: {[p.name for p in videos]}")
      continue
    bounds = [p for p in rec_dir.parent.iterdir()
              if p.is_file() and p.name.lower() == f"{rec}.txt"]
    if not bounds:
      report.skip("session without a recN.txt segment file (whole session is the segment)", rec)
    out[rec] = dict(eaf=eaf, video=video, bounds=bounds[0] if bounds else None)
  return out
