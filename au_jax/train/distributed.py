"""Joining a multi-process run (several hosts, or several processes on one).

Every process of a run runs the same command (launch.py) with the same
--workdir, a path that all of them see (a shared file system, or the same
machine); it differs only in its process id. JAX's own runtime connects them
(`jax.distributed.initialize`): process 0 hosts the coordinator at
--coordinator_address, the others connect to it. The data pipeline then feeds
each process its rows of every global batch (au_jax.data.pipeline), orbax
writes and restores checkpoints with all processes taking part, and process 0
alone writes the run's other files (metrics, report, plots; `is_writer`).

Where the cluster tells JAX who is who (Cloud TPU slices, SLURM, Open MPI,
Kubernetes JobSets), `initialize(auto=True)` needs no address or id.
"""
from __future__ import annotations

import socket
import time

import jax
from jax.experimental import multihost_utils

from au_jax.errors import UserError


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, auto: bool = False,
               timeout_s: int = 300) -> bool:
  """jax.distributed.initialize for a run; False (nothing done) for a one-process run.

  Args:
    coordinator_address: "host:port" of process 0 (JAX_COORDINATOR_ADDRESS
      when None).
    num_processes, process_id: this process among the run's processes.
    auto: let JAX detect the cluster (TPU slice, SLURM, ...) for what is None.
    timeout_s: how long a process waits for all the others to connect.

  Raises:
    UserError: a process that cannot reach the coordinator in time (naming
      the address), or an incomplete or inconsistent set of arguments.
  """
  explicit = (coordinator_address, num_processes, process_id)
  if not auto and all(v is None for v in explicit):
    return False
  if not auto and any(v is None for v in explicit):
    raise UserError("a multi-process run needs --coordinator_address, --num_processes and "
                    "--process_id together (or --distributed to detect them on a cluster)")
  if num_processes is not None and num_processes < 1:
    raise UserError(f"--num_processes must be >= 1, got {num_processes}")
  if process_id is not None and num_processes is not None and not 0 <= process_id < num_processes:
    raise UserError(f"--process_id must be in 0..{num_processes - 1}, got {process_id}")
  # CPU processes exchange their collectives over TCP (gloo); GPU and TPU use their own.
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if coordinator_address and process_id:
    # JAX's client aborts the whole process (no Python exception) when the
    # coordinator stays unreachable: wait for its port here, with a message.
    wait_for_coordinator(coordinator_address, timeout_s, process_id)
  try:
    jax.distributed.initialize(coordinator_address, num_processes, process_id,
                               initialization_timeout=int(timeout_s))
  except Exception as e:  # pylint: disable=broad-except
    text = str(e).strip().splitlines()
    where = coordinator_address or "the cluster's coordinator"
    raise UserError(f"process {process_id} could not join the run at {where} within "
                    f"{timeout_s}s: {text[0][:300] if text else type(e).__name__}. Start "
                    f"process 0 on that address (all processes with the same "
                    f"--num_processes), or check that the port is reachable") from None
  return True


def is_writer() -> bool:
  """True in the one process that writes a run's files besides checkpoints."""
  return jax.process_index() == 0


def barrier(name: str) -> None:
  """Waits until every process of the run reached `name` (nothing with one process)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def wait_for_coordinator(address: str, timeout_s: float, process_id=None) -> None:
  """Returns once "host:port" accepts a TCP connection; UserError naming it after timeout_s."""
  host, _, port = address.rpartition(":")
  host = host.strip("[]")   # [::1]:1234
  if not host or not port.isdigit():
    raise UserError(f"--coordinator_address {address!r} is not host:port")
  deadline = time.monotonic() + float(timeout_s)
  while True:
    try:
      with socket.create_connection((host, int(port)), timeout=1.0):
        return
    except OSError as e:
      if time.monotonic() >= deadline:
        raise UserError(
            f"process {process_id} could not reach the coordinator at {address} within "
            f"{timeout_s}s ({e.strerror or e}): start process 0 of the run there first (it "
            f"listens on that port), or check the address and that the port is open") from None
      time.sleep(0.2)
