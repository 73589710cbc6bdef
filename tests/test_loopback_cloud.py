"""The loopback RunPod cloud itself: its client API, the job API runpod's real worker loop uses, faults."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from loopback.cloud import LoopbackCloud
from tests.helpers_loopback import (
    echo_endpoint,
    running_worker,
    wait_until,
    wait_worker_idle,
)

KEY = "loopback-test-key-0123456789"
ROOT = Path(__file__).resolve().parent.parent


cloud, worker, reset = echo_endpoint(KEY, "ep")


class Api:
    """Raw HTTP against the client face, one short-lived connection per call."""

    def __init__(self, cloud: LoopbackCloud, key: str | None = KEY, endpoint: str = "ep"):
        self.base = f"{cloud.url}/{endpoint}"
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def get(self, path: str) -> requests.Response:
        return requests.get(self.base + path, headers=self.headers, timeout=30)

    def post(self, path: str, body: dict | None = None) -> requests.Response:
        return requests.post(self.base + path, json=body, headers=self.headers, timeout=30)

    def wait_status(self, job_id: str, wanted: set[str], timeout_s: float = 10.0) -> dict:
        return wait_until(lambda: (b := self.get(f"/status/{job_id}").json())["status"] in wanted and b,
                          timeout_s, f"job {job_id} to reach {wanted}")


def test_binds_only_loopback_and_checks_args():
    with pytest.raises(ValueError):
        LoopbackCloud(api_key=KEY, host="0.0.0.0")
    with pytest.raises(ValueError):
        LoopbackCloud(api_key="")
    with LoopbackCloud(api_key=KEY) as c:
        assert c.url.startswith("http://127.0.0.1:") and c.url.endswith("/v2")
        assert KEY not in repr(c)


def test_worker_env_matches_what_the_sdk_substitutes(cloud):
    env = cloud.worker_env("w1")
    assert "/job-take/$ID?" in env["RUNPOD_WEBHOOK_GET_JOB"]  # rp_job replaces $ID with the pod id
    assert "/job-done/$RUNPOD_POD_ID/$ID?" in env["RUNPOD_WEBHOOK_POST_OUTPUT"]
    assert "/job-stream/$RUNPOD_POD_ID/$ID?" in env["RUNPOD_WEBHOOK_POST_STREAM"]
    assert env["RUNPOD_POD_ID"] == "w1"
    assert env["RUNPOD_SKIP_AUTO_SYSTEM_CHECKS"] == env["RUNPOD_SKIP_GPU_CHECK"] == "true"
    assert all(v.startswith("http://127.0.0.1:") for k, v in env.items() if k.startswith("RUNPOD_WEBHOOK"))
    assert KEY not in str(env)  # the worker gets its own token, never the client key


@pytest.mark.hostile
def test_auth_and_not_found(cloud):
    assert Api(cloud, key=None).get("/health").status_code == 401
    assert Api(cloud, key="wrong").get("/health").status_code == 401
    raw = requests.get(f"{cloud.url}/ep/health", headers={"Authorization": KEY}, timeout=10)
    assert raw.status_code == 200  # the cloud takes the key with or without "Bearer "
    assert Api(cloud, endpoint="other").get("/health").status_code == 404
    assert Api(cloud).get("/status/nope").status_code == 404
    assert Api(cloud).post("/cancel/nope").status_code == 404
    assert Api(cloud).post("/run", {"no": "input"}).status_code == 400
    assert Api(cloud).get("/run").status_code == 405
    take = requests.get(f"{cloud.url}/ep/job-take/w?job_in_progress=0", timeout=10)
    assert take.status_code == 401  # the worker face wants the worker token


def test_job_lifecycle_with_real_worker(cloud, worker):
    api = Api(cloud)
    submitted = api.post("/run", {"input": {"text": "hi", "sleep": 1.0}}).json()
    assert submitted["status"] == "IN_QUEUE" and set(submitted) == {"id", "status"}
    running = api.wait_status(submitted["id"], {"IN_PROGRESS"})
    assert running["workerId"] == "loopback-worker"
    # progress_update shows up as the running job's output, as on the cloud.
    progress = wait_until(lambda: api.get(f"/status/{submitted['id']}").json().get("output"), 5, "progress")
    assert progress == "chunk 1 of 2"
    done = api.wait_status(submitted["id"], {"COMPLETED"})
    assert done["output"] == {"audio_base64": "aGk=", "message": "echo: hi"}
    assert {"id", "status", "delayTime", "executionTime", "output"} <= set(done)
    assert done["executionTime"] >= 1000 and "error" not in done


def test_runsync_and_failures_from_the_worker(cloud, worker):
    api = Api(cloud)
    ok = api.post("/runsync", {"input": {"text": "sync", "sleep": 0}}).json()
    assert ok["status"] == "COMPLETED" and ok["output"]["message"] == "echo: sync"
    failed = api.post("/runsync", {"input": {"fail": True, "text": "no"}}).json()
    assert failed["status"] == "FAILED" and failed["error"] == "echo handler refused: no"
    raised = api.post("/runsync", {"input": {"raise": True}}).json()
    assert raised["status"] == "FAILED" and '"error_message": "echo handler blew up"' in raised["error"]
    cloud.config.runsync_wait_s = 0.3
    early = api.post("/runsync", {"input": {"text": "slow", "sleep": 0.6}}).json()
    assert early["status"] in ("IN_QUEUE", "IN_PROGRESS")  # runsync gives up waiting, the job goes on
    api.wait_status(early["id"], {"COMPLETED"})
    health = api.get("/health").json()
    assert health["jobs"]["completed"] >= 2 and health["jobs"]["failed"] >= 2
    assert health["workers"]["idle"] + health["workers"]["running"] >= 1


@pytest.mark.hostile
def test_cancel_and_late_result_is_ignored(cloud, worker):
    api = Api(cloud)
    job_id = api.post("/run", {"input": {"text": "c", "sleep": 1.0}}).json()["id"]
    api.wait_status(job_id, {"IN_PROGRESS"})
    assert api.post(f"/cancel/{job_id}").json()["status"] == "CANCELLED"
    wait_until(lambda: cloud.job(job_id)["late_results"] == 1, 10, "the worker's late result")
    assert api.get(f"/status/{job_id}").json()["status"] == "CANCELLED"


def test_execution_timeout(cloud, worker):
    api = Api(cloud)
    cloud.config.execution_timeout_s = 0.3
    job_id = api.post("/run", {"input": {"text": "t", "sleep": 0.8}}).json()["id"]
    assert api.wait_status(job_id, {"TIMED_OUT", "COMPLETED"})["status"] == "TIMED_OUT"
    wait_worker_idle(cloud)
    cloud.config.execution_timeout_s = 600.0
    # A per-job policy overrides the endpoint's timeout, as on the cloud.
    body = {"input": {"text": "t", "sleep": 0.8}, "policy": {"executionTimeout": 300}}
    job_id = api.post("/run", body).json()["id"]
    assert api.wait_status(job_id, {"TIMED_OUT", "COMPLETED"})["status"] == "TIMED_OUT"
    wait_worker_idle(cloud)


def test_force_a_running_job(cloud, worker):
    api = Api(cloud)
    job_id = api.post("/run", {"input": {"text": "f", "sleep": 1.0}}).json()["id"]
    api.wait_status(job_id, {"IN_PROGRESS"})
    forced = requests.post(f"{cloud.url.rsplit('/v2', 1)[0]}/_admin/jobs/{job_id}", timeout=10,
                           json={"status": "FAILED", "error": "GPU fell off"}, headers=api.headers)
    assert forced.status_code == 200
    final = api.get(f"/status/{job_id}").json()
    assert final["status"] == "FAILED" and final["error"] == "GPU fell off"
    wait_worker_idle(cloud)


def test_faults_through_the_admin_route(cloud):
    api = Api(cloud)
    admin = f"{cloud.url.rsplit('/v2', 1)[0]}/_admin/faults"
    assert requests.post(admin, json={"kind": "drop"}, timeout=10).status_code == 401
    assert requests.post(admin, json={"kind": "nonsense"}, headers=api.headers, timeout=10).status_code == 400
    plant = {"faults": [{"kind": "status", "code": 429, "retry_after": 7, "on": "health"},
                        {"kind": "status", "code": 500, "count": 2, "on": "health"},
                        {"kind": "delay", "seconds": 0.5, "on": "health"},
                        {"kind": "drop", "on": "health"},
                        {"kind": "status", "code": 404, "on": "health"},
                        {"kind": "status", "code": 401, "on": "health"}]}
    assert len(requests.post(admin, json=plant, headers=api.headers, timeout=10).json()["faults"]) == 6
    limited = api.get("/health")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert [api.get("/health").status_code for _ in range(2)] == [500, 500]
    started = time.monotonic()
    assert api.get("/health").status_code == 200 and time.monotonic() - started >= 0.5
    with pytest.raises(requests.ConnectionError):
        api.get("/health")
    assert api.get("/health").status_code == 404
    assert api.get("/health").status_code == 401
    assert api.get("/health").status_code == 200  # every fault was used up
    requests.post(admin, json={"kind": "status", "code": 500, "count": 5}, headers=api.headers, timeout=10)
    assert requests.delete(admin, headers=api.headers, timeout=10).json() == {"faults": []}
    assert api.get("/health").status_code == 200


def test_forced_outcomes_need_no_worker(cloud):
    api = Api(cloud)
    cloud.add_fault("outcome", status="FAILED", error="forced boom", after_s=0.1)
    cloud.add_fault("outcome", status="TIMED_OUT", after_s=0.1, on="runsync")
    failed = api.post("/run", {"input": {}}).json()
    assert api.wait_status(failed["id"], {"FAILED"}, 5)["error"] == "forced boom"
    assert api.post("/runsync", {"input": {}}).json()["status"] == "TIMED_OUT"


@pytest.mark.slow
@pytest.mark.parametrize("aggregate", [False, True])
def test_generator_handler_streams(aggregate):
    with LoopbackCloud(api_key=KEY, endpoint_id="ep", poll_hold_s=0.5) as cloud, \
            running_worker(cloud, {"ECHO_HANDLER_MODE": "stream", "ECHO_AGGREGATE": str(aggregate).lower()}):
        api = Api(cloud)
        job_id = api.post("/run", {"input": {"text": "s", "chunks": 3}}).json()["id"]
        items = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            page = api.get(f"/stream/{job_id}").json()
            items += [item["output"] for item in page["stream"]]
            if page["status"] not in ("IN_QUEUE", "IN_PROGRESS"):
                break
            time.sleep(0.05)
        items += [item["output"] for item in api.get(f"/stream/{job_id}").json()["stream"]]
        chunks = [{"chunk": i, "text": "s"} for i in range(3)]
        assert items == chunks  # each chunk handed out exactly once, in order
        final = api.get(f"/status/{job_id}").json()
        assert final["status"] == "COMPLETED"
        # Without return_aggregate_stream the SDK's final post carries an empty list.
        assert final["output"] == (chunks if aggregate else [])
        if not aggregate:
            # A generator that raises: the chunks so far stay streamed, the job FAILS with a
            # "handler: <message> \ntraceback: ..." string (not the JSON a plain handler gets).
            job_id = api.post("/run", {"input": {"text": "s", "chunks": 3, "raise_at": 1}}).json()["id"]
            failed = api.wait_status(job_id, {"FAILED", "COMPLETED"})
            assert failed["status"] == "FAILED"
            assert failed["error"].startswith("handler: stream broke at chunk 1 \ntraceback: ")
            assert [i["output"]["chunk"] for i in api.get(f"/stream/{job_id}").json()["stream"]] == [0]


@pytest.mark.slow
@pytest.mark.hostile
def test_generator_job_is_stopped_by_cancel():
    # A generator handler yields to the worker's event loop between chunks, so the stop channel
    # (job-stop) reaches it and the job really stops; a plain sync handler runs to the end.
    with LoopbackCloud(api_key=KEY, endpoint_id="ep", poll_hold_s=0.5) as cloud, \
            running_worker(cloud, {"ECHO_HANDLER_MODE": "stream"}):
        api = Api(cloud)
        job_id = api.post("/run", {"input": {"text": "s", "chunks": 40}}).json()["id"]
        wait_until(lambda: cloud.job(job_id)["stream"], 10, "the first chunk")
        api.post(f"/cancel/{job_id}")
        wait_until(lambda: cloud.job(job_id)["stop_sent"], 5, "the stop signal")
        time.sleep(0.3)  # the worker reads the signal and cancels the task at its next await
        posts = cloud.job(job_id)["stream_posts"]
        time.sleep(1.0)  # a generator still running would post ~10 more chunks meanwhile
        job = cloud.job(job_id)
        assert job["status"] == "CANCELLED" and job["late_results"] == 0
        assert job["stream_posts"] == posts < 40


@pytest.mark.slow
def test_command_line_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LOOPBACK_API_KEY": KEY}
    command = [sys.executable, "-m", "loopback.cloud", "--port", str(port), "--endpoint-id", "cli"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        url = f"http://127.0.0.1:{port}/v2/cli/health"
        wait_until(lambda: _ok(url), 15, "the CLI server")
        assert requests.get(url, timeout=5).status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()  # never leave it behind
            raise
    assert proc.returncode == 0
    assert f"RUNPOD_API_BASE=http://127.0.0.1:{port}/v2" in out and "export RUNPOD_WEBHOOK_GET_JOB=" in out
    assert KEY not in out


def _ok(url: str) -> bool:
    try:
        return requests.get(url, headers={"Authorization": f"Bearer {KEY}"}, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def test_fifty_simultaneous_submissions_are_all_taken_and_the_sdk_purges_the_queue():
    import threading

    import runpod

    with LoopbackCloud(api_key=KEY, endpoint_id="burst") as burst:  # no worker: the jobs stay queued
        api, barrier, codes = Api(burst, endpoint="burst"), threading.Barrier(50), []

        def submit():
            barrier.wait()
            try:
                codes.append(api.post("/run", {"input": {"text": "x"}}).status_code)
            except requests.ConnectionError as exc:  # a reset from a full listen backlog
                codes.append(repr(exc))

        threads = [threading.Thread(target=submit) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert codes == [200] * 50
        assert api.get("/health").json()["jobs"]["inQueue"] == 50
        runpod.api_key, runpod.endpoint_url_base = KEY, burst.url
        assert runpod.Endpoint("burst").purge_queue() == {"removed": 50, "status": "completed"}
        assert api.get("/health").json()["jobs"]["inQueue"] == 0 and burst.jobs() == []


def test_health_counts_a_busy_worker_as_running(cloud, worker):
    api = Api(cloud)
    wait_worker_idle(cloud)
    job_id = api.post("/run", {"input": {"text": "busy", "sleep": 2.0}}).json()["id"]
    api.wait_status(job_id, {"IN_PROGRESS"})
    health = api.get("/health").json()
    assert health["jobs"]["inProgress"] == 1
    assert (health["workers"]["running"], health["workers"]["idle"]) == (1, 0), health
    api.wait_status(job_id, {"COMPLETED"})
    assert api.get("/health").json()["workers"]["idle"] == 1


@pytest.mark.slow
def test_a_worker_killed_mid_job_times_its_job_out_and_leaves_health(tmp_path):
    with LoopbackCloud(api_key=KEY, endpoint_id="lost", worker_seen_s=2.0) as lost:
        api = Api(lost, endpoint="lost")
        with running_worker(lost) as doomed:
            body = {"input": {"text": "never", "sleep": 8.0}, "policy": {"executionTimeout": 3000}}
            job_id = api.post("/run", body).json()["id"]
            api.wait_status(job_id, {"IN_PROGRESS"})
            os.killpg(doomed.proc.pid, signal.SIGKILL)  # the whole worker, heartbeat process included
            doomed.proc.wait(10)
            # RunPod's documented outcome: the worker never reports back, so TIMED_OUT at the timeout.
            final = api.wait_status(job_id, {"TIMED_OUT", "COMPLETED", "FAILED"}, timeout_s=10)
            assert final["status"] == "TIMED_OUT" and 2900 <= final["executionTime"] <= 6000, final
            wait_until(lambda: api.get("/health").json()["workers"] == {
                "idle": 0, "running": 0, "initializing": 0, "ready": 0, "throttled": 0, "unhealthy": 0},
                10, "the dead worker to leave /health")
            with pytest.raises(ProcessLookupError):  # nothing of it is left running
                os.killpg(doomed.proc.pid, 0)


def _raw(cloud: LoopbackCloud, request: bytes) -> bytes:
    """One hand-written HTTP request; the first line of the answer (bounded wait: a hang fails)."""
    port = int(cloud.url.split(":")[2].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        return s.recv(4096).split(b"\r\n", 1)[0]


@pytest.mark.hostile
def test_runpods_payload_limits_hold_and_bad_bodies_are_400s(cloud):
    """RunPod refuses /run bodies over 10 MB and /runsync over 20 MB (413); a negative
    Content-Length and JSON nested 100,000 deep are 400s, and the cloud keeps serving."""
    api, before = Api(cloud), len(cloud.jobs())
    eleven_mb = {"input": {"text": "x" * (11 * 1024 * 1024)}}
    assert api.post("/run", eleven_mb).status_code == 413
    assert api.post("/runsync", {"input": {"text": "x" * (21 * 1024 * 1024)}}).status_code == 413
    auth = f"Authorization: Bearer {KEY}\r\n".encode()
    head = b"POST /v2/ep/run HTTP/1.1\r\nHost: x\r\n" + auth
    assert _raw(cloud, head + b"Content-Length: -1\r\n\r\n").endswith(b" 400 Bad Request")
    deep = b"[" * 100_000 + b"]" * 100_000
    assert _raw(cloud, head + b"Content-Length: %d\r\n\r\n" % len(deep) + deep).endswith(b" 400 Bad Request")
    assert len(cloud.jobs()) == before and api.get("/health").status_code == 200


@pytest.mark.hostile
def test_a_result_over_runpods_limit_is_refused_and_the_job_stays_in_progress():
    """As on RunPod: a worker's result near 20 MB is answered 400 ("Failed to return job results")
    and the job is not completed; a stream item over 1 MB likewise. Its own endpoint: no echo
    worker may take the job before this test's hand-made one does."""
    with LoopbackCloud(api_key=KEY, endpoint_id="limits", poll_hold_s=0.2) as own:
        api = Api(own, endpoint="limits")
        job_id = api.post("/run", {"input": {"text": "hi"}}).json()["id"]
        take_url = own.worker_env("w")["RUNPOD_WEBHOOK_GET_JOB"]
        base, token = take_url.split("/job-take/")[0], take_url.split("?token=")[1]
        taken = requests.get(f"{base}/job-take/w?token={token}&job_in_progress=0", timeout=10)
        assert taken.status_code == 200 and taken.json()["id"] == job_id
        done = f"{base}/job-done/w/{job_id}?token={token}&isStream=false"
        stream = f"{base}/job-stream/w/{job_id}?token={token}&isStream=true"
        assert requests.post(stream, json={"output": "x" * (1024 * 1024)}, timeout=30).status_code == 400
        assert requests.post(done, json={"output": {"audio_base64": "x" * (20 * 1024 * 1024)}},
                             timeout=30).status_code == 400
        assert api.get(f"/status/{job_id}").json()["status"] == "IN_PROGRESS"
        assert requests.post(done, json={"output": {"audio_base64": "small"}}, timeout=30).status_code == 200
        assert api.wait_status(job_id, {"COMPLETED"})["output"] == {"audio_base64": "small"}
