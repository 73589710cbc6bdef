"""Background threads (a model's warm-up, the decoder's compile) that the process's end stops.

Python ends a daemon thread that is still running at exit by making it leave C++ code without
unwinding (pthread_exit); inside torch that aborted the whole process ("terminate called without an
active exception", exit 134). Measured on one-job `--test_input` worker runs (stand-in weights, bf16
CPU): a second model still loading in the warm-up thread aborted 2 runs of 10; a compile had done the
same before it was stopped. Waiting instead would cost a short run the rest of the load or compile
(5-120 s). So `start` runs the work on a thread that, first thing at exit (threading's exit hooks run
before it joins threads and before executors wait for their workers), gets `Stopped` raised at its
next Python step (torch.load and torch.compile are Python between their C++ calls), and the process
ends once it has unwound.

While background work runs, Python's GIL switch interval is 0.1 ms instead of 5: a compile traces
the model in Python (holding the GIL), and every torch op of a job's forward waited up to 5 ms for
it. One-job worker runs on a 2-core bf16 CPU (stand-in weights, compile in the background): warm-up
9.3 s and the job 13.0 s at 5 ms; 2.7 s and 4.0 s at 0.5 ms; 1.8 s and 2.1 s at 0.1 ms (the job
took 1.6 s with no compile at all).
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger("kokoro.background")

JOIN_S = 120  # the longest the end of a process waits for its stopped threads
SWITCH_S = 0.0001  # the GIL switch interval while background work runs


class Stopped(BaseException):
    """Raised in a background thread at exit (a BaseException: no `except Exception` carries on)."""


_running: set[int] = set()  # threads whose work has not returned yet
_swallowed: set[int] = set()  # threads where a stop landed in code that could not raise it
_threads: list[threading.Thread] = []
_lock = threading.Lock()
_switch_s: float | None = None  # the interval to restore once no background work runs


def start(work: Callable[..., object], *args: object, name: str) -> threading.Thread:
    """Runs work(*args) on a daemon thread named `name`, stopped and awaited when the process ends."""
    def run() -> None:
        ident = threading.get_ident()
        try:
            work(*args)
        except Stopped:
            log.info("%s stopped: the process is ending", name)
        finally:
            with _lock:
                _running.discard(ident)
                _share_the_gil()

    thread = threading.Thread(target=run, name=name, daemon=True)
    with _lock:
        if not _threads:
            threading._register_atexit(_stop_all)  # noqa: SLF001 (what concurrent.futures uses for this)
        _threads.append(thread)
        thread.start()
        _running.add(thread.ident)  # under the lock: `run` discards it under the same lock
        _share_the_gil()
    return thread


def _share_the_gil() -> None:
    """A short GIL switch interval while any background work runs, the process's own otherwise
    (the module's docstring says why). Called under _lock."""
    global _switch_s
    if _running and _switch_s is None:
        _switch_s = sys.getswitchinterval()
        sys.setswitchinterval(min(SWITCH_S, _switch_s))
    elif not _running and _switch_s is not None:
        sys.setswitchinterval(_switch_s)
        _switch_s = None


def _stop_all() -> None:
    """Every background thread still working gets Stopped, then is awaited. A stop that lands in code
    Python cannot raise from (a weakref callback run by the garbage collector) is swallowed there and
    was printed as "Exception ignored ... Traceback" (once in six one-job worker runs) while the work
    went on: it is sent again, and not printed. (Sending on a timer instead aborted 3 runs of 8: a
    second stop cut short the unwinding of the first.)"""
    sys.unraisablehook = _unless_stopped(sys.unraisablehook)
    with _lock:
        for ident in _running:
            _stop(ident)
    deadline = time.monotonic() + JOIN_S
    for thread in list(_threads):
        while thread.is_alive() and time.monotonic() < deadline:
            thread.join(timeout=0.1)
            with _lock:
                if thread.ident in _swallowed and thread.ident in _running:
                    _swallowed.discard(thread.ident)
                    _stop(thread.ident)


def _stop(ident: int) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(Stopped))


def _unless_stopped(hook: Callable) -> Callable:
    def quiet(unraisable) -> None:
        if isinstance(unraisable.exc_value, Stopped):
            _swallowed.add(threading.get_ident())  # no lock: this thread may hold it; a set add is atomic
        else:
            hook(unraisable)
    return quiet
