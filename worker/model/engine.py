"""The synthesis engine: SynthesisRequest -> G2P -> chunks -> Kokoro model -> 24 kHz mono audio.

One engine per process serves the RunPod handler and the UI's local mode alike. Models and voice
packs load through huggingface_hub's standard cache (so a baked image or HF_HUB_OFFLINE=1 works
unchanged), each once; both models may be resident; a request's voice decides its model.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace

import torch

from worker.core import settings
from worker.core.catalog import Catalog, default_catalog
from worker.core.errors import InputError, KokoroError, ModelUnavailableError, snippet
from worker.model import batcher, batching, hub, int8, memory
from worker.model import precision as fp
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
# Kokoro's own modules, built by KModel, warn at every start about choices that are theirs, not the
# user's (an LSTM's dropout with one layer; the older weight-norm API, folded away right after).
warnings.filterwarnings("ignore", "dropout option adds dropout after all but last recurrent layer", UserWarning)
warnings.filterwarnings("ignore", r"`torch\.nn\.utils\.weight_norm` is deprecated", FutureWarning)

Progress = Callable[[int, int | None], None]  # (chunks done, total or None while unknown)


def default_device() -> str:
    return settings.device()


def zh_v11_speed(n_phonemes: int) -> float:
    """The v1.1-zh model card's pacing: long Chinese utterances are read slightly slower."""
    if n_phonemes <= 83:
        factor = 1.0
    elif n_phonemes < 183:
        factor = 1.0 - (n_phonemes - 83) / 500
    else:
        factor = 0.8
    return factor * 1.1


