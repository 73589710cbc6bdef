"""Audio helpers: pace chunk audio (trim the model's own edge silence, put back a pause chosen
by the text), join it without clicks, and encode it to a file format.

Kokoro pads every utterance with silence (about 0.3 s before and 0.7 s after), so joining chunks
as they come made every chunk join a second-long hole while a sentence end inside one chunk is
about half that: the same text sounded halting or not depending on how it was chunked. Each chunk
is therefore trimmed to its speech and preceded by `PAUSE_S[break]`, the pause its text asks for.

soundfile (libsndfile) writes WAV, FLAC, MP3, Ogg/Opus and raw PCM itself, so no ffmpeg is needed.
"""

from __future__ import annotations

import io
from typing import NamedTuple

import numpy as np
import soundfile as sf

SAMPLE_RATE = 24_000
FADE_S = 0.005  # long enough to hide a step at a chunk edge, far too short to hear as a fade

# The pause before a chunk at speed 1, by the break the text makes there (chunking.BREAKS); the
# trim keeps TRIM_KEEP_S of the model's own silence on top (0.12 s in all).
PAUSE_S = {"": 0.0, "word": 0.0, "clause": 0.15, "sentence": 0.33, "paragraph": 0.7}
TRIM_FRAME_S = 0.01
TRIM_DB = 40.0  # a frame this far below the chunk's loudest frame counts as silence
TRIM_KEEP_S = (0.04, 0.08)  # silence kept before / after the speech: onsets and tails are quiet

# format -> (soundfile container, subtype, MIME type)
_FORMATS = {
    "wav": ("WAV", "PCM_16", "audio/wav"),
    "flac": ("FLAC", "PCM_16", "audio/flac"),
    "mp3": ("MP3", "MPEG_LAYER_III", "audio/mpeg"),
    "ogg": ("OGG", "OPUS", "audio/ogg"),
    "pcm": ("RAW", "PCM_16", "audio/pcm"),  # raw 16-bit little-endian samples, no header
}


def mime_type(fmt: str) -> str:
    return _FORMATS[fmt][2]


def soundfile_format(fmt: str) -> tuple[str, str]:
    """(container, subtype) of `fmt` for soundfile."""
    return _FORMATS[fmt][:2]


def smooth_edges(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Fade a chunk in and out over a few ms so that joining chunks makes no click."""
    audio = np.asarray(audio, dtype=np.float32).copy()
    n = min(int(FADE_S * sample_rate), len(audio) // 2)
    if n > 0:
        ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n, dtype=np.float32)))
        audio[:n] *= ramp
        audio[-n:] *= ramp[::-1]
    return audio


def speech_bounds(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> tuple[int, int]:
    """(start, end) sample indices of the speech in `audio`, edge silence excluded but
    TRIM_KEEP_S of it kept on each side. The whole clip when nothing stands out."""
    frame = max(1, int(TRIM_FRAME_S * sample_rate))
    n = len(audio) // frame
    if n == 0:
        return 0, len(audio)
    rms = np.sqrt(np.mean(np.square(audio[:n * frame].reshape(n, frame), dtype=np.float64), axis=1))
    loud = np.flatnonzero(rms > rms.max() * 10 ** (-TRIM_DB / 20))
    if rms.max() == 0 or len(loud) == 0:
        return 0, len(audio)
    start = max(0, loud[0] * frame - int(TRIM_KEEP_S[0] * sample_rate))
    end = min(len(audio), (loud[-1] + 1) * frame + int(TRIM_KEEP_S[1] * sample_rate))
    return start, end


class Paced(NamedTuple):
    audio: np.ndarray  # the pause, then the trimmed speech
    pause_s: float  # the pause at its start
    trimmed_s: float  # model audio cut from the speech's start: word times shift by it


def paced(audio: np.ndarray, break_before: str, speed: float = 1.0, extra_pause_s: float = 0.0,
          sample_rate: int = SAMPLE_RATE) -> Paced:
    """A chunk ready to be appended: its speech trimmed of the model's edge silence, faded at the
    edges, after the pause its break asks for (shorter when reading faster) and any explicit pause
    the text asked for ([pause:1s], not scaled: the user gave its length)."""
    start, end = speech_bounds(audio, sample_rate)
    pause_s = PAUSE_S[break_before] / speed + extra_pause_s
    pause = np.zeros(int(round(pause_s * sample_rate)), dtype=np.float32)
    return Paced(np.concatenate([pause, smooth_edges(audio[start:end], sample_rate)]), pause_s,
                 start / sample_rate)


def join(chunks: list[np.ndarray]) -> np.ndarray:
    """The paced chunks (each already holding the pause before it) one after another."""
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate([np.asarray(chunk, dtype=np.float32) for chunk in chunks])


def encode(audio: np.ndarray, fmt: str = "wav", sample_rate: int = SAMPLE_RATE) -> bytes:
    """The audio as a complete file in `fmt` (wav, flac, mp3, ogg/opus or raw pcm), mono."""
    container, subtype = soundfile_format(fmt)
    data = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    buf = io.BytesIO()
    sf.write(buf, data, sample_rate, format=container, subtype=subtype)
    return buf.getvalue()
