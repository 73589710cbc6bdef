"""The HTTP server's slots and waiting line (worker/service/gate.py): pure, no server."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from worker.service.gate import Busy, Gate


def test_slots_then_waiting_then_busy_with_a_retry_time_from_measured_requests(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("worker.service.gate.time.monotonic", lambda: clock[0])

    async def scenario():
        gate = Gate(slots=2, max_waiting=1)
        await gate.enter()
        await gate.enter()  # both slots taken
        waiter = asyncio.ensure_future(gate.enter())
        await asyncio.sleep(0)
        assert gate.waiting == 1
        with pytest.raises(Busy) as busy:  # a second waiter is one too many
            await gate.enter()
        assert "All 2 synthesis slots are busy and 1 more waits" in str(busy.value)
        clock[0] += 30.0  # a request here took 30 s: the estimate (5 s at first) follows
        gate.leave()
        await waiter
        assert gate.running == 2 and gate.waiting == 0 and gate.typical_s > 5.0
        for _ in range(20):  # one of the two ends every 30 s: each lasted 60 s
            gate.leave()
            await gate.enter()
            clock[0] += 30.0
        assert gate.typical_s == pytest.approx(60.0, rel=0.05)
        waiter = asyncio.ensure_future(gate.enter())
        await asyncio.sleep(0)
        with pytest.raises(Busy) as busy:
            await gate.enter()
        assert busy.value.retry_after_s == pytest.approx(90, abs=5)  # 3 ahead, 2 slots, ~60 s each
        waiter.cancel()

    # In a thread of its own: a session's Playwright (sync API) keeps an event loop running in the
    # main thread once a browser test has run, and asyncio.run refuses to start under it.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario()).result()