class Engine:
    """Loads models and voices lazily and turns requests into audio. Thread-safe loading."""

    def __init__(self, catalog: Catalog | None = None, device: str | None = None,
                 cache_dir: str | os.PathLike | None = None, precision: str | None = None,
                 pronunciations: dict[str, dict[str, str]] | None = None, compile: bool | None = None,
                 batch_jobs: str | None = None):
        self.catalog = catalog or default_catalog()
        # {language: {word: phonemes}}: KOKORO_LEXICON unless given (worker/text/lexicon.py)
        self.lexicon = lexicon.configured() if pronunciations is None else pronunciations
        self.device = device or default_device()
        # fp32 or bf16 (KOKORO_PRECISION; `auto` picks bf16 only where the hardware has it).
        self.precision = fp.resolve(precision or settings.precision(), self.device)
        self.cache_dir = cache_dir  # a hub cache folder; None: huggingface_hub's own ($HF_HOME/hub)
        self.compile = settings.env_flag("KOKORO_COMPILE") if compile is None else compile
        # KOKORO_BATCH_JOBS: concurrent jobs' chunks share forward passes (worker/model/batcher.py)
        batches = batcher.wanted(batch_jobs or settings.batch_jobs(), self.device)
        self.batcher = batcher.Batcher(self._speak_together, limit=BATCH_MAX) if batches else None
        self._models: dict[str, torch.nn.Module] = {}
        self._packs: dict[str, torch.Tensor] = {}
        self._load_lock = threading.Lock()
        self._pack_lock = threading.Lock()  # two jobs asking for one new voice load it once

    # --- loading ----------------------------------------------------------------------------

    def _fetch(self, repo_id: str, filename: str, what: str) -> str:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

        try:  # the cache first: no network call at all when the file is there
            return hf_hub_download(repo_id=repo_id, filename=filename, cache_dir=self.cache_dir,
                                   local_files_only=True)
        except LocalEntryNotFoundError:
            pass
        missing = (f"{what} ({repo_id}/{filename}) is not in the Hugging Face cache "
                   f"({hub.cache_folder(self.cache_dir)})")
        # Without this check an unreachable hub costs ~25 s of retries before the same answer.
        if (reason := hub.unreachable()) is not None:
            raise ModelUnavailableError(f"{missing}, and {reason}. {hub.HOW_TO_FILL}") from None
        try:
            return hf_hub_download(repo_id=repo_id, filename=filename, cache_dir=self.cache_dir)
        except LocalEntryNotFoundError:
            raise ModelUnavailableError(f"{missing} and could not be downloaded. {hub.HOW_TO_FILL}") from None
        except HfHubHTTPError as exc:
            raise ModelUnavailableError(f"{what} ({repo_id}/{filename}) could not be fetched: "
                                        f"{exc.__class__.__name__}.") from None

    def locate(self, name: str) -> tuple[str, str]:
        """The cached config and weights files of a model; ModelUnavailableError if missing.
        Cheap (no loading): lets start-up fail at once on a missing model it would load later."""
        spec = self.catalog.models[name]
        what = f"Kokoro {name}"
        return (self._fetch(spec.repo_id, "config.json", f"{what} config"),
                self._fetch(spec.repo_id, spec.weights, f"{what} weights"))

    def model(self, name: str) -> torch.nn.Module:
        """The KModel for a catalog model name, loaded once (on this engine's device)."""
        if name in self._models:
            return self._models[name]
        with self._load_lock:
            if name not in self._models:
                from kokoro import KModel

                spec = self.catalog.models[name]
                what = f"Kokoro {name}"
                config, weights = self.locate(name)
                started = time.perf_counter()
                kmodel = KModel(repo_id=spec.repo_id, config=config, model=weights)
                folded = fp.fold_weight_norm(kmodel)  # the same weights, computed once
                if self.precision == "bf16":
                    fp.lstms_in_fp32(kmodel)  # the durations stay those of fp32
                kmodel = kmodel.to(self.device).eval()
                if self.precision == "int8":  # the decoder in ONNX Runtime, int8 (worker/model/int8.py)
                    kmodel.decoder = int8.decoder(kmodel, config, weights, self._calibration_packs(name),
                                                  hub.beside_cache("kokoro-int8", self.cache_dir))
                compiled = self.compile and self.precision != "int8" and fp.compile_generator(
                    kmodel, self.device, self.precision, "hˈɛlO", self._first_pack(name)[4])
                self._models[name] = kmodel
                log.info("Loaded %s on %s (%s%s, %d weight-normed layers folded) in %.1f s", what, self.device,
                         self.precision, ", compiled" if compiled else ", not compiled" if self.compile else "",
                         folded, time.perf_counter() - started)
        return self._models[name]

    def _pack(self, voice_id: str) -> torch.Tensor:
        if voice_id in self._packs:
            return self._packs[voice_id]
        with self._pack_lock:
            if voice_id not in self._packs:
                self._packs[voice_id] = self._load_pack(voice_id)
        return self._packs[voice_id]

    def _first_pack(self, model: str) -> torch.Tensor:
        """The pack of the model's first catalog voice (a style for a trial forward)."""
        return self._pack(next(v.id for v in self.catalog.voices if v.model == model))

    def _calibration_packs(self, model: str) -> list[torch.Tensor]:
        """Up to four of the model's first eight catalog voices that are in the cache."""
        packs = []
        for voice in [v for v in self.catalog.voices if v.model == model][:8]:
            with contextlib.suppress(ModelUnavailableError):
                packs.append(self._pack(voice.id))
        return packs[:4] or [self._first_pack(model)]

    def _load_pack(self, voice_id: str) -> torch.Tensor:
        voice = self.catalog.voice(voice_id)
        assert voice is not None, voice_id  # parse_request only lets catalog ids through
        repo = self.catalog.models[voice.model].repo_id
        path = self._fetch(repo, f"voices/{voice_id}.pt", f"Voice {voice_id}")
        return torch.load(path, map_location=self.device, weights_only=True)

    def voice_pack(self, request: SynthesisRequest) -> torch.Tensor:
        """The style pack [510, 1, 256] for the request's voice or weighted blend."""
        if len(request.voices) == 1:
            return self._pack(request.voices[0][0].id)
        # Blends are not cached: any weights are allowed, and mixing is cheap next to inference.
        return torch.stack([self._pack(v.id) * weight for v, weight in request.voices]).sum(dim=0)

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

    def _speak_together(self, model: str, items: list[tuple[str, torch.Tensor, float]]) -> list:
        """(audio, frames per token) for each (phonemes, style, speed): one chunk at speed 1 by
        kokoro's own forward, anything else in one padded pass (durations that follow the speed)."""
        kmodel = self.model(model)
        phonemes, styles, speeds = zip(*items)
        with torch.inference_mode(), fp.autocast(self.precision, self.device):
            if speeds == (1.0,):
                out = kmodel(phonemes[0], styles[0], 1.0, return_output=True)
                return [(out.audio, out.pred_dur)]
            return batching.forward_batch(kmodel, list(phonemes), torch.cat(styles), list(speeds), durations=True)

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
                with torch.inference_mode(), fp.autocast(self.precision, self.device):
                    waves = batching.forward_many(kmodel, chunk.phonemes, styles,
                                                  [self._speed(r, chunk) for r in group], durations=True)
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
