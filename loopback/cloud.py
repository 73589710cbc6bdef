"""A loopback stand-in of the RunPod Serverless cloud, so the UI and a real worker can be tested offline.

One process serves two faces of one endpoint:

* the client API (Bearer auth): POST /v2/{endpoint}/run, /runsync, /cancel/{job};
  GET /v2/{endpoint}/status/{job}, /stream/{job}, /health;
* the worker job API that runpod's own worker loop (`runpod.serverless.start`) polls when it is
  started with the env from `LoopbackCloud.worker_env()`: GET job-take / job-take-batch / job-stop /
  ping, POST job-done / job-stream (see runpod/serverless/modules/rp_job.py and rp_http.py).

plus fault injection (POST /_admin/faults, or `LoopbackCloud.add_fault`) for the client's error paths.

It uses the standard library's threaded HTTP server rather than an ASGI stack on purpose: a
"dropped connection" fault must close the socket without sending any response, which ASGI cannot
express (uvicorn always answers 500 when an app fails before responding).

Run it:  python -m loopback.cloud --port 8765 --endpoint-id local --api-key KEY
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import os
import re
import secrets
import shlex
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("loopback.cloud")

TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"})
FAULT_KINDS = frozenset({"status", "delay", "drop", "outcome"})
CLIENT_OPS = {"run": "POST", "runsync": "POST", "health": "GET",
              "status": "GET", "stream": "GET", "cancel": "POST"}
MAX_BODY_BYTES = 20 * 1024 * 1024  # the cloud's /runsync payload limit
_BAD_JSON = object()
WORKER_SEEN_S = 15.0  # a worker that has not polled for this long no longer counts in /health

_CLIENT_RE = re.compile(r"^/v2/([^/]+)/(run|runsync|health)$|^/v2/([^/]+)/(status|stream|cancel)/([^/]+)$")
_WORKER_RE = re.compile(r"^/v2/([^/]+)/(job-take|job-take-batch|job-stop|ping)/([^/]+)$"
                        r"|^/v2/([^/]+)/(job-done|job-stream)/([^/]+)/([^/]+)$")


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


@dataclass
class _Job:
    id: str
    input: Any
    timeout_s: float
    created: float = field(default_factory=time.monotonic)
    status: str = "IN_QUEUE"
    started: float | None = None
    finished: float | None = None
    output: Any = None
    error: str | None = None
    worker_id: str | None = None
    stream: list = field(default_factory=list)
    stream_sent: int = 0
    stop_sent: bool = False
    reported: bool = False  # the worker posted its final result
    late_results: int = 0  # results the worker posted after the job was already over
    stream_posts: int = 0  # every chunk the worker posted, also those dropped after the job ended
    forced: dict | None = None

    def view(self, now: float) -> dict:
        """The job as the cloud's /status shows it."""
        out: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.started is not None:
            out["delayTime"] = _ms(self.started - self.created)
            out["executionTime"] = _ms((self.finished or now) - self.started)
            out["workerId"] = self.worker_id
        elif self.finished is not None:
            out["delayTime"] = _ms(self.finished - self.created)
        if self.output is not None:
            out["output"] = self.output
        if self.error is not None:
            out["error"] = self.error
        return out

    def finish(self, status: str, now: float, error: str | None = None) -> None:
        self.status, self.finished = status, now
        if error is not None:
            self.error = error


