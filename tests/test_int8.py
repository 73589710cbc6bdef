"""KOKORO_PRECISION=int8 (worker/model/int8.py) on the stand-in weights: the decoder runs in ONNX
Runtime with int8 convolutions, built once per weights file; everything before it is fp32 torch, so
the durations (and the length of every chunk, at any speed) are fp32's. What a listener hears is
judged on the real weights (tests/test_real_weights.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from worker.model import int8
from worker.model.engine import Engine
from worker.service.request import parse_request

TEXT = "The first sentence is short. The second one, read at its own pace, is a little longer."


@pytest.fixture(scope="module")
def routes(standin_hf_home, catalog):
    return Engine(catalog, precision="fp32"), Engine(catalog, precision="int8")


def _loudness(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))


@pytest.mark.parametrize("speed", [1.0, 1.3])
def test_int8_keeps_fp32s_durations_and_level(routes, catalog, speed):
    fp32, quantised = routes
    assert isinstance(quantised.model("v1.0").decoder, int8.OnnxDecoder)
    request = parse_request({"text": TEXT, "voice": "af_heart", "speed": speed}, catalog)
    for chunk in fp32.plan(request):
        item = (chunk.phonemes, fp32._style(request, chunk), speed)
        (expected, frames), = fp32._speak_together("v1.0", [item])
        (got, got_frames), = quantised._speak_together("v1.0", [item])
        assert np.array_equal(got_frames.numpy(), frames.numpy())  # the predictor is fp32's
        assert got.shape == expected.shape  # so every chunk lasts exactly as long
        assert abs(_loudness(got.numpy()) / _loudness(expected.numpy()) - 1) < 0.25


def test_audition_batches_and_word_timings_work_on_int8(routes, catalog):
    fp32, quantised = routes
    requests = [parse_request({"text": "Hello there.", "voice": v, "timestamps": True}, catalog)
                for v in ("af_heart", "am_michael")]
    together = quantised.synthesize_many(requests)  # the padded pass hands the decoder one row at a time
    for request, result in zip(requests, together):
        alone = fp32.synthesize(request)
        assert len(result.audio) == len(alone.audio)
        assert [w.text for w in result.result.words] == [w.text for w in alone.result.words]


def test_the_int8_decoder_is_built_once_and_then_loaded(routes, catalog, monkeypatch):
    from worker.model import hub

    home = hub.beside_cache("kokoro-int8", routes[1].cache_dir)
    assert list(home.glob("decoder-*.int8.onnx")), f"no int8 decoder under {home}"
    monkeypatch.setattr(int8, "_build", lambda *a, **k: pytest.fail("rebuilt although it was there"))
    again = Engine(catalog, precision="int8")
    assert isinstance(again.model("v1.0").decoder, int8.OnnxDecoder)


def test_a_read_only_cache_uses_the_temp_folder(routes, monkeypatch, tmp_path):
    """A baked, read-only HF cache: the int8 decoder is found (or built) in the temp folder instead."""
    import shutil
    import tempfile

    from worker.model import hub

    built = next(hub.beside_cache("kokoro-int8", routes[1].cache_dir).glob("decoder-*.int8.onnx"))
    (tmp_path / "kokoro-int8").mkdir()
    shutil.copy(built, tmp_path / "kokoro-int8" / built.name)
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(int8, "_build", lambda *a, **k: pytest.fail("rebuilt although the temp folder had it"))
    fp32 = routes[0]
    config, weights = fp32.locate("v1.0")
    unwritable = Path("/proc/kokoro-int8")  # mkdir fails there, even as root
    loaded = int8.decoder(fp32.model("v1.0"), config, weights, [], unwritable)
    assert isinstance(loaded, int8.OnnxDecoder)
