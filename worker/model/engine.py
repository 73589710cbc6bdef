"""The synthesis engine: SynthesisRequest -> G2P -> chunks -> Kokoro model -> 24 kHz mono audio.

One engine per process serves the RunPod handler, the HTTP server and the UI's local mode alike. Its
models and voice packs load as worker/model/weights.py says; a request's voice decides its model.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import torch

from worker.core import settings
from worker.core.catalog import Catalog
from worker.core.errors import InputError, KokoroError, snippet
from worker.model import batcher, batching, memory
from worker.model import precision as fp
from worker.model.weights import Weights
from worker.service.request import SynthesisRequest
from worker.sound.spoken import (
    SpokenChunk,
    Synthesis,
    finish,
    nothing_to_speak,
    silence,
    spoken,
)
from worker.text import chunking, g2p, lexicon, markup, normalize

__all__ = ["Engine", "SpokenChunk", "Synthesis", "finish", "shared_text", "zh_v11_speed"]

log = logging.getLogger("kokoro.engine")

Progress = Callable[[int, int | None], None]  # (chunks done, total or None while unknown)


def zh_v11_speed(n_phonemes: int) -> float:
    """The v1.1-zh model card's pacing: long Chinese utterances are read slightly slower."""
    if n_phonemes <= 83:
        factor = 1.0
    elif n_phonemes < 183:
        factor = 1.0 - (n_phonemes - 83) / 500
    else:
        factor = 0.8
    return factor * 1.1


