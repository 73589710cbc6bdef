"""What a finished synthesis says about itself, in words: one place for the worker's `message` and
the studio's API, so the two never drift apart."""

from __future__ import annotations

from typing import Protocol


class Spoken(Protocol):
    duration_s: float
    voice: str
    language: str
    model: str
    chunks: list
    notes: list[str]


def message(result: Spoken) -> str:
    """'Synthesized 1.90 s of audio with af_heart (en-us, Kokoro v1.0) in 1 chunk.' plus any notes."""
    n = len(result.chunks)
    parts = [f"Synthesized {result.duration_s:.2f} s of audio with {result.voice} ({result.language}, "
             f"Kokoro {result.model}) in {n} chunk{'s' if n != 1 else ''}."]
    return " ".join(parts + list(result.notes))
