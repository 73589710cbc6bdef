"""Clips that are compared play at one loudness: ITU-R BS.1770 integrated loudness (pyloudnorm),
EBU R128's -23 LUFS, with a true-peak ceiling of -1 dBTP.

Listeners prefer the louder of two clips at half a loudness unit's difference, and Kokoro's voices
differ by more than that (the five real voices we can hear: 1.0-1.3 LU), so an unmatched A/B vote
measures level as much as voice. -23 LUFS leaves speech's peaks well below full scale; where a
clip's true peak would still pass the ceiling, every clip of the set is lowered together, so they
stay matched (`matched`). A clip measured on its own (Audition) gets the most gain the ceiling allows.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pyloudnorm
import soundfile as sf
from scipy.signal import resample_poly

from worker.sound import audio

TARGET_LUFS = -23.0
# Generate's download: the model's own level unless the user picks one (label → LUFS).
DOWNLOAD_LEVELS = {"As the model made it": None, "-16 LUFS (podcasts, the web)": -16.0,
                   "-23 LUFS (EBU R128, broadcast)": -23.0}
CEILING_DBTP = -1.0
_BLOCK_S = 0.4  # BS.1770's gating block: a shorter clip is measured as one block


def loudness(samples: np.ndarray, rate: int) -> float:
    """Integrated loudness in LUFS; -inf for silence."""
    samples = np.asarray(samples, dtype=np.float64)
    if len(samples) < int(_BLOCK_S * rate):
        samples = np.pad(samples, (0, int(_BLOCK_S * rate) - len(samples)))
    if not np.any(samples):
        return -math.inf
    return float(pyloudnorm.Meter(rate).integrated_loudness(samples))


def true_peak_db(samples: np.ndarray) -> float:
    """The true peak (4× oversampled, as BS.1770 annex 2) in dBTP; -inf for silence."""
    peak = float(np.max(np.abs(resample_poly(np.asarray(samples, dtype=np.float64), 4, 1)), initial=0.0))
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def matched(clips: list[np.ndarray], rate: int, target: float = TARGET_LUFS,
            ceiling: float = CEILING_DBTP) -> list[np.ndarray]:
    """The clips at one integrated loudness: `target`, or lower for all of them where one would
    pass the true-peak ceiling. Silent clips stay silent."""
    levels = [loudness(c, rate) for c in clips]
    headroom = [ceiling - true_peak_db(c) + lv for c, lv in zip(clips, levels) if math.isfinite(lv)]
    common = min([target, *headroom])  # the loudness every clip can reach without passing the ceiling
    return [np.asarray(c * 10 ** ((common - lv) / 20), dtype=np.float32) if math.isfinite(lv)
            else np.asarray(c, dtype=np.float32) for c, lv in zip(clips, levels)]


def leveled_wav(data: bytes) -> bytes:
    """A WAV clip at the common loudness (the cache keeps the model's own; this is what is played)."""
    return leveled_file(data, "wav", TARGET_LUFS)


def leveled_file(data: bytes, fmt: str, target: float) -> bytes:
    """A finished file (wav, flac, mp3, ogg) at `target` LUFS, true peak at most -1 dBTP, in its own
    format (a lossy file is encoded once more)."""
    samples, rate = sf.read(io.BytesIO(data), dtype="float32")
    return audio.encode(matched([samples], rate, target)[0], fmt, rate)
