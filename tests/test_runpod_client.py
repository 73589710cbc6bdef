"""RunPodClient against the loopback cloud, with runpod's real worker loop running the echo handler."""

from __future__ import annotations

import base64
import json
import logging
import socket
import time
import traceback

import pytest

from loopback.cloud import LoopbackCloud
from tests.helpers_loopback import (
    PLANTED_KEY,
    echo_endpoint,
    wait_until,
    wait_worker_idle,
)
from ui.backends.runpod_client import RunPodCancelledError, RunPodClient, RunPodError
from worker.core.errors import KokoroError

cloud, worker, reset = echo_endpoint(PLANTED_KEY, "ep-test")


def make_client(cloud: LoopbackCloud, **kw) -> RunPodClient:
    kw = {"timeout_s": 20.0, "poll_interval_s": 0.1, "backoff_s": 0.05, "max_retries": 3, **kw}
    return RunPodClient(kw.pop("endpoint_id", "ep-test"), kw.pop("api_key", PLANTED_KEY),
                        api_base=cloud.url, **kw)


def codes(cloud: LoopbackCloud, op: str, since: int = 0) -> list[int]:
    return [code for _, _, code in cloud.requests_seen(op)[since:]]


def test_error_is_a_kokoro_error():
    assert issubclass(RunPodError, KokoroError)
    assert issubclass(RunPodCancelledError, RunPodError)


def test_happy_path_with_real_worker_reports_progress(cloud, worker):
    updates = []
    output = make_client(cloud).run({"text": "hello", "sleep": 1.0},
                                    on_update=lambda *a: updates.append(a))
    assert output["message"] == "echo: hello"
    assert base64.b64decode(output["audio_base64"]) == b"hello"
    statuses = [u[0] for u in updates]
    assert statuses[-1] == "COMPLETED"
    assert "IN_PROGRESS" in statuses
    # The worker's progress_update payload reaches us while the job runs, and only then.
    assert ("chunk 1 of 2" in [u[2] for u in updates if u[0] == "IN_PROGRESS"]), updates
    assert all(u[2] is None for u in updates if u[0] != "IN_PROGRESS")
    elapsed = [u[1] for u in updates]
    assert elapsed == sorted(elapsed) and elapsed[-1] >= 1.0


def test_low_level_calls(cloud, worker):
    client = make_client(cloud)
    job_id = client.submit({"text": "x", "sleep": 0.1})
    assert client.status(job_id)["id"] == job_id
    wait_until(lambda: client.status(job_id)["status"] == "COMPLETED", 10, "completion")
    assert client.stream(job_id)["status"] == "COMPLETED"
    health = client.health()
    assert health["jobs"]["completed"] >= 1 and health["workers"]["idle"] >= 1


def test_failed_job_carries_the_worker_error_text(cloud, worker):
    with pytest.raises(RunPodError, match="The RunPod worker failed: echo handler refused: bad words"):
        make_client(cloud).run({"fail": True, "text": "bad words"})


def test_handler_exception_shows_only_its_message(cloud, worker):
    with pytest.raises(RunPodError) as info:
        make_client(cloud).run({"raise": True})
    assert str(info.value) == "The RunPod worker failed: echo handler blew up"


@pytest.mark.hostile
def test_should_cancel_cancels_the_job_on_the_cloud(cloud, worker):
    seen: list[str] = []

    def on_update(status, elapsed, progress):
        seen.append(status)

    with pytest.raises(RunPodCancelledError):
        make_client(cloud).run({"text": "long", "sleep": 1.0}, on_update=on_update,
                               should_cancel=lambda: "IN_PROGRESS" in seen)
    job = cloud.jobs()[-1]
    assert job["status"] == "CANCELLED"
    # The sync handler cannot be interrupted; its result arrives late and must not revive the job.
    wait_until(lambda: cloud.job(job["id"])["late_results"] == 1, 10, "the late result")
    assert cloud.job(job["id"])["status"] == "CANCELLED"


