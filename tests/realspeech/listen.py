"""Hearing what the engine said: an offline Whisper, and the error rates a transcript is judged by.

- `Recogniser` runs Whisper base (CTranslate2, from two packages on the index) through
  faster-whisper on the CPU, language forced, beam 5, with word timestamps.
- English is compared word by word (WER) after lower-casing and dropping punctuation.
- Japanese is compared on katakana *readings* (fugashi + unidic-lite), character by character
  (CER), so Whisper writing 橋 where the text has はし is not counted as an error.
- `per_sentence` aligns one transcript of a long text to each of its sentences, so a test can say
  which sentence was not heard rather than only an average.
"""

from __future__ import annotations

import functools
import io
import os
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import soundfile as sf

SAMPLE_RATE = 24_000


@dataclass(frozen=True)
class Word:
    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Heard:
    text: str
    words: tuple[Word, ...]


class Recogniser:
    """Whisper base on the CPU (int8), language forced: what a listener would write down."""

    def __init__(self, model_dir: str | os.PathLike):
        from faster_whisper import WhisperModel

        self._model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=2)

    def hear(self, audio: np.ndarray, language: str, sample_rate: int = SAMPLE_RATE) -> Heard:
        """Transcribe float samples (faster-whisper resamples them to its 16 kHz)."""
        wav = io.BytesIO()
        sf.write(wav, np.asarray(audio, dtype=np.float32), sample_rate, format="WAV", subtype="FLOAT")
        wav.seek(0)
        # No VAD filter: a dropped silence would shift the word times we compare against.
        segments, _ = self._model.transcribe(wav, language=language[:2], beam_size=5,
                                             word_timestamps=True, condition_on_previous_text=False)
        words: list[Word] = []
        texts: list[str] = []
        for segment in segments:
            texts.append(segment.text)
            words += [Word(w.word.strip(), w.start, w.end) for w in segment.words or ()]
        return Heard("".join(texts).strip(), tuple(words))


# --- normalisation ------------------------------------------------------------------------------

_NOT_WORD = re.compile(r"[^\w\s']|_")
_CURRENCY = {"$": ("dollars", "cents"), "€": ("euros", "cents"), "£": ("pounds", "pence")}


def _number(text: str, to: str = "cardinal") -> str:
    from num2words import num2words

    # "two hundred and thirty-four" and "two hundred thirty-four" are the same number heard.
    return " " + num2words(text, to=to).replace(" and ", " ").replace(",", "") + " "


def _money(match: re.Match) -> str:
    major, minor = _CURRENCY[match.group(1)]
    said = f"{_number(match.group(2))} {major}"
    return said + (f" and {_number(match.group(3))} {minor}" if match.group(3) and int(match.group(3)) else "")


def spoken_english(text: str) -> str:
    """Written English as it is said, so "$5.50", "5 dollars 50 cents" and "five dollars and fifty
    cents" compare equal: Whisper writes numbers, money and times in digits, the text may not."""
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # 1,234 -> 1234
    text = re.sub(r"([$€£])\s?(\d+)(?:\.(\d\d))?", _money, text)
    text = re.sub(r"\b(\d{1,2})[:.](\d\d)\s?([ap])\.?\s?m\b\.?", r"\1 \2 \3m", text)  # 3:30 p.m.
    text = re.sub(r"\b([ap])\.m\.", r"\1m", text)
    text = re.sub(r"\bdr\.", "doctor", text)
    text = re.sub(r"\b(\d+)(?:st|nd|rd|th)\b", lambda m: _number(m.group(1), "ordinal"), text)
    return re.sub(r"\d+(?:\.\d+)?", lambda m: _number(m.group()), text)


def english_words(text: str) -> list[str]:
    """Lower-case spoken words without punctuation ("Hello, world!" -> ["hello", "world"])."""
    text = spoken_english(text).replace("-", " ")  # "well-known" and "well known" sound the same
    return [w.strip("'") for w in _NOT_WORD.sub(" ", text).split() if w.strip("'")]


@functools.lru_cache(maxsize=1)
def _tagger():
    import fugashi
    import unidic_lite

    return fugashi.Tagger(f'-d "{unidic_lite.DICDIR}" -r "{unidic_lite.DICDIR}/mecabrc"')


def _katakana(text: str) -> str:
    return "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" else c for c in text)


def japanese_reading(text: str) -> str:
    """The katakana reading of Japanese text, punctuation and spaces dropped."""
    text = unicodedata.normalize("NFKC", text)
    out: list[str] = []
    for token in _tagger()(text):
        surface = token.surface
        if all(unicodedata.category(c)[0] in "PSZ" for c in surface):
            continue
        kana = getattr(token.feature, "kana", None)
        # The reading's ー-marks and small variants differ between spellings of one sound.
        out.append(_katakana(kana if kana and kana != "*" else surface))
    return "".join(out).replace("ー", "")


# --- error rates --------------------------------------------------------------------------------

def units(text: str, language: str) -> list[str]:
    """What an error rate counts: words for alphabetic scripts, reading characters for Japanese,
    characters for Chinese."""
    if language == "ja":
        return list(japanese_reading(text))
    if language.startswith("zh"):
        return [c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c)[0] not in "PSZ"]
    return english_words(text)


def error_rate(reference: str, heard: str, language: str) -> float:
    """Edit distance over `units`, divided by the reference's length (WER, or CER on readings)."""
    from rapidfuzz.distance import Levenshtein

    ref, hyp = units(reference, language), units(heard, language)
    return Levenshtein.distance(ref, hyp) / max(1, len(ref))


def per_sentence(sentences: list[str], heard: str, language: str) -> list[float]:
    """Each reference sentence's own error rate inside one transcript of the whole text: the
    transcript is aligned to the concatenated reference and each edit charged to the sentence
    whose units it touches (an insertion to the sentence it follows)."""
    from rapidfuzz.distance import Levenshtein

    spans, ref = [], []
    for sentence in sentences:
        u = units(sentence, language)
        spans.append((len(ref), len(ref) + len(u)))
        ref += u
    hyp = units(heard, language)
    owner = np.zeros(len(ref) + 1, dtype=int)
    for index, (lo, hi) in enumerate(spans):
        owner[lo:hi + 1] = index
    errors = np.zeros(len(sentences))
    for op in Levenshtein.editops(ref, hyp):
        # A deletion or substitution touches ref[src_pos]; an insertion sits before it.
        pos = op.src_pos if op.tag != "insert" else max(0, op.src_pos - 1)
        errors[owner[min(pos, len(ref))]] += 1
    return [float(e / max(1, hi - lo)) for e, (lo, hi) in zip(errors, spans)]
