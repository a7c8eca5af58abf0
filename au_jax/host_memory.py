"""Transparent huge pages for XLA:CPU's large buffers.

XLA:CPU allocates the outputs and temporaries of every jitted call with
malloc, from its worker threads. glibc serves each large request (above its
mmap threshold, 128 KiB rising to at most 32 MiB; from a thread's arena
anything above its 64-MiB heaps) with a fresh `mmap` and hands it back with
`munmap` when it is freed, so every call touches new
memory and the kernel faults in and zeroes each 4-KiB page again. On the
2-core development machine (a virtual machine, where a page fault is
expensive) a jitted `w * 2.0` on the FERA 2015 CNN's 354-MB FC kernel takes
117 ms with a fresh output (86,400 faults) and 14 ms with a donated one,
and the FERA 2015 CNN's train step faults in 661 MiB per step (169,000
faults; docs/performance.md). PyTorch's CPU allocator
takes its buffers from malloc in the same way.

glibc's tunable `glibc.malloc.hugetlb=1` (glibc >= 2.35) makes malloc ask
the kernel for transparent huge pages on those mappings
(`madvise(MADV_HUGEPAGE)`): 2-MiB pages, 512x fewer faults (the pages are
still zeroed). Numbers do not change (only where memory comes from); the
resident size can grow by up to 2 MiB per large mapping, and on a virtual
machine the first calls of a process can be slower while the host backs
the fresh 2-MiB pages (there, up to 0.8 s for one 354-MB buffer). Figures:
docs/performance.md, "Huge pages for XLA:CPU's buffers".

glibc reads tunables once, when a process starts, so a running Python
cannot switch this on for itself. `reexec_with_hugepages()`, the first
thing `launch.py` and `python -m au_jax.sweep` do, replaces the process (same PID, same command line:
`sys.orig_argv`) with one whose GLIBC_TUNABLES has `glibc.malloc.hugetlb=1`
added, when
  * the platform is Linux with glibc >= 2.35;
  * the kernel's THP mode (/sys/kernel/mm/transparent_hugepage/enabled) is
    `madvise` (with `always` the kernel already uses huge pages where it
    can; with `never` the tunable does nothing);
  * GLIBC_TUNABLES does not already say something about
    `glibc.malloc.hugetlb` (yours wins);
  * AU_JAX_HUGEPAGES is not `0` (the opt-out; default `1`);
  * this process is not itself the re-executed one (AU_JAX_REEXECUTED).
In a notebook or your own script, start Python (or Jupyter) with
`GLIBC_TUNABLES=glibc.malloc.hugetlb=1` in the environment instead.
"""
from __future__ import annotations

import os
import platform
import sys

ENV_VAR = "AU_JAX_HUGEPAGES"
MARKER = "AU_JAX_REEXECUTED"
TUNABLE = "glibc.malloc.hugetlb"
SETTING = f"{TUNABLE}=1"
THP_FILE = "/sys/kernel/mm/transparent_hugepage/enabled"
MIN_GLIBC = (2, 35)


def thp_mode(path: str = THP_FILE) -> str | None:
  """The kernel's transparent-huge-page mode ("always", "madvise", "never"), None if unknown."""
  try:
    with open(path) as f:
      text = f.read()
  except OSError:
    return None
  start, end = text.find("["), text.find("]")
  return text[start + 1:end] if 0 <= start < end else None


def _version(text: str) -> tuple[int, ...]:
  try:
    return tuple(int(p) for p in text.split(".")[:2])
  except ValueError:
    return ()


def hugepage_environment(environ, system: str, libc: tuple[str, str],
                         thp: str | None) -> dict | None:
  """The environment to re-execute with, or None to stay as we are (a pure function)."""
  if environ.get(ENV_VAR, "1").strip() == "0" or environ.get(MARKER):
    return None
  if system != "Linux" or libc[0] != "glibc" or _version(libc[1]) < MIN_GLIBC:
    return None
  if thp != "madvise":
    return None
  tunables = environ.get("GLIBC_TUNABLES", "")
  if TUNABLE in tunables:
    return None
  return {**environ, "GLIBC_TUNABLES": f"{tunables}:{SETTING}" if tunables else SETTING,
          MARKER: "1"}


def reexec_with_hugepages() -> None:
  """Replaces this process by the same command with huge pages on (see the module
  docstring); returns only when that is not wanted or not possible. Call it
  first thing in a script's `__main__` block: it re-runs the interpreter's
  whole command line (`sys.orig_argv`)."""
  executable, argv = sys.executable, getattr(sys, "orig_argv", None)
  if not executable or not argv:
    return
  env = hugepage_environment(os.environ, platform.system(), platform.libc_ver(), thp_mode())
  if env is None:
    return
  sys.stdout.flush()
  sys.stderr.flush()
  try:
    os.execve(executable, [executable, *argv[1:]], env)
  except OSError:   # e.g. a sandbox forbidding exec: run on without
    return


def status() -> dict:
  """What this process runs with (for reports and benchmarks)."""
  tunables = os.environ.get("GLIBC_TUNABLES", "")
  return {"glibc_tunables": tunables, "malloc_hugetlb": SETTING in tunables.split(":"),
          "thp_mode": thp_mode()}
