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
