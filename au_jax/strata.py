"""Stratified evaluation: every metric of the report, per stratum of the test records.

Pure numpy (no JAX). A stratum is a set of (record, AU) cells; its metrics
are the report's metrics (au_jax.metrics: occurrence F1, accuracy, 2AFC/AUC,
phi at the test thresholds; intensity ICC(3,1), MAE, MSE, PCC) computed on
those cells only, by the same code as the unstratified table (`au_table`;
the unstratified table is the stratum of every cell). The strata are those
of docs/benchmark.md 4.1:

  occlusion     per AU: visible (`au_covered` < .1) vs occluded (>= .5);
                cells between the two are in neither.
  occluder      per frame: `occluder` "none" vs any occluder ("hand", ...,
                "unspecified": a dataset's code that says only that the face
                is occluded, BP4D's); "" (missing) in neither.
  yaw           |yaw| in 0-10, 10-25, 25-40 degrees (lower bound included;
                40 itself in 25-40), and > 40 only where some record is.
  intensity     per AU, the TRUE intensity: 0, 1-2, 3-5 (AUs whose intensity
                is coded only).
  expressivity  tertiles of the subject's expressivity factor, the cut points
                being the 1/3 and 2/3 quantiles (numpy's default, linear)
                of one value per TRAINING subject (its records' median); low:
                < first cut, mid: < second cut, high: the rest. Where the
                training records lack the field, the test subjects' values
                give the cut points, and a note says so.

Every stratum reports its counts: `n` (records with a cell in it) and per AU
`n_occurrence` (cells with a coded occurrence), `n_positives` (positive
occurrence cells), `n_intensity`. An AU with fewer than MIN_POSITIVES
positive cells in a stratum is flagged (`few_positives`), never dropped:
docs/benchmark.md decides no claim on such a stratum. Records with a
nuisance value missing (NaN) are in no stratum of that nuisance. A nuisance
field the test records lack (or hold only missing values of) gives no
strata of its own, and one line (`missing`) names it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from au_jax import aus as au_lib
from au_jax import metrics as M

INTENSITY_KEYS = ("icc", "mae", "mse", "pcc")
OCCURRENCE_KEYS = ("f1", "accuracy", "auc", "phi")
METRIC_NAMES = {"f1": "F1", "accuracy": "Acc", "auc": "2AFC/AUC", "phi": "phi",
                "icc": "ICC(3,1)", "mae": "MAE", "mse": "MSE", "pcc": "PCC"}

MIN_POSITIVES = 30          # positive cells per AU below which a stratum is flagged
VISIBLE_BELOW = 0.1         # au_covered < .1: the AU's region is visible
OCCLUDED_FROM = 0.5         # au_covered >= .5: occluded
YAW_BINS = ((0.0, 10.0), (10.0, 25.0), (25.0, 40.0))
INTENSITY_LEVELS = (("0", 0, 0), ("1-2", 1, 2), ("3-5", 3, 5))
TERTILES = ("low", "mid", "high")
# Each stratification and the record field it needs (None: the labels suffice).
FIELDS = {"occlusion": "au_covered", "occluder": "occluder", "yaw": "yaw", "intensity": None,
          "expressivity": "expressivity"}


def au_table(occurrence: np.ndarray, intensity: np.ndarray, preds: Mapping[str, np.ndarray],
             aus: Sequence[int], intensity_coded: Sequence[bool], thresholds=0.5,
             cells: np.ndarray | None = None) -> dict:
  """Per-AU and mean metrics of the (record, AU) `cells` (None = every cell).

  Args:
    occurrence: int [N, A] 0/1, -1 = not coded.
    intensity: int [N, A] 0..5, -1 = not coded.
    preds: {"occurrence": float [N, A] scores, "intensity": float [N, A]};
      either may be absent (a method without that head).
    aus: the A AU numbers; intensity_coded: bool [A], the experiment codes
      the AU's intensity (else its intensity metrics are not reported).
    thresholds: scalar or [A] occurrence decision thresholds.
    cells: bool [N, A]; cells outside are masked out like uncoded labels.

  Returns:
    {"per_au": {"AU<k>": row}, "mean": {metric: mean over AUs of the finite
    values}, "n": records with a cell}. A row holds threshold, n_occurrence,
    n_positives, base_rate and, where there are labels, the occurrence
    metrics; n_intensity and the intensity metrics where the intensity is
    coded.
  """
  occ = np.asarray(occurrence)
  inten = np.asarray(intensity)
  keep = np.ones(occ.shape, bool) if cells is None else np.asarray(cells, bool)
  occ = np.where(keep, occ, -1)
  coded = np.asarray(intensity_coded, bool)[None]
  inten = np.where(keep & coded, inten, -1)
  thr = np.broadcast_to(np.asarray(thresholds, np.float64), (len(aus),))
  occ_m = (M.occurrence_metrics(occ, preds["occurrence"], thr)
           if "occurrence" in preds else {})
  int_m = M.intensity_metrics(inten, preds["intensity"]) if "intensity" in preds else {}
  per_au = {}
  for a, au in enumerate(aus):
    col = occ[:, a]
    row = {"threshold": float(thr[a]), "n_occurrence": int((col >= 0).sum()),
           "n_positives": int((col == 1).sum()), "base_rate": _rate(col)}
    if row["n_occurrence"]:
      row.update({k: float(occ_m[k][a]) for k in OCCURRENCE_KEYS if k in occ_m})
    if coded[0, a] and (inten[:, a] >= 0).any():
      row["n_intensity"] = int((inten[:, a] >= 0).sum())
      row.update({k: float(int_m[k][a]) for k in INTENSITY_KEYS if k in int_m})
    per_au[au_lib.au_label(au)] = row
  mean = {}
  for k in OCCURRENCE_KEYS + INTENSITY_KEYS:
    vals = [r[k] for r in per_au.values() if k in r and np.isfinite(r[k])]
    if vals:
      mean[k] = float(np.mean(vals))
  n = int(((occ >= 0) | (inten >= 0)).any(1).sum()) if cells is not None else len(occ)
  return {"per_au": per_au, "mean": mean, "n": n}


def _rate(col):
  valid = col >= 0
  return float(col[valid].mean()) if valid.any() else float("nan")


def _valid(values) -> np.ndarray:
  return np.isfinite(np.asarray(values, np.float64))


def occlusion_cells(au_covered: np.ndarray) -> dict[str, np.ndarray]:
  """{"visible", "occluded"} -> bool [N, A] from the per-AU covered fraction."""
  c = np.asarray(au_covered, np.float64)
  ok = _valid(c)
  return {"visible": ok & (np.where(ok, c, 0) < VISIBLE_BELOW),
          "occluded": ok & (np.where(ok, c, 0) >= OCCLUDED_FROM)}


def occluder_records(occluder: np.ndarray) -> dict[str, np.ndarray]:
  """{"none", "occluded"} -> bool [N] records by their occluder ("" in neither)."""
  o = np.asarray([v.decode("utf-8") if isinstance(v, bytes) else str(v)
                  for v in np.asarray(occluder).ravel()])
  return {"none": o == "none", "occluded": (o != "none") & (o != "")}


def yaw_records(yaw: np.ndarray) -> dict[str, np.ndarray]:
  """{"0-10", "10-25", "25-40"[, ">40"]} -> bool [N] records by |yaw|."""
  y = np.asarray(yaw, np.float64)
  ok = _valid(y)
  a = np.abs(np.where(ok, y, 0))
  out = {}
  for k, (lo, hi) in enumerate(YAW_BINS):
    last = k == len(YAW_BINS) - 1
    out[f"{lo:g}-{hi:g}"] = ok & (a >= lo) & ((a <= hi) if last else (a < hi))
  beyond = ok & (a > YAW_BINS[-1][1])
  if beyond.any():
    out[f">{YAW_BINS[-1][1]:g}"] = beyond
  return out


def intensity_cells(intensity: np.ndarray) -> dict[str, np.ndarray]:
  """{"0", "1-2", "3-5"} -> bool [N, A] by the TRUE intensity (-1 in none)."""
  t = np.asarray(intensity)
  return {name: (t >= lo) & (t <= hi) for name, lo, hi in INTENSITY_LEVELS}


def subject_values(values: np.ndarray, subject: np.ndarray) -> np.ndarray:
  """One value per subject that has one: the median of its records' finite values."""
  v = np.asarray(values, np.float64)
  s = np.asarray(subject)
  out = []
  for code in np.unique(s):
    x = v[(s == code) & _valid(v)]
    if len(x):
      out.append(float(np.median(x)))
  return np.asarray(out, np.float64)


