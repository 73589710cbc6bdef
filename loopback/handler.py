"""The loopback cloud's HTTP request handler: routes the client, worker and admin APIs onto the job store.

* client API (Bearer auth with the api key), where request faults (status / delay / drop) strike;
* worker job API (the worker key, as a Bearer header or a `token` query parameter);
* admin API under /_admin/ (the api key): add, list and clear faults, force a job's outcome.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from loopback.faults import CLIENT_OPS, REQUEST_KINDS, fault_response
from loopback.jobs import JobStore

log = logging.getLogger("loopback.cloud")

# RunPod's documented limits: a /run payload 10 MB, a /runsync payload 20 MB; a job's result is
# refused near 20 MB ("Failed to return job results | 400", the job then stays IN_PROGRESS until it
# times out); a streamed item 1 MB.
MB = 1024 * 1024
RUN_LIMIT, RUNSYNC_LIMIT, RESULT_LIMIT, STREAM_ITEM_LIMIT = 10 * MB, 20 * MB, 20 * MB, 1 * MB
MAX_BODY_BYTES = RUNSYNC_LIMIT  # anything else
_BAD_JSON = object()

_CLIENT_RE = re.compile(r"^/v2/([^/]+)/(run|runsync|health|purge-queue)$"
                        r"|^/v2/([^/]+)/(status|stream|cancel)/([^/]+)$")
_WORKER_RE = re.compile(r"^/v2/([^/]+)/(job-take|job-take-batch|job-stop|ping)/([^/]+)$"
                        r"|^/v2/([^/]+)/(job-done|job-stream)/([^/]+)/([^/]+)$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the worker's aiohttp session keeps connections alive
    server_version = "loopback-runpod/1"
    timeout = 30  # an idle keep-alive connection gives its thread back after this
    state: JobStore  # set on a per-server subclass

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
            self.state.record(self.command, self._op, code)

    def _read_json(self, limit: int) -> Any:
        """The body as JSON; OverflowError past `limit`, ValueError for a body that is not JSON."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > limit:
            self.close_connection = True  # the unread body would poison a kept-alive connection
            raise OverflowError(length)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw.strip() else None
        except RecursionError:  # JSON nested thousands deep
            raise ValueError("too deep") from None

    @staticmethod
    def _limit(path: str) -> int:
        if path.endswith("/run"):
            return RUN_LIMIT
        if "/job-done/" in path:
            return RESULT_LIMIT
        if "/job-stream/" in path:
            return STREAM_ITEM_LIMIT
        return MAX_BODY_BYTES

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
            body = self._read_json(self._limit(parts.path))
        except OverflowError as exc:
            if exc.args[0] < 0:
                return self._send(400, {"error": "bad Content-Length"})
            if _WORKER_RE.match(parts.path):  # what the SDK logs as "Failed to return job results | 400"
                log.warning("refused a worker's %d-byte post to %s", exc.args[0], parts.path.split("?")[0])
                return self._send(400, {"error": "result too large"})
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
        st, cloud = self.state, self.state.config
        fault = st.faults.take(op, REQUEST_KINDS)
        if fault and fault["kind"] == "drop":
            self._record(0)
            self.close_connection = True  # close the socket without a single byte of response
            return None
        if fault and fault["kind"] == "delay":
            time.sleep(fault["seconds"])
        if fault and fault["kind"] == "status":
            return self._send(*fault_response(fault))
        if not self._authorized(cloud.api_key, {}):
            return self._send(401, {"error": "Unauthorized"})
        if m is None or (m.group(1) or m.group(3)) != cloud.endpoint_id:
            return self._send(404, {"error": "endpoint not found"})
        if CLIENT_OPS[op] != method:
            return self._send(405, {"error": f"use {CLIENT_OPS[op]}"})
        if op == "health":
            return self._send(200, st.health())
        if op == "purge-queue":
            return self._send(200, st.purge_queue())
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
        st, cloud = self.state, self.state.config
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
                st.ping(worker_id)
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
        st = self.state
        if not self._authorized(st.config.api_key, query):
            return self._send(401, {"error": "Unauthorized"})
        try:
            if path == "/_admin/faults" and method == "POST":
                specs = body.get("faults", [body]) if isinstance(body, dict) else body
                for spec in specs if isinstance(specs, list) else []:
                    st.faults.add(spec if isinstance(spec, dict) else {})
            elif path == "/_admin/faults" and method == "DELETE":
                st.faults.clear()
            elif path.startswith("/_admin/jobs/") and method == "POST" and isinstance(body, dict):
                st.force(path.rsplit("/", 1)[1], body.get("status", ""), body.get("error"))
            elif not (path == "/_admin/faults" and method == "GET"):
                return self._send(404, {"error": "unknown admin route"})
        except (TypeError, ValueError, KeyError) as err:
            return self._send(400, {"error": str(err)})
        return self._send(200, {"faults": self.state.faults.pending()})