@pytest.mark.hostile
def test_explicit_cancel_and_cancelled_status(cloud, worker):
    client = make_client(cloud)
    cloud.add_fault("outcome", status="CANCELLED", after_s=0.2)
    with pytest.raises(RunPodError, match="was cancelled before it finished"):
        client.run({"text": "x"})
    job_id = client.submit({"text": "y", "sleep": 0.1})
    assert client.cancel(job_id)["status"] in ("CANCELLED", "COMPLETED")
    wait_worker_idle(cloud)


@pytest.mark.hostile
def test_bad_api_key_is_401(cloud):
    with pytest.raises(RunPodError, match=r"rejected the API key \(HTTP 401\)"):
        make_client(cloud, api_key="rp_wrong_key_123456").health()
    cloud.add_fault("status", code=401, on="run")
    with pytest.raises(RunPodError, match="RUNPOD_API_KEY"):
        make_client(cloud).submit({"text": "x"})


@pytest.mark.hostile
def test_unknown_endpoint_or_job_is_404(cloud):
    with pytest.raises(RunPodError, match="does not know endpoint 'nope'.*RUNPOD_ENDPOINT_ID"):
        make_client(cloud, endpoint_id="nope").submit({"text": "x"})
    with pytest.raises(RunPodError, match="job no-such-job"):
        make_client(cloud).status("no-such-job")


def test_429_is_retried_after_retry_after(cloud, worker):
    before = len(cloud.requests_seen("run"))
    cloud.add_fault("status", code=429, retry_after=1, on="run")
    started = time.monotonic()
    job_id = make_client(cloud).submit({"text": "x", "sleep": 0})
    assert job_id
    assert codes(cloud, "run", before) == [429, 200]
    assert time.monotonic() - started >= 0.9  # the server's Retry-After, not our 0.05 s backoff
    wait_worker_idle(cloud)


@pytest.mark.hostile
def test_429_that_does_not_stop_becomes_an_error(cloud):
    before = len(cloud.requests_seen("health"))
    cloud.add_fault("status", code=429, count=10, on="health")
    with pytest.raises(RunPodError, match="rate-limiting"):
        make_client(cloud, max_retries=2).health()
    assert codes(cloud, "health", before) == [429, 429, 429]


def test_500_on_status_is_retried(cloud, worker):
    client = make_client(cloud)
    cloud.add_fault("status", code=500, count=2, on="status")
    before = len(cloud.requests_seen("status"))
    assert client.run({"text": "five hundred", "sleep": 0})["message"] == "echo: five hundred"
    assert codes(cloud, "status", before)[:3] == [500, 500, 200]


def test_500_on_submit_is_not_retried_but_503_is(cloud, worker):
    client = make_client(cloud)
    before = len(cloud.requests_seen("run"))
    cloud.add_fault("status", code=500, on="run")
    with pytest.raises(RunPodError, match="server error"):
        client.submit({"text": "x"})
    assert codes(cloud, "run", before) == [500]  # no duplicate job queued behind our back
    cloud.add_fault("status", code=503, on="run")
    assert client.submit({"text": "y", "sleep": 0})
    assert codes(cloud, "run", before) == [500, 503, 200]
    wait_worker_idle(cloud)


def test_dropped_connection_is_retried_for_status(cloud, worker):
    client = make_client(cloud)
    job_id = client.submit({"text": "x", "sleep": 0})
    before = len(cloud.requests_seen("status"))
    cloud.add_fault("drop", on="status")
    assert client.status(job_id)["id"] == job_id
    assert codes(cloud, "status", before) == [0, 200]
    wait_worker_idle(cloud)


@pytest.mark.hostile
def test_dropped_connection_on_submit_is_reported_not_retried(cloud):
    before = len(cloud.requests_seen("run"))
    cloud.add_fault("drop", on="run")
    with pytest.raises(RunPodError, match="may or may not have been queued"):
        make_client(cloud).submit({"text": "x"})
    assert codes(cloud, "run", before) == [0]


def test_unreachable_network_after_retries():
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = RunPodClient("ep", PLANTED_KEY, api_base=f"http://127.0.0.1:{port}/v2",
                          max_retries=2, backoff_s=0.01)
    for call in (client.health, lambda: client.submit({"text": "x"})):
        with pytest.raises(RunPodError, match="Could not reach RunPod at 127.0.0.1"):
            call()


