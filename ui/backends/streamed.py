"""A streaming worker's items (KOKORO_STREAM=true: one per chunk, worker/service/result.py `chunk_output`)
read back: each a playable `Piece` and a spoken chunk, and all of them together the job's
`Finished` file and Result, joined by the engine's own `finish`."""

from __future__ import annotations

import base64
import io
from dataclasses import replace

import numpy as np
import requests
import soundfile as sf

from ui.backends.base import Finished, Piece
from worker.service.request import SynthesisRequest
from worker.service.result import ChunkInfo, OutputError, shifted, words_from_output
from worker.sound import audio
from worker.sound.spoken import SpokenChunk, finish


def spoken_chunk(item: dict, start_s: float) -> SpokenChunk:
    """An item as the chunk the worker spoke; `start_s`: where it starts in the job (its words are
    timed from there, a SpokenChunk's from its own start)."""
    if item.get("error"):
        raise OutputError(str(item["error"]))
    try:
        data = linked_audio(item) or base64.b64decode(item["audio_base64"], validate=True)
        samples, rate = sf.read(io.BytesIO(data), dtype="float32")
    except (KeyError, TypeError, ValueError, sf.LibsndfileError, RuntimeError):
        raise OutputError("The RunPod worker streamed a chunk without playable audio.") from None
    if rate != audio.SAMPLE_RATE:
        raise OutputError(f"The RunPod worker streamed audio at {rate} Hz, not {audio.SAMPLE_RATE}.")
    info = ChunkInfo.from_output(item)
    words = words_from_output(item.get("words"))
    return SpokenChunk(int(item.get("chunk", 0)), info.text, info.phonemes, samples.reshape(-1), note=info.note,
                       words=None if words is None else shifted(words, -start_s))


def linked_audio(output: dict) -> bytes | None:
    """The audio behind an output's `audio_url` (the worker's bucket), or None when it has none."""
    url = output.get("audio_url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return None
    try:
        answer = requests.get(url, timeout=120)
    except requests.RequestException as exc:
        raise OutputError(f"The worker's audio link could not be fetched ({exc.__class__.__name__}).") from None
    if answer.status_code != 200:
        raise OutputError(f"The worker's audio link answered {answer.status_code}; it may have expired "
                          f"(it did at {output.get('audio_url_expires_at', 'an unknown time')}).")
    return answer.content


def add(chunks: list[SpokenChunk], chunk: SpokenChunk, item: dict) -> None:
    """A streamed item into the job's chunks: a later part of a long chunk (cut to fit RunPod's
    1 MB per item) continues the chunk before it."""
    if item.get("part") and chunks and chunks[-1].index == chunk.index:
        chunks[-1] = replace(chunks[-1], audio=np.concatenate([chunks[-1].audio, chunk.audio]))
    else:
        chunks.append(chunk)


def piece(chunk: SpokenChunk) -> Piece:
    return Piece(chunk.index, None, chunk.audio, len(chunk.text))


def finished(chunks: list[SpokenChunk], request: SynthesisRequest, elapsed_s: float) -> Finished:
    """The streamed chunks joined, encoded once in the format asked for, with their Result."""
    synthesis = finish(request, chunks, elapsed_s)
    return Finished(synthesis.encode(request.format), request.format, synthesis.result)


def in_format(done: Finished, fmt: str) -> Finished:
    """A whole result in another format: a worker's WAV in the format asked for, or a file for
    the studio's player (which plays WAV)."""
    if done.format == fmt:
        return done
    samples, _ = sf.read(io.BytesIO(done.data), dtype="float32")
    return Finished(audio.encode(samples, fmt), fmt, done.result)
