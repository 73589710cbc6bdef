"""The CPU's cores: how many this process may use, and keeping idle threads off them.

torch's intra-op parallelism on Linux is GNU OpenMP's, and its teams of worker threads outlive the
passes that started them (`release_openmp` says what that cost and how it is undone). A batch of
concurrent jobs' rows is decoded one row after another on every core, not a core per row at once:
on the 2-core Intel AMX VM one row on both cores ran 2.2x faster than on one, and rows in turn made
1.39x the audio per second of a worker thread per core (README "Batching concurrent jobs").
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable


def cpu_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


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
