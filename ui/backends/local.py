"""Local synthesis for the studio: the worker's own Engine and parse_request, in this process.

The only studio module that imports torch (through the engine); ui/backends/__init__.py loads it
only when the local backend is chosen. On CUDA when present, else the CPU; on Hugging Face
ZeroGPU the synthesis generator is wrapped with `spaces.GPU` (which returns the function
unchanged anywhere else). G2P is lazy, as in the worker's streaming handler: the first chunk is
spoken after one sentence of G2P, however long the text. Chunks reach the page from a producer
thread, so the page's loop reacts to Stop within a tick, during G2P too.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections.abc import Iterator

import spaces

from ui.backends.base import (
    Capabilities,
    Event,
    Finished,
    Piece,
    Status,
    StopCheck,
    Stopped,
    Tick,
)
from worker.core import settings
from worker.core.catalog import Catalog
from worker.core.errors import KokoroError
from worker.model import hub
from worker.model.engine import Engine, SpokenChunk, finish, shared_text
from worker.service.request import SynthesisRequest, parse_request

log = logging.getLogger("kokoro.ui")

TICK_S = 0.2  # how often a waiting local run looks up: Stop reacts within this
JOIN_S = 60.0  # longest wait for the chunk in progress when a run ends early

# Engines by id: ZeroGPU runs the GPU functions below in a forked process and pickles their
# arguments, so they receive an engine's key, never the engine (it holds locks and threads).
_engines: dict[int, Engine] = {}
_default: Engine | None = None
_lock = threading.Lock()


def shared_engine() -> Engine:
    """The process's default engine (models load once, on CUDA when present, else the CPU)."""
    global _default
    with _lock:
        if _default is None:
            _default = Engine()
        return _default


def _register(engine: Engine) -> int:
    with _lock:
        _engines[id(engine)] = engine
    return id(engine)


def _gpu_seconds(key: int, request: SynthesisRequest) -> int:
    # ZeroGPU books the GPU for this long; ~1 s per 100 characters is generous for Kokoro.
    return int(min(300, 30 + len(request.text) / 100))


@spaces.GPU(duration=_gpu_seconds)  # on ZeroGPU: runs with a GPU attached; elsewhere: unchanged
def _spoken_chunks(key: int, request: SynthesisRequest):
    yield from _engines[key].stream(request)


def _group_seconds(key: int, requests: list[SynthesisRequest]) -> int:
    return int(min(300, 30 + len(requests) * len(requests[0].text) / 100))


@spaces.GPU(duration=_group_seconds)
def _synthesize_group(key: int, requests: list[SynthesisRequest]) -> list:
    return _engines[key].synthesize_many(requests)


