"""The vocabulary between the studio's callbacks and its backends: what a synthesis run reports.

A run yields `Status` (progress news), `Piece` (audio that can play now), `Tick` (nothing new,
still working) and finally one `Finished` (the whole file in the chosen format). `Stopped` and
`ConfigError` are `KokoroError`s, so their one sentence is what the user sees.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from worker.errors import KokoroError


@dataclass(frozen=True)
class Status:
    text: str
    fraction: float | None = None  # 0..1, or None when the share done is unknown


@dataclass(frozen=True)
class Piece:
    """A spoken chunk, playable while the rest is still being synthesized."""

    index: int
    total: int
    samples: np.ndarray  # float32 24 kHz, with the joining gap in front (except the first)


@dataclass(frozen=True)
class Tick:
    """Nothing new yet; lets the page's loop breathe (Stop checks, the player's encoder)."""


@dataclass(frozen=True)
class Finished:
    data: bytes  # the whole file, in `format`
    format: str
    language: str
    voice: str
    model: str
    duration_s: float
    synthesis_s: float  # model time locally; submit-to-result time on RunPod
    chunks: list[dict] = field(default_factory=list)  # {"text", "phonemes", "duration_s"}
    notes: list[str] = field(default_factory=list)


Event = Status | Piece | Tick | Finished
StopCheck = Callable[[], bool]


class Stopped(KokoroError):
    """The user pressed Stop / Cancel; not a failure."""


class ConfigError(KokoroError):
    """The backend settings are unusable; the page says so and Generate explains."""


def session_of(request) -> str:
    """The browser session a Gradio request comes from ('no-session' when called directly)."""
    return getattr(request, "session_hash", None) or "no-session"


class StopFlags:
    """One stop flag per browser session: Stop / Cancel sets the flag of that session's run."""

    def __init__(self):
        self._flags: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    @contextmanager
    def running(self, request) -> Iterator[threading.Event]:
        """The flag of a run, for as long as it lasts; set at the end too, so a page that went
        away (the generator closed) stops its job (RunPod: cancels it)."""
        session = session_of(request)
        flag = threading.Event()
        with self._lock:
            self._flags[session] = flag
        try:
            yield flag
        finally:
            flag.set()
            with self._lock:
                if self._flags.get(session) is flag:
                    del self._flags[session]

    def stop(self, request) -> None:
        with self._lock:
            flag = self._flags.get(session_of(request))
        if flag is not None:
            flag.set()
