"""The next chunks of concurrent jobs, spoken together in one padded forward pass.

Jobs in progress (HTTP requests, queue jobs with KOKORO_CONCURRENCY > 1, studio visitors) each hand
their next chunk to `Batcher.speak` from their own thread and wait for its audio. One thread runs the
model: it takes the oldest chunk waiting, waits at most `window_s` for a chunk from every other job
in progress, then runs the chunks waiting for that model (at most `limit`) together
(worker.model.batching.forward_batch). A lone job never waits: its batch is complete at once. Where
the rows come out one after another (a CPU decodes each row alone), each job gets its chunk as soon
as its row is done, not when the whole batch is. A job says it is in progress with
`with batcher.job():` around its chunks, so a batch knows whom to expect.

Why a bounded window and not "whoever is waiting now": jobs reach their next chunk at different
moments (G2P, a slow reader of the stream), and a batch that closes on the first chunk would
mostly hold one. Why one model thread: forward passes of separate jobs at once only fight over the
cores (and over GPU memory); in turn, each sees the whole device (on a CPU the batch's decoders,
too, run row by row on every core: worker/model/batching.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("kokoro.batcher")

WINDOW_S = 0.03  # a few tens of ms: short beside a chunk's forward pass (0.1-3 s), long beside G2P's handoff


def wanted(setting: str, device: str, concurrency: int = 1) -> bool:
    """KOKORO_BATCH_JOBS resolved. `auto` batches on CUDA, and on a CPU where several jobs run at once
    (KOKORO_CONCURRENCY > 1): there 4 jobs batched made 1.08-1.12x the audio per second of the same
    jobs one at a time and 1.02-1.22x that of the jobs at once, each on its share of the cores (bf16
    eager and compiled, int8; bench/throughput.py, README "Batching concurrent jobs"), and a lone job
    keeps every core. One job at a time (KOKORO_CONCURRENCY=1) has nothing to batch."""
    if setting != "auto":
        return setting == "on"
    return device.startswith("cuda") or (device == "cpu" and concurrency > 1)


@dataclass(eq=False)  # compared by identity: items hold tensors
class _Waiting:
    key: Hashable  # chunks of one key (the model) can share a pass
    item: Any
    future: Future = field(default_factory=Future)


class Batcher:
    """Collects chunks from concurrent jobs and runs `run(key, items, ready) -> results` on a batch of
    them, one batch at a time, in its own thread; `run` may call `ready(i, result)` as soon as item
    i's result exists, and that job goes on at once. A failed batch of several is retried chunk by
    chunk (those already delivered excepted), so one bad chunk fails its own job only."""

    def __init__(self, run: Callable[[Hashable, list, Callable[[int, Any], None]], list],
                 window_s: float = WINDOW_S, limit: int = 8):
        self._run = run
        self.window_s, self.limit = window_s, limit
        self._cond = threading.Condition()
        self._waiting: list[_Waiting] = []
        self._jobs = 0
        self._thread: threading.Thread | None = None
        self._pid = 0  # the process that started the thread: a forked child (ZeroGPU) starts its own
        self.sizes: deque[int] = deque(maxlen=100)  # the latest batches' sizes: for tests and the bench

    @contextlib.contextmanager
    def job(self) -> Iterator[None]:
        """A job in progress: batches wait (briefly) for its chunks."""
        with self._cond:
            self._jobs += 1
        try:
            yield
        finally:
            with self._cond:
                self._jobs -= 1
                self._cond.notify_all()  # a batch waiting for this job's chunk can close now

    def speak(self, key: Hashable, item: Any) -> Any:
        """The result for one chunk, run in a batch with whatever other jobs hand in meanwhile."""
        waiting = _Waiting(key, item)
        with self._cond:
            if self._thread is None or self._pid != os.getpid():
                self._thread = threading.Thread(target=self._loop, name="kokoro-batcher", daemon=True)
                self._thread.start()
                self._pid = os.getpid()
            self._waiting.append(waiting)
            self._cond.notify_all()
        return waiting.future.result()

    def _next_batch(self) -> list[_Waiting]:
        with self._cond:
            while not self._waiting:
                self._cond.wait()
            deadline = time.monotonic() + self.window_s
            # Every job in progress has a chunk waiting, or the window is over.
            while len(self._waiting) < min(self._jobs, self.limit):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            key = self._waiting[0].key
            batch = [w for w in self._waiting if w.key == key][:self.limit]
            self._waiting = [w for w in self._waiting if w not in batch]
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            self.sizes.append(len(batch))
            started = time.perf_counter()
            try:
                results = self._run(batch[0].key, [w.item for w in batch], _deliver(batch))
                log.debug("%d chunk(s) of %s in one pass: %.2f s", len(batch), batch[0].key,
                          time.perf_counter() - started)
            except Exception as exc:  # noqa: BLE001 (handed to the jobs; this thread must live on)
                pending = [w for w in batch if not w.future.done()]
                if len(batch) == 1:
                    for w in pending:  # none if its result was delivered before the failure
                        w.future.set_exception(exc)
                    continue
                log.warning("A batch of %d chunks failed (%s); running the %d undelivered one by one",
                            len(batch), exc, len(pending))
                for w in pending:
                    self._run_alone(w)
                continue
            for w, result in zip(batch, results):
                if not w.future.done():
                    w.future.set_result(result)

    def _run_alone(self, w: _Waiting) -> None:
        try:
            w.future.set_result(self._run(w.key, [w.item], _deliver([w]))[0])
        except Exception as exc:  # noqa: BLE001
            if not w.future.done():
                w.future.set_exception(exc)


def _deliver(batch: list[_Waiting]) -> Callable[[int, Any], None]:
    """`ready` for a batch: hands item i's result to its job at once (once only)."""
    def ready(i: int, result: Any) -> None:
        if not batch[i].future.done():
            batch[i].future.set_result(result)
    return ready
