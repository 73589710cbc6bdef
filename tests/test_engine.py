import threading
import time

import numpy as np
import pytest
import torch

from worker.core.errors import InputError, ModelUnavailableError
from worker.model import engine as engine_module
from worker.model.engine import Engine, zh_v11_speed
from worker.service.request import parse_request
from worker.sound.audio import SAMPLE_RATE
from worker.text import g2p

NINE = {
    "en-us": ("af_heart", "The quick brown fox jumps over the lazy dog."),
    "en-gb": ("bf_emma", "The weather in London is lovely today."),
    "es": ("ef_dora", "El rápido zorro marrón salta sobre el perro."),
    "fr": ("ff_siwis", "Le renard brun saute par-dessus le chien."),
    "hi": ("hf_alpha", "तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है।"),
    "it": ("if_sara", "La volpe marrone salta sopra il cane pigro."),
    "ja": ("jf_alpha", "素早い茶色の狐がのろまな犬を飛び越える。"),
    "pt-br": ("pf_dora", "A rápida raposa marrom pula sobre o cão."),
    "zh": ("zf_xiaobei", "敏捷的棕色狐狸跳过了懒狗。"),
}


@pytest.mark.parametrize("language", list(NINE))
def test_all_nine_languages_speak(engine, catalog, language):
    voice, text = NINE[language]
    result = engine.synthesize(parse_request({"text": text, "voice": voice, "language": language}, catalog))
    assert result.result.sample_rate == SAMPLE_RATE and result.audio.dtype == np.float32
    assert np.isfinite(result.audio).all() and np.abs(result.audio).max() > 0
    # Calibrated stand-in: about real speech rate (0.03-0.2 s per phoneme).
    n_phonemes = sum(len(c.phonemes) for c in result.result.chunks)
    assert 0.03 < result.result.duration_s / n_phonemes < 0.2
    assert result.result.chunks[0].text and result.result.chunks[0].phonemes


def test_voice_decides_the_model_and_both_stay_resident(engine, catalog):
    a = engine.synthesize(parse_request({"text": "你好。", "voice": "zf_001", "language": "zh"}, catalog))
    b = engine.synthesize(parse_request({"text": "你好。", "voice": "zf_xiaobei", "language": "zh"}, catalog))
    assert (a.result.model, b.result.model) == ("v1.1-zh", "v1.0")
    assert {"v1.0", "v1.1-zh"} <= set(engine._models)
    assert "ㄋ" in a.result.chunks[0].phonemes and "ㄋ" not in b.result.chunks[0].phonemes


def test_v11_english_voice_reads_chinese_with_latin_words(engine, catalog):
    result = engine.synthesize(parse_request(
        {"text": "我用Docker跑了一个API服务", "voice": "af_maple", "language": "zh"}, catalog))
    # The Latin word goes through the English G2P (misaki, or espeak-ng when spaCy is missing).
    assert g2p.english("a")("Docker") in result.result.phonemes and result.result.duration_s > 1


def test_voice_packs_are_cached_and_blends_are_weighted(engine, catalog, monkeypatch):
    import huggingface_hub

    single = parse_request({"text": "Hi.", "voice": "af_bella"}, catalog)
    engine.voice_pack(single)
    calls = []
    real = huggingface_hub.hf_hub_download
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: calls.append(k) or real(*a, **k))
    bella = engine.voice_pack(single)
    assert calls == []  # second use does not touch the hub cache again
    blend = engine.voice_pack(parse_request({"text": "Hi.", "voice": "af_heart:0.7,af_bella:0.3"}, catalog))
    heart = engine.voice_pack(parse_request({"text": "Hi.", "voice": "af_heart"}, catalog))
    assert blend.shape == (510, 1, 256)
    assert torch.allclose(blend, 0.7 * heart + 0.3 * bella, atol=1e-6)


def test_speed_changes_duration(engine, catalog):
    slow = engine.synthesize(parse_request({"text": "One two three four.", "speed": 0.5}, catalog))
    fast = engine.synthesize(parse_request({"text": "One two three four.", "speed": 2.0}, catalog))
    assert slow.result.duration_s > 2.5 * fast.result.duration_s


def test_v11_zh_pacing_follows_the_model_card():
    assert zh_v11_speed(50) == pytest.approx(1.1)
    assert zh_v11_speed(133) == pytest.approx((1 - 50 / 500) * 1.1)
    assert zh_v11_speed(400) == pytest.approx(0.88)


def test_stream_yields_chunks_lazily(engine, catalog):
    req = parse_request({"text": "First sentence here. " * 200, "voice": "af_heart"}, catalog)
    stream = engine.stream(req)
    first = next(stream)
    assert first.index == 0 and first.text == "First sentence here."
    assert first.audio[0] == 0  # faded edges for click-free joins
    stream.close()


def test_progress_reports_each_chunk(engine, catalog):
    seen = []
    engine.synthesize(parse_request({"text": "One. Two. Three."}, catalog), on_progress=lambda i, n: seen.append((i, n)))
    assert [i for i, _ in seen] == [1, 2, 3] and seen[-1] == (3, 3)
    assert all(n in (None, 3) for _, n in seen)  # None only while G2P has not reached the end


