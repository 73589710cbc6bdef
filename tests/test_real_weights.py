"""The real-weights builder (tests/realspeech/weights.py): it rebuilds kokoro's KModel from the int8
ONNX export faithfully, and it builds once per machine."""

import json
import time

import numpy as np
import pytest
import torch

from tests.realspeech import weights
from worker.model import precision as fp
from worker.service.request import parse_request

pytestmark = pytest.mark.real_weights


def _onnx_session_with_durations():
    """onnxruntime on the same export, with the rounded durations it computes as an extra output."""
    import onnxruntime
    from onnx import TensorProto, helper

    model = weights._read_onnx()
    model.graph.output.append(helper.make_tensor_value_info("/encoder/Cast_output_0", TensorProto.INT64, None))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def test_durations_match_onnxruntime_token_by_token(real_engine):
    session = _onnx_session_with_durations()
    kmodel = real_engine.model("v1.0")
    cases = [("Hello world, this is a test of the speech engine.", "en-us"),
             ("The quick brown fox jumps over the lazy dog.", "en-us"),
             ("今日はいい天気ですね。", "ja")]
    for text, language in cases:
        request = parse_request({"text": text, "voice": "jm_kumo", "language": language}, real_engine.catalog)
        phonemes = next(iter(real_engine.plan(request))).phonemes
        ids = [kmodel.vocab[p] for p in phonemes if p in kmodel.vocab]
        style = real_engine.voice_pack(request)[len(phonemes) - 1]
        with torch.inference_mode(), fp.autocast(real_engine.precision, real_engine.device):
            _, ours = kmodel.forward_with_tokens(torch.LongTensor([[0, *ids, 0]]), style, 1.0)
        _, theirs = session.run(None, {"tokens": np.array([[0, *ids, 0]], dtype=np.int64),
                                       "style": style.numpy(), "speed": np.array([1.0], dtype=np.float32)})
        diff = np.abs(ours.numpy().ravel() - np.asarray(theirs).ravel())
        # Measured: at most 1 frame on 0-4 tokens of 17-49 (onnxruntime also quantises activations).
        assert diff.max() <= 1 and (diff > 0).mean() <= 0.1, (text, diff.tolist())


def test_a_second_build_is_a_lookup(real_hf_home):
    snapshot = next((real_hf_home / "hub").glob("models--hexgrad--Kokoro-82M/snapshots/*"))
    stamp = (snapshot / weights.WEIGHTS_FILE).stat().st_mtime_ns
    started = time.perf_counter()
    weights.build_real_cache(real_hf_home, extra_voices=weights.VOICE_COPIES)
    assert time.perf_counter() - started < 1.0  # measured: about 1 ms
    assert (snapshot / weights.WEIGHTS_FILE).stat().st_mtime_ns == stamp
    marker = json.loads((snapshot / weights.MARKER).read_text())
    assert marker["onnx_sha256"] == weights.ONNX_SHA256
    packs = {p.stem for p in (snapshot / "voices").glob("*.pt")}
    assert packs == set(weights.REAL_VOICES) | set(weights.VOICE_COPIES)


def test_a_copy_must_come_from_a_real_pack(tmp_path):
    with pytest.raises(ValueError, match="af_sky=af_heart"):
        weights.build_real_cache(tmp_path, extra_voices={"af_sky": "af_heart"})


@pytest.mark.long  # the first compile takes 1-2 minutes on a 2-core CPU (cached on disk after)
def test_the_compiled_decoder_says_the_same_words_in_the_same_time(real_engine, real_hf_home, recogniser):
    """KOKORO_COMPILE: what the recogniser hears and every chunk's length are those of the eager model."""
    from torch._dynamo.utils import counters

    from tests.realspeech.hearing import assert_heard
    from tests.realspeech.texts import EN_SHORT, JA_SHORT
    from worker.model.engine import Engine

    precision = "fp32" if real_engine.precision == "int8" else real_engine.precision  # int8: no torch decoder
    # The session's engine is the eager one where it runs that precision (compile off in the suite):
    # one load of the real weights fewer.
    eager = real_engine if real_engine.precision == precision and real_engine.compile == "off" else \
        Engine(cache_dir=real_hf_home / "hub", precision=precision)
    graphs = counters["stats"]["unique_graphs"]
    compiled = Engine(cache_dir=real_hf_home / "hub", precision=precision, compile="on")
    assert compiled.model("v1.0").decoder is not eager.model("v1.0").decoder
    assert type(compiled.model("v1.0").decoder).__name__ == "OptimizedModule"  # it did compile
    # once, for kokoro's own forward and a batch's rows alike (the style's tensor kind had made it twice)
    assert counters["stats"]["unique_graphs"] == graphs + 1
    for text, voice, language, heard_as in ((EN_SHORT, "af_heart", "en-us", "en"), (JA_SHORT, "jf_nezumi", "ja", "ja")):
        request = parse_request({"text": text, "voice": voice, "language": language}, real_engine.catalog)
        eager_run, fast = eager.synthesize(request), compiled.synthesize(request)
        for a, b in zip(fast.result.chunks, eager_run.result.chunks, strict=True):  # the same frames; the trim
            assert a.duration_s == pytest.approx(b.duration_s, rel=0.01)  # of edge silence may move 10 ms
        assert_heard(recogniser, fast.audio, text, heard_as)
    two = [parse_request({"text": EN_SHORT, "voice": "af_heart", "speed": s}, real_engine.catalog) for s in (1.0, 1.2)]
    for made in compiled.synthesize_many(two):  # a batch's path: each row by the compiled decoder
        assert_heard(recogniser, made.audio, EN_SHORT, "en")
    assert counters["stats"]["unique_graphs"] == graphs + 1  # and no job compiled it again