class _State:
    """Everything the server knows. One lock; long-polls wait on its condition."""

    def __init__(self, cloud: "LoopbackCloud"):
        self.cloud = cloud
        self.cond = threading.Condition()
        self.jobs: dict[str, _Job] = {}
        self.faults: list[dict] = []
        self.workers: dict[str, float] = {}
        self.log: list[tuple[str, str, int]] = []
        self.closing = False

    # -- faults ------------------------------------------------------------------------------
    def take_fault(self, op: str, kinds: frozenset) -> dict | None:
        with self.cond:
            for fault in self.faults:
                if fault["kind"] in kinds and fault["on"] in (None, op):
                    fault["count"] -= 1
                    if fault["count"] <= 0:
                        self.faults.remove(fault)
                    return dict(fault)
        return None

    # -- client face ---------------------------------------------------------------------------
    def submit(self, body: dict, op: str) -> _Job:
        policy = body.get("policy") if isinstance(body.get("policy"), dict) else {}
        timeout_ms = policy.get("executionTimeout")
        timeout_s = timeout_ms / 1000 if isinstance(timeout_ms, (int, float)) and timeout_ms > 0 \
            else self.cloud.execution_timeout_s
        job = _Job(id=f"{uuid.uuid4()}-lb", input=body["input"], timeout_s=timeout_s)
        job.forced = self.take_fault(op, frozenset({"outcome"}))
        with self.cond:
            self.jobs[job.id] = job
            self.cond.notify_all()
        return job

    def wait_terminal(self, job: _Job, limit_s: float) -> None:
        deadline = time.monotonic() + limit_s
        with self.cond:
            while job.status not in TERMINAL and not self.closing:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.cond.wait(min(left, 0.5))

    def cancel(self, job: _Job) -> None:
        with self.cond:
            if job.status not in TERMINAL:
                job.finish("CANCELLED", time.monotonic())
                self.cond.notify_all()

    def stream_view(self, job: _Job) -> dict:
        # Like the cloud, each call hands out only the items not yet handed out, so a client that
        # polls /stream in a loop sees every chunk exactly once.
        with self.cond:
            items = job.stream[job.stream_sent:]
            job.stream_sent = len(job.stream)
            return {"id": job.id, "status": job.status, "stream": [{"output": x} for x in items]}

    def health(self) -> dict:
        now = time.monotonic()
        with self.cond:
            counts = dict.fromkeys(TERMINAL | {"IN_QUEUE", "IN_PROGRESS"}, 0)
            for job in self.jobs.values():
                counts[job.status] += 1
            busy = {j.worker_id for j in self.jobs.values() if j.status == "IN_PROGRESS" and j.worker_id}
            alive = {w for w, seen in self.workers.items() if now - seen < WORKER_SEEN_S}
        return {
            "jobs": {"completed": counts["COMPLETED"], "failed": counts["FAILED"] + counts["TIMED_OUT"],
                     "inProgress": counts["IN_PROGRESS"], "inQueue": counts["IN_QUEUE"], "retried": 0},
            "workers": {"idle": len(alive - busy), "running": len(busy),
                        "initializing": 0, "ready": len(alive - busy), "throttled": 0, "unhealthy": 0},
        }

    # -- worker face ---------------------------------------------------------------------------
    def take(self, worker_id: str, n: int, hold_s: float) -> list[dict]:
        """Long-poll for up to `hold_s`: the SDK re-polls at once after 204, so holding avoids a spin."""
        deadline = time.monotonic() + hold_s
        with self.cond:
            while True:
                now = time.monotonic()
                self.workers[worker_id] = now
                queued = [j for j in self.jobs.values() if j.status == "IN_QUEUE" and not j.forced]
                if queued or self.closing or now >= deadline:
                    break
                self.cond.wait(min(deadline - now, 0.5))
            taken = sorted(queued, key=lambda j: j.created)[:n]
            for job in taken:
                job.status, job.started, job.worker_id = "IN_PROGRESS", now, worker_id
            if taken:
                self.cond.notify_all()
            return [{"id": j.id, "input": j.input} for j in taken]

    def stop_signals(self, worker_id: str, hold_s: float) -> list[str]:
        deadline = time.monotonic() + hold_s
        with self.cond:
            while True:
                now = time.monotonic()
                self.workers[worker_id] = now
                # Jobs this worker still runs that ended on our side (cancel, timeout, force).
                ids = [j.id for j in self.jobs.values()
                       if j.worker_id == worker_id and j.status in TERMINAL and not j.reported
                       and not j.stop_sent]
                if ids or self.closing or now >= deadline:
                    break
                self.cond.wait(min(deadline - now, 0.5))
            for job_id in ids:
                self.jobs[job_id].stop_sent = True
            return ids

    def done(self, job: _Job, body: dict) -> None:
        with self.cond:
            if body.get("status") != "IN_PROGRESS":
                job.reported = True
            if body.get("status") == "IN_PROGRESS":
                # runpod.serverless.progress_update posts here from its own thread; it can land after
                # the final result, so only a running job takes it (it becomes /status "output").
                if job.status == "IN_PROGRESS":
                    job.output = body.get("output")
            elif job.status != "IN_PROGRESS":
                job.late_results += 1  # cancelled / timed out meanwhile: the cloud drops it too
            else:
                job.output = body.get("output")
                if body.get("error") is not None:
                    job.finish("FAILED", time.monotonic(), str(body["error"]))
                else:
                    job.finish("COMPLETED", time.monotonic())
            self.cond.notify_all()

    def stream_post(self, job: _Job, body: dict) -> None:
        with self.cond:
            job.stream_posts += 1
            if job.status == "IN_PROGRESS" and "output" in body:
                job.stream.append(body["output"])
                self.cond.notify_all()

    # -- time-driven changes -------------------------------------------------------------------
    def tick(self) -> None:
        now = time.monotonic()
        with self.cond:
            changed = False
            for job in list(self.jobs.values()):
                if job.forced and job.status == "IN_QUEUE" and now - job.created >= job.forced["after_s"]:
                    job.started, job.worker_id = job.created + job.forced["after_s"] / 2, "loopback-fault"
                    job.finish(job.forced["status"], now, job.forced.get("error"))
                    changed = True
                elif job.status == "IN_PROGRESS" and now - job.started > job.timeout_s:
                    job.finish("TIMED_OUT", now)
                    changed = True
                elif job.finished is not None and now - job.finished > self.cloud.result_ttl_s:
                    del self.jobs[job.id]  # the cloud keeps results for a limited time, so do we
            if changed:
                self.cond.notify_all()


