"""au_jax/host_memory.py: when a process re-executes itself with huge pages, and that it does."""
import os
import platform
import subprocess
import sys

import pytest

from au_jax import host_memory as hm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINUX = ("Linux", ("glibc", "2.36"))


def plan(environ, system="Linux", libc=("glibc", "2.36"), thp="madvise"):
  return hm.hugepage_environment(environ, system, libc, thp)


def test_adds_the_tunable_and_the_marker():
  env = plan({"PATH": "/bin"})
  assert env == {"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1",
                 "AU_JAX_REEXECUTED": "1"}


def test_keeps_other_tunables():
  env = plan({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
  assert env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"


@pytest.mark.parametrize("environ", [
    {"AU_JAX_HUGEPAGES": "0"},                       # opted out
    {"AU_JAX_HUGEPAGES": " 0 "},
    {"AU_JAX_REEXECUTED": "1"},                      # already the re-executed process
    {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"},    # the user's own choice wins
    {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"},
])
def test_leaves_the_process_alone_when_told(environ):
  assert plan(environ) is None


@pytest.mark.parametrize("system,libc,thp", [
    ("Darwin", ("", ""), "madvise"),
    ("Linux", ("", ""), "madvise"),             # musl and others: no glibc tunables
    ("Linux", ("glibc", "2.34"), "madvise"),    # the tunable came with 2.35
    ("Linux", ("glibc", "2.36"), "always"),     # the kernel already uses huge pages
    ("Linux", ("glibc", "2.36"), "never"),      # the tunable would do nothing
    ("Linux", ("glibc", "2.36"), None),         # no THP in this kernel
])
def test_only_where_the_tunable_acts(system, libc, thp):
  assert plan({}, system, libc, thp) is None
  assert plan({}, *LINUX, "madvise") is not None


def test_thp_mode_reads_the_bracketed_choice(tmp_path):
  f = tmp_path / "enabled"
  f.write_text("always [madvise] never\n")
  assert hm.thp_mode(str(f)) == "madvise"
  f.write_text("[always] madvise never\n")
  assert hm.thp_mode(str(f)) == "always"
  assert hm.thp_mode(str(tmp_path / "missing")) is None


_CHILD = ("import os; print('start', os.getpid(), os.environ.get('AU_JAX_REEXECUTED'), flush=True);"
          "from au_jax import host_memory; host_memory.reexec_with_hugepages();"
          "print('tunables', os.environ.get('GLIBC_TUNABLES', ''))")


@pytest.mark.slow
@pytest.mark.parametrize("opt_out", [False, True])
def test_reexec_replaces_the_process_with_the_same_command(opt_out):
  env = {k: v for k, v in os.environ.items()
         if k not in ("AU_JAX_REEXECUTED", "AU_JAX_HUGEPAGES", "GLIBC_TUNABLES")}
  if opt_out:
    env["AU_JAX_HUGEPAGES"] = "0"
  out = subprocess.run([sys.executable, "-c", _CHILD], env=env, cwd=ROOT, capture_output=True,
                       text=True, timeout=120, check=True).stdout.splitlines()
  expected = hm.hugepage_environment(env, platform.system(), platform.libc_ver(), hm.thp_mode())
  starts = [line.split() for line in out if line.startswith("start")]
  tunables = [line for line in out if line.startswith("tunables")]
  assert len(tunables) == 1
  if expected is None:   # opted out, or this machine's glibc / kernel would not use it
    assert len(starts) == 1 and "hugetlb" not in tunables[0]
  else:                  # the same PID ran the command twice, the second time with the tunable
    assert len(starts) == 2 and starts[0][1] == starts[1][1]
    assert starts[0][2] == "None" and starts[1][2] == "1"
    assert tunables[0] == "tunables glibc.malloc.hugetlb=1"
