"""How many requests the HTTP server runs at once (KOKORO_CONCURRENCY) and how many may wait for a
turn (KOKORO_MAX_WAITING); one more is turned away at once with a time to retry, rather than left
to time out in a queue nobody sees."""

from __future__ import annotations

import asyncio
import math
import time


class Busy(Exception):
    def __init__(self, slots: int, waiting: int, retry_after_s: int):
        line = f"{waiting} more wait{'s' if waiting == 1 else ''} for a turn" if waiting else "none may wait"
        super().__init__(f"All {slots} synthesis slot{'s are' if slots > 1 else ' is'} busy and {line} "
                         f"(KOKORO_CONCURRENCY, KOKORO_MAX_WAITING); try again in about {retry_after_s} s.")
        self.retry_after_s = retry_after_s


class Gate:
    """Slots for running requests and a bounded waiting line; used from one event loop."""

    def __init__(self, slots: int = 1, max_waiting: int = 16):
        self.configure(slots, max_waiting)

    def configure(self, slots: int, max_waiting: int) -> None:
        self.slots, self.max_waiting = slots, max_waiting
        self._free = asyncio.Semaphore(slots)
        self.running = self.waiting = 0
        self.typical_s = 5.0  # a request's usual length, for Retry-After: measured as they end
        self._entered: list[float] = []

    async def enter(self) -> None:
        if self._free.locked() and self.waiting >= self.max_waiting:
            ahead = self.waiting + self.running
            raise Busy(self.slots, self.waiting, max(1, math.ceil(ahead / self.slots * self.typical_s)))
        self.waiting += 1
        try:
            await self._free.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        self._entered.append(time.monotonic())

    def leave(self) -> None:
        if self._entered:  # the oldest running request ends first, near enough for an estimate
            took = time.monotonic() - self._entered.pop(0)
            self.typical_s = 0.8 * self.typical_s + 0.2 * took
        self.running -= 1
        self._free.release()
