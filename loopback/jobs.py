"""The loopback cloud's job store: every job's state machine, the workers seen, and the request log.

A job goes IN_QUEUE -> IN_PROGRESS (a worker took it) -> COMPLETED / FAILED, or ends early as
CANCELLED / TIMED_OUT / a forced outcome. One lock guards everything; long-polls wait on its condition.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from loopback.faults import OUTCOME_KINDS, FaultQueue

TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"})
FORCEABLE = ("FAILED", "TIMED_OUT", "CANCELLED")
WORKER_SEEN_S = 15.0  # a worker that has not polled for this long no longer counts in /health


@dataclass
class CloudConfig:
    """The endpoint's keys and timings, shared by the cloud, its store and its request handler (a
    test may change a timing between requests)."""

    api_key: str
    endpoint_id: str
    worker_key: str
    execution_timeout_s: float = 600.0
    runsync_wait_s: float = 90.0
    poll_hold_s: float = 1.0
    result_ttl_s: float = 1800.0
    worker_seen_s: float = WORKER_SEEN_S


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


@dataclass
class Job:
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


class JobStore:
    """Everything the server knows. One lock; long-polls wait on its condition.

    Its timings are read from the shared `config` when needed.
    """

    def __init__(self, config: CloudConfig):
        self.config = config
        self.cond = threading.Condition()
        self.jobs: dict[str, Job] = {}
        self.faults = FaultQueue(self.cond)
        self.workers: dict[str, float] = {}
        self.log: list[tuple[str, str, int]] = []  # (method, op, status) of client-API requests
        self.closing = False

    def record(self, method: str, op: str, code: int) -> None:
        with self.cond:
            self.log.append((method, op, code))
            del self.log[:-1000]

    # -- client face ---------------------------------------------------------------------------
    def submit(self, body: dict, op: str) -> Job:
        policy = body.get("policy") if isinstance(body.get("policy"), dict) else {}
        timeout_ms = policy.get("executionTimeout")
        timeout_s = timeout_ms / 1000 if isinstance(timeout_ms, (int, float)) and timeout_ms > 0 \
            else self.config.execution_timeout_s
        job = Job(id=f"{uuid.uuid4()}-lb", input=body["input"], timeout_s=timeout_s)
        job.forced = self.faults.take(op, OUTCOME_KINDS)
        with self.cond:
            self.jobs[job.id] = job
            self.cond.notify_all()
        return job

    def wait_terminal(self, job: Job, limit_s: float) -> None:
        deadline = time.monotonic() + limit_s
        with self.cond:
            while job.status not in TERMINAL and not self.closing:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.cond.wait(min(left, 0.5))

    def cancel(self, job: Job) -> None:
        with self.cond:
            if job.status not in TERMINAL:
                job.finish("CANCELLED", time.monotonic())
                self.cond.notify_all()

    def force(self, job_id: str, status: str, error: str | None = None) -> None:
        """End a job now as FAILED / TIMED_OUT / CANCELLED; its worker gets a stop signal."""
        if status not in FORCEABLE:
            raise ValueError("status must be FAILED, TIMED_OUT or CANCELLED")
        with self.cond:
            job = self.jobs[job_id]
            if job.status not in TERMINAL:
                job.finish(status, time.monotonic(), error)
                self.cond.notify_all()

    def purge_queue(self) -> dict:
        """Drops every job still waiting for a worker (running ones go on), as the cloud does."""
        with self.cond:
            queued = [j.id for j in self.jobs.values() if j.status == "IN_QUEUE"]
            for job_id in queued:
                del self.jobs[job_id]
            self.cond.notify_all()
        return {"removed": len(queued), "status": "completed"}

    def stream_view(self, job: Job) -> dict:
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
            alive = {w for w, seen in self.workers.items() if now - seen < self.config.worker_seen_s}
            busy = {j.worker_id for j in self.jobs.values() if j.status == "IN_PROGRESS"} & alive
        return {
            "jobs": {"completed": counts["COMPLETED"], "failed": counts["FAILED"] + counts["TIMED_OUT"],
                     "inProgress": counts["IN_PROGRESS"], "inQueue": counts["IN_QUEUE"], "retried": 0},
            "workers": {"idle": len(alive - busy), "running": len(busy),
                        "initializing": 0, "ready": len(alive - busy), "throttled": 0, "unhealthy": 0},
        }

    # -- worker face ---------------------------------------------------------------------------
    def ping(self, worker_id: str) -> None:
        with self.cond:
            self.workers[worker_id] = time.monotonic()

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

    def done(self, job: Job, body: dict) -> None:
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

    def stream_post(self, job: Job, body: dict) -> None:
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
                elif job.finished is not None and now - job.finished > self.config.result_ttl_s:
                    del self.jobs[job.id]  # the cloud keeps results for a limited time, so do we
            if changed:
                self.cond.notify_all()
