"""The heap trim after jobs runs, in its own thread, off the caller's path."""

from __future__ import annotations

import threading
import time

from worker.model import memory


def _trims_after(start: int, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while memory.stats["trims"] <= start and time.monotonic() < deadline:
        time.sleep(0.01)
    return memory.stats["trims"]


def test_release_trims_in_the_background():
    before = memory.stats["trims"]
    memory.release()
    assert _trims_after(before) > before
    assert any(t.name == "heap-trim" and t.daemon for t in threading.enumerate())
