"""The backend protocol: what the studio asks of a backend, what it declares it can do, and the
events a run reports.

A run yields `Status` (progress news), `Piece` (audio that can play now), `Tick` (nothing new,
still working) and finally one `Finished` (the whole file in the chosen format, with the result
contract's `Result`, worker/service/result.py). `Stopped` and `ConfigError` are `KokoroError`s, so their
one sentence is what the user sees. The studio reads a backend's `Capabilities`, never its class
or name, to decide what the page offers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from worker.core.catalog import Catalog
from worker.core.errors import KokoroError
from worker.service.result import Result


@dataclass(frozen=True)
class Status:
    text: str
    fraction: float | None = None  # 0..1, or None when the share done is unknown


@dataclass(frozen=True)
class Piece:
    """A spoken chunk, playable while the rest is still being synthesized."""

    index: int
    total: int | None  # chunks in the text, None while G2P has not reached its end
    samples: np.ndarray  # float32 24 kHz, with the joining gap in front (except the first)
    chars: int = 0  # characters of the text this chunk speaks (ui/studio/playback.py estimates the rest)


@dataclass(frozen=True)
class Tick:
    """Nothing new yet; lets the page's loop breathe (Stop checks, the player's encoder)."""


@dataclass(frozen=True)
class Finished:
    data: bytes  # the whole file, in `format`
    format: str
    result: Result  # elapsed_s: model time locally; submit-to-result time on RunPod


Event = Status | Piece | Tick | Finished
StopCheck = Callable[[], bool]


class Stopped(KokoroError):
    """The user pressed Stop / Cancel; not a failure."""


class ConfigError(KokoroError):
    """The backend settings are unusable; the page says so and Generate explains."""


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, declared once: the page and the clip maker read this."""

    kind: str  # "local", "runpod" or "misconfigured": for the log and the details line
    streams: bool  # Pieces arrive while the job runs (the player already holds all audio at the end)
    parallel_clips: int  # clips worth running at once (A/B, Audition)
    batches: bool  # run_many speaks one text in many voices in one pass (KOKORO_BATCH_VOICES)
    stop_label: str  # "Stop" (ends after the current chunk) or "Cancel" (cancels a remote job)
    timing_label: str  # how the details line names the elapsed time
    model_time: bool  # the elapsed time is the model's own (so a real-time multiple means something)
    page_jobs: int  # jobs the page runs at once: 1 where the model is compute-bound here


class Backend(Protocol):
    capabilities: Capabilities
    catalog: Catalog

    def describe(self) -> str:
        """One Markdown line for the page's banner: where synthesis runs."""

    def warm_up(self, models: list[str]) -> None:
        """Load what the first job would wait for (called in a thread at start; may do nothing)."""

    def run(self, payload: dict, should_stop: StopCheck) -> Iterator[Event]:
        """One job input (the worker's contract) → events, ending with one Finished."""

    def run_many(self, payloads: list[dict], should_stop: StopCheck) -> Iterator[tuple[int, Finished | KokoroError]]:
        """Whole clips for many job inputs, each reported once by its index, in any order. Called
        only when `capabilities.batches` says the backend speaks them together."""
