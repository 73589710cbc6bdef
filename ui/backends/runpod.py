"""RunPod synthesis for the studio: the worker's job input sent through ui/backends/runpod_client.py.

The job input is the worker's contract {text, voice, language, speed, split_sentences, format,
timestamps}, checked first with the worker's own `parse_request` (bad input never bills a job). The
client runs in a thread; its status polls become `Status` events ("In queue · 3 s",
"In progress · chunk 2 of 5 · 7 s"). Only the client factory holds the API key.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterator

from ui.backends import streamed
from ui.backends.base import Capabilities, Event, Finished, Status, StopCheck, Stopped
from ui.backends.runpod_client import RunPodClient, RunPodError
from worker.core.catalog import Catalog, default_catalog
from worker.service.request import SynthesisRequest, parse_request
from worker.service.result import OutputError, Result
from worker.sound.spoken import SpokenChunk

RUNPOD_TIMEOUT_S = 600.0  # a cold start loads both models before the first job; be patient


_STATES = {"IN_QUEUE": "In queue", "IN_PROGRESS": "In progress", "COMPLETED": "Done"}
_CHUNK_OF = re.compile(r"chunk (\d+) of (\d+)")


def runpod_status(state: str, elapsed_s: float, progress: object = None) -> Status:
    """'In progress · chunk 2 of 5 · 7 s' from one /status poll."""
    words = _STATES.get(state, state.replace("_", " ").capitalize() or "Waiting")
    fraction = None
    if state == "IN_PROGRESS" and isinstance(progress, str) and progress.strip():
        words += f" · {progress.strip()[:80]}"  # the worker's own words, e.g. "chunk 2 of 5"
        if m := _CHUNK_OF.search(progress):
            done, total = int(m.group(1)), int(m.group(2))
            fraction = min(1.0, done / total) if total else None
    elif state == "COMPLETED":
        fraction = 1.0
    return Status(f"{words} · {elapsed_s:.0f} s", fraction)


class RunPodBackend:
    """Jobs on a RunPod Serverless endpoint, many at once (each job its own worker), Cancel cancels
    the remote job. `stream` (RUNPOD_STREAM, on unless "false"): jobs are followed on /stream, so a
    worker running KOKORO_STREAM=true plays chunk by chunk; a worker that does not stream still
    answers with its whole file. Off: /status only, the whole file at the end."""

    def __init__(self, client_factory: Callable[[], RunPodClient], catalog: Catalog | None = None,
                 stream: bool = False):
        self._client_factory = client_factory  # builds a client per job; only it holds the key
        self.catalog = catalog or default_catalog()
        self.stream = stream
        self.capabilities = Capabilities(kind="runpod", streams=stream, parallel_clips=4, batches=False,
                                         stop_label="Cancel", timing_label="RunPod job took",
                                         model_time=False, page_jobs=16)  # jobs only wait on HTTP here

    def warm_up(self, models: list[str]) -> None:
        pass  # the endpoint's workers load their models themselves

    def describe(self) -> str:
        return "Synthesis runs on **RunPod Serverless**; a cold worker can take a minute to start."

    def run(self, payload: dict, should_stop: StopCheck) -> Iterator[Event]:
        # Checked here first too: bad input gets its message at once and never bills a job.
        request = parse_request(payload, self.catalog)
        client = self._client_factory()
        updates: queue.Queue = queue.Queue()
        closed = threading.Event()  # set when the page stops listening (Stop, tab closed)
        # The worker is asked for the format the user chose (never a bigger one): streamed chunks
        # decode from it, and a result too big to return inline comes back as a bucket link.
        job = payload
        chunks: list[SpokenChunk] = []

        def work() -> None:
            try:
                follow = {"on_item": lambda item: updates.put(("item", item))} if self.stream else {}
                output = client.run(job, on_update=lambda *u: updates.put(("update", u)),
                                    should_cancel=lambda: closed.is_set() or should_stop(), **follow)
                updates.put(("done", output))
            except BaseException as exc:  # handed to the page's thread, which words it
                updates.put(("error", exc))
            finally:
                client.close()

        started = time.monotonic()
        threading.Thread(target=work, name="runpod-job", daemon=True).start()
        yield Status("Submitting the job…", None)
        deadline = started + RUNPOD_TIMEOUT_S + 60  # the client's own limit comes first
        try:
            while True:
                try:
                    kind, value = updates.get(timeout=min(0.25, max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    if time.monotonic() >= deadline:
                        raise RunPodError("RunPod did not answer in time.") from None
                    continue
                if kind == "update":
                    yield runpod_status(*value)
                elif kind == "item":
                    chunk = _spoken_chunk(value, sum(c.duration_s for c in chunks))
                    streamed.add(chunks, chunk, value)
                    yield streamed.piece(chunk)
                elif kind == "error":
                    if isinstance(value, RunPodError) and (closed.is_set() or should_stop()):
                        raise Stopped("Cancelled; the RunPod job was cancelled too.")
                    raise value
                elif value is None:  # the job streamed: its chunks are the result
                    yield streamed.finished(chunks, request, time.monotonic() - started)
                    return
                else:
                    finished = _finished(value, request, time.monotonic() - started)
                    yield streamed.in_format(finished, request.format) if self.stream else finished
                    return
        finally:
            closed.set()  # the worker thread then cancels a job still running


def _spoken_chunk(item: dict, start_s: float) -> SpokenChunk:
    try:
        return streamed.spoken_chunk(item, start_s)
    except OutputError as exc:
        raise RunPodError(str(exc)) from None


def _finished(output: dict, request: SynthesisRequest, elapsed_s: float) -> Finished:
    asked = Result(model=request.model, voice=request.voice_spec, language=request.language, duration_s=0.0)
    try:
        linked = streamed.linked_audio(output)  # a long result: the worker put it in its bucket
        result, data, fmt = Result.from_output(output, asked, elapsed_s, request.format, linked)
    except OutputError as exc:
        raise RunPodError(str(exc)) from None
    return Finished(data, fmt, result)
