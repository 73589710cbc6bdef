"""A streaming worker's items (KOKORO_STREAM=true: one per chunk, worker/result.py `chunk_output`)
read back: each a playable `Piece`, and all of them together the job's `Finished` file and Result."""

from __future__ import annotations

import base64
import io

import numpy as np
import soundfile as sf

from worker import audio
from worker.request import SynthesisRequest
from worker.result import ChunkInfo, OutputError, Result, words_from_output

from ui.backends.base import Finished, Piece


def _samples(item: dict) -> np.ndarray:
    if item.get("error"):
        raise OutputError(str(item["error"]))
    try:
        data = base64.b64decode(item["audio_base64"], validate=True)
        samples, rate = sf.read(io.BytesIO(data), dtype="float32")
    except (KeyError, TypeError, ValueError, sf.LibsndfileError, RuntimeError):
        raise OutputError("The RunPod worker streamed a chunk without playable audio.") from None
    if rate != audio.SAMPLE_RATE:
        raise OutputError(f"The RunPod worker streamed audio at {rate} Hz, not {audio.SAMPLE_RATE}.")
    return samples.reshape(-1)


def piece(item: dict) -> Piece:
    return Piece(int(item.get("chunk", 0)), None, _samples(item))


def finished(items: list[dict], request: SynthesisRequest, elapsed_s: float) -> Finished:
    """The streamed chunks joined, encoded once in the format asked for, with their Result."""
    joined = audio.join([_samples(item) for item in items])
    chunks = tuple(c for c in map(ChunkInfo.from_output, items) if c is not None)
    timed = [words_from_output(item.get("words")) for item in items]
    words = None if all(w is None for w in timed) else tuple(w for ws in timed for w in ws or ())
    result = Result(model=request.model, voice=request.voice_spec, language=request.language,
                    duration_s=len(joined) / audio.SAMPLE_RATE, chunks=chunks,
                    notes=tuple(request.notes) + tuple(c.note for c in chunks if c.note),
                    elapsed_s=elapsed_s, words=words)
    return Finished(audio.encode(joined, request.format), request.format, result)


def in_format(done: Finished, fmt: str) -> Finished:
    """A whole WAV result (a worker that did not stream) in the format asked for."""
    if done.format == fmt:
        return done
    samples, _ = sf.read(io.BytesIO(done.data), dtype="float32")
    return Finished(audio.encode(samples, fmt), fmt, done.result)
