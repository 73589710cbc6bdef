"""Background threads (warm-up, compile) that the process's end stops (worker.core.background):
run as their own processes, since what is tested is how a process ends."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_a_thread_still_in_torch_at_exit_is_stopped_and_the_process_ends_cleanly():
    # A second model loading in the warm-up thread when a one-job worker run ended aborted the process
    # (exit 134) in 2 runs of 10; now the thread is stopped between torch's calls, not left in them.
    done = _run("""
import logging, threading, time, torch
logging.basicConfig(level=logging.INFO)
from worker.core import background

inside = threading.Event()

def load_forever():
    while True:
        inside.set()
        torch.randn(512, 512) @ torch.randn(512, 512)

background.start(load_forever, name="kokoro-warm-up")
inside.wait(10)
started = time.monotonic()
import atexit
atexit.register(lambda: print(f"ended after {time.monotonic() - started:.1f}", flush=True))
""")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "kokoro-warm-up stopped: the process is ending" in done.stderr
    assert float(done.stdout.split()[-1]) < 10  # stopped, not waited for (the work never ends)
    assert "Traceback" not in done.stderr and "terminate called" not in done.stderr


def test_a_stop_swallowed_where_python_cannot_raise_is_sent_again_and_not_printed():
    """The stop can land in a weakref callback (run by the garbage collector), where Python only
    prints an exception ("Exception ignored ... Traceback", seen in a one-job worker's log) and the
    work went on until the join's 120 s ran out. Here the first stop lands in such a callback."""
    done = _run("""
import threading, time, weakref
from worker.core import background

inside, stopped = threading.Event(), threading.Event()

class Thing:
    pass

def callback(_):  # busy in a weakref callback when the stop comes
    inside.set()
    until = time.monotonic() + 3
    while time.monotonic() < until:
        pass

def work():
    try:
        thing = Thing()
        ref = weakref.ref(thing, callback)
        del thing
        while True:  # still working after the swallowed stop
            time.sleep(0.01)
    except background.Stopped:
        stopped.set()

background.start(work, name="work")
inside.wait(10)
started = time.monotonic()
background._stop_all()
print(f"stopped={stopped.is_set()} after={time.monotonic() - started:.1f}")
""")
    assert done.returncode == 0, done.stderr[-2000:]
    stopped, after = (part.split("=")[1] for part in done.stdout.split())
    assert stopped == "True" and float(after) < 10, done.stdout  # the callback's 3 s, then the next send
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr


def test_the_gil_is_shared_finely_while_background_work_runs_and_as_before_after():
    done = _run("""
import sys, threading
from worker.core import background

go = threading.Event()
before = sys.getswitchinterval()
thread = background.start(go.wait, name="work")
during = sys.getswitchinterval()
go.set()
thread.join()
print(before, during, sys.getswitchinterval())
""")
    assert done.returncode == 0, done.stderr[-2000:]
    before, during, after = map(float, done.stdout.split())
    assert abs(during - 0.0001) < 1e-9 and before == after == 0.005, done.stdout
