"""The RunPod worker on real speech: every way it makes audio, heard by an offline Whisper.

Real Kokoro v1.0 weights with the five real Japanese voices (af_heart is a copy of jf_alpha, so
the default voice is real too). Figures measured on a 2-core machine are beside each limit.
"""

import contextlib
import json
import math
import threading

import numpy as np
import pytest
import torch

from tests.conftest import worker_env
from tests.helpers_worker import local_api, run_test_input, runsync
from tests.realspeech.hearing import assert_heard, decode
from tests.realspeech.texts import EN_SHORT, JA_SHORT
from worker import handler as worker_handler
from worker.service import runtime
from worker.service.request import parse_request

pytestmark = pytest.mark.real_weights

RECORDER = str(__import__("pathlib").Path(__file__).parent / "fixtures" / "recording_handler.py")
EN_TWO = "The little boat drifted slowly across the quiet lake. Then the sun went down behind the hills."


@pytest.fixture
def real_handler(real_engine, monkeypatch):
    """The handler module, in this process, on the real weights."""
    monkeypatch.setattr(runtime, "_engine", real_engine)
    monkeypatch.setattr(worker_handler.runpod.serverless, "progress_update", lambda job, message: None)
    return worker_handler


def _real_env(real_hf_home, **extra: str) -> dict[str, str]:
    return worker_env(HF_HOME=str(real_hf_home), KOKORO_MODELS="v1.0", **extra)


@pytest.fixture(scope="module")
def worker_processes(request, real_hf_home, tmp_path_factory):
    """The two worker processes of the tests below, started together: the one-job `--test_input`
    run (in a thread: it is awaited, its output recorded) and the SDK's local API (warm-up
    included). Each start-up is mostly an import and a load of the real weights on one core; one
    after the other they took two. Yields {"test_input": (CompletedProcess, record), "local_api":
    url} for the tests this run selected."""
    selected = {item.originalname for item in request.session.items}
    out, thread = {}, None
    if "test_test_input_speaks_the_words" in selected:
        folder = tmp_path_factory.mktemp("test-input")
        record = folder / "output.json"
        payload = {"text": EN_SHORT, "voice": "jf_alpha", "language": "en-us"}
        env = _real_env(real_hf_home, KOKORO_TEST_RECORD=str(record))

        def run() -> None:
            out["test_input"] = run_test_input(payload, folder, env, script=RECORDER), record

        thread = threading.Thread(target=run, name="test-input")
        thread.start()
    with contextlib.ExitStack() as stack:
        try:
            if "test_local_api_speaks_japanese_and_english" in selected:
                out["local_api"] = stack.enter_context(
                    local_api(tmp_path_factory.mktemp("local-api"), _real_env(real_hf_home), warm_text="こんにちは"))
        finally:
            if thread is not None:
                thread.join()
        yield out


def test_test_input_speaks_the_words(worker_processes, recogniser):
    done, record = worker_processes["test_input"]
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "completed successfully" in done.stdout + done.stderr
    audio, _ = decode(json.loads(record.read_text()))
    assert_heard(recogniser, audio, EN_SHORT, "en")  # measured WER 0.0


def test_local_api_speaks_japanese_and_english(worker_processes, recogniser):
    url = worker_processes["local_api"]
    ja = runsync(url, {"text": JA_SHORT, "voice": "jf_nezumi", "language": "ja"})
    en = runsync(url, {"text": EN_SHORT, "voice": "jm_kumo", "language": "en-us", "format": "mp3"})
    assert ja["status"] == en["status"] == "COMPLETED"
    assert_heard(recogniser, decode(ja["output"])[0], JA_SHORT, "ja")  # measured CER 0.0
    assert_heard(recogniser, decode(en["output"])[0], EN_SHORT, "en")  # measured WER 0.0


