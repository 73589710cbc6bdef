import io

import numpy as np
import pytest
import soundfile as sf

from worker.audio import SAMPLE_RATE, encode, join, smooth_edges


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
