"""The files of a blind A/B round: two clips that only listening can tell apart.

The clip cache hands out the same bytes for a voice every time, and Gradio names a served file's
folder by a hash of its bytes, so a cached clip served as-is would match the file of any open round
or audition of that voice. Here both clips are padded with silence to one common length (a little
more than the longer one, by a random amount, the speech placed after a random lead-in) and get a
fresh ±1 LSB dither, inaudible at 16 bits: the two files have the same size, the same duration to
the sample, the same name pattern, and bytes no other file has.

Both play at one loudness (ui/studio/loudness.py): a louder clip is not a better voice.

Not defeated (README, "Blind clips"): Kokoro is deterministic, so a rater who synthesizes the text
with each candidate and correlates the waveforms names the voice (real weights: 0.99 for the right
voice against at most 0.11). Changes no listener hears were measured and fall short: a random
±0.5-1 % resample, random all-pass filters, a slow random time warp of ±2-4 ms, alone or together,
leave the right voice at 0.2-0.5 and it still stands out every time (voiced speech is periodic,
so a waveform shifted by whole pitch periods still matches). Blind votes assume raters who listen.
"""

from __future__ import annotations

import io
import random

import numpy as np
import soundfile as sf

from ui.studio import loudness
from worker.sound import audio

EXTRA_S = (0.05, 0.25)  # silence added past the longer clip
LEAD_S = 0.03  # at most this much silence before the speech
LSB = 1.0 / 32768.0


def disguise(a: bytes, b: bytes, rng: random.Random) -> tuple[bytes, bytes]:
    """Two WAV files in, two WAV files of equal length and fresh bytes out (same order)."""
    rate = audio.SAMPLE_RATE
    clips = [sf.read(io.BytesIO(data), dtype="float32")[0] for data in (a, b)]
    lead = int(LEAD_S * rate)
    length = max(len(c) for c in clips) + lead + rng.randint(int(EXTRA_S[0] * rate), int(EXTRA_S[1] * rate))
    padded = []
    for clip in clips:
        room = np.zeros(length, dtype=np.float32)
        start = rng.randint(0, lead)
        room[start:start + len(clip)] = clip
        padded.append(room)
    # Matched as served: BS.1770's 400 ms blocks that reach into the added silence count too, so a
    # clip measured before padding would land up to half a unit off in the file a listener gets.
    noise = np.random.default_rng(rng.getrandbits(64))
    out = []
    for clip in loudness.matched(padded, rate):
        # Triangular dither of one 16-bit step: every sample's last bit is new, nothing is audible.
        clip = clip + (noise.random(length) - noise.random(length)).astype(np.float32) * LSB
        out.append(audio.encode(clip, "wav"))
    return out[0], out[1]