def test_streaming_handler_chunks_join_into_the_whole_text(real_handler, recogniser):
    chunks = list(real_handler.stream_handler(
        {"id": "s", "input": {"text": EN_TWO, "voice": "jf_alpha", "language": "en-us", "format": "ogg"}}))
    assert [c["chunk"] for c in chunks] == [0, 1] and not any("error" in c for c in chunks)
    audio = np.concatenate([decode(c)[0] for c in chunks])
    assert_heard(recogniser, audio, EN_TWO, "en")  # measured WER 0.0


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "ogg"])
def test_every_format_decodes_to_the_same_words(real_handler, recogniser, fmt):
    out = real_handler.handler({"id": fmt, "input": {"text": EN_SHORT, "voice": "jf_alpha",
                                                     "language": "en-us", "format": fmt}})
    audio, rate = decode(out)
    assert rate in (24_000, 48_000)  # Opus decodes at 48 kHz
    assert abs(len(audio) / rate - out["duration_s"]) < 0.05
    assert_heard(recogniser, audio, EN_SHORT, "en", sample_rate=rate)  # measured WER 0.0 in each


def test_a_blend_of_two_real_voices_speaks(real_engine, recogniser):
    spec = "jf_alpha:0.6,jm_kumo:0.4"
    result = real_engine.synthesize(parse_request({"text": EN_SHORT, "voice": spec, "language": "en-us"},
                                                  real_engine.catalog))
    assert result.result.voice == "jf_alpha:0.6,jm_kumo:0.4"
    assert_heard(recogniser, result.audio, EN_SHORT, "en")  # measured WER 0.0


def test_blend_weights_that_overflowed_still_speak(real_engine, recogniser):
    # 1e308 + 1e308 is inf: the weights used to become 0, 0 and the voice silence.
    spec = "jf_alpha:1e308,jm_kumo:1e308"
    result = real_engine.synthesize(parse_request({"text": EN_SHORT, "voice": spec, "language": "en-us"},
                                                  real_engine.catalog))
    assert np.abs(result.audio).max() > 0.1
    assert_heard(recogniser, result.audio, EN_SHORT, "en")


def _at_speed(engine, speed: float):
    return engine.synthesize(parse_request({"text": EN_TWO, "voice": "jf_alpha", "language": "en-us",
                                            "speed": speed}, engine.catalog))


@pytest.fixture(scope="module")
def at_normal_speed(real_engine):
    """EN_TWO at speed 1, made once for both speeds below (its durations are the predictor's)."""
    return _at_speed(real_engine, 1.0)


@pytest.mark.parametrize("speed", [0.8, 1.25])
def test_speed_scales_the_duration(real_engine, recogniser, at_normal_speed, speed):
    normal, scaled = at_normal_speed, _at_speed(real_engine, speed)
    ratio = scaled.result.duration_s / normal.result.duration_s
    # Within 5 % of 1/speed. Measured on four English sentences: 0.8 -> 1.265x, 1.25 -> 0.797x (kokoro's
    # own per-token rounding gave 1.278x and 0.846x: batching.scaled_durations).
    assert math.isclose(ratio, 1 / speed, rel_tol=0.05), (ratio, 1 / speed)
    assert_heard(recogniser, scaled.audio, EN_TWO, "en")


@pytest.fixture(scope="module")
def fp32_engine(real_engine):
    """The real weights in fp32, for the precisions below to be compared with: the session's engine
    where `auto` chose fp32, one of its own otherwise (on a bf16 CPU `auto` is bf16, elsewhere int8)."""
    from worker.model.engine import Engine

    if real_engine.precision == "fp32":
        return real_engine
    return Engine(real_engine.catalog, cache_dir=real_engine.cache_dir, precision="fp32")


