"""Issue 24, the text rows: what a hostile tester wrote, and the promise that nothing the user
wrote is dropped (spoken, or refused / noted by name). On the stand-in weights: real G2P, chunks,
durations and timings; the audio is noise, which none of these checks listen to."""

from __future__ import annotations

import pytest
import torch

from worker.core.errors import InputError
from worker.service import openai_api
from worker.service.request import parse_request
from worker.text import chunking, normalize
from worker.text.g2p import phonemizer

pytestmark = pytest.mark.hostile

_PRIVATE_USE = range(0xE000, 0xF900)


def _plan(engine, text: str, **fields) -> list[chunking.Chunk]:
    return list(engine.plan(parse_request({"text": text, **fields}, engine.catalog)))


def _cyrillic(s: str) -> bool:
    return any("\u0400" <= ch <= "\u04ff" for ch in s)


def _espeak(language: str, text: str) -> str:
    from misaki.espeak import EspeakG2P

    return EspeakG2P(language=language)(text)[0]


# --- scripts the language's G2P cannot read ---------------------------------------------------

def test_a_russian_sentence_in_japanese_text_is_spoken_in_russian(engine):
    chunks = _plan(engine, "こんにちは。Привет, как дела?", language="ja", voice="jf_alpha")
    assert [c.text for c in chunks] == ["こんにちは。", "Привет, как дела?"]
    russian = chunks[1].phonemes
    assert russian == _espeak("ru", "Привет, как дела?")  # espeak-ng's Russian, not silence
    assert not normalize.looks_truncated(chunks[1].text, russian, "j")


@pytest.mark.parametrize("voice", ["zf_xiaobei", "zf_001"])  # v1.0 and v1.1-zh
def test_cyrillic_in_chinese_text_is_spoken_with_symbols_the_model_has(engine, voice):
    chunks = _plan(engine, "你好，世界。Привет, как дела? 我很好。", language="zh", voice=voice)
    vocab = engine.model(engine.catalog.voice(voice).model).vocab
    russian = next(c for c in chunks if _cyrillic(c.text))
    assert not _cyrillic(russian.phonemes) and "❓" not in russian.phonemes
    assert sum(ch in vocab for ch in russian.phonemes if ch.isalpha()) >= len("Приветкакдела")


def test_latin_in_japanese_text_is_read_as_english_not_passed_through(engine):
    ja = phonemizer("j")
    assert "Hello" not in ja("Hello world です")
    assert phonemizer("a")("Hello world").strip() in ja("Hello world です")


def test_the_guard_does_not_count_letters_the_model_has_no_sound_for():
    text = "Привет, как дела? Привет, как дела?"
    assert normalize.looks_truncated(text, text, "z")  # passed through: no sound at all


# --- pronunciation markup longer than the model's context --------------------------------------

@pytest.mark.parametrize("text", ["[x](/{}/)", "Say [x](/{}/) now."])
def test_a_pronunciation_longer_than_the_context_is_refused_not_cut(engine, catalog, text):
    with pytest.raises(InputError, match=r"\"x\".*600 phonemes.*510"):
        parse_request({"text": text.format("ə" * 600)}, catalog)
    chunks = _plan(engine, text.format("ə" * chunking.MAX_PHONEMES))  # the most that fits: whole
    assert max(len(c.phonemes) for c in chunks) == chunking.MAX_PHONEMES


# --- word timestamps of repeated words ---------------------------------------------------------

@pytest.mark.parametrize("count", [40, 600])
def test_repeated_words_each_get_their_own_span(engine, count):
    text = ", ".join(["a"] * count) + "."
    chunks = _plan(engine, text, timestamps=True)
    words = [w for c in chunks for w in c.words]
    assert len(words) == count
    for chunk in chunks:  # each word owns its own sounds: none empty, none reaching into the next word
        own = [chunk.phonemes[w.start:w.end] for w in chunk.words]
        assert all(own) and not any(", " in p or " " in p for p in own), own[:12]


def test_repeated_words_are_timed_one_after_another(engine):
    torch.manual_seed(0)
    text = ", ".join(["a"] * 40) + "."
    result = engine.synthesize(parse_request({"text": text, "timestamps": True}, engine.catalog)).result
    lengths = [w.end_s - w.start_s for w in result.words]
    assert len(lengths) == 40 and min(lengths) > 0
    assert max(lengths) < result.duration_s / 10  # the first word does not span the clip


# --- espeak-ng's language switches --------------------------------------------------------------

@pytest.mark.parametrize("language", ["en-us", "en-gb"])
def test_espeak_language_switch_markers_are_not_spoken(engine, language):
    chunks = _plan(engine, "I said namaste नमस्ते, annyeong 안녕하세요 and konnichiwa こんにちは today.",
                   language=language, timestamps=True)
    phonemes = " ".join(c.phonemes for c in chunks)
    assert "(" not in phonemes and ")" not in phonemes, phonemes
    assert "ʤˈæpəniz" not in phonemes  # kana read as kana, not as "Japanese letter"


# --- flag emoji ---------------------------------------------------------------------------------

@pytest.mark.parametrize("language, voice, named", [
    ("en-us", "af_heart", "Flags United States and Japan wave."),
    ("ja", "jf_alpha", "旗アメリカ合衆国と日本。"),
])
def test_flags_are_read_as_their_countries(engine, language, voice, named):
    flags = named.replace("United States", "🇺🇸").replace("アメリカ合衆国", "🇺🇸")
    flags = flags.replace("Japan", "🇯🇵").replace("日本", "🇯🇵")
    spoken = _plan(engine, flags, language=language, voice=voice)
    written = _plan(engine, named, language=language, voice=voice)
    assert [c.phonemes for c in spoken] == [c.phonemes for c in written]


# --- markup mistakes ----------------------------------------------------------------------------

def test_a_line_break_inside_the_markup_is_the_markup_error(catalog):
    with pytest.raises(InputError, match="is not a pronunciation"):
        parse_request({"text": "Say [x\n](/ə/) now."}, catalog)


def test_nested_markup_is_quoted_as_the_user_wrote_it(catalog):
    with pytest.raises(InputError) as caught:
        parse_request({"text": "Say [[x](/ə/)](/b/) now."}, catalog)
    message = str(caught.value)
    assert not any(ord(ch) in _PRIVATE_USE for ch in message), ascii(message)
    assert "[[x](/ə/)](/b/)" in message


# --- huge identifiers ---------------------------------------------------------------------------

@pytest.mark.parametrize("field, value", [
    ("voice", "af_" + "x" * 100_000), ("voice", "x" * 100_000), ("voice", "af_heart:" + "1" * 100_000),
    ("language", "x" * 100_000), ("format", "x" * 100_000), ("captions", "x" * 100_000),
], ids=["unknown-voice", "not-a-voice-id", "blend-weight", "language", "format", "captions"])
def test_a_100_kb_identifier_is_quoted_short(catalog, field, value):
    with pytest.raises(InputError) as caught:
        parse_request({"text": "Hello.", field: value}, catalog)
    assert len(str(caught.value)) < 400


def test_a_100_kb_voice_through_the_openai_route_is_quoted_short(catalog):
    body = {"model": "kokoro", "input": "Hello.", "voice": "af_" + "x" * 100_000 + "(2)+af_bella(1)"}
    with pytest.raises(InputError) as caught:
        job, _, _ = openai_api.to_job(body, catalog)
        parse_request(job, catalog)
    assert len(str(caught.value)) < 400
