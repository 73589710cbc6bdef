"""Assertions for the real-speech tests: what the recogniser heard, against what was asked."""

from __future__ import annotations

import base64
import io
import json
import os

import numpy as np
import soundfile as sf

from tests.realspeech.listen import Heard, Recogniser, error_rate

# REALSPEECH_REPORT=file.jsonl: every check appends what was heard and its error rate (the
# figures quoted beside the limits in the tests and the README come from such a run).
REPORT = os.environ.get("REALSPEECH_REPORT")

# Short sentences (up to ~12 words or ~20 kana) were heard without a single error on every path
# we measured (WER/CER 0.0); one misheard word of ten, or two kana of twenty, fails.
SHORT_LIMIT = {"en": 0.12, "ja": 0.1}


def decode(output: dict) -> tuple[np.ndarray, int]:
    """The audio of a worker output (any of its formats), decoded with libsndfile."""
    return sf.read(io.BytesIO(base64.b64decode(output["audio_base64"])), dtype="float32")


def assert_heard(recogniser: Recogniser, audio: np.ndarray, text: str, language: str,
                 limit: float | None = None, sample_rate: int = 24_000) -> Heard:
    """The recogniser hears `text` in `audio` within `limit` (WER for English, CER on readings
    for Japanese)."""
    heard = recogniser.hear(audio, language, sample_rate)
    rate = error_rate(text, heard.text, language)
    bound = SHORT_LIMIT[language] if limit is None else limit
    if REPORT:
        with open(REPORT, "a", encoding="utf-8") as out:
            out.write(json.dumps({"test": os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0],
                                  "language": language, "error": round(rate, 4), "limit": bound,
                                  "heard": heard.text, "text": text}, ensure_ascii=False) + "\n")
    assert rate <= bound, f"heard {heard.text!r} for {text!r}: error {rate:.3f} > {bound}"
    return heard


def silence_around(audio: np.ndarray, at: int, reference: float | None = None, db: float = 40.0,
                   sample_rate: int = 24_000) -> float:
    """Seconds of the silent stretch holding sample `at`: 10 ms frames quieter by `db` than
    `reference` (an RMS; default the clip's loudest frame). 0 when `at` is in sound."""
    frame = sample_rate // 100
    n = len(audio) // frame
    rms = np.sqrt(np.mean(np.square(audio[:n * frame].reshape(n, frame)), axis=1))
    quiet = rms < (rms.max() if reference is None else reference) * 10 ** (-db / 20)
    i = min(at // frame, n - 1)
    if not quiet[i]:
        return 0.0
    lo, hi = i, i
    while lo > 0 and quiet[lo - 1]:
        lo -= 1
    while hi < n - 1 and quiet[hi + 1]:
        hi += 1
    return (hi - lo + 1) / 100


def _loudest_frame(audio: np.ndarray, frame: int = 240) -> float:
    n = len(audio) // frame
    return float(np.sqrt(np.mean(np.square(audio[:n * frame].reshape(n, frame)), axis=1)).max())


def join_silences(result) -> list[float]:
    """The silence heard at each chunk join of a Synthesis, judged against the loudness of the two
    chunks it joins (Kokoro's level varies from chunk to chunk; a quiet sentence's soft edges are
    not a pause). A join lies inside the pause that starts each later chunk: probed 50 ms in."""
    bounds = np.cumsum([0] + [round(c.duration_s * 24_000) for c in result.result.chunks])
    silences = []
    for i in range(1, len(result.result.chunks)):
        reference = _loudest_frame(result.audio[bounds[i - 1]:bounds[i + 1]])
        silences.append(silence_around(result.audio, int(bounds[i] + 0.05 * 24_000), reference))
    return silences
