"""File helpers every layer uses (a leaf module: imports nothing from au_jax).

atomic_write  write a file so that readers see the old or the new content,
              never a partial one (temp file in the same folder + fsync + rename)
read_jsonl    the records of a JSON-lines file, skipping a line cut by a kill
positive_int  argparse type for options that must be integers >= 1
"""
from __future__ import annotations

import argparse
import json
import os


def atomic_write(path: str, text: str) -> None:
  tmp = f"{path}.tmp{os.getpid()}"
  try:
    with open(tmp, "w") as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


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
