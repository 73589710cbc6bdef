"""Many voices of one text in one forward pass (worker.model.batching): the same audio as one by one.

The stand-in is the real architecture with random weights, so every layer the batch pads and
masks is exercised. The harmonic source draws a random phase and noise per call; the comparison
fixes both to zero so the two paths can be compared sample by sample.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worker.model import batching
from worker.model.engine import Engine
from worker.service.request import parse_request

VOICES = ["af_heart", "am_michael", "bf_emma", "af_bella"]
SPEEDS = [1.0, 1.35, 0.7, 1.0]  # different lengths in one batch: most of it is padding for some
TEXT = "Padding must not leak."


@pytest.fixture(scope="module")
def fp32(standin_hf_home, catalog) -> Engine:
    """An fp32 engine for the comparisons: padding must not change a sample, and only fp32 shows that
    (and only torch's decoder, whose random source the tests can fix: `auto` is int8 on a CPU
    without bf16, whose decoder is ONNX Runtime's). Under bf16 (what `auto` picks on a CPU with native bf16) the rounding depends
    on the shapes of the matrix products, so batched and alone differ by bf16's own error (0.01-0.06
    of the peak measured on an avx512_bf16 CPU) whether or not padding leaks."""
    return Engine(catalog, precision="fp32")


def _inputs(engine: Engine, catalog, voices=VOICES):
    request = parse_request({"text": TEXT, "voice": voices[0]}, catalog)
    phonemes = next(iter(engine.plan(request))).phonemes
    rows = [engine._pack(v)[len(phonemes) - 1] for v in voices]
    return engine.model("v1.0"), phonemes, rows


def _unbatched(kmodel, phonemes, rows, speeds):
    with torch.inference_mode():
        return [kmodel(phonemes, row, speed).float() for row, speed in zip(rows, speeds)]


def _worst(batched, alone) -> float:
    """Largest sample difference relative to that voice's peak, over the voices."""
    worst = 0.0
    for b, a in zip(batched, alone):
        assert b.shape == a.shape  # same durations: same number of samples
        worst = max(worst, float((b - a).abs().max() / a.abs().max()))
    return worst


def test_each_voice_gets_the_audio_of_its_own_forward(fp32, catalog, fixed_source):
    kmodel, phonemes, rows = _inputs(fp32, catalog)
    batched = batching.forward_many(kmodel, phonemes, torch.cat(rows), SPEEDS, exact_speed=False)
    alone = _unbatched(kmodel, phonemes, rows, SPEEDS)
    assert len({len(a) for a in alone}) > 1  # the batch really was padded
    assert _worst(batched, alone) < 1e-4


def test_the_comparison_catches_padding_that_leaks(fp32, catalog, fixed_source, monkeypatch):
    """Statistics over the padded width (what plain batching would do) must fail the comparison."""
    def padded_norm(norm, x, s, lengths):
        gamma, beta = torch.chunk(norm.fc(s)[:, :, None], chunks=2, dim=1)
        return batching._clear((1 + gamma) * norm.norm(x) + beta, lengths)

    monkeypatch.setattr(batching, "_adain", padded_norm)
    kmodel, phonemes, rows = _inputs(fp32, catalog)
    batched = batching.forward_many(kmodel, phonemes, torch.cat(rows), SPEEDS, exact_speed=False)
    alone = _unbatched(kmodel, phonemes, rows, SPEEDS)
    assert _worst(batched, alone) > 1e-2


def test_a_batch_of_one_is_kokoros_forward(fp32, catalog, fixed_source):
    kmodel, phonemes, rows = _inputs(fp32, catalog, VOICES[:1])
    (batched,) = batching.forward_many(kmodel, phonemes, rows[0], [1.0])
    (alone,) = _unbatched(kmodel, phonemes, rows, [1.0])
    assert torch.allclose(batched, alone, rtol=0, atol=1e-6 * float(alone.abs().max()))


def test_synthesize_many_matches_synthesize(fp32, catalog, fixed_source):
    engine = fp32
    text = "Two sentences here. And a second, longer one."
    requests = [parse_request({"text": text, "voice": v, "speed": s}, catalog)
                for v, s in zip(VOICES[:3], SPEEDS[:3])]
    together = engine.synthesize_many(requests)
    for request, result in zip(requests, together):
        alone = engine.synthesize(request)
        assert [c.phonemes for c in result.result.chunks] == [c.phonemes for c in alone.result.chunks]
        assert len(result.result.chunks) == 2 and result.result.voice == request.voice_spec
        assert result.audio.shape == alone.audio.shape
        assert np.abs(result.audio - alone.audio).max() < 1e-4 * np.abs(alone.audio).max()


