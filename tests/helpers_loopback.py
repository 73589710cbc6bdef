"""Shared bits for the loopback tests: a real runpod worker process next to a LoopbackCloud."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loopback.cloud import LoopbackCloud
from tests.helpers_process import Process, polling_worker, wait_until

ECHO_HANDLER = Path(__file__).parent / "fixtures" / "echo_handler.py"
# Long and distinctive, so a leak is found by plain substring search and not by chance.
PLANTED_KEY = "rp_PLANTED_KEY_7f3a9c1e5b2d4806_do_not_leak"


@contextmanager
def running_worker(cloud: LoopbackCloud, extra_env: dict[str, str] | None = None,
                   startup_s: float = 30.0) -> Iterator[Process]:
    """Start tests/fixtures/echo_handler.py under runpod's real worker loop, pointed at `cloud`."""
    yield from polling_worker(cloud, [sys.executable, str(ECHO_HANDLER)], {**os.environ, **(extra_env or {})},
                              "echo-worker", startup_s)


@contextmanager
def pristine(cloud: LoopbackCloud) -> Iterator[LoopbackCloud]:
    """A test starts and ends with no fault queued and the cloud's default timings."""
    def reset() -> None:
        cloud.clear_faults()
        cloud.config.execution_timeout_s, cloud.config.runsync_wait_s = 600.0, 90.0
    reset()
    try:
        yield cloud
    finally:
        reset()


def echo_endpoint(api_key: str, endpoint_id: str):
    """Module fixtures (cloud, worker, reset) for tests against one loopback endpoint served by the
    echo worker: `cloud, worker, reset = echo_endpoint(KEY, "ep")` at module level."""
    import pytest

    @pytest.fixture(scope="module")
    def cloud():
        with LoopbackCloud(api_key=api_key, endpoint_id=endpoint_id, poll_hold_s=0.5) as c:
            yield c

    @pytest.fixture(scope="module")
    def worker(cloud):
        with running_worker(cloud) as w:
            yield w

    @pytest.fixture(autouse=True)
    def reset(cloud):
        with pristine(cloud):
            yield

    return cloud, worker, reset


def wait_worker_idle(cloud: LoopbackCloud, timeout_s: float = 15.0) -> None:
    """Wait until no job is running and every job a worker took has been reported back, so a test
    that left the (blocking, sync) handler busy does not delay the next test's job."""
    def idle() -> bool:
        jobs = [cloud.job(j["id"]) for j in cloud.jobs()]
        return all(j["status"] != "IN_PROGRESS" and (
            j["reported"] or j["stop_sent"] or j.get("workerId") in (None, "loopback-fault")) for j in jobs)
    wait_until(idle, timeout_s, "the worker to go idle")


__all__ = ["ECHO_HANDLER", "PLANTED_KEY", "echo_endpoint", "pristine", "running_worker", "wait_until", "wait_worker_idle"]