class LocalBackend:
    """Synthesis in this process: streamed chunk by chunk, one job at a time (the model is
    compute-bound), Stop ends after the current chunk."""

    def __init__(self, engine: Engine | None = None, configured_endpoint: bool = False):
        self.engine = engine or shared_engine()
        self._key = _register(self.engine)
        self.catalog: Catalog = self.engine.catalog
        self.configured_endpoint = configured_endpoint
        # Off by default: on a CPU the padded batch measured slower than one voice at a time
        # (bench 6, "audition"); the GPU gain is to be measured (README, "Benchmarks").
        self.capabilities = Capabilities(kind="local", streams=True, parallel_clips=1,
                                         batches=settings.env_flag("KOKORO_BATCH_VOICES"),
                                         stop_label="Stop", timing_label="synthesized in",
                                         model_time=True, page_jobs=self._page_jobs())

    def _page_jobs(self) -> int:
        """One job at a time (the model is compute-bound), or KOKORO_CONCURRENCY where the engine
        batches concurrent jobs' chunks (KOKORO_BATCH_JOBS; not on ZeroGPU, whose jobs each run in a
        process of their own)."""
        if self.engine.batcher is None or settings.on_zero_gpu():
            return 1
        return settings.concurrency()

    def warm_up(self, models: list[str]) -> None:
        """Loads the weights while the first visitor reads the page; a failure shows on Generate."""
        for name in models:
            try:
                self.engine.model(name)
            except Exception as exc:  # noqa: BLE001 (logged; the user sees the error on Generate)
                log.warning("Could not preload Kokoro %s: %s", name, exc)

    def describe(self) -> str:
        where = "ZeroGPU" if settings.on_zero_gpu() else self.engine.device.upper()
        if self.configured_endpoint:
            line = f"Running **locally** on {where} (KOKORO_BACKEND=local)."
        else:
            line = (f"Running **locally** on {where}: no RunPod endpoint is configured "
                    "(set RUNPOD_ENDPOINT_ID and RUNPOD_API_KEY to use one).")
        return line + self._missing_weights()

    def _missing_weights(self) -> str:
        """Said on the page from the start, not after a visitor's first Generate."""
        missing = self.engine.not_cached(settings.models(list(self.catalog.models)))
        if not missing:
            return ""
        reason = hub.unreachable()
        if reason is None:  # the warm-up is downloading them; a failure there is each job's message
            return ""
        names = " and ".join(f"Kokoro {name}" for name in missing)
        return (f" **The {names} weights are not in the Hugging Face cache ({hub.cache_folder(self.engine.cache_dir)}),"
                f" and {reason}**: jobs will fail until they are. {hub.HOW_TO_FILL}")

    def run(self, payload: dict, should_stop: StopCheck) -> Iterator[Event]:
        request = parse_request(payload, self.catalog)
        started = time.perf_counter()
        yield Status("Reading the text…", 0.0)
        found: queue.Queue = queue.Queue()
        halt = threading.Event()  # set when the page stops listening or the user presses Stop

        def produce() -> None:
            # Synthesis runs ahead in its own thread, so the page gets a tick every TICK_S
            # (for Stop and for the player's encoder) while G2P or the model works.
            stream = _spoken_chunks(self._key, request)
            try:
                for chunk in stream:
                    found.put(("chunk", chunk))
                    if halt.is_set() or should_stop():
                        break
                found.put(("end", time.perf_counter() - started))
            except BaseException as exc:  # handed to the page's thread, which words it
                found.put(("error", exc))
            finally:
                stream.close()

        # copy_context: the thread sees the Gradio request context, which ZeroGPU's quota reads.
        producer = threading.Thread(target=contextvars.copy_context().run, args=(produce,),
                                    name="kokoro-synthesis", daemon=True)
        producer.start()
        spoken: list[SpokenChunk] = []
        try:
            while True:
                if should_stop():
                    halt.set()
                    yield Status("Stopping after the current chunk…", None)
                    producer.join(JOIN_S)
                    raise Stopped("Stopped.")
                try:
                    kind, value = found.get(timeout=TICK_S)
                except queue.Empty:
                    yield Tick()
                    continue
                if kind == "error":
                    raise value
                if kind == "end":
                    busy = value
                    break
                spoken.append(value)
                yield Piece(value.index, value.total, value.audio, len(value.text))  # the pause before it included
        finally:
            # The synthesis thread stops after its current chunk; waiting for it means no model
            # call outlives its run (a torch call cut off at interpreter exit aborts the process).
            halt.set()
            producer.join(JOIN_S)
        synthesis = finish(request, spoken, busy)  # the worker's own join and Result
        yield Finished(synthesis.encode(request.format), request.format, synthesis.result)

    def run_many(self, payloads: list[dict], should_stop: StopCheck) -> Iterator[tuple[int, Finished | KokoroError]]:
        """Whole clips for many payloads: those sharing text, language and model are spoken
        together (Engine.synthesize_many), a group at a time, so Stop acts between groups."""
        groups: dict[tuple, list[tuple[int, SynthesisRequest]]] = {}
        for i, payload in enumerate(payloads):
            try:
                request = parse_request(payload, self.catalog)
            except KokoroError as exc:
                yield i, exc
                continue
            groups.setdefault(shared_text(request), []).append((i, request))
        for members in groups.values():
            if should_stop():
                raise Stopped("Stopped.")
            try:
                done = _synthesize_group(self._key, [r for _, r in members])
            except KokoroError as exc:
                for i, _ in members:
                    yield i, exc
                continue
            for (i, request), synthesis in zip(members, done):
                yield i, Finished(synthesis.encode(request.format), request.format, synthesis.result)
