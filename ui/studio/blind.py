"""The files of a blind A/B round: two clips that only listening can tell apart.

The clip cache hands out the same bytes for a voice every time, and Gradio names a served file's
folder by a hash of its bytes, so a cached clip served as-is would match the file of any open round
or audition of that voice. Here both clips are padded with silence to one common length (a little
more than the longer one, by a random amount, the speech placed after a random lead-in) and get a
fresh ±1 LSB dither, inaudible at 16 bits: the two files have the same size, the same duration to
the sample, the same name pattern, and bytes no other file has.
"""

from __future__ import annotations

import io
import random

import numpy as np
import soundfile as sf

from worker.sound import audio

EXTRA_S = (0.05, 0.25)  # silence added past the longer clip
LEAD_S = 0.03  # at most this much silence before the speech
LSB = 1.0 / 32768.0


def disguise(a: bytes, b: bytes, rng: random.Random) -> tuple[bytes, bytes]:
    """Two WAV files in, two WAV files of equal length and fresh bytes out (same order)."""
    clips = [sf.read(io.BytesIO(data), dtype="float32")[0] for data in (a, b)]
    rate = audio.SAMPLE_RATE
    lead = int(LEAD_S * rate)
    length = max(len(c) for c in clips) + lead + rng.randint(int(EXTRA_S[0] * rate), int(EXTRA_S[1] * rate))
    noise = np.random.default_rng(rng.getrandbits(64))
    out = []
    for clip in clips:
        padded = np.zeros(length, dtype=np.float32)
        start = rng.randint(0, lead)
        padded[start:start + len(clip)] = clip
        # Triangular dither of one 16-bit step: every sample's last bit is new, nothing is audible.
        padded += (noise.random(length) - noise.random(length)).astype(np.float32) * LSB
        out.append(audio.encode(padded, "wav"))
    return out[0], out[1]
