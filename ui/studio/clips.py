"""Finished clips for the A/B and Audition tabs, through the studio's backend, with a bounded cache.

A clip is one whole synthesis (no streaming: these views compare finished takes). The cache key
is (model, voice, language, text, speed, format): one voice reading en-gb and en-us makes two
clips. So auditioning a sentence again, or sending an audition
clip to the A/B tab, costs nothing. The cache holds at most KOKORO_CLIP_CACHE_MB (default 256)
of encoded audio, shared by every visitor of this process; the least recently used clip goes first.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace

from ui.backends.base import Finished, StopCheck, Stopped
from ui.studio import files
from worker.core.catalog import Catalog
from worker.core.errors import KokoroError
from worker.core.settings import megabytes
from worker.service.request import parse_request

DEFAULT_CACHE_MB = 256.0


@dataclass(frozen=True)
class ClipKey:
    model: str
    voice: str  # a voice id or a normalised blend spec
    language: str
    text: str
    speed: float
    format: str

    @property
    def digest(self) -> str:
        """A name for the clip's served file folder that says nothing of what is in it."""
        return hashlib.sha256(repr(self).encode()).hexdigest()[:32]

    @property
    def file_name(self) -> str:
        """`{language}_{voice}[_{speed}x].{format}`; a blend's ':' and ',' become '-'."""
        speed = "" if self.speed == 1 else f"_{self.speed:g}x"
        return f"{self.language}_{files.safe_voice(self.voice)}{speed}.{self.format}"


@dataclass(frozen=True)
class Clip:
    key: ClipKey
    language: str
    data: bytes
    duration_s: float
    synthesis_s: float
    cached: bool = False  # True when this copy came out of the cache


def cache_bytes_from_env() -> int:
    return megabytes("KOKORO_CLIP_CACHE_MB", DEFAULT_CACHE_MB)


class ClipCache:
    """Least-recently-used clips, bounded by the total size of their audio."""

    def __init__(self, max_bytes: int | None = None):
        self.max_bytes = cache_bytes_from_env() if max_bytes is None else max_bytes
        self._clips: OrderedDict[ClipKey, Clip] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: ClipKey) -> Clip | None:
        with self._lock:
            clip = self._clips.get(key)
            if clip is not None:
                self._clips.move_to_end(key)
            return clip

    def put(self, clip: Clip) -> None:
        size = len(clip.data)
        if size > self.max_bytes:
            return  # would evict everything and still not fit
        with self._lock:
            old = self._clips.pop(clip.key, None)
            if old is not None:
                self._bytes -= len(old.data)
            self._clips[clip.key] = clip
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._clips.popitem(last=False)
                self._bytes -= len(evicted.data)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._clips)

    def __contains__(self, key: ClipKey) -> bool:
        return key in self._clips


class ClipMaker:
    """Turns {text, voice, language, speed, format} into a Clip: from the cache, or the backend."""

    def __init__(self, backend, catalog: Catalog, cache: ClipCache | None = None):
        self.backend = backend
        self.catalog = catalog
        self.cache = cache if cache is not None else ClipCache()

    def key(self, payload: dict) -> ClipKey:
        """The cache key; raises InputError (the worker's own message) for a bad payload."""
        request = parse_request(payload, self.catalog)
        return ClipKey(request.model, request.voice_spec, request.language, request.text,
                       round(request.speed, 3), request.format)

    def make(self, payload: dict, should_stop: StopCheck = lambda: False) -> Clip:
        key = self.key(payload)
        if (found := self.cache.get(key)) is not None:
            return replace(found, cached=True)
        finished = None
        for event in self.backend.run({**payload, "split_sentences": True}, should_stop):
            if isinstance(event, Finished):
                finished = event
            elif should_stop():
                raise Stopped("Stopped.")
        if finished is None:
            raise Stopped("Stopped.")
        return self._keep(key, finished)

    def _keep(self, key: ClipKey, finished: Finished) -> Clip:
        result = finished.result
        clip = Clip(key, result.language, finished.data, result.duration_s, result.elapsed_s)
        self.cache.put(clip)
        return clip

    def make_many(self, payloads: Sequence[dict], should_stop: StopCheck = lambda: False,
                  workers: int = 1) -> Iterator[tuple[int, Clip | KokoroError]]:
        """(index, clip) as each is ready; a payload that fails gives (index, its error) instead.

        Cached clips come first. `workers` > 1 overlaps jobs that only wait (RunPod); locally the
        model works on one utterance at a time anyway, or, with KOKORO_BATCH_VOICES, on all the
        voices of one text in one batch."""
        pending, keys = [], {}
        for i, payload in enumerate(payloads):
            try:
                keys[i] = self.key(payload)
                found = self.cache.get(keys[i])
            except KokoroError as exc:
                yield i, exc
                continue
            if found is not None:
                yield i, replace(found, cached=True)
            else:
                pending.append(i)
        if not pending:
            return
        if len(pending) > 1 and self.backend.capabilities.batches:
            # One text in many voices: the backend speaks them together (KOKORO_BATCH_VOICES).
            batch = [{**payloads[i], "split_sentences": True} for i in pending]
            for j, result in self.backend.run_many(batch, should_stop):
                i = pending[j]
                yield i, result if isinstance(result, KokoroError) else self._keep(keys[i], result)
            return
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="clip") as pool:
            todo = iter(pending)
            running: dict = {}

            def submit_next() -> None:
                i = next(todo, None)
                if i is not None and not should_stop():
                    running[pool.submit(self.make, payloads[i], should_stop)] = i

            for _ in range(max(1, workers)):
                submit_next()
            while running:
                done, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    i = running.pop(future)
                    try:
                        yield i, future.result()
                    except KokoroError as exc:
                        yield i, exc
                    submit_next()


def worker_count(backend) -> int:
    """How many clips to make at once: RunPod jobs run on separate workers; local ones queue."""
    return backend.capabilities.parallel_clips

