"""The forward pass's form: weight norm folded (the very same samples), precision chosen per device,
threads shared between simultaneous jobs."""

from __future__ import annotations

import pytest
import torch

from worker.core.errors import SettingsError
from worker.model import precision as fp
from worker.model.engine import Engine
from worker.service.request import parse_request


def _kmodel(engine: Engine):
    from kokoro import KModel

    config, weights = engine.locate("v1.0")
    return KModel(repo_id="hexgrad/Kokoro-82M", config=config, model=weights).eval()


def test_folding_weight_norm_gives_the_very_same_samples(engine, catalog):
    plain, folded = _kmodel(engine), _kmodel(engine)
    assert fp.fold_weight_norm(folded) == 89 and fp.fold_weight_norm(folded) == 0  # once is all
    assert not any(hasattr(m, "weight_g") for m in folded.modules())
    request = parse_request({"text": "Hello there, how are you today?", "voice": "af_heart"}, catalog)
    chunk = next(iter(engine.plan(request)))
    style = engine._style(request, chunk)
    with torch.inference_mode():
        torch.manual_seed(0)  # the decoder's harmonic source draws noise
        expected = plain(chunk.phonemes, style, 1.0)
        torch.manual_seed(0)
        got = folded(chunk.phonemes, style, 1.0)
    assert torch.equal(got, expected) and got.numel() > 10_000


def test_the_engine_serves_folded_models(engine):
    assert not any(hasattr(m, "weight_g") for m in engine.model("v1.0").modules())


@pytest.mark.parametrize("setting, device, flags, onnx, expected", [
    ("auto", "cpu", {"avx2", "avx512_bf16"}, True, "bf16"),
    ("auto", "cpu", {"avx2", "amx_bf16"}, True, "bf16"),
    ("auto", "cpu", {"avx2", "avx512f"}, True, "int8"),  # no native bf16: the int8 decoder
    ("auto", "cpu", {"avx2"}, False, "fp32"),  # ... where ONNX Runtime is installed
    ("fp32", "cpu", {"avx512_bf16"}, True, "fp32"),
    ("bf16", "cpu", {"avx512_bf16"}, True, "bf16"),
    ("int8", "cpu", {"avx512_bf16"}, True, "int8"),
    ("auto", "mps", set(), True, "fp32"),
])
def test_auto_picks_bf16_where_the_hardware_has_it_else_int8_on_a_cpu(setting, device, flags, onnx, expected):
    assert fp.resolve(setting, device, frozenset(flags), onnx=onnx) == expected


@pytest.mark.parametrize("device, onnx, says", [
    ("cuda", True, "KOKORO_PRECISION=int8 runs on the CPU only, not on cuda: use auto, fp32 or bf16."),
    ("cpu", False, "KOKORO_PRECISION=int8 needs onnxruntime, not installed here: use auto, fp32 or bf16."),
])
def test_int8_where_it_cannot_run_is_refused_with_one_sentence(device, onnx, says):
    with pytest.raises(SettingsError) as caught:
        fp.resolve("int8", device, frozenset(), onnx=onnx)
    assert str(caught.value) == says


def test_bf16_where_it_would_be_emulated_is_refused_with_one_sentence():
    with pytest.raises(SettingsError, match=r"KOKORO_PRECISION=bf16, but this CPU \(no AVX512_BF16 or AMX\)"):
        fp.resolve("bf16", "cpu", frozenset({"avx2"}))


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512_bf16\n")
    assert fp.cpu_flags(str(info)) >= {"avx2", "avx512_bf16"}
    assert fp.cpu_flags(str(tmp_path / "missing")) == frozenset()


def test_the_bf16_path_speaks(engine, catalog, monkeypatch):
    # Forced on this CPU if it lacks native bf16 (then emulated and slow, but the same autocast path
    # a CPU with AVX512_BF16/AMX takes): the model runs under bf16 and hands back float32 audio.
    if not fp.native_bf16("cpu"):
        monkeypatch.setattr(fp, "native_bf16", lambda device, flags=None: True)
    fast = Engine(catalog, cache_dir=engine.cache_dir, precision="bf16")
    request = parse_request({"text": "Hello there.", "voice": "af_heart"}, catalog)
    seen = []
    real_autocast = torch.autocast
    monkeypatch.setattr(torch, "autocast",
                        lambda *a, **k: seen.append((k.get("dtype"), k.get("enabled", True))) or real_autocast(*a, **k))
    result = fast.synthesize(request)
    # bf16 around the forward pass; inside it, only the LSTMs switch autocast off (fp32 durations).
    assert fast.precision == "bf16" and (torch.bfloat16, True) in seen
    assert {s for s in seen if s != (torch.bfloat16, True)} == {(None, False)}
    lstms = [m for m in fast.model("v1.0").modules() if isinstance(m, fp._FP32)]
    assert len(lstms) >= 3 and all(isinstance(m.inner, torch.nn.LSTM) for m in lstms)
    assert result.audio.dtype.name == "float32" and result.result.duration_s > 0.3
    # Weights autocast runs in bf16 are stored so (cast once); the fp32 layers keep fp32 weights.
    dtypes = {type(m).__name__: {p.dtype for p in m.parameters(recurse=False)} for m in fast.model("v1.0").modules()}
    assert dtypes["Conv1d"] == dtypes["ConvTranspose1d"] == dtypes["Linear"] == {torch.bfloat16}
    assert dtypes["LSTM"] == dtypes["Embedding"] == {torch.float32}


def test_weights_stored_in_bf16_give_the_very_same_samples(engine, catalog, monkeypatch):
    # What autocast would do on every forward pass, done once: the same rounding, the same audio.
    cast, plain = _kmodel(engine), _kmodel(engine)
    for kmodel in (cast, plain):
        fp.fold_weight_norm(kmodel)
        fp.lstms_in_fp32(kmodel)
        kmodel.requires_grad_(False)
    assert fp.bf16_weights(cast) > 100
    request = parse_request({"text": "Hello there.", "voice": "af_heart"}, catalog)
    chunk = next(iter(engine.plan(request)))
    style = engine._style(request, chunk)
    with torch.inference_mode(), fp.autocast("bf16", "cpu"):
        torch.manual_seed(0)  # the decoder's harmonic source draws noise
        expected = plain(chunk.phonemes, style, 1.0)
        torch.manual_seed(0)
        got = cast(chunk.phonemes, style, 1.0)
    assert torch.equal(got, expected) and got.numel() > 10_000


def test_threads_are_shared_between_simultaneous_jobs():
    assert fp.threads_per_job(1, available=2) == 2 and fp.threads_per_job(2, available=8) == 4
    assert fp.threads_per_job(4, available=2) == 1 and fp.threads_per_job(1) >= 1
