"""Spoken chunks and the finished job: a chunk's model audio paced and its words timed, then the
chunks joined into one clip with its Result. The engine's whole-file jobs, its streams and the
studio's streamed runs all finish here, so a clip and its account of itself cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from worker.core.errors import InputError
from worker.service.request import SynthesisRequest
from worker.service.result import ChunkInfo, Result, shifted
from worker.sound import audio, captions, timing
from worker.sound.captions import Word
from worker.text.chunking import Chunk

if TYPE_CHECKING:  # only a type here: the studio's RunPod backend finishes jobs without torch
    import torch


@dataclass(frozen=True)
class SpokenChunk:
    index: int
    text: str
    phonemes: str
    audio: np.ndarray  # float32: the pause before the chunk, then its trimmed speech
    pause_s: float = 0.0  # the pause at the start of `audio`
    note: str = ""  # set when G2P gave implausibly few phonemes for the text
    total: int | None = None  # chunks in the whole text, once G2P has reached its end
    words: tuple[Word, ...] | None = None  # timed from the start of `audio`; None: not asked for

    @property
    def duration_s(self) -> float:
        return len(self.audio) / audio.SAMPLE_RATE

    @property
    def info(self) -> ChunkInfo:
        return ChunkInfo(self.text, self.phonemes, self.duration_s, self.note, self.words)


@dataclass(frozen=True)
class Synthesis:
    """A finished job: the audio, and the result contract's account of it (worker/service/result.py)."""

    audio: np.ndarray
    result: Result

    def encode(self, fmt: str = "wav") -> bytes:
        return audio.encode(self.audio, fmt, self.result.sample_rate)


def spoken(index: int, chunk: Chunk, wave: torch.Tensor, speed: float, note: str = "",
           frames: torch.Tensor | None = None, vocab: dict | None = None) -> SpokenChunk:
    """The model's audio for a chunk, paced; its words timed from the model's `frames` per token."""
    samples = wave.detach().float().cpu().numpy().reshape(-1)
    paced = audio.paced(samples, chunk.break_before, speed, chunk.pause_s)
    words = None
    if chunk.words is not None and frames is not None:
        # Trimming cut `trimmed_s` of the model's lead-in; the pause went before the speech.
        end = len(paced.audio) / audio.SAMPLE_RATE

        def placed(t: float) -> float:
            return min(end, max(paced.pause_s, paced.pause_s + t - paced.trimmed_s))

        words = tuple(Word(text, placed(start), placed(stop)) for text, start, stop
                      in timing.seconds(chunk.words, chunk.phonemes, vocab or {}, frames.reshape(-1).tolist()))
    return SpokenChunk(index, chunk.text, chunk.phonemes, paced.audio, paced.pause_s, note, words=words)


def silence(index: int, chunk: Chunk) -> SpokenChunk:
    """A chunk with nothing to say: an explicit pause at the end of the text."""
    samples = np.zeros(int(round(chunk.pause_s * audio.SAMPLE_RATE)), dtype=np.float32)
    return SpokenChunk(index, "", "", samples, chunk.pause_s, words=None if chunk.words is None else ())


def finish(request: SynthesisRequest, pieces: list[SpokenChunk], elapsed_s: float) -> Synthesis:
    """The request's spoken chunks joined into one clip, with its Result (words over the whole clip
    and captions, when the request asked for them)."""
    if not any(p.phonemes for p in pieces):
        raise nothing_to_speak()
    joined = audio.join([p.audio for p in pieces])
    duration_s = len(joined) / audio.SAMPLE_RATE
    words: list[Word] = []
    at = 0.0
    for piece in pieces:
        words += shifted(piece.words or (), at)
        at += piece.duration_s
    chunks = tuple(ChunkInfo(p.text, p.phonemes, p.duration_s, p.note) for p in pieces)
    return Synthesis(joined, Result(
        model=request.model, voice=request.voice_spec, language=request.language, duration_s=duration_s,
        chunks=chunks, notes=tuple(request.notes) + tuple(c.note for c in chunks if c.note),
        elapsed_s=elapsed_s, words=tuple(words) if request.timestamps else None,
        captions=captions.render(request.captions, words, duration_s) if request.captions else None))


def nothing_to_speak() -> InputError:
    return InputError("The text has nothing speakable in it (no letters or characters G2P can read).")
