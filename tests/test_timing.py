"""Word timings (worker/sound/timing.py) and the timestamps/captions/markup inputs, on the stand-in
weights: which words, in which order, where in the final audio; captions read back by real
subtitle parsers. Whether the times are *right* is heard on real speech (test_real_timing.py)."""

from __future__ import annotations

import io

import pytest
import srt as srt_parser
import torch
import webvtt

from worker import handler as worker_handler
from worker.core.errors import InputError
from worker.service import runtime
from worker.service.request import parse_request
from worker.sound import timing


def _speak(engine, text: str, **fields):
    torch.manual_seed(0)  # the model's noise source: one clip per text
    return engine.synthesize(parse_request({"text": text, "voice": "af_heart", **fields}, engine.catalog))


def test_seconds_count_the_frames_before_and_through_each_word():
    spans = [timing.Span("ab", 0, 2), timing.Span("c!", 3, 4)]
    # pad, a, b, space, c, !, pad (ǂ is not in the vocab: it never reaches the model)
    frames = [10, 4, 6, 2, 8, 5, 7]
    got = timing.seconds(spans, "ab cǂ!", {"a": 1, "b": 2, " ": 3, "c": 4, "!": 5}, frames)
    lead = timing.LEAD_FRAMES
    expected = [("ab", (10 - lead) / 40, (20 - lead) / 40), ("c!", (22 - lead) / 40, (30 - lead) / 40)]
    assert [w for w, _, _ in got] == ["ab", "c!"]
    assert [t for _, *pair in got for t in pair] == pytest.approx([t for _, *pair in expected for t in pair])


def test_the_words_are_the_readers_own_in_order_within_the_audio(engine):
    text = "It costs $5, said Dr. Smith. The meeting starts at 10:30 sharp!"
    result = _speak(engine, text, timestamps=True).result
    assert [w.text for w in result.words] == text.split()  # "$5," not "five dollars"
    starts = [w.start_s for w in result.words]
    assert starts == sorted(starts) and all(w.start_s < w.end_s for w in result.words)
    assert result.words[-1].end_s <= result.duration_s
    second = result.words[text.split().index("The")]
    assert second.start_s >= result.chunks[0].duration_s  # the second chunk's words come after the first


@pytest.mark.parametrize("language, text, words", [
    ("ja", "今日は良い天気ですね。", ["今日", "は", "良い", "天気", "です", "ね。"]),
    ("zh", "我们今天去公园散步吧。", ["我们", "今天", "去", "公园", "散步", "吧。"]),
    ("es", "¡Hola! ¿Cómo estás, amigo?", ["¡Hola!", "¿Cómo", "estás,", "amigo?"]),
])
def test_japanese_and_chinese_words_are_their_segmenters_words(engine, language, text, words):
    voice = {"ja": "jf_alpha", "zh": "zf_xiaobei", "es": "ef_dora"}[language]
    result = _speak(engine, text, language=language, voice=voice, timestamps=True).result
    assert [w.text for w in result.words] == words
    assert all(a.end_s <= b.start_s + 1e-9 for a, b in zip(result.words, result.words[1:]))


def test_timings_are_only_there_when_asked_for(engine):
    output = _speak(engine, "Hello world.").result.output(b"x", "wav")
    assert "words" not in output and "captions" not in output


def test_a_pause_adds_exactly_its_length_and_moves_the_words_after_it(engine):
    plain = _speak(engine, "One two. Three four.", timestamps=True).result
    paused = _speak(engine, "One two. [pause:1.5s] Three four.", timestamps=True).result
    assert abs(paused.duration_s - plain.duration_s - 1.5) <= 0.02
    assert [round(b.start_s - a.start_s, 3) for a, b in zip(plain.words, paused.words)] == [0, 0, 1.5, 1.5]
    tail = _speak(engine, "One two. [pause:2s]", timestamps=True).result  # a pause at the end: silence
    assert abs(tail.duration_s - _speak(engine, "One two.").result.duration_s - 2.0) <= 0.02


def test_inline_and_lexicon_pronunciations_change_the_phonemes(engine, catalog):
    from worker.model.engine import Engine

    inline = _speak(engine, "I like [tomato](/təmˈɑːtoʊ/).", timestamps=True).result
    assert "təmˈɑːtoʊ" in inline.phonemes and inline.words[-1].text == "tomato."
    lexical = Engine(catalog, pronunciations={"en-us": {"Kokoro": "kˈOkəɹO"}})
    assert "kˈOkəɹO" in _speak(lexical, "Kokoro speaks.").result.phonemes
    assert "kˈOkəɹO" not in _speak(engine, "Kokoro speaks.").result.phonemes
    with pytest.raises(InputError, match="has no sound for"):
        _speak(engine, "Say [this](/ǂǂ/).")