def test_synthesize_many_takes_one_text_only(engine, catalog):
    a = parse_request({"text": "One text.", "voice": "af_heart"}, catalog)
    b = parse_request({"text": "Another text.", "voice": "af_bella"}, catalog)
    with pytest.raises(ValueError):
        engine.synthesize_many([a, b])


def test_blends_and_more_voices_than_one_batch(fp32, catalog, fixed_source, monkeypatch):
    engine = fp32
    monkeypatch.setattr("worker.model.engine.BATCH_MAX", 2)
    calls = []
    real = batching.forward_many
    monkeypatch.setattr(batching, "forward_many", lambda *a, **kw: calls.append(len(a[2])) or real(*a, **kw))
    voices = ["af_heart", "af_heart:0.5,af_bella:0.5", "am_michael"]
    requests = [parse_request({"text": "Short.", "voice": v}, catalog) for v in voices]
    results = engine.synthesize_many(requests)
    assert calls == [2, 1]
    alone = engine.synthesize(requests[1])
    assert np.abs(results[1].audio - alone.audio).max() < 1e-4 * np.abs(alone.audio).max()


def test_scaled_durations_follow_the_speed_exactly():
    generator = torch.Generator().manual_seed(0)
    duration = (0.6 + 3 * torch.rand(80, generator=generator)).expand(3, -1)  # many short tokens
    speeds = torch.tensor([1.0, 1.25, 0.8])
    frames = batching.scaled_durations(duration, speeds)
    kokoro = torch.round(duration / speeds[:, None]).clamp(min=1)
    assert torch.equal(frames[0], kokoro[0].long())  # speed 1: kokoro's own rounding
    base = int(kokoro[0].sum())
    assert [int(f.sum()) for f in frames] == [base, round(base / 1.25), round(base / 0.8)]
    assert abs(float(kokoro[1].sum()) / base - 0.8) > 0.025  # kokoro's rounding: 0.83 here
    assert int(frames.min()) >= 1 and int((frames - kokoro).abs().max()) <= 1


# --- rows that read their own texts: the chunks of concurrent jobs (worker.model.batcher) ---------

TEXTS = ["Padding must not leak.", "A much longer sentence, read by another voice at its own speed.", "Hi."]


def _own_texts(engine: Engine, catalog):
    phonemes = [next(iter(engine.plan(parse_request({"text": t, "voice": "af_heart"}, catalog)))).phonemes
                for t in TEXTS]
    rows = [engine._pack(v)[len(p) - 1] for v, p in zip(VOICES, phonemes)]
    return engine.model("v1.0"), phonemes, rows


def test_rows_with_their_own_texts_get_their_own_forward(fp32, catalog, fixed_source):
    kmodel, phonemes, rows = _own_texts(fp32, catalog)
    speeds = SPEEDS[:3]
    batched = batching.forward_batch(kmodel, phonemes, torch.cat(rows), speeds, exact_speed=False, durations=True)
    with torch.inference_mode():
        alone = [kmodel(p, row, s, return_output=True) for p, row, s in zip(phonemes, rows, speeds)]
    assert len({len(p) for p in phonemes}) == 3  # tokens padded as well as frames
    for (wave, frames), out in zip(batched, alone):
        assert torch.equal(frames, out.pred_dur.cpu())  # each row's durations, over its own tokens
    assert _worst([w for w, _ in batched], [out.audio.float() for out in alone]) < 1e-4


def test_the_comparison_catches_attention_over_padding(fp32, catalog, fixed_source, monkeypatch):
    """ALBERT reading the padding tokens (no attention mask) must fail the comparison."""
    kmodel, phonemes, rows = _own_texts(fp32, catalog)
    bert = kmodel.bert.forward
    monkeypatch.setattr(kmodel.bert, "forward",
                        lambda input_ids, attention_mask: bert(input_ids, attention_mask=torch.ones_like(attention_mask)))
    batched = batching.forward_batch(kmodel, phonemes, torch.cat(rows), [1.0] * 3, exact_speed=False)
    monkeypatch.setattr(kmodel.bert, "forward", bert)
    with torch.inference_mode():
        alone = [kmodel(p, row, 1.0) for p, row in zip(phonemes, rows)]
    worst = max(float((b[:len(a)] - a[:len(b)]).abs().max() / a.abs().max()) for b, a in zip(batched, alone))
    assert worst > 1e-3  # ten times what the comparison above allows