def tertile_cuts(per_subject: np.ndarray) -> tuple[float, float]:
  """The 1/3 and 2/3 quantiles of one value per subject."""
  q = np.quantile(np.asarray(per_subject, np.float64), [1 / 3, 2 / 3])
  return float(q[0]), float(q[1])


def tertile_records(values: np.ndarray, cuts: tuple[float, float]) -> dict[str, np.ndarray]:
  """{"low", "mid", "high"} -> bool [N]: < cuts[0], < cuts[1], the rest (NaN: none)."""
  v = np.asarray(values, np.float64)
  ok = _valid(v)
  x = np.where(ok, v, 0)
  return {"low": ok & (x < cuts[0]), "mid": ok & (x >= cuts[0]) & (x < cuts[1]),
          "high": ok & (x >= cuts[1])}


def _field(index, name):
  """index.field(name) for a LabelIndex (None when absent or all missing)."""
  return None if index is None else index.field(name)


def _strata_tables(groups: Mapping[str, np.ndarray], table) -> dict:
  out = {}
  for name, mask in groups.items():
    res = table(mask)
    res["few_positives"] = [au for au, r in res["per_au"].items()
                            if r["n_occurrence"] and r["n_positives"] < MIN_POSITIVES]
    out[name] = res
  return out


def stratify(preds: Mapping[str, np.ndarray], index, aus: Sequence[int],
             intensity_coded: Sequence[bool], thresholds=0.5, train_index=None,
             split: str = "test") -> dict:
  """Every metric per stratum (module docstring) of one split's predictions.

  Args:
    preds: the split's predictions, as au_jax.evaluate.predict_split gives them.
    index: the split's LabelIndex (labels, subjects, nuisance).
    aus, intensity_coded: as au_table.
    thresholds: the occurrence thresholds of the unstratified metrics.
    train_index: the training split's LabelIndex, for the expressivity cut
      points (None or without the field: the split's own subjects).
    split: the split's name, for the report.

  Returns:
    {"split", "min_positives", "missing": one line or None, "notes": [lines],
     "by": {stratification: {"field", "rule", "strata": {stratum: au_table +
     "few_positives": [AUs flagged]}, ...}}}.
  """
  occ, inten = np.asarray(index.occurrence), np.asarray(index.intensity)
  A = occ.shape[1]

  def table(mask):
    mask = np.asarray(mask, bool)
    cells = np.broadcast_to(mask[:, None], occ.shape) if mask.ndim == 1 else mask
    return au_table(occ, inten, preds, aus, intensity_coded, thresholds, cells)

  by, notes = {}, []
  missing = [f for k, f in FIELDS.items() if f and _field(index, f) is None]

  covered = _field(index, "au_covered")
  if covered is not None:
    by["occlusion"] = dict(
        field="au_covered",
        rule=f"per AU: visible au_covered < {VISIBLE_BELOW:g}, occluded >= {OCCLUDED_FROM:g}",
        strata=_strata_tables(occlusion_cells(np.asarray(covered).reshape(len(occ), A)), table))
  occluder = _field(index, "occluder")
  if occluder is not None:
    by["occluder"] = dict(field="occluder",
                          rule='per frame: occluder "none" vs any occluder ("" in neither)',
                          strata=_strata_tables(occluder_records(occluder), table))
  yaw = _field(index, "yaw")
  if yaw is not None:
    by["yaw"] = dict(field="yaw", rule="|yaw| in degrees, lower bound included",
                     strata=_strata_tables(yaw_records(yaw), table))
  coded = np.asarray(intensity_coded, bool)
  if coded.any():
    by["intensity"] = dict(field="true intensity",
                           rule="per AU, the labelled intensity (intensity-coded AUs only)",
                           strata=_strata_tables(intensity_cells(np.where(coded[None], inten, -1)),
                                                 table))
  expr = _field(index, "expressivity")
  if expr is not None:
    train_expr = _field(train_index, "expressivity")
    if train_expr is not None:
      source = "train"
      cuts = tertile_cuts(subject_values(train_expr, train_index.subject))
    else:
      source = split
      cuts = tertile_cuts(subject_values(expr, index.subject))
      notes.append(f"expressivity tertile cut points come from the {split} subjects: the "
                   "training records lack the field")
    by["expressivity"] = dict(
        field="expressivity", cut_points=list(cuts), cut_points_from=source,
        rule=(f"subject expressivity tertiles, cut points {cuts[0]:.3f} and {cuts[1]:.3f} "
              f"from the {source} subjects"),
        strata=_strata_tables(tertile_records(expr, cuts), table))
  line = None
  if missing:
    line = (f"no {', '.join(k for k, f in FIELDS.items() if f in missing)} strata: the {split} "
            f"records lack the nuisance field{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}")
  return {"split": split, "min_positives": MIN_POSITIVES, "missing": line, "notes": notes,
          "by": by}


