"""Device mesh and batch placement: data parallel on a 1-D 'data' axis.

Single process: all local devices (or the first `num_devices`) form the mesh.
Multi-host: call `jax.distributed.initialize()` first; each process feeds its
own shard of the global batch and `make_array_from_process_local_data`
assembles the global array. The same code runs on 1 CPU, 8 GPUs or a TPU slice.
"""
from __future__ import annotations

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import PartitionSpec as P
from jax.sharding import Mesh, NamedSharding

from au_jax.errors import ConfigValueError


def make_mesh(num_devices: int | None = None) -> Mesh:
  devices = jax.devices()
  if num_devices:
    if num_devices > len(devices):
      raise ConfigValueError(f"config asks for {num_devices} devices, only {len(devices)} present")
    devices = devices[:num_devices]
  return Mesh(np.asarray(devices), ("data",))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def data_sharded(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P("data"))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
  n = mesh.devices.size
  if batch_size % n:
    raise ConfigValueError(f"batch size {batch_size} is not divisible by the {n} devices of the "
                     f"'data' mesh axis")


def shard_batch(batch: dict, mesh: Mesh) -> dict:
  """numpy batch (this process's rows) -> jax.Arrays sharded on 'data'."""
  sharding = data_sharded(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in batch.items()}


def replicate(tree, mesh: Mesh):
  return jax.device_put(tree, replicated(mesh))


def to_host(tree) -> dict:
  """Global (data-sharded) arrays -> numpy on every process, in global order."""
  if jax.process_count() == 1:
    return jax.tree.map(np.asarray, tree)
  return jax.tree.map(np.asarray, multihost_utils.process_allgather(tree, tiled=True))