def test_g2p_runs_ahead_of_the_model_and_errors_reach_the_caller():
    from worker.text.chunking import Ahead, Chunk

    def chunks():
        yield Chunk("a", "a")
        yield Chunk("b", "b")
        raise RuntimeError("g2p broke")

    ahead = Ahead(chunks())
    assert next(ahead).text == "a"
    deadline = time.monotonic() + 5
    while ahead._queue.qsize() < 2 and time.monotonic() < deadline:  # b and the error, unasked
        time.sleep(0.01)
    assert ahead._queue.qsize() == 2
    assert next(ahead).text == "b"
    with pytest.raises(RuntimeError, match="g2p broke"):
        next(ahead)
    bounded = Ahead(iter([Chunk(str(i), str(i)) for i in range(100)]), depth=2)
    time.sleep(0.3)
    assert bounded._queue.qsize() == 2 and bounded.total is None  # no further than asked
    bounded.close()


def test_split_sentences_false_makes_fewer_chunks(engine, catalog):
    text = "One sentence. Another one. And a third."
    split = engine.synthesize(parse_request({"text": text}, catalog))
    joined = engine.synthesize(parse_request({"text": text, "split_sentences": False}, catalog))
    assert (len(split.result.chunks), len(joined.result.chunks)) == (3, 1)


def test_nothing_speakable(engine, catalog):
    with pytest.raises(InputError, match="nothing speakable"):
        engine.synthesize(parse_request({"text": "..."}, catalog))


def test_missing_cache_entry_is_a_clear_error(engine):
    from huggingface_hub import constants

    with pytest.raises(ModelUnavailableError, match="not in the Hugging Face cache") as caught:
        engine._fetch("hexgrad/Kokoro-82M", "voices/zz_nobody.pt", "Voice zz_nobody")
    # the folder a user can open, not a variable's name
    assert f"({engine.cache_dir or constants.HF_HUB_CACHE})" in str(caught.value) and "$HF_HOME" not in str(caught.value)


def test_without_the_weights_and_without_the_hub_the_answer_comes_at_once(catalog, tmp_path, monkeypatch):
    import socket

    import huggingface_hub
    from huggingface_hub import constants

    with socket.socket() as closed:  # a port nobody listens on: connections are refused at once
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    calls = []
    real = huggingface_hub.hf_hub_download
    monkeypatch.setattr(huggingface_hub, "hf_hub_download",
                        lambda *a, **k: calls.append(k.get("local_files_only")) or real(*a, **k))
    empty = Engine(catalog, cache_dir=tmp_path / "hub")
    with pytest.raises(ModelUnavailableError) as caught:
        empty.model("v1.0")
    message = str(caught.value)
    assert f"Kokoro v1.0 config (hexgrad/Kokoro-82M/config.json) is not in the Hugging Face cache ({tmp_path / 'hub'})" \
        in message
    assert "127.0.0.1 cannot be reached from here" in message and "python worker/fetch_weights.py" in message
    assert calls == [True]  # the cache was asked; no download (and its ~25 s of retries) was tried
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelUnavailableError, match="HF_HUB_OFFLINE is set"):
        empty.model("v1.0")


def test_device_is_cuda_when_present_else_cpu(engine):
    # KOKORO_DEVICE overriding the default: tests/test_settings.py, with CUDA reported present.
    assert engine.device == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.hostile
def test_a_g2p_that_drops_text_makes_the_job_say_so(engine, catalog, monkeypatch):
    from worker.model import engine as engine_module

    real = engine_module.g2p.phonemizer

    def dropping(code, zh_version=None):
        g2p = real(code, zh_version)
        return lambda text: g2p(text.split(",")[0])  # loses everything after the first comma

    monkeypatch.setattr(engine_module.g2p, "phonemizer", dropping)
    text = "Short one. Here we go, and this whole clause would be lost without a word."
    result = engine.synthesize(parse_request({"text": text}, catalog))
    assert result.result.notes == ('Note: chunk 2 ("Here we go, and this whole clause would…") got fewer '
                                   "phonemes than its text needs; part of it may not have been spoken.",)
    streamed = list(engine.stream(parse_request({"text": text}, catalog)))
    assert [bool(c.note) for c in streamed] == [False, True]


def test_an_honest_g2p_raises_no_note(engine, catalog):
    text = "Short one. Here we go, and this whole clause is spoken in full, every word of it."
    assert engine.synthesize(parse_request({"text": text}, catalog)).result.notes == ()


@pytest.mark.hostile
def test_a_g2p_failure_quotes_the_text_it_failed_on(engine, catalog, monkeypatch):
    from worker.model import engine as engine_module

    def failing(code, zh_version=None):
        def g2p(text):
            raise KeyError("10")
        return g2p

    monkeypatch.setattr(engine_module.g2p, "phonemizer", failing)
    with pytest.raises(InputError, match=r'The Japanese G2P could not read "番号は" \(KeyError\)'):
        engine.synthesize(parse_request({"text": "番号は", "voice": "jf_alpha", "language": "ja"}, catalog))


def test_joins_hold_the_pause_the_text_asks_for(engine, catalog):
    from worker.sound.audio import PAUSE_S

    text = "First sentence here, with a clause.\n\nA new paragraph starts. And ends."
    chunks = list(engine.stream(parse_request({"text": text}, catalog)))
    assert [c.pause_s for c in chunks] == [0.0, PAUSE_S["paragraph"], PAUSE_S["sentence"]]
    for chunk in chunks:
        lead = int(chunk.pause_s * SAMPLE_RATE)
        assert not chunk.audio[:lead].any()


def test_a_new_voice_asked_for_by_two_jobs_at_once_loads_once(engine, monkeypatch):
    loads = []
    real = engine_module.torch.load

    def slow_load(*args, **kwargs):
        loads.append(args[0])
        time.sleep(0.3)  # long enough for every thread to arrive while the first one loads
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_module.torch, "load", slow_load)
    engine._packs.pop("am_onyx", None)
    threads = [threading.Thread(target=engine._pack, args=("am_onyx",)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1
