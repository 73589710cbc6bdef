"""Audio helpers: join chunk audio without clicks, and encode it to a file format.

soundfile (libsndfile) writes WAV, FLAC, MP3 and Ogg/Opus itself, so no ffmpeg is needed.
"""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

SAMPLE_RATE = 24_000
FADE_S = 0.005  # long enough to hide a step at a chunk edge, far too short to hear as a fade
GAP_S = 0.05  # a breath between chunks; chunks end on sentence or clause boundaries

# format -> (soundfile container, subtype, MIME type)
_FORMATS = {
    "wav": ("WAV", "PCM_16", "audio/wav"),
    "flac": ("FLAC", "PCM_16", "audio/flac"),
    "mp3": ("MP3", "MPEG_LAYER_III", "audio/mpeg"),
    "ogg": ("OGG", "OPUS", "audio/ogg"),
}


def mime_type(fmt: str) -> str:
    return _FORMATS[fmt][2]


def smooth_edges(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Fade a chunk in and out over a few ms so that joining chunks makes no click."""
    audio = np.asarray(audio, dtype=np.float32).copy()
    n = min(int(FADE_S * sample_rate), len(audio) // 2)
    if n > 0:
        ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n, dtype=np.float32)))
        audio[:n] *= ramp
        audio[-n:] *= ramp[::-1]
    return audio


def join(chunks: list[np.ndarray], sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Concatenate already-smoothed chunks with a short silence between them."""
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    gap = np.zeros(int(GAP_S * sample_rate), dtype=np.float32)
    parts: list[np.ndarray] = []
    for i, chunk in enumerate(chunks):
        if i:
            parts.append(gap)
        parts.append(np.asarray(chunk, dtype=np.float32))
    return np.concatenate(parts)


def encode(audio: np.ndarray, fmt: str = "wav", sample_rate: int = SAMPLE_RATE) -> bytes:
    """The audio as a complete file in `fmt` (wav, flac, mp3 or ogg/opus), mono."""
    container, subtype, _ = _FORMATS[fmt]
    data = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    buf = io.BytesIO()
    sf.write(buf, data, sample_rate, format=container, subtype=subtype)
    return buf.getvalue()
