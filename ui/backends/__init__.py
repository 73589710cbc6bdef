"""The studio's backends and the one place that picks one: KOKORO_BACKEND=runpod|local.

Default: runpod when RUNPOD_ENDPOINT_ID is set, else local (worker/core/settings.py reads both). The
protocol and events are in base.py, local synthesis in local.py (the only module that imports
torch, loaded only when chosen), RunPod in runpod.py over runpod_client.py. Missing RunPod
credentials never crash the app: a `MisconfiguredBackend` puts the problem on the page and in the
Generate toast.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ui.backends.base import (
    Backend,
    Capabilities,
    ConfigError,
    Event,
    Finished,
    Piece,
    Status,
    StopCheck,
    Stopped,
    Tick,
)
from ui.backends.runpod import RUNPOD_TIMEOUT_S, RunPodBackend, runpod_status
from ui.backends.runpod_client import RunPodClient
from worker.core import settings
from worker.core.errors import SettingsError

__all__ = ["Backend", "Capabilities", "ConfigError", "Event", "Finished", "LocalBackend", "MisconfiguredBackend",
           "Piece", "RunPodBackend", "Status", "Stopped", "Tick", "backend_from_env", "runpod_status"]


def __getattr__(name: str):
    # LocalBackend pulls in torch and the engine; a RunPod-only studio never needs them.
    if name == "LocalBackend":
        from ui.backends.local import LocalBackend
        return LocalBackend
    raise AttributeError(name)


class MisconfiguredBackend:
    """Stands in when the settings are wrong: the app still starts and says what to fix."""

    capabilities = Capabilities(kind="misconfigured", streams=False, parallel_clips=1, batches=False,
                                stop_label="Stop", timing_label="took", model_time=False, page_jobs=1)

    def __init__(self, problem: str, catalog=None):
        self.problem = problem
        self.catalog = catalog

    def describe(self) -> str:
        return f"⚠️ {self.problem}"

    def warm_up(self, models: list[str]) -> None:
        pass

    def run(self, payload: dict, should_stop: StopCheck) -> Iterator[Event]:
        raise ConfigError(self.problem)
        yield  # a generator like the others

    def run_many(self, payloads: list[dict], should_stop: StopCheck):
        raise ConfigError(self.problem)
        yield


def backend_from_env(env: Mapping[str, str] | None = None, engine=None) -> Backend:
    """The backend the settings ask for; a MisconfiguredBackend (never a crash) when they are wrong."""
    try:
        name, where = settings.backend(env), settings.runpod(env)
    except SettingsError as exc:
        return MisconfiguredBackend(str(exc))
    if name == "local":
        from ui.backends.local import LocalBackend
        return LocalBackend(engine, configured_endpoint=bool(where.endpoint_id))
    if where.missing:
        missing = where.missing
        return MisconfiguredBackend(f"The RunPod backend is selected but {' and '.join(missing)} "
                                    f"{'is' if len(missing) == 1 else 'are'} not set.")
    return RunPodBackend(lambda: RunPodClient(where.endpoint_id, where.api_key, where.api_base,
                                              timeout_s=RUNPOD_TIMEOUT_S), stream=where.stream)

