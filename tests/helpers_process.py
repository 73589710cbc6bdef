"""Processes for tests, one way: a free port, a subprocess in its own process group with its log
in a file, a bounded wait, and a stop that reaches every child (the RunPod SDK forks a heartbeat)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A subprocess with its log in a file, for failure messages and leak checks."""

    def __init__(self, proc: subprocess.Popen, log_path: Path, url: str | None = None, owns_dir: bool = True):
        self.proc, self.log_path, self.url, self.owns_dir = proc, log_path, url, owns_dir

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def spawn(args: list[str], env: dict[str, str], name: str, cwd: Path | None = None) -> Process:
    """Start `args` in its own process group, in `cwd` or a fresh folder (the RunPod SDK pickles
    in-progress jobs to ./.runpod_jobs.pkl and reloads them: a stale one makes it think it is busy)."""
    workdir = cwd or Path(tempfile.mkdtemp(prefix=f"{name}-"))
    log_path = workdir / f"{name}.log"
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(args, cwd=workdir, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return Process(proc, log_path, owns_dir=cwd is None)


def stop(process: Process, grace_s: float = 15.0) -> None:
    """SIGTERM to the whole group, SIGKILL if it lingers (a worker busy in a long job was once
    seen spinning a core for an hour after its test), then remove a folder spawn made."""
    try:
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(process.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.proc.wait(timeout=wait_s)
                return
            except subprocess.TimeoutExpired:
                continue
    finally:
        if process.owns_dir:
            shutil.rmtree(process.log_path.parent, ignore_errors=True)


def terminate_together(processes) -> None:
    """SIGTERM to each process's group at once, before `stop` awaits each in turn: a worker takes a
    few seconds to wind down (the RunPod SDK's loop), and several then do it side by side."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.proc.pid, signal.SIGTERM)


@contextlib.contextmanager
def running(args: list[str], env: dict[str, str], name: str, cwd: Path | None = None,
            grace_s: float = 15.0) -> Iterator[Process]:
    process = spawn(args, env, name, cwd)
    try:
        yield process
    finally:
        stop(process, grace_s)


def run_together(runs: dict, timeout_s: float = 180.0) -> dict:
    """{key: (args, env, cwd)} -> {key: CompletedProcess}: every run started at once, each in its
    own folder with its stdout and stderr in files there, then each awaited (killed, with its whole
    group, past `timeout_s`: its returncode then says so). For independent short runs (a start-up
    that refuses, a one-job `--test_input`): each is one single-threaded import, so side by side
    they take the machine's cores instead of one after the other."""
    started = {}
    for key, (args, env, cwd) in runs.items():
        cwd = Path(cwd)
        with open(cwd / "run.stdout", "w") as out, open(cwd / "run.stderr", "w") as err:
            started[key] = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=err,
                                            start_new_session=True), cwd
    deadline, done = time.monotonic() + timeout_s, {}
    for key, (proc, cwd) in started.items():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        done[key] = subprocess.CompletedProcess(proc.args, proc.returncode, (cwd / "run.stdout").read_text(),
                                                (cwd / "run.stderr").read_text())
    return done


def wait_until(predicate: Callable[[], object], timeout_s: float = 10.0, what: str = "condition",
               interval_s: float = 0.05) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def polling_worker(cloud, args: list[str], env: dict[str, str], name: str, startup_s: float,
                   wait: bool = True) -> Iterator[Process]:
    """A RunPod worker process (`args`) under the SDK's worker loop, pointed at a loopback cloud;
    yields once it polls for jobs (wait=False: at once; call `wait_for_worker` later)."""
    full_env = {**env, **cloud.worker_env()}
    full_env.pop("RUNPOD_REALTIME_PORT", None)  # would make the SDK serve HTTP instead of polling
    with running(args, full_env, name) as worker:
        if wait:
            wait_for_worker(cloud, worker, startup_s)
        yield worker


def wait_for_worker(cloud, worker: Process, startup_s: float = 180.0) -> None:
    # A worker polls for jobs only after its start-up (a Kokoro worker: model load + warm-up).
    if not cloud.wait_for_worker(startup_s):
        raise RuntimeError(f"the worker did not poll within {startup_s} s:\n{worker.log()[-3000:]}")