def test_forced_failed_and_timed_out(cloud):
    client = make_client(cloud)
    cloud.add_fault("outcome", status="FAILED", error="CUDA out of memory")
    with pytest.raises(RunPodError, match="worker failed: CUDA out of memory"):
        client.run({"text": "x"})
    # How the SDK words an exception from a generator handler: only the message should surface.
    cloud.add_fault("outcome", status="FAILED", error="handler: stream broke \ntraceback: Traceback (most...")
    with pytest.raises(RunPodError) as info:
        client.run({"text": "x"})
    assert str(info.value) == "The RunPod worker failed: stream broke"
    cloud.add_fault("outcome", status="TIMED_OUT")
    with pytest.raises(RunPodError, match="execution timeout"):
        client.run({"text": "x"})


def test_execution_timeout_on_the_cloud(cloud, worker):
    cloud.config.execution_timeout_s = 0.3
    with pytest.raises(RunPodError, match="ran past the endpoint's execution timeout"):
        make_client(cloud).run({"text": "slow", "sleep": 1.0})
    job = cloud.jobs()[-1]
    wait_until(lambda: cloud.job(job["id"])["late_results"] == 1, 10, "the late result")
    assert cloud.job(job["id"])["status"] == "TIMED_OUT"


@pytest.mark.hostile
def test_our_time_limit_cancels_the_job(cloud, worker):
    started = time.monotonic()
    with pytest.raises(RunPodError, match="did not finish the job within 0.8 s"):
        make_client(cloud, timeout_s=0.8).run({"text": "slow", "sleep": 1.5})
    assert time.monotonic() - started < 1.5
    assert cloud.jobs()[-1]["status"] == "CANCELLED"
    wait_worker_idle(cloud)


def test_our_time_limit_bounds_a_slow_answer(cloud, worker):
    client = make_client(cloud, timeout_s=1.0)
    cloud.add_fault("delay", seconds=4, count=20, on="status")  # retries see a slow answer too
    started = time.monotonic()
    with pytest.raises(RunPodError, match="within 1 s"):
        client.run({"text": "x", "sleep": 0})
    assert time.monotonic() - started < 2.5
    wait_worker_idle(cloud)


@pytest.mark.hostile
def test_api_key_never_leaks(cloud, worker, caplog, capsys):
    caplog.set_level(logging.DEBUG)  # urllib3 and requests log every request and retry at DEBUG
    client = make_client(cloud, max_retries=1)
    texts = [repr(client), str(vars(client))]
    returned = [client.run({"text": "ok", "sleep": 0}), client.health()]
    scenarios = [  # (faults to plant, call that must fail)
        ([dict(kind="status", code=400, on="health", error=f"proxy says: bad header Bearer {PLANTED_KEY}")],
         client.health),
        ([dict(kind="outcome", status="FAILED", error=f"worker dumped env RUNPOD_API_KEY={PLANTED_KEY}")],
         lambda: client.run({"text": "x"})),
        ([dict(kind="status", code=500, count=2, on="health")], client.health),  # 2 = first try + 1 retry
        ([dict(kind="drop", count=2, on="status")], lambda: client.status("whatever")),
        ([], lambda: client.status("no-such-job")),
        ([], lambda: make_client(cloud, api_key=PLANTED_KEY + "x").health()),
    ]
    errors = []
    for faults, call in scenarios:
        for fault in faults:
            cloud.add_fault(**fault)
        with pytest.raises(RunPodError) as info:
            call()
        errors.append(info.value)
    assert len({str(e) for e in errors}) == len(scenarios)  # distinct paths really were exercised
    for err in errors:
        texts += [str(err), repr(err), repr(err.args), "".join(traceback.format_exception(err))]
        assert err.__cause__ is None
    out = capsys.readouterr()
    texts += [json.dumps(returned), caplog.text, out.out, out.err]
    assert "***" in str(errors[0]) and "***" in str(errors[1])  # the echoed key was scrubbed
    assert caplog.text  # the DEBUG log really was captured
    for text in texts:
        assert PLANTED_KEY not in text