def test_markup_works_on_the_espeak_fallback_too(engine, catalog):
    """Without spaCy's pipeline English is read by espeak-ng: the markup is ours, so it still works."""
    from misaki import espeak

    from worker.text import chunking, g2p, markup

    fallback = g2p._phonemes_only(espeak.EspeakG2P(language="en-us"))
    script = markup.parse("I like [tomato](/təmˈɑːtoʊ/). [pause:1s] Really.")
    chunks = list(chunking.plan_script(script, fallback))
    assert "təmˈɑːtoʊ" in chunks[0].phonemes and chunks[0].text == "I like tomato."
    assert chunks[1].pause_s == 1.0 and "[" not in chunks[1].phonemes


def test_the_handler_returns_words_and_captions_that_parse(engine, monkeypatch):
    monkeypatch.setattr(runtime, "_engine", engine)
    text = "Hello there, listener. This is a caption test with a few more words. Goodbye!"
    for fmt in ("srt", "vtt"):
        out = worker_handler.handler({"id": "c", "input": {"text": text, "timestamps": True, "captions": fmt}})
        assert [w["text"] for w in out["words"]] == text.split()
        cues = _parsed(out["captions"], fmt)
        assert " ".join(c[2] for c in cues).split() == text.split()  # every word once, in order
        assert cues[0][0] == 0.0 and abs(cues[-1][1] - out["duration_s"]) < 0.002
        assert all(a[1] <= b[0] for a, b in zip(cues, cues[1:]))  # no overlaps
    assert worker_handler.handler({"id": "c", "input": {"text": "x", "captions": "ass"}})["error"].startswith(
        "Unknown captions 'ass'")
    assert "is not a pause" in worker_handler.handler({"id": "c", "input": {"text": "a [pause:x]"}})["error"]


def _parsed(text: str, fmt: str) -> list[tuple[float, float, str]]:
    if fmt == "srt":
        return [(c.start.total_seconds(), c.end.total_seconds(), c.content.replace("\n", " "))
                for c in srt_parser.parse(text)]
    def seconds(stamp: str) -> float:  # webvtt-py's own *_in_seconds are whole seconds
        h, m, s = stamp.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)

    return [(seconds(c.start), seconds(c.end), c.text.replace("\n", " "))
            for c in webvtt.from_buffer(io.StringIO(text))]


def test_the_stream_carries_each_chunks_words_timed_from_the_start_of_the_job(engine, monkeypatch):
    monkeypatch.setattr(runtime, "_engine", engine)
    items = list(worker_handler.stream_handler({"id": "s", "input": {"text": "One two. Three four.",
                                                                     "timestamps": True}}))
    assert [w["text"] for i in items for w in i["words"]] == ["One", "two.", "Three", "four."]
    assert items[1]["words"][0]["start_s"] >= items[0]["duration_s"]


def test_captions_survive_a_long_text(engine, monkeypatch):
    from tests.realspeech.texts import EN_LONG  # prose, not one sentence repeated
    from tests.standin import decode_as_noise

    decode_as_noise(monkeypatch, engine.model("v1.0"))

    text = (EN_LONG * (10_000 // len(EN_LONG) + 1))[:10_000].rsplit(" ", 1)[0] + "."
    result = _speak(engine, text, timestamps=True, captions="srt").result
    cues = _parsed(result.captions, "srt")
    assert len(result.words) == len(text.split())
    assert " ".join(c[2] for c in cues).split() == text.split()
    assert all(a[1] <= b[0] for a, b in zip(cues, cues[1:])) and abs(cues[-1][1] - result.duration_s) < 0.002


def test_a_trailing_pause_in_a_batched_text_is_silence_for_every_voice(engine, catalog):
    requests = [parse_request({"text": "One two. [pause:1s]", "voice": v, "timestamps": True}, catalog)
                for v in ("af_heart", "am_adam")]
    alone = [engine.synthesize(r).result.duration_s for r in requests]
    together = engine.synthesize_many(requests)
    for synthesis, duration in zip(together, alone):
        assert [c.text for c in synthesis.result.chunks] == ["One two.", ""]
        assert abs(synthesis.result.duration_s - duration) <= 0.02
        assert [w.text for w in synthesis.result.words] == ["One", "two."]
