"""File helpers every layer uses (a leaf module: imports nothing from au_jax).

atomic_write  write a file so that readers see the old or the new content,
              never a partial one (temp file in the same folder + fsync + rename)
atomic_open   the same for a file written in pieces (a context manager)
read_jsonl    the records of a JSON-lines file, skipping a line cut by a kill
positive_int  argparse type for options that must be integers >= 1
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "w"):
  """A new file beside `path` (this process's own name, opened exclusively),
  flushed, fsynced and renamed to `path` when the block ends; removed if the
  block raises. `mode`: "w" or "wb"."""
  tmp = f"{path}.tmp{os.getpid()}.{secrets.token_hex(3)}"
  try:
    with open(tmp, mode.replace("w", "x")) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def atomic_write(path: str, text: str) -> None:
  with atomic_open(path) as f:
    f.write(text)


def read_jsonl(path: str) -> list[dict]:
  out = []
  with open(path) as f:
    for line in f:
      if not line.strip():
        continue
      try:
        out.append(json.loads(line))
      except json.JSONDecodeError:
        continue  # a line cut by a kill
  return out


def positive_int(text: str) -> int:
  """argparse type: an integer >= 1 (batch sizes, image sizes, frame steps)."""
  try:
    value = int(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
  if value < 1:
    raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
  return value
