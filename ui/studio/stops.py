"""Stop and Cancel: one flag per browser session, set by the Stop button and read by that
session's running job."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


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