def _check_fault(spec: dict) -> dict:
    kind = spec.get("kind")
    if kind not in FAULT_KINDS:
        raise ValueError(f"fault kind must be one of {sorted(FAULT_KINDS)}")
    count = int(spec.get("count", 1))
    if not 1 <= count <= 1000:
        raise ValueError("fault count must be 1..1000")
    on = spec.get("on")
    if on is not None and on not in CLIENT_OPS:
        raise ValueError(f"fault 'on' must be one of {sorted(CLIENT_OPS)}")
    fault = {"kind": kind, "count": count, "on": on}
    if kind == "status":
        fault["code"] = int(spec.get("code", 500))
        fault["retry_after"] = spec.get("retry_after")
        fault["error"] = spec.get("error")  # e.g. a proxy page echoing headers, to test scrubbing
    elif kind == "delay":
        fault["seconds"] = min(float(spec.get("seconds", 1.0)), 60.0)
    elif kind == "outcome":
        if spec.get("status") not in ("FAILED", "TIMED_OUT", "CANCELLED"):
            raise ValueError("outcome status must be FAILED, TIMED_OUT or CANCELLED")
        fault.update(status=spec["status"], error=spec.get("error"), after_s=float(spec.get("after_s", 0.3)))
        if fault["status"] == "FAILED" and not fault["error"]:
            fault["error"] = "Forced failure (loopback fault)."
    return fault


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the worker's aiohttp session keeps connections alive
    server_version = "loopback-runpod/1"
    timeout = 30  # an idle keep-alive connection gives its thread back after this
    state: _State  # set on a per-server subclass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- plumbing ------------------------------------------------------------------------------
    def _send(self, code: int, body: Any = None, headers: dict | None = None) -> None:
        self._record(code)
        data = b"" if code == 204 else json.dumps(body if body is not None else {}).encode()
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        if code != 204:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self, code: int) -> None:
        # Logged before the answer goes out: a test reading the log right after its call returns
        # must already see this request.
        if self._op is not None:
            with self.state.cond:
                self.state.log.append((self.command, self._op, code))
                del self.state.log[:-1000]

    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body would poison a kept-alive connection
            raise OverflowError
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw.strip() else None

    def _authorized(self, key: str, query: dict) -> bool:
        given = self.headers.get("Authorization", "")
        given = given[7:] if given.startswith("Bearer ") else given
        token = query.get("token", [""])[0]
        return any(hmac.compare_digest(v.encode(), key.encode()) for v in (given, token) if v)

    def _dispatch(self, method: str) -> None:
        self._op: str | None = None  # one handler serves every request of a kept-alive connection
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        try:
            body = self._read_json()
        except OverflowError:
            return self._send(413, {"error": "payload too large"})
        except ValueError:
            body = _BAD_JSON  # judged per route
        if parts.path.startswith("/_admin/"):
            return self._admin(method, parts.path, body, query)
        if m := _WORKER_RE.match(parts.path):
            return self._worker(method, m, body, query)
        m = _CLIENT_RE.match(parts.path)
        self._op = (m.group(2) or m.group(4)) if m else "unknown"
        self._client(method, m, self._op, body)

    # -- the three faces -----------------------------------------------------------------------
    def _client(self, method: str, m: re.Match | None, op: str, body: Any) -> None:
        st, cloud = self.state, self.state.cloud
        fault = st.take_fault(op, frozenset({"status", "delay", "drop"}))
        if fault and fault["kind"] == "drop":
            self._record(0)
            self.close_connection = True  # close the socket without a single byte of response
            return None
        if fault and fault["kind"] == "delay":
            time.sleep(fault["seconds"])
        if fault and fault["kind"] == "status":
            headers = {"Retry-After": fault["retry_after"]} if fault["retry_after"] is not None else None
            text = fault["error"] or f"loopback fault: HTTP {fault['code']}"
            return self._send(fault["code"], {"error": text}, headers)
        if not self._authorized(cloud.api_key, {}):
            return self._send(401, {"error": "Unauthorized"})
        if m is None or (m.group(1) or m.group(3)) != cloud.endpoint_id:
            return self._send(404, {"error": "endpoint not found"})
        if CLIENT_OPS[op] != method:
            return self._send(405, {"error": f"use {CLIENT_OPS[op]}"})
        if op == "health":
            return self._send(200, st.health())
        if op in ("run", "runsync"):
            if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
                return self._send(400, {"error": "body must be JSON with an 'input' object"})
            job = st.submit(body, op)
            if op == "run":
                return self._send(200, {"id": job.id, "status": "IN_QUEUE"})
            st.wait_terminal(job, cloud.runsync_wait_s)
            return self._send(200, job.view(time.monotonic()))
        job = st.jobs.get(m.group(5))
        if job is None:
            return self._send(404, {"error": "request does not exist"})
        if op == "cancel":
            st.cancel(job)
        return self._send(200, st.stream_view(job) if op == "stream" else job.view(time.monotonic()))

    def _worker(self, method: str, m: re.Match, body: Any, query: dict) -> None:
        st, cloud = self.state, self.state.cloud
        if not self._authorized(cloud.worker_key, query):
            return self._send(401, {"error": "Unauthorized"})
        endpoint, op = m.group(1) or m.group(4), m.group(2) or m.group(5)
        if endpoint != cloud.endpoint_id:
            return self._send(404, {"error": "endpoint not found"})
        if op in ("job-take", "job-take-batch", "job-stop", "ping"):
            if method != "GET":
                return self._send(405, {"error": "use GET"})
            worker_id = m.group(3)
            if op == "ping":
                with st.cond:
                    st.workers[worker_id] = time.monotonic()
                return self._send(200, {})
            if op == "job-stop":
                ids = st.stop_signals(worker_id, cloud.poll_hold_s)
                return self._send(200, {"jobsToStop": ids}) if ids else self._send(204)
            batch = op == "job-take-batch"
            size = max(1, min(int(query.get("batch_size", ["1"])[0]), 64)) if batch else 1
            jobs = st.take(worker_id, size, cloud.poll_hold_s)
            if not jobs:
                return self._send(204)
            return self._send(200, jobs if batch else jobs[0])
        if method != "POST" or not isinstance(body, dict):
            return self._send(400, {"error": "POST a JSON object"})
        job = st.jobs.get(m.group(7))
        if job is None:
            return self._send(404, {"error": "request does not exist"})
        (st.done if op == "job-done" else st.stream_post)(job, body)
        return self._send(200, {})

    def _admin(self, method: str, path: str, body: Any, query: dict) -> None:
        cloud = self.state.cloud
        if not self._authorized(cloud.api_key, query):
            return self._send(401, {"error": "Unauthorized"})
        try:
            if path == "/_admin/faults" and method == "POST":
                specs = body.get("faults", [body]) if isinstance(body, dict) else body
                for spec in specs if isinstance(specs, list) else []:
                    cloud.add_fault(**spec)
            elif path == "/_admin/faults" and method == "DELETE":
                cloud.clear_faults()
            elif path.startswith("/_admin/jobs/") and method == "POST" and isinstance(body, dict):
                cloud.force(path.rsplit("/", 1)[1], body.get("status", ""), body.get("error"))
            elif not (path == "/_admin/faults" and method == "GET"):
                return self._send(404, {"error": "unknown admin route"})
        except (TypeError, ValueError, KeyError) as err:
            return self._send(400, {"error": str(err)})
        with self.state.cond:
            return self._send(200, {"faults": list(self.state.faults)})


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a thread stuck in a long-poll or a delay fault must not block stop()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (our own timeout tests) breaks the pipe; that is not news.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class LoopbackCloud:
    """The stand-in cloud on a free 127.0.0.1 port, in a background thread.

    with LoopbackCloud(api_key="k") as cloud:
        RunPodClient("local", "k", api_base=cloud.url)
        subprocess.Popen([...], env={**os.environ, **cloud.worker_env()})
    """

    def __init__(self, api_key: str, endpoint_id: str = "local", *, host: str = "127.0.0.1", port: int = 0,
                 worker_key: str | None = None, execution_timeout_s: float = 600.0,
                 runsync_wait_s: float = 90.0, poll_hold_s: float = 1.0, result_ttl_s: float = 1800.0):
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the loopback cloud only binds 127.0.0.1")
        if not api_key or not endpoint_id or "/" in endpoint_id:
            raise ValueError("api_key and endpoint_id are required; endpoint_id cannot hold '/'")
        self.api_key, self.endpoint_id = api_key, endpoint_id
        self.worker_key = worker_key or secrets.token_urlsafe(16)
        self.execution_timeout_s, self.runsync_wait_s = execution_timeout_s, runsync_wait_s
        # The worker's stop poll is held this long too, and a SIGTERMed worker finishes its
        # pending polls before exiting, so a short hold keeps worker shutdown quick.
        self.poll_hold_s, self.result_ttl_s = poll_hold_s, result_ttl_s
        self._state = _State(self)
        handler = type("Handler", (_Handler,), {"state": self._state})
        self._server = _Server(("127.0.0.1", port), handler, bind_and_activate=False)
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def __repr__(self) -> str:
        return f"LoopbackCloud(url={self.url!r}, endpoint_id={self.endpoint_id!r})"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The API base for clients (what RUNPOD_API_BASE would hold)."""
        return f"http://127.0.0.1:{self.port}/v2"

    def start(self) -> "LoopbackCloud":
        self._server.server_bind()
        self._server.server_activate()
        for target in (lambda: self._server.serve_forever(poll_interval=0.1), self._tick_loop):
            thread = threading.Thread(target=target, name="loopback-cloud", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        if not self._threads:
            return self._server.server_close()
        self._stopping.set()
        with self._state.cond:
            self._state.closing = True
            self._state.cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> "LoopbackCloud":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _tick_loop(self) -> None:
        while not self._stopping.wait(0.05):
            self._state.tick()

    def worker_env(self, worker_id: str = "loopback-worker") -> dict[str, str]:
        """Env that points runpod's real worker loop at this server instead of the cloud."""
        base = f"http://127.0.0.1:{self.port}/v2/{self.endpoint_id}"
        # The SDK appends "&job_in_progress=.." / "&isStream=.." so every URL needs a query string;
        # the token rides there too, because ~/.runpod/config.toml would override the header key.
        q = f"?token={self.worker_key}"
        return {
            "RUNPOD_WEBHOOK_GET_JOB": f"{base}/job-take/$ID{q}",
            "RUNPOD_WEBHOOK_POST_OUTPUT": f"{base}/job-done/$RUNPOD_POD_ID/$ID{q}",
            "RUNPOD_WEBHOOK_POST_STREAM": f"{base}/job-stream/$RUNPOD_POD_ID/$ID{q}",
            "RUNPOD_WEBHOOK_PING": f"{base}/ping/$RUNPOD_POD_ID{q}",
            "RUNPOD_POD_ID": worker_id,
            "RUNPOD_AI_API_KEY": self.worker_key,
            "RUNPOD_SKIP_AUTO_SYSTEM_CHECKS": "true",  # else it probes an outside DNS server
            "RUNPOD_SKIP_GPU_CHECK": "true",
        }

    def add_fault(self, kind: str, count: int = 1, on: str | None = None, **params: Any) -> None:
        """Queue a fault: kind status (code, retry_after, error), delay (seconds), drop, or outcome
        (status FAILED/TIMED_OUT/CANCELLED, error, after_s) for the next `count` matching requests
        (`on` = run/status/...; None = any client request) or, for outcome, submitted jobs."""
        fault = _check_fault({"kind": kind, "count": count, "on": on, **params})
        with self._state.cond:
            self._state.faults.append(fault)

    def clear_faults(self) -> None:
        with self._state.cond:
            self._state.faults.clear()

    def force(self, job_id: str, status: str, error: str | None = None) -> None:
        """End a job now as FAILED / TIMED_OUT / CANCELLED; its worker gets a stop signal."""
        if status not in ("FAILED", "TIMED_OUT", "CANCELLED"):
            raise ValueError("status must be FAILED, TIMED_OUT or CANCELLED")
        with self._state.cond:
            job = self._state.jobs[job_id]
            if job.status not in TERMINAL:
                job.finish(status, time.monotonic(), error)
                self._state.cond.notify_all()

    def job(self, job_id: str) -> dict | None:
        """A test's view of one job: the /status body plus what the worker did with it."""
        with self._state.cond:
            job = self._state.jobs.get(job_id)
            if job is None:
                return None
            return {**job.view(time.monotonic()), "input": job.input, "stream": list(job.stream),
                    "reported": job.reported, "late_results": job.late_results, "stop_sent": job.stop_sent,
                    "stream_posts": job.stream_posts}

    def jobs(self) -> list[dict]:
        """Every job's /status view, oldest first."""
        with self._state.cond:
            jobs = sorted(self._state.jobs.values(), key=lambda j: j.created)
            return [j.view(time.monotonic()) for j in jobs]

    def requests_seen(self, op: str | None = None) -> list[tuple[str, str, int]]:
        """(method, op, status) of client-API requests, oldest first; status 0 = dropped."""
        with self._state.cond:
            return [r for r in self._state.log if op is None or r[1] == op]

    def wait_for_worker(self, timeout_s: float = 30.0) -> bool:
        """True once some worker has polled for jobs (its SDK has started)."""
        deadline = time.monotonic() + timeout_s
        with self._state.cond:
            while not self._state.workers:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._state.cond.wait(min(left, 0.2))
            return True


