"""Which backend the studio uses: the one switch KOKORO_BACKEND=runpod|local.

Default: runpod when RUNPOD_ENDPOINT_ID is set, else local. Wrong settings never crash the app:
a `MisconfiguredBackend` puts the problem on the page and in the Generate toast. The backends
themselves live in ui/local_backend.py and ui/runpod_backend.py; their events in ui/events.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

from worker.engine import Engine

from ui.events import ConfigError, Event, Finished, Piece, Status, StopCheck, Stopped, Tick
from ui.local_backend import LocalBackend, shared_engine
from ui.runpod_backend import RUNPOD_TIMEOUT_S, RunPodBackend, runpod_status
from ui.runpod_client import RunPodClient


__all__ = ["BACKENDS", "ConfigError", "Event", "Finished", "LocalBackend", "MisconfiguredBackend",
           "Piece", "RunPodBackend", "Status", "Stopped", "Tick", "backend_from_env", "backend_name",
           "runpod_status", "shared_engine"]

BACKENDS = ("runpod", "local")


class MisconfiguredBackend:
    """Stands in when the settings are wrong: the app still starts and says what to fix."""

    name = "misconfigured"

    def __init__(self, problem: str):
        self.problem = problem

    def describe(self) -> str:
        return f"⚠️ {self.problem}"

    def run(self, payload: dict, should_stop: StopCheck) -> Iterator[Event]:
        raise ConfigError(self.problem)
        yield  # a generator like the others


def backend_name(env: Mapping[str, str] | None = None) -> str:
    """KOKORO_BACKEND when set, else runpod if an endpoint is configured, else local."""
    env = os.environ if env is None else env
    chosen = env.get("KOKORO_BACKEND", "").strip().lower()
    if chosen:
        if chosen not in BACKENDS:
            raise ConfigError(f"KOKORO_BACKEND must be runpod or local, not '{chosen[:40]}'.")
        return chosen
    return "runpod" if env.get("RUNPOD_ENDPOINT_ID", "").strip() else "local"


def backend_from_env(env: Mapping[str, str] | None = None, engine: Engine | None = None):
    """The backend the settings ask for; a MisconfiguredBackend (never a crash) when they are wrong."""
    env = os.environ if env is None else env
    try:
        name = backend_name(env)
    except ConfigError as exc:
        return MisconfiguredBackend(str(exc))
    endpoint = bool(env.get("RUNPOD_ENDPOINT_ID", "").strip())
    if name == "local":
        return LocalBackend(engine, configured_endpoint=endpoint)
    missing = [k for k in ("RUNPOD_ENDPOINT_ID", "RUNPOD_API_KEY") if not env.get(k, "").strip()]
    if missing:
        return MisconfiguredBackend(f"The RunPod backend is selected but {' and '.join(missing)} "
                                    f"{'is' if len(missing) == 1 else 'are'} not set.")
    endpoint_id, key = env["RUNPOD_ENDPOINT_ID"], env["RUNPOD_API_KEY"]
    base = env.get("RUNPOD_API_BASE", "").strip() or None
    return RunPodBackend(lambda: RunPodClient(endpoint_id, key, base, timeout_s=RUNPOD_TIMEOUT_S))
