"""Raw-format readers of BP4D-Spontaneous.

Both releases are read by pattern, wherever the files sit below --manual_dir:

  occurrence  <S>_<T>.csv          (FERA 2015 `AUCoding/`, original `AUCoding/AU_OCC/`)
  intensity   <S>_<T>_AU<k>.csv    (`AU Intensity Codes3.0/AU06/`, `AU-Intensity-Codes3.0/`,
                                    `AUCoding/AU_INT/AU06/`)
  images      .../<S>/<T>/<digits>.jpg  (`BP4D-training/`, `Sequences(2D+3D)/<S>/<S>/`,
                                    `2D+3D/`; stems zero-padded to 3 or 4 digits)
"""
from __future__ import annotations

import re
from pathlib import Path

from tfds_builders import raw_utils

SUBJECT_RE = r"[FM]\d{3}"
TASK_RE = r"T\d+"
OCC_RE = rf"({SUBJECT_RE})_({TASK_RE})\.csv"
INT_RE = rf"({SUBJECT_RE})_({TASK_RE})_AU(\d+)\.csv"
UNKNOWN_CODE = 9


def parse_occurrence_csv(text: str, path="<text>") -> tuple[list[int], dict[int, dict[int, int]]]:
  """Parses an AU occurrence CSV, columns read by header name.

  The header is integers given as text: "0" names the frame column, every
  other integer an AU. Columns whose name is not an integer (an occlusion
  flag in some copies) are ignored.

  Returns:
    (AUs in column order, {frame: {au: raw code}}) with raw codes 0, 1, 9.

  Raises:
    RawFormatError: no header with a "0" column, or a row that is not numeric.
  """
  lines = [ln.strip() for ln in text.replace("\r", "\n").split("\n") if ln.strip()]
  if not lines:
    return [], {}
  header = [h.strip().strip('"') for h in lines[0].split(",")]
  if "0" not in header:
    raise raw_utils.RawFormatError(path, f"header has no frame column '0': {lines[0][:80]!r}")
  frame_col = header.index("0")
  au_cols = [(i, int(h)) for i, h in enumerate(header) if h.isdigit() and i != frame_col]
  rows: dict[int, dict[int, int]] = {}
  for n, line in enumerate(lines[1:], start=2):
    cells = line.split(",")
    if len(cells) < len(header):
      raise raw_utils.RawFormatError(path, f"line {n} has {len(cells)} cells, header {len(header)}")
    try:
      frame = int(float(cells[frame_col]))
      rows.setdefault(frame, {au: int(float(cells[i])) for i, au in au_cols})
    except ValueError:
      raise raw_utils.RawFormatError(path, f"line {n} is not numeric: {line[:80]!r}") from None
  return [au for _, au in au_cols], rows


OCCLUSION_HEADER = "occl"    # a header cell containing this (any case) names the column


def parse_occlusion_csv(text: str, path="<text>") -> tuple[str | None, dict[int, int]]:
  """The per-frame occlusion flag of an AU occurrence CSV, where it has one.

  Some copies end the AU columns with an occlusion flag (OpenFace's and the
  FERA 2015 baseline's readers take the last column as one, by position, and
  drop the frames where it is 1). Its header is not documented, so the
  column is read by name only: the first header cell containing "occl" in
  any case ("Occlusion", "occl", ...). A CSV without such a column gives
  (None, {}): its frames' occluder stays missing, never guessed.

  Returns:
    (the column's header or None, {frame: raw flag}).

  Raises:
    RawFormatError: as parse_occurrence_csv, for the frame and flag columns.
  """
  lines = [ln.strip() for ln in text.replace("\r", "\n").split("\n") if ln.strip()]
  if not lines:
    return None, {}
  header = [h.strip().strip('"') for h in lines[0].split(",")]
  col = next((i for i, h in enumerate(header) if OCCLUSION_HEADER in h.lower()), None)
  if col is None:
    return None, {}
  if "0" not in header:
    raise raw_utils.RawFormatError(path, f"header has no frame column '0': {lines[0][:80]!r}")
  frame_col = header.index("0")
  flags: dict[int, int] = {}
  for n, line in enumerate(lines[1:], start=2):
    cells = line.split(",")
    if len(cells) < len(header):
      raise raw_utils.RawFormatError(path, f"line {n} has {len(cells)} cells, header {len(header)}")
    try:
      flags.setdefault(int(float(cells[frame_col])), int(float(cells[col])))
    except ValueError:
      raise raw_utils.RawFormatError(
          path, f"line {n}: column {header[col]!r} is not numeric: {line[:80]!r}") from None
  return header[col], flags


def scan(root: Path, report: raw_utils.SkipReport) -> dict[str, dict[str, dict]]:
  """{subject: {task: {occ: path|None, int: {au: path}, images: {frame: path}}}}."""
  seqs: dict[tuple[str, str], dict] = {}

  def entry(s, t):
    return seqs.setdefault((s.upper(), t.upper()), dict(occ=None, int={}, images={}))

  for p in raw_utils.walk_files(root, OCC_RE):
    m = re.fullmatch(OCC_RE, p.name, re.IGNORECASE)
    e = entry(m.group(1), m.group(2))
    if e["occ"] is None:
      e["occ"] = p
    else:
      report.skip("second occurrence CSV of a sequence (first kept)", p)
  for p in raw_utils.walk_files(root, INT_RE):
    m = re.fullmatch(INT_RE, p.name, re.IGNORECASE)
    entry(m.group(1), m.group(2))["int"].setdefault(int(m.group(3)), p)
  by_dir: dict[Path, list[Path]] = {}
  for p in raw_utils.walk_files(root, r"\d+\.jpe?g"):
    by_dir.setdefault(p.parent, []).append(p)
  for d, files in sorted(by_dir.items()):
    if not (re.fullmatch(TASK_RE, d.name, re.IGNORECASE)
            and re.fullmatch(SUBJECT_RE, d.parent.name, re.IGNORECASE)):
      report.skip("image folder not of the form <subject>/<task>", d)
      continue
    e = entry(d.parent.name, d.name)
    if e["images"]:
      report.skip("second image folder of a sequence (first kept)", d)
      continue
    e["images"] = raw_utils.index_by_int(files, report, "BP4D image")
  out: dict[str, dict[str, dict]] = {}
  for (s, t), e in sorted(seqs.items()):
    if not e["images"]:
      report.skip("labelled sequence without images", f"{s}/{t}")
    elif e["occ"] is None and not e["int"]:
      report.skip("image sequence without labels", f"{s}/{t}")
    else:
      out.setdefault(s, {})[t] = e
  return out
