"""What au_jax and the dataset builders (tfds_builders) agree on about a built dataset.

- Each subject of a dataset is one TFDS split, named `split_name(subject)`.
- A build made from the user's raw files records which tree it was made from
  (`describe_source`, stored as `info.metadata["source"]`), so a config that
  names a `manual_dir` is not silently trained on a build of another tree.

tfds_builders imports these from here; au_jax imports nothing from
tfds_builders.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

SOURCE_DEPTH = 2   # levels of the raw tree that `describe_source` fingerprints


def split_name(subject: str) -> str:
  """TFDS split name of a subject (split names allow only [A-Za-z0-9_])."""
  name = re.sub(r"\W", "_", str(subject))
  return name if not name[0].isdigit() else "s" + name


def describe_source(root) -> dict[str, Any]:
  """What a build is made from, stored as `info.metadata["source"]`.

  {"manual_dir": absolute real path, "fingerprint": 16 hex digits, "entries": n}.
  The fingerprint hashes the relative path, size and modification time (ns)
  of every entry in the top SOURCE_DEPTH (2) levels of the tree. It reads no
  file content (cheap on a 100 GB tree) and changes when a file or folder is
  added, removed, renamed or replaced at those levels, or when the tree is
  copied anew; it does not see an edit deeper down that leaves those entries
  untouched (rebuild with `build --overwrite` after editing a tree in place).
  """
  root = Path(root).resolve()
  rows = []

  def walk(d: Path, rel: str, depth: int):
    try:
      entries = sorted(os.scandir(d), key=lambda e: e.name)
    except OSError:
      return
    for e in entries:
      try:
        st = e.stat()
      except OSError:
        continue  # a dangling link
      rows.append(f"{rel}{e.name}\t{st.st_size}\t{st.st_mtime_ns}")
      if depth > 1 and e.is_dir():
        walk(Path(e.path), f"{rel}{e.name}/", depth - 1)

  walk(root, "", SOURCE_DEPTH)
  digest = hashlib.sha1("\n".join(rows).encode("utf-8", "surrogateescape")).hexdigest()[:16]
  return {"manual_dir": str(root), "fingerprint": digest, "entries": len(rows)}
