"""A bounded three-stage pipeline: decode | faces | predict, overlapped in threads.

  decode thread   frames of the input (OpenCV decoding releases the GIL)
      | queue (bounded: memory stays flat on long videos)
  faces thread    detect / track, landmarks, align (OpenCV and dlib work)
      | queue
  caller          batches aligned faces into the jitted predict (XLA runs
                  without the GIL) and yields chunks of frames in order

Stages run at the speed of the slowest; the queues only smooth bursts (a
full detection every k frames). An exception in a thread is raised in the
caller; closing the generator (or Ctrl-C in the caller) stops the threads.
"""
from __future__ import annotations

import queue
import threading
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
_END = object()


class _Raised:
  def __init__(self, exc: BaseException):
    self.exc = exc


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
  while not stop.is_set():
    try:
      q.put(item, timeout=0.1)
      return True
    except queue.Full:
      continue
  return False


def _stage(source: Iterable, fn: Callable | None, out: queue.Queue, stop: threading.Event):
  try:
    for item in source:
      if not _put(out, fn(item) if fn else item, stop):
        return
  except BaseException as e:  # pylint: disable=broad-except (re-raised in the caller)
    _put(out, _Raised(e), stop)
    return
  _put(out, _END, stop)


def _drain(q: queue.Queue) -> Iterator:
  while True:
    item = q.get()
    if item is _END:
      return
    if isinstance(item, _Raised):
      raise item.exc
    yield item


def threaded_map(items: Iterable, fn: Callable, *, depth: int = 32,
                 threads: bool = True) -> Iterator:
  """`map(fn, items)` with `items` produced in one thread and `fn` run in another.

  Args:
    depth: capacity of each queue (items in flight between stages).
    threads: False runs everything in the caller (debugging, profiling).
  """
  if not threads:
    yield from map(fn, items)
    return
  stop = threading.Event()
  q_items, q_out = queue.Queue(depth), queue.Queue(depth)
  workers = [threading.Thread(target=_stage, args=(items, None, q_items, stop), daemon=True,
                              name="au_jax-decode"),
             threading.Thread(target=_stage, args=(_drain(q_items), fn, q_out, stop),
                              daemon=True, name="au_jax-faces")]
  for w in workers:
    w.start()
  try:
    yield from _drain(q_out)
  finally:
    stop.set()
    for q in (q_items, q_out):      # unblock a stage waiting on a full queue
      try:
        while True:
          q.get_nowait()
      except queue.Empty:
        pass
    for w in workers:
      w.join(timeout=5)


def batched(items: Iterable[T], size_of: Callable[[T], int], *, max_size: int,
            max_items: int) -> Iterator[list[T]]:
  """Consecutive groups of items holding about `max_size` units (faces) or
  `max_items` items (frames), whichever comes first."""
  group, size = [], 0
  for item in items:
    group.append(item)
    size += size_of(item)
    if size >= max_size or len(group) >= max_items:
      yield group
      group, size = [], 0
  if group:
    yield group
