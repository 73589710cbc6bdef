"""Independent rows of a batch run at once, one per core, each with one torch thread.

Why: on a CPU a padded batch does not make the decoder cheaper per sample (its convolutions cost
the same per row, and four rows' activations no longer stay in cache), while one utterance on every
core leaves part of them idle (the decoder ran 1.6x faster on 2 threads than on 1, a 2-core VM). So a
batch of concurrent jobs shares the cheap, small-matrix front end (one padded pass) and hands each
row's decoder to its own core: the cores are all busy and no row waits on another's padding. A lone
row while no other is being made runs in the caller's thread on every core (one job alone is not slowed).

torch's intra-op thread count is per OS thread once that thread has run an op (OpenMP's own setting,
taken from the process-wide value at the thread's first parallel region), so each worker here fixes
its own to one at start-up and the caller's count is restored afterwards. A compiled decoder's fused
kernels fix theirs when compiled instead (inductor writes it into them): a worker runs one compiled
for one thread (`on_worker` tells a row which it is on; worker/model/precision.py compiles both).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")


def cpu_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


_local = threading.local()


def on_worker() -> bool:
    """Whether this thread is a RowPool worker (one torch thread), not a caller with every core."""
    return getattr(_local, "worker", False)


def _one_thread() -> None:
    _local.worker = True
    torch.set_num_threads(1)
    torch.get_num_threads()  # runs torch's per-thread set-up now, while the process-wide value is 1


_shared: RowPool | None = None
_shared_lock = threading.Lock()


def shared() -> RowPool:
    """The process's pool, made on first use: one worker per core serves every engine and caller
    (pools of their own would only fight over the same cores)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = RowPool()
        return _shared


class RowPool:
    """A worker thread per core; `submit` (or `map`, which waits) runs a function on each row,
    longest first, on them all."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or cpu_cores()
        caller = torch.get_num_threads()
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="kokoro-row", initializer=_one_thread)
        # Start every worker now (each blocks until all are up, so each task gets its own thread),
        # then give the process-wide count back: threads made later are not limited to one.
        started = threading.Barrier(self.workers)
        list(self._pool.map(lambda _: started.wait(), range(self.workers)))
        torch.set_num_threads(caller)
        self._lock = threading.Lock()
        self._in_flight = 0  # rows handed to the workers and not finished

    def submit(self, fn: Callable[[T], R], rows: Sequence[T], size: Callable[[T], int] | None = None) -> list[Future]:
        """fn(row) for each row, as futures in the rows' order, without waiting for them. `size`: the
        rows' work, so the longest start first and the cores finish together. A lone row while no
        other row runs takes every core, in the caller's thread: one job alone is not slowed down."""
        if len(rows) == 1 and not self._in_flight:
            return [_done(fn, rows[0])]
        order = sorted(range(len(rows)), key=lambda i: -size(rows[i])) if size else range(len(rows))
        run = _as_caller(fn)
        with self._lock:
            self._in_flight += len(rows)
        futures = {i: self._pool.submit(run, rows[i]) for i in order}
        for future in futures.values():
            future.add_done_callback(self._finished)
        return [futures[i] for i in range(len(rows))]

    def map(self, fn: Callable[[T], R], rows: Sequence[T], size: Callable[[T], int] | None = None) -> list[R]:
        """fn(row) for each row, in the rows' order (as `submit`, waited for)."""
        return [future.result() for future in self.submit(fn, rows, size)]

    def on_a_worker(self, fn: Callable[[], R]) -> R:
        """fn() on one of the workers (one torch thread), under the caller's autocast: e.g. a
        compile's trial run, whose kernels then suit the workers."""
        return self._pool.submit(_as_caller(lambda _: fn()), None).result()

    def _finished(self, _: Future) -> None:
        with self._lock:
            self._in_flight -= 1


def _done(fn: Callable[[T], R], row: T) -> Future:
    future: Future = Future()
    try:
        future.set_result(fn(row))
    except Exception as exc:  # noqa: BLE001 (the caller's future carries it, as a worker's would)
        future.set_exception(exc)
    return future


def _as_caller(fn: Callable[[T], R]) -> Callable[[T], R]:
    """fn under the calling thread's inference mode and CPU autocast (both are per thread: a worker
    would otherwise run the rows in fp32, with autograd's bookkeeping)."""
    inference = torch.is_inference_mode_enabled()
    dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None

    def run(row: T) -> R:
        with torch.inference_mode(inference), torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            return fn(row)

    return run