def main(argv: list[str] | None = None) -> None:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m loopback.cloud", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=env("LOOPBACK_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("LOOPBACK_PORT", "8765")))
    parser.add_argument("--endpoint-id", default=env("LOOPBACK_ENDPOINT_ID", "local"))
    parser.add_argument("--api-key", default=env("LOOPBACK_API_KEY") or env("RUNPOD_API_KEY"),
                        help="key clients must send (env LOOPBACK_API_KEY or RUNPOD_API_KEY)")
    parser.add_argument("--worker-key", default=env("LOOPBACK_WORKER_KEY"))
    parser.add_argument("--worker-env-file", help="also write the worker's env here as `export` lines")
    parser.add_argument("--execution-timeout-s", type=float,
                        default=float(env("LOOPBACK_EXECUTION_TIMEOUT_S", "600")))
    args = parser.parse_args(argv)
    if not args.api_key:
        parser.error("--api-key (or LOOPBACK_API_KEY) is required")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cloud = LoopbackCloud(args.api_key, args.endpoint_id, host=args.host, port=args.port,
                          worker_key=args.worker_key, execution_timeout_s=args.execution_timeout_s)
    cloud.start()
    # The client key is deliberately not printed; the worker key is a local throwaway token.
    print(f"loopback RunPod cloud: RUNPOD_API_BASE={cloud.url} RUNPOD_ENDPOINT_ID={cloud.endpoint_id}")
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in cloud.worker_env().items())
    if args.worker_env_file:
        with open(os.open(args.worker_env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(exports)
    print("# source these lines, then start the handler (python handler.py) in a fresh directory:")
    print(exports, end="", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        cloud.stop()


if __name__ == "__main__":
    main()