def test_bf16_is_heard_the_same_and_keeps_the_timing(real_engine, fp32_engine, recogniser, monkeypatch):
    """The precision setting's bf16 path (KOKORO_PRECISION): the same words, durations within 1 %
    of fp32's. Forced where this CPU only emulates bf16 (slow, but the same autocast path)."""
    from tests.realspeech.listen import error_rate
    from worker.model import precision as fp
    from worker.model.engine import Engine

    if real_engine.precision == "bf16":
        bf16 = real_engine  # `auto` on a bf16 CPU
    else:
        if not fp.native_bf16("cpu"):
            monkeypatch.setattr(fp, "native_bf16", lambda device, flags=None: True)
        bf16 = Engine(real_engine.catalog, cache_dir=real_engine.cache_dir, precision="bf16")
    request = parse_request({"text": EN_SHORT, "voice": "jf_alpha", "language": "en-us"}, real_engine.catalog)
    fp32_run, bf16_run = fp32_engine.synthesize(request), bf16.synthesize(request)
    rates = [error_rate(EN_SHORT, recogniser.hear(run.audio, "en").text, "en") for run in (fp32_run, bf16_run)]
    assert bf16.precision == "bf16" and rates[1] <= rates[0] + 0.03, rates
    assert abs(bf16_run.result.duration_s / fp32_run.result.duration_s - 1) <= 0.01


def test_under_bf16_the_padded_pass_keeps_kokoros_waveform(fp32_engine):
    """A chunk at a speed other than 1 (and every GPU batch) goes through batching's padded pass.
    Under bf16 autocast its harmonic source once multiplied F0 by bf16 harmonic numbers (kokoro's
    are fp32), so the harmonics' phase drifted: at speed 1 its waveform correlated 0.11 with
    kokoro's own forward, and seven English sentences at speed 1.1 were heard with WER 0.133 (0.048
    with fp32 numbers; mean of 4 seeds, jf_alpha, 2026-12-06). Measured now: 0.995."""
    from tests.test_ab import best_correlation
    from worker.model import batching
    from worker.model import precision as fp

    request = parse_request({"text": JA_SHORT, "voice": "jf_alpha", "language": "ja"}, fp32_engine.catalog)
    phonemes = next(iter(fp32_engine.plan(request))).phonemes
    style = fp32_engine.voice_pack(request)[len(phonemes) - 1]
    kmodel = fp32_engine.model("v1.0")
    with torch.inference_mode(), fp.autocast("bf16", "cpu"):
        torch.manual_seed(0)
        own = kmodel(phonemes, style, 1.0).float()
        torch.manual_seed(0)
        (padded,) = batching.forward_batch(kmodel, [phonemes], style, [1.0])
    assert len(padded) == len(own)
    assert best_correlation(padded.float().numpy(), own.numpy()) > 0.95


def test_int8_is_heard_the_same_and_keeps_the_timing(real_engine, fp32_engine, recogniser):
    """KOKORO_PRECISION=int8 (`auto` on a CPU without bf16): the decoder in ONNX Runtime with int8
    convolutions. English and Japanese: the recogniser's error within 0.02 of fp32's, every duration
    fp32's (the length within 1 %). Measured on 1,451 characters of English and 1,403 of Japanese
    (2026-12-05): WER 0.037 both, CER 0.041 fp32 / 0.025 int8, lengths 83.24 / 83.22 s, 285.42 / 285.55 s."""
    from tests.realspeech.listen import error_rate
    from tests.realspeech.texts import JA_LONG
    from worker.model.engine import Engine

    fp32 = fp32_engine
    quantised = Engine(real_engine.catalog, cache_dir=real_engine.cache_dir, precision="int8")
    ja = "。".join(JA_LONG.split("。")[:3]) + "。"
    for language, voice, text, heard_as in (("en-us", "jf_alpha", EN_TWO, "en"), ("ja", "jf_nezumi", ja, "ja")):
        request = parse_request({"text": text, "voice": voice, "language": language}, real_engine.catalog)
        runs = [fp32.synthesize(request), quantised.synthesize(request)]
        rates = [error_rate(text, recogniser.hear(run.audio, heard_as).text, heard_as) for run in runs]
        assert rates[1] <= rates[0] + 0.02, (language, rates)
        assert abs(runs[1].result.duration_s / runs[0].result.duration_s - 1) <= 0.01, language
