"""Fault injection for the loopback cloud: checks fault specs and queues them until requests take them.

A fault is a dict: kind "status" (answer with an HTTP error), "delay" (sleep first), "drop" (close
the socket without answering) or "outcome" (end the next submitted job as FAILED / TIMED_OUT /
CANCELLED); `count` says how many matching requests it hits, `on` which client operation (None = any).
"""

from __future__ import annotations

import threading
from typing import Any

FAULT_KINDS = frozenset({"status", "delay", "drop", "outcome"})
REQUEST_KINDS = frozenset({"status", "delay", "drop"})  # applied to a client request as it comes in
OUTCOME_KINDS = frozenset({"outcome"})  # applied to a job as it is submitted
# The client API's operations (what a fault's `on` names) and the HTTP method each takes.
CLIENT_OPS = {"run": "POST", "runsync": "POST", "health": "GET", "purge-queue": "POST",
              "status": "GET", "stream": "GET", "cancel": "POST"}


def check_fault(spec: dict) -> dict:
    """A fault spec, checked and with its defaults filled in; ValueError when it is not valid."""
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


class FaultQueue:
    """The pending faults, oldest first, guarded by the lock they share with the job store."""

    def __init__(self, lock: threading.Condition):
        self._lock = lock
        self._faults: list[dict] = []

    def add(self, spec: dict) -> None:
        fault = check_fault(spec)
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[dict]:
        with self._lock:
            return [dict(fault) for fault in self._faults]

    def take(self, op: str, kinds: frozenset) -> dict | None:
        """The oldest fault of one of `kinds` that applies to `op`, counted down; None if there is none."""
        with self._lock:
            for fault in self._faults:
                if fault["kind"] in kinds and fault["on"] in (None, op):
                    fault["count"] -= 1
                    if fault["count"] <= 0:
                        self._faults.remove(fault)
                    return dict(fault)
        return None


def fault_response(fault: dict) -> tuple[int, dict, dict[str, Any] | None]:
    """The (code, body, headers) a "status" fault answers with."""
    headers = {"Retry-After": fault["retry_after"]} if fault["retry_after"] is not None else None
    text = fault["error"] or f"loopback fault: HTTP {fault['code']}"
    return fault["code"], {"error": text}, headers
