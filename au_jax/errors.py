"""Errors a person can act on (a leaf module).

`UserError` marks a mistake in what the user asked for (a config key, a
value, a workdir, a missing dataset): the command-line entry points print
its message in one or two plain lines and exit with status 2, without a
traceback. Every other exception is a bug and keeps its traceback.

`ConfigKeyError` is also a KeyError and `ConfigValueError` also a
ValueError, so code that catches those keeps working.
"""
from __future__ import annotations

import sys


class UserError(Exception):
  """A mistake in the user's request; its message says what to do."""

  def __str__(self) -> str:  # KeyError would quote the message
    return str(self.args[0]) if self.args else ""


class ConfigKeyError(UserError, KeyError):
  pass


class ConfigValueError(UserError, ValueError):
  pass


class WorkdirError(UserError):
  """The workdir cannot be used as asked (another config, another process, missing files)."""


def run_cli(main, argv=None, prog: str = "") -> None:
  """Runs a command-line `main` the way a `__main__` block should: a
  `SystemExit` carrying a message (the entry point's plain "what to fix"
  line) is printed to stderr and exits with status 2, as a `UserError`
  does; argparse's own exits and a bare `sys.exit(n)` keep their status;
  every other exception keeps its traceback."""
  try:
    main(argv)
  except UserError as e:
    print(f"{prog}: {e}" if prog else str(e), file=sys.stderr, flush=True)
    sys.exit(2)
  except SystemExit as e:
    if isinstance(e.code, str):
      print(e.code, file=sys.stderr, flush=True)
      sys.exit(2)
    raise
