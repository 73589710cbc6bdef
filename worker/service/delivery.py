"""How a queue job's audio reaches the caller within RunPod's limits: inline (base64 in the output)
when it fits, else as a link to the configured bucket, else a sentence that names the way out;
never an output RunPod refuses (its job would stay IN_PROGRESS until the timeout, unexplained).

RunPod takes at most 20 MB per result (/runsync; we keep KOKORO_MAX_RESULT_MB, 15 by default) and
1 MB per streamed item. A streaming job's items are also aggregated into its final output, so they
share the same budget: items that would overrun it go to the bucket too.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterator

import numpy as np

from worker.core import settings
from worker.core.errors import KokoroError
from worker.service.bucket import Storage
from worker.service.request import SynthesisRequest
from worker.service.result import ChunkInfo, chunk_output, linked
from worker.sound.audio import SAMPLE_RATE, encode, mime_type
from worker.sound.spoken import Synthesis

ITEM_MAX_BYTES = 900_000  # a streamed item's JSON; RunPod's limit is 1 MB
# The least a WAV (or pcm) result can weigh: base64 of 16-bit 24 kHz PCM is 64,000 bytes a second,
# and no language speaks more than 30 letters or digits a second at speed 1 (measured: English 17 a
# second on the real weights; Chinese and Japanese far fewer), and no letter or digit is dropped.
_BASE64_PER_S = {"wav": 64_000, "pcm": 64_000}
_MAX_ALNUM_PER_S = 30
_WAY_OUT = ('ask for "format": "ogg" or "mp3" (about 10× smaller than wav or flac), split the text into '
            "several jobs, or configure a bucket (BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID, "
            "BUCKET_SECRET_ACCESS_KEY, KOKORO_BUCKET) so long results come back as a link.")


class TooBig(KokoroError):
    """A result RunPod would refuse, with no bucket to put it in."""


@functools.lru_cache(maxsize=2)
def _storage(bucket: settings.Bucket) -> Storage:
    return Storage(bucket)


def storage() -> Storage | None:
    bucket = settings.bucket()
    return None if bucket is None else _storage(bucket)


def refusal(request: SynthesisRequest) -> str | None:
    """Why the job cannot be delivered, known before synthesis: a link asked for with no bucket,
    or a WAV that even the shortest speech of its text would make too big to return."""
    bucket = settings.bucket()
    if request.delivery == "url" and bucket is None:
        return ('"delivery": "url" needs a bucket: set BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID, '
                "BUCKET_SECRET_ACCESS_KEY and KOKORO_BUCKET on the endpoint.")
    per_s = _BASE64_PER_S.get(request.format)
    if per_s is None or request.delivery == "url" or (request.delivery == "auto" and bucket):
        return None
    least_s = sum(ch.isalnum() for ch in request.text) / _MAX_ALNUM_PER_S / request.speed
    least, limit = least_s * per_s, settings.max_result_bytes()
    if least <= limit:
        return None
    return (f"The result would be at least {least / 2**20:.1f} MB, more than the {limit / 2**20:.3g} MB a "
            f"RunPod job can return (at least {least_s:.0f} s of {request.format} audio): {_WAY_OUT}")


def _size(output: dict | list) -> int:
    return len(json.dumps(output))


def whole(synthesis: Synthesis, request: SynthesisRequest) -> dict:
    """The job's output: inline when it fits (or inline is asked for), else linked to the bucket."""
    data = synthesis.encode(request.format)
    output = synthesis.result.output(data, request.format)
    limit, size = settings.max_result_bytes(), _size(output)
    store = None if request.delivery == "inline" else storage()
    if request.delivery == "url" or (store is not None and size > limit):
        assert store is not None  # refusal() stops a url job without a bucket
        captions = None
        if output.get("captions"):
            captions = store.put(output["captions"].encode(), f"speech.{request.captions}", "text/plain; charset=utf-8")
        output = linked(output, store.put(data, f"speech.{request.format}", mime_type(request.format)), captions)
        size = _size(output)
    if size <= limit:
        return output
    smaller = "" if request.format in ("mp3", "ogg") else 'ask for "format": "ogg" or "mp3", or '
    way_out = _WAY_OUT if store is None else smaller + "split the text into several jobs."
    return {"error": f"The result is {size / 2**20:.1f} MB, more than the {limit / 2**20:.3g} MB a RunPod job "
                     f"can return ({output.get('duration_s', 0):.0f} s of {request.format} audio): {way_out}"}


class Stream:
    """A streaming job's items: each at most ITEM_MAX_BYTES (a long chunk's audio is cut into parts),
    all of them together within the result budget (items past it are linked to the bucket)."""

    def __init__(self, request: SynthesisRequest):
        self.request = request
        self.limit = settings.max_result_bytes()
        self.store = None if request.delivery == "inline" else storage()
        self.used = 2  # the aggregated output is a JSON list of the items

    def items(self, index: int, info: ChunkInfo, samples: np.ndarray, start_s: float) -> Iterator[dict]:
        fmt = self.request.format
        data = encode(samples, fmt)
        parts = max(1, math.ceil(len(data) * 4 / 3 / (ITEM_MAX_BYTES - 50_000)))  # base64, room for the rest
        bounds = np.linspace(0, len(samples), parts + 1).astype(int)
        for part in range(parts):
            piece = samples[bounds[part]:bounds[part + 1]]
            piece_data = data if parts == 1 else encode(piece, fmt)
            piece_info = info if part == 0 else ChunkInfo("", "", 0.0)
            item = chunk_output(index, piece_info, piece_data, fmt, start_s)
            item["duration_s"] = round(len(piece) / SAMPLE_RATE, 3)
            if parts > 1:
                item.update(part=part, parts=parts)
            yield self._within_budget(item, piece_data)

    def _within_budget(self, item: dict, data: bytes) -> dict:
        size = _size(item) + 2
        if self.request.delivery == "url" or self.used + size > self.limit:
            if self.store is None:
                raise TooBig(f"The streamed result would pass the {self.limit / 2**20:.3g} MB a RunPod job can "
                             f"return (its items are gathered into the final output): {_WAY_OUT}")
            fmt = self.request.format
            item = linked(item, self.store.put(data, f"chunk-{item['chunk']}.{fmt}", mime_type(fmt)))
            size = _size(item) + 2
        self.used += size
        return item
