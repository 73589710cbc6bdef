"""Independent rows of a batch run at once, one per core, each with one torch thread.

Why: on a CPU a padded batch does not make the decoder cheaper per sample (its convolutions cost
the same per row, and four rows' activations no longer stay in cache), while one utterance on every
core leaves part of them idle (the decoder ran 1.6x faster on 2 threads than on 1, a 2-core AMD VM;
on an Intel AMX VM 2.2x, where rows a core each only matched rows in turn: README "Batching
concurrent jobs"). So a batch of concurrent jobs shares the cheap, small-matrix front end (one
padded pass) and hands each row's decoder to its own core: the cores are all busy and no row waits
on another's padding. A lone row while no other is being made runs in the caller's thread on every
core (one job alone is not slowed).

torch's intra-op thread count is per OS thread once that thread has run an op (OpenMP's own setting,
taken from the process-wide value at the thread's first parallel region), so each worker here fixes
its own to one at start-up and the caller's count is restored afterwards. A compiled decoder's fused
kernels fix theirs when compiled instead (inductor writes it into them): a worker runs one compiled
for one thread (`on_worker` tells a row which it is on; worker/model/precision.py compiles both).
"""

from __future__ import annotations

import ctypes
import functools
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


def release_openmp() -> None:
    """Ends this thread's OpenMP worker threads; its next parallel op starts them again (microseconds).
    Why: GNU OpenMP (torch's on Linux) keeps a team of worker threads for every OS thread that has run
    a parallel op, for as long as that thread lives, and while all the teams' threads outnumber the
    cores, each of them spins only 100 turns between ops, then sleeps and must be woken for the next
    one. With one idle team of another thread alive (a studio request's thread, the batcher's, a
    compile's), the model ran 0.77x as fast on a 2-core VM (stand-in weights, 3 runs each way). So a
    thread releases its team when its passes are done. A no-op with another OpenMP runtime."""
    pause = _openmp_pause()
    if pause is not None:
        pause(1)  # omp_pause_soft: frees the calling thread's team only


@functools.cache
def _openmp_pause() -> Callable[[int], int] | None:
    """GNU OpenMP's omp_pause_resource_all, from the copy torch loaded (its wheels bundle one)."""
    try:
        with open("/proc/self/maps") as maps:
            path = next((line.split()[-1] for line in maps
                         if line.rstrip().rsplit("/", 1)[-1].startswith("libgomp")), None)
        pause = ctypes.CDLL(path).omp_pause_resource_all if path else None
    except (OSError, AttributeError):  # no /proc (macOS), or a libgomp older than OpenMP 5.0
        return None
    if pause is not None:
        pause.argtypes, pause.restype = [ctypes.c_int], ctypes.c_int
    return pause


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