def format_strata(strata: dict) -> str:
  """Markdown: per stratification, one row per stratum (records, mean of every
  metric, AUs flagged), then per AU the headline metrics (F1, ICC) with the
  positive cells of each stratum; * marks fewer than `min_positives`."""
  lines = [f"### Strata ({strata['split']})", ""]
  if strata.get("missing"):
    lines += [f"- {strata['missing']}"]
  for note in strata.get("notes", []):
    lines += [f"- {note}"]
  lines += [(f"- `*`: fewer than {strata['min_positives']} positive frames of the AU in the "
             "stratum: reported, not decided on"), ""]
  fmt = lambda v: ("–" if v is None or not np.isfinite(v)
                   else f"{0.0 if abs(v) < 5e-4 else v:.3f}")   # no "-0.000"
  for name, s in strata["by"].items():
    tables = s["strata"]
    cols = [k for k in OCCURRENCE_KEYS + INTENSITY_KEYS
            if any(k in t["mean"] for t in tables.values())]
    lines += [f"#### {name}: {s['rule']}", "",
              "| stratum | records | " + " | ".join(METRIC_NAMES[c] for c in cols)
              + " | AUs < min positives |", "|---" * (len(cols) + 3) + "|"]
    for sname, t in tables.items():
      lines.append(f"| {sname} | {t['n']} | " + " | ".join(fmt(t["mean"].get(c)) for c in cols)
                   + f" | {', '.join(t['few_positives']) or '–'} |")
    heads = [k for k in ("f1", "icc") if k in cols]
    if heads:
      lines += ["", "| AU | " + " | ".join(f"{sname} {METRIC_NAMES[k]}" for sname in tables
                                           for k in heads)
                + " | " + " | ".join(f"{sname} pos." for sname in tables) + " |",
                "|---" * (1 + len(tables) * (len(heads) + 1)) + "|"]
      aus = list(next(iter(tables.values()))["per_au"])
      for au in aus:
        vals, pos = [], []
        for t in tables.values():
          r = t["per_au"][au]
          star = "*" if au in t["few_positives"] else ""
          vals += [fmt(r.get(k)) + star for k in heads]
          pos.append(str(r["n_positives"]))
        lines.append(f"| {au} | " + " | ".join(vals) + " | " + " | ".join(pos) + " |")
    lines.append("")
  return "\n".join(lines)
