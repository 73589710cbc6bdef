"""A loopback stand-in of the RunPod Serverless cloud, so the UI and a real worker can be tested offline.

One process serves two faces of one endpoint:

* the client API (Bearer auth): POST /v2/{endpoint}/run, /runsync, /cancel/{job}, /purge-queue;
  GET /v2/{endpoint}/status/{job}, /stream/{job}, /health;
* the worker job API that runpod's own worker loop (`runpod.serverless.start`) polls when it is
  started with the env from `LoopbackCloud.worker_env()`: GET job-take / job-take-batch / job-stop /
  ping, POST job-done / job-stream (see runpod/serverless/modules/rp_job.py and rp_http.py).

plus fault injection (POST /_admin/faults, or `LoopbackCloud.add_fault`) for the client's error paths.

A worker that dies mid-job is handled as RunPod's job-states page documents it: a job whose worker
never reports back ends TIMED_OUT when its execution timeout (the endpoint's, or the job's
`policy.executionTimeout`) runs out; the dead worker leaves /health once it has not polled or pinged
for `worker_seen_s`.

It uses the standard library's threaded HTTP server rather than an ASGI stack on purpose: a
"dropped connection" fault must close the socket without sending any response, which ASGI cannot
express (uvicorn always answers 500 when an app fails before responding).

This module runs it (the threaded server, `LoopbackCloud`, the CLI); loopback.handler routes the
requests, loopback.jobs holds the jobs and their state machine, loopback.faults the faults.

Run it:  python -m loopback.cloud --port 8765 --endpoint-id local --api-key KEY
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shlex
import signal
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from loopback.faults import CLIENT_OPS, FAULT_KINDS
from loopback.handler import MAX_BODY_BYTES, Handler
from loopback.jobs import TERMINAL, WORKER_SEEN_S, CloudConfig, JobStore

__all__ = ["LoopbackCloud", "main", "TERMINAL", "FAULT_KINDS", "CLIENT_OPS", "MAX_BODY_BYTES", "WORKER_SEEN_S"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a thread stuck in a long-poll or a delay fault must not block stop()
    # The listen backlog: the standard library's 5 reset 3-5 of 40 simultaneous submissions.
    request_queue_size = 256

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
                 runsync_wait_s: float = 90.0, poll_hold_s: float = 1.0, result_ttl_s: float = 1800.0,
                 worker_seen_s: float = WORKER_SEEN_S):
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the loopback cloud only binds 127.0.0.1")
        if not api_key or not endpoint_id or "/" in endpoint_id:
            raise ValueError("api_key and endpoint_id are required; endpoint_id cannot hold '/'")
        # poll_hold_s: the worker's stop poll is held this long too, and a SIGTERMed worker finishes
        # its pending polls before exiting, so a short hold keeps worker shutdown quick.
        # worker_seen_s: a worker silent this long no longer counts in /health.
        self.config = CloudConfig(api_key, endpoint_id, worker_key or secrets.token_urlsafe(16),
                                  execution_timeout_s, runsync_wait_s, poll_hold_s, result_ttl_s, worker_seen_s)
        self.api_key, self.endpoint_id, self.worker_key = api_key, endpoint_id, self.config.worker_key
        self._state = JobStore(self.config)
        handler = type("Handler", (Handler,), {"state": self._state})
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
        self._state.faults.add({"kind": kind, "count": count, "on": on, **params})

    def clear_faults(self) -> None:
        self._state.faults.clear()

    def force(self, job_id: str, status: str, error: str | None = None) -> None:
        """End a job now as FAILED / TIMED_OUT / CANCELLED; its worker gets a stop signal."""
        self._state.force(job_id, status, error)

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
    # Ctrl-C and SIGTERM both stop it, even where SIGINT was inherited as ignored (a command
    # started in the background by a non-interactive shell gets no KeyboardInterrupt).
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        cloud.stop()


if __name__ == "__main__":
    main()
