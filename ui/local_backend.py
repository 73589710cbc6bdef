"""Local synthesis for the studio: the worker's own Engine and parse_request, in this process.

On CUDA when present, else the CPU; on Hugging Face ZeroGPU the synthesis generator is wrapped
with `spaces.GPU` (which returns the function unchanged anywhere else). Chunks stream to the page
as they are spoken, from a producer thread, so the page's loop can react to Stop between them.
"""

from __future__ import annotations

import contextvars
import os
import queue
import threading
import time
from collections.abc import Iterator

import numpy as np
import spaces

from worker import audio
from worker.catalog import Catalog, default_catalog
from worker.engine import Engine, default_device, shared_text
from worker.errors import KokoroError
from worker.request import SynthesisRequest, parse_request
from worker.settings import env_flag

from ui.events import Event, Finished, Piece, Status, StopCheck, Stopped, Tick

TICK_S = 0.2  # how often a waiting local run looks up: Stop reacts within this
JOIN_S = 60.0  # longest wait for the chunk in progress when a run ends early

_engine: Engine | None = None
_engine_lock = threading.Lock()


def shared_engine() -> Engine:
    """The process's one engine (models load once, on CUDA when present, else the CPU)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = Engine(default_catalog())
        return _engine


def _gpu_seconds(request: SynthesisRequest) -> int:
    # ZeroGPU books the GPU for this long; ~1 s per 100 characters is generous for Kokoro.
    return int(min(300, 30 + len(request.text) / 100))


@spaces.GPU(duration=_gpu_seconds)  # on ZeroGPU: runs with a GPU attached; elsewhere: unchanged
def _spoken_chunks(request: SynthesisRequest, planned: list):
    # Module-level and fed only plain data: ZeroGPU pickles arguments, and an Engine holds a lock.
    yield from shared_engine().stream(request, planned)


def _group_seconds(requests: list[SynthesisRequest]) -> int:
    return int(min(300, 30 + len(requests) * len(requests[0].text) / 100))


@spaces.GPU(duration=_group_seconds)
def _synthesize_group(requests: list[SynthesisRequest]) -> list:
    return shared_engine().synthesize_many(requests)


class LocalBackend:
    name = "local"

    def __init__(self, engine: Engine | None = None, configured_endpoint: bool = False):
        global _engine
        if engine is not None:
            with _engine_lock:
                _engine = engine
        self.catalog: Catalog = engine.catalog if engine else default_catalog()
        self.configured_endpoint = configured_endpoint
        # Off by default: on a CPU the padded batch measured slower than one voice at a time
        # (bench 6, "audition"); the GPU gain is to be measured (README, "Benchmarks").
        self.batches_voices = env_flag("KOKORO_BATCH_VOICES")

    def describe(self) -> str:
        where = "ZeroGPU" if os.environ.get("SPACES_ZERO_GPU") else default_device().upper()
        if self.configured_endpoint:
            return f"Running **locally** on {where} (KOKORO_BACKEND=local)."
        return (f"Running **locally** on {where}: no RunPod endpoint is configured "
                "(set RUNPOD_ENDPOINT_ID and RUNPOD_API_KEY to use one).")

    def run(self, payload: dict, should_stop: StopCheck) -> Iterator[Event]:
        request = parse_request(payload, self.catalog)
        engine = shared_engine()
        started = time.perf_counter()
        yield Status("Reading the text…", 0.0)
        # G2P up front so progress can say "chunk i of n"; the stream reuses this plan.
        planned = list(engine.plan(request))
        total = len(planned)
        found: queue.Queue = queue.Queue()
        halt = threading.Event()  # set when the page stops listening or the user presses Stop

        def produce() -> None:
            # Synthesis runs ahead in its own thread, so the page gets a tick every TICK_S
            # (for Stop and for the player's encoder) while the model works on the next chunk.
            stream = _spoken_chunks(request, planned)
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
        spoken: list[np.ndarray] = []
        chunks: list[dict] = []
        notes = list(request.notes)
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
                spoken.append(value.audio)
                chunks.append({"text": value.text, "phonemes": value.phonemes,
                               "duration_s": round(value.duration_s, 3)})
                if value.note:
                    notes.append(value.note)
                total = max(total, value.index + 1)
                yield Piece(value.index, total, value.audio)  # the pause before it included
        finally:
            # The synthesis thread stops after its current chunk; waiting for it means no model
            # call outlives its run (a torch call cut off at interpreter exit aborts the process).
            halt.set()
            producer.join(JOIN_S)
        joined = audio.join(spoken)  # the same join the worker uses: trimmed chunks, paced pauses
        yield Finished(
            data=audio.encode(joined, request.format), format=request.format,
            language=request.language, voice=request.voice_spec, model=request.model,
            duration_s=len(joined) / audio.SAMPLE_RATE, synthesis_s=busy,
            chunks=chunks, notes=notes)

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
            requests = [r for _, r in members]
            try:
                done = _synthesize_group(requests)
            except KokoroError as exc:
                for i, _ in members:
                    yield i, exc
                continue
            for (i, request), synthesis in zip(members, done):
                yield i, _finished(request, synthesis)


def _finished(request: SynthesisRequest, synthesis) -> Finished:
    return Finished(
        data=synthesis.encode(request.format), format=request.format, language=request.language,
        voice=request.voice_spec, model=request.model, duration_s=synthesis.duration_s,
        synthesis_s=synthesis.elapsed_s, chunks=synthesis.chunks, notes=synthesis.notes)
