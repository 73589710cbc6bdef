"""The studio on a machine without ffmpeg: the bundled ffmpeg and the probe stand in, and Gradio's own
audio component serves every format we write through them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from worker.sound import audio


@pytest.fixture
def bare_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # a private folder of this test's own
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert shutil.which("ffmpeg") is None and shutil.which("ffprobe") is None


@pytest.mark.parametrize("fmt, codec", [("wav", "pcm_s16le"), ("flac", "flac"), ("mp3", "mp3"), ("ogg", "opus")])
def test_the_probe_reads_each_format_we_write(bare_path, tmp_path, fmt, codec):
    import json

    from ui.ffmpeg_path import ensure_ffmpeg

    assert ensure_ffmpeg() is not None
    clip = tmp_path / f"clip.{fmt}"
    clip.write_bytes(audio.encode(np.zeros(4800, dtype=np.float32), fmt))
    done = subprocess.run(["ffprobe", "-show_format", "-show_streams", "-select_streams", "a",
                           "-print_format", "json", str(clip)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["streams"][0]["codec_name"] == codec
    text = tmp_path / "not-audio.txt"
    text.write_text("hello")
    assert subprocess.run(["ffprobe", str(text)], capture_output=True, timeout=60).returncode == 1


def test_gradio_serves_a_player_file_without_a_system_ffmpeg(bare_path, tmp_path):
    # What failed before: gr.Audio's postprocess asks ffprobe whether a file plays in a browser.
    import gradio as gr

    from ui.ffmpeg_path import ensure_ffmpeg

    ensure_ffmpeg()
    clip = tmp_path / "A.wav"
    clip.write_bytes(audio.encode(np.zeros(4800, dtype=np.float32), "wav"))
    served = gr.Audio(type="filepath").postprocess(str(clip))
    assert served is not None and served.path.endswith(".wav")
