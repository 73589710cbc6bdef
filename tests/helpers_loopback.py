"""Shared bits for the loopback tests: a real runpod worker process next to a LoopbackCloud."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from loopback.cloud import LoopbackCloud

ECHO_HANDLER = Path(__file__).parent / "fixtures" / "echo_handler.py"
# Long and distinctive, so a leak is found by plain substring search and not by chance.
PLANTED_KEY = "rp_PLANTED_KEY_7f3a9c1e5b2d4806_do_not_leak"


class Worker:
    def __init__(self, proc: subprocess.Popen, log_path: Path):
        self.proc, self.log_path = proc, log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def running_worker(cloud: LoopbackCloud, extra_env: dict[str, str] | None = None,
                   startup_s: float = 30.0) -> Iterator[Worker]:
    """Start tests/fixtures/echo_handler.py under runpod's real worker loop, pointed at `cloud`."""
    # A fresh cwd per worker: the SDK pickles in-progress jobs to ./.runpod_jobs.pkl and reloads
    # them at start; a stale file makes it believe it is busy and it never takes a job.
    workdir = Path(tempfile.mkdtemp(prefix="rp-worker-"))
    log_path = workdir / "worker.log"
    env = {**os.environ, **cloud.worker_env(), **(extra_env or {})}
    env.pop("RUNPOD_REALTIME_PORT", None)  # would turn the worker into an HTTP server instead
    with open(log_path, "w") as log_file:
        # Own process group: the SDK forks a heartbeat process, and the group kill reaches it too.
        proc = subprocess.Popen([sys.executable, str(ECHO_HANDLER)], cwd=workdir, env=env,
                                stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    worker = Worker(proc, log_path)
    try:
        if not cloud.wait_for_worker(startup_s):
            raise RuntimeError(f"the runpod worker did not poll for jobs in {startup_s} s:\n"
                               f"{worker.log()[-3000:]}")
        yield worker
    finally:
        _stop_group(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def _stop_group(proc: subprocess.Popen) -> None:
    for sig, wait_s in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_until(predicate: Callable[[], object], timeout_s: float = 10.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def wait_worker_idle(cloud: LoopbackCloud, timeout_s: float = 15.0) -> None:
    """Wait until no job is running and every job a worker took has been reported back, so a test
    that left the (blocking, sync) handler busy does not delay the next test's job."""
    def idle() -> bool:
        jobs = [cloud.job(j["id"]) for j in cloud.jobs()]
        return all(j["status"] != "IN_PROGRESS" and (
            j["reported"] or j["stop_sent"] or j.get("workerId") in (None, "loopback-fault")) for j in jobs)
    wait_until(idle, timeout_s, "the worker to go idle")
