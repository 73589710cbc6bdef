import io

import numpy as np
import pytest
import soundfile as sf

from worker.sound.audio import (
    PAUSE_S,
    SAMPLE_RATE,
    TRIM_KEEP_S,
    encode,
    join,
    paced,
    smooth_edges,
    speech_bounds,
)


@pytest.mark.parametrize("fmt, container", [("wav", "WAV"), ("flac", "FLAC"), ("mp3", "MP3"), ("ogg", "OGG")])
def test_every_format_decodes_back(fmt, container):
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = 0.3 * np.sin(2 * np.pi * 220 * t).astype(np.float32)
    data = encode(tone, fmt)
    info = sf.info(io.BytesIO(data))
    assert info.format == container and info.channels == 1
    decoded, rate = sf.read(io.BytesIO(data), dtype="float32")
    assert abs(len(decoded) / rate - 1.0) < 0.1
    if fmt == "wav":
        assert info.subtype == "PCM_16" and rate == SAMPLE_RATE


def test_joins_make_no_click():
    # Two chunks that end and start far from zero would click when butted together raw.
    a = np.full(2400, 0.8, dtype=np.float32)
    b = np.full(2400, -0.8, dtype=np.float32)
    raw_jump = abs(float(b[0] - a[-1]))
    joined = join([smooth_edges(a), smooth_edges(b)])
    jumps = np.abs(np.diff(joined))
    assert raw_jump > 1.5
    assert jumps.max() < 0.05  # the fades turn the step into a ramp
    assert joined[0] == 0 and joined[-1] == 0


def test_smoothing_keeps_length_and_the_middle():
    a = np.ones(4800, dtype=np.float32)
    s = smooth_edges(a)
    assert len(s) == len(a) and s[2400] == 1.0 and s[0] == 0.0


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.5 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)


def test_edge_silence_is_trimmed_to_a_short_margin():
    rng = np.random.default_rng(0)
    hiss = lambda s: (1e-4 * rng.standard_normal(int(s * SAMPLE_RATE))).astype(np.float32)  # noqa: E731
    clip = np.concatenate([hiss(0.3), _tone(1.0), hiss(0.7)])
    start, end = speech_bounds(clip)
    assert abs(start / SAMPLE_RATE - (0.3 - TRIM_KEEP_S[0])) < 0.011
    assert abs(end / SAMPLE_RATE - (1.3 + TRIM_KEEP_S[1])) < 0.011


def test_silent_or_empty_clips_are_left_whole():
    assert speech_bounds(np.zeros(4800, dtype=np.float32)) == (0, 4800)
    assert speech_bounds(np.zeros(10, dtype=np.float32)) == (0, 10)


@pytest.mark.parametrize("kind", list(PAUSE_S))
def test_paced_chunk_starts_with_the_pause_its_break_asks_for(kind):
    clip = np.concatenate([np.zeros(7200, dtype=np.float32), _tone(0.5), np.zeros(16800, dtype=np.float32)])
    out, pause_s, _ = paced(clip, kind)
    assert pause_s == PAUSE_S[kind]
    lead = int(round(pause_s * SAMPLE_RATE)) + int(TRIM_KEEP_S[0] * SAMPLE_RATE)
    assert np.all(out[:lead] == 0) and np.abs(out[lead:lead + 480]).max() > 0.1
    assert len(out) == lead + int(0.5 * SAMPLE_RATE) + int(TRIM_KEEP_S[1] * SAMPLE_RATE)