class Engine(Weights):
    """Turns requests into audio: G2P, chunks, the model (its weights and voices: Weights), joins."""

    def __init__(self, catalog: Catalog | None = None, device: str | None = None,
                 cache_dir: str | os.PathLike | None = None, precision: str | None = None,
                 pronunciations: dict[str, dict[str, str]] | None = None, compile: str | None = None,
                 batch_jobs: str | None = None):
        super().__init__(catalog, device, cache_dir, precision, compile)
        # {language: {word: phonemes}}: KOKORO_LEXICON unless given (worker/text/lexicon.py)
        self.lexicon = lexicon.configured() if pronunciations is None else pronunciations
        # KOKORO_BATCH_JOBS: concurrent jobs' chunks share forward passes (worker/model/batcher.py)
        batches = batcher.wanted(batch_jobs or settings.batch_jobs(), self.device, settings.concurrency())
        self.batcher = batcher.Batcher(self._speak_together, limit=BATCH_MAX) if batches else None
        if self.compile == "auto":  # where it pays, without delaying start-up
            self.compile = "background" if fp.compile_pays(self.precision, self.device) else "off"

    def phonemizer(self, request: SynthesisRequest) -> g2p.G2P:
        """The request's G2P, fed text reshaped so nothing is cut (normalize.for_g2p); a G2P
        that fails on some text becomes an InputError quoting that text."""
        language = self.catalog.languages[request.language]
        zh_version = "1.1" if request.model == "v1.1-zh" else None
        base = g2p.phonemizer(language.kokoro_code, zh_version if language.kokoro_code == "z" else None)

        def run(text: str) -> str:
            try:
                return base(normalize.for_g2p(text))
            except KokoroError:
                raise
            except Exception as exc:
                log.warning("G2P failed on %r", text[:200], exc_info=True)
                raise InputError(f"The {language.name} G2P could not read \"{snippet(text)}\" "
                                 f"({exc.__class__.__name__}); rephrase or spell out that part.") from None

        return run

    def warm_up(self, models: list[str] | None = None) -> None:
        """Load models and run one short utterance each, so the first real job is not slow."""
        for name in models or list(self.catalog.models):
            voice = next(v for v in self.catalog.voices if v.model == name)
            language = voice.language
            req = SynthesisRequest(text=warm_up_text(self.catalog.languages[language].sample),
                                   voices=((voice, 1.0),), language=language)
            self.synthesize(req)

    # --- synthesis --------------------------------------------------------------------------

    def plan(self, request: SynthesisRequest) -> Iterator[chunking.Chunk]:
        """The request's chunks (text + phonemes, and word spans when timings are wanted), lazily.
        The lexicon's words become pronunciation markup first (worker/text/markup.py)."""
        text = markup.with_lexicon(request.text, self.lexicon.get(request.language, {}))
        script = markup.parse(text)
        self._check_pronunciations(request, script)
        code = self.catalog.languages[request.language].kokoro_code
        return chunking.plan_script(script, self.phonemizer(request), request.split_sentences,
                                    code if request.timed else None)

    def _check_pronunciations(self, request: SynthesisRequest, script: markup.Script) -> None:
        """Written phonemes the model has no symbol for would be dropped without a sound: refuse them."""
        if not script.said:
            return
        vocab = self.model(request.model).vocab
        for word, phonemes in script.said:
            unknown = sorted({ch for ch in phonemes if ch not in vocab and not ch.isspace()})
            if unknown:
                raise InputError(f"The pronunciation of \"{word}\" uses {', '.join(repr(c) for c in unknown)}, "
                                 f"which Kokoro {request.model} has no sound for; use its phoneme symbols "
                                 "(the phonemes of a synthesis show them).")

    def _speak(self, request: SynthesisRequest, index: int, chunk: chunking.Chunk) -> SpokenChunk:
        if not chunk.phonemes:
            return silence(index, chunk)
        kmodel = self.model(request.model)
        item = (chunk.phonemes, self._style(request, chunk), self._speed(request, chunk))
        if self.batcher is not None:  # with the next chunks of the other jobs in progress
            wave, frames = self.batcher.speak(request.model, item)
        else:
            (wave, frames), = self._speak_together(request.model, [item])
        return spoken(index, chunk, wave, request.speed, self._check(request, index, chunk), frames, kmodel.vocab)

    def _speak_together(self, model: str, items: list[tuple[str, torch.Tensor, float]],
                        ready: Callable[[int, Any], None] | None = None) -> list:
        """(audio, frames per token) for each (phonemes, style, speed): one chunk at speed 1 by
        kokoro's own forward, anything else in one padded pass (durations that follow the speed)
        whose decoders, on a CPU, run row by row (batching.forward_batch says why). Also the
        batcher's pass over concurrent jobs' chunks (`ready`: a row's result as soon as it is made)."""
        kmodel = self.model(model)
        phonemes, styles, speeds = zip(*items)
        with fp.forward_pass(self.precision, self.device):
            if speeds == (1.0,):  # the style cloned here is an inference tensor, as a batch's rows are: a
                # compiled decoder's guards then take both paths for one (else it compiles twice)
                out = kmodel(phonemes[0], styles[0].clone(), 1.0, return_output=True)
                return [(out.audio, out.pred_dur)]
            return batching.forward_batch(kmodel, list(phonemes), torch.cat(styles), list(speeds), durations=True,
                                          rows_alone=self.device == "cpu", ready=ready)

    def _in_progress(self) -> contextlib.AbstractContextManager:
        """A job speaking chunks: batches wait for its next one (nothing without batching)."""
        return self.batcher.job() if self.batcher is not None else contextlib.nullcontext()

    def _check(self, request: SynthesisRequest, index: int, chunk: chunking.Chunk) -> str:
        """A note when the chunk's phonemes are too few for its text: the guard that catches a
        G2P dropping text in a way normalize does not know about yet."""
        code = self.catalog.languages[request.language].kokoro_code
        if not normalize.looks_truncated(chunk.text, chunk.phonemes, code):
            return ""
        log.warning("Chunk %d: %d phonemes for %r", index + 1, len(chunk.phonemes), chunk.text[:200])
        return (f"Note: chunk {index + 1} (\"{snippet(chunk.text)}\") got fewer phonemes than its "
                "text needs; part of it may not have been spoken.")

    def _style(self, request: SynthesisRequest, chunk: chunking.Chunk) -> torch.Tensor:
        # A pack row is the style for an utterance of that many phonemes (kokoro's own rule).
        return self.voice_pack(request)[len(chunk.phonemes) - 1]

    @staticmethod
    def _speed(request: SynthesisRequest, chunk: chunking.Chunk) -> float:
        if request.model == "v1.1-zh" and request.language == "zh":
            return request.speed * zh_v11_speed(len(chunk.phonemes))
        return request.speed

    def stream(self, request: SynthesisRequest,
               chunks: list[chunking.Chunk] | None = None) -> Iterator[SpokenChunk]:
        """Speak chunk by chunk as G2P reaches it: the first audio comes after one chunk's work.
        A caller that already planned the chunks (to show "i of n") passes them in."""
        any_chunk = False
        # Two chunks of G2P ahead at most: the first audio still needs only one sentence of G2P.
        planned = chunks if chunks is not None else chunking.Ahead(self.plan(request), depth=2)
        try:
            with self._in_progress():
                for index, chunk in enumerate(planned):
                    any_chunk = True
                    piece = self._speak(request, index, chunk)
                    total = planned.total if isinstance(planned, chunking.Ahead) else len(planned)
                    yield replace(piece, total=total)
        finally:
            if isinstance(planned, chunking.Ahead):
                planned.close()
            memory.release()
        if not any_chunk:
            raise nothing_to_speak()

    def synthesize(self, request: SynthesisRequest, on_progress: Progress | None = None) -> Synthesis:
        """The whole text as one clip; progress says "i of n" (n: None until G2P is done)."""
        started = time.perf_counter()
        chunks = chunking.Ahead(self.plan(request))  # G2P of later chunks overlaps the model
        pieces: list[SpokenChunk] = []
        try:
            with self._in_progress():
                for index, chunk in enumerate(chunks):
                    pieces.append(self._speak(request, index, chunk))
                    if on_progress:  # total: None until G2P has reached the end (usually by chunk 1)
                        on_progress(index + 1, chunks.total)
        finally:
            chunks.close()
            memory.release()
        return finish(request, pieces, time.perf_counter() - started)

    def synthesize_many(self, requests: list[SynthesisRequest]) -> list[Synthesis]:
        """One text in many voices (audition, A/B): G2P once, then each chunk in every voice in one
        padded forward pass (worker.model.batching). The requests must share text, language, model and
        sentence splitting; speeds and voices may differ. Same audio as synthesize, one by one."""
        first = requests[0]
        if len({shared_text(r) for r in requests}) > 1:
            raise ValueError("synthesize_many takes requests that differ only in voice and speed")
        started = time.perf_counter()
        chunks = list(self.plan(first))
        if not chunks:
            raise nothing_to_speak()
        kmodel = self.model(first.model)
        pieces: list[list[SpokenChunk]] = [[] for _ in requests]
        for index, chunk in enumerate(chunks):
            if not chunk.phonemes:  # a pause at the end of the text: silence in every voice
                for voice_pieces in pieces:
                    voice_pieces.append(silence(index, chunk))
                continue
            note = self._check(first, index, chunk)  # same text and language for every voice
            for lo in range(0, len(requests), BATCH_MAX):
                group = requests[lo:lo + BATCH_MAX]
                styles = torch.cat([self._style(r, chunk) for r in group])
                with fp.forward_pass(self.precision, self.device):
                    waves = batching.forward_many(kmodel, chunk.phonemes, styles, [self._speed(r, chunk) for r in group],
                                                  durations=True, rows_alone=self.device == "cpu")
                for offset, (wave, frames) in enumerate(waves):
                    pieces[lo + offset].append(spoken(index, chunk, wave, group[offset].speed, note,
                                                      frames, kmodel.vocab))
        memory.release()
        elapsed = (time.perf_counter() - started) / len(requests)  # each voice's share
        return [finish(r, p, elapsed) for r, p in zip(requests, pieces)]


def shared_text(request: SynthesisRequest) -> tuple:
    """What requests must share to be spoken together by synthesize_many (one G2P, one batch)."""
    return request.text, request.language, request.model, request.split_sentences


BATCH_MAX = 16  # voices per forward pass: bounds the padded batch's memory on long chunks


def warm_up_text(sample: str) -> str:
    """A few words of the language's sample: enough to start G2P and run every layer once. A
    whole sentence costs seconds on a CPU and teaches the start-up nothing more."""
    words = sample.split()
    return " ".join(words[:3]) if len(words) > 1 else sample[:6]
