import pytest

from worker.core.errors import InputError, counted
from worker.service.request import parse_request, parse_voice


def test_defaults_follow_the_service_document(catalog):
    req = parse_request({"text": "Hello"}, catalog)
    assert (req.voice_spec, req.language, req.speed, req.split_sentences, req.format) == \
        ("af_heart", "en-us", 1.0, True, "wav")
    assert req.model == "v1.0" and req.notes == []


def test_document_example_af_heart_reads_chinese_with_a_note(catalog):
    req = parse_request({"text": "你好", "voice": "af_heart", "language": "zh"}, catalog)
    assert req.language == "zh" and req.model == "v1.0"
    assert "af_heart" in req.notes[0] and "zh" in req.notes[0]


def test_blend_weights_are_normalised(catalog):
    voices = parse_voice("af_heart:0.7, af_bella:0.3", catalog)
    assert [(v.id, round(w, 6)) for v, w in voices] == [("af_heart", 0.7), ("af_bella", 0.3)]
    voices = parse_voice("af_heart:3,af_bella:1", catalog)
    assert [round(w, 6) for _, w in voices] == [0.75, 0.25]
    voices = parse_voice("af_heart,af_bella", catalog)
    assert [w for _, w in voices] == [0.5, 0.5]


@pytest.mark.parametrize("spec, expected", [
    ("af_heart:1e308,af_bella:1e308", [0.5, 0.5]),  # the sum overflowed to inf: weights 0, 0
    ("af_heart:1e308,af_bella:3e307", [0.769231, 0.230769]),
    ("af_heart:5e-324,af_bella:5e-324", [0.5, 0.5]),  # the smallest positive doubles
])
@pytest.mark.hostile
def test_blend_weights_never_overflow_to_silence(catalog, spec, expected):
    assert [round(w, 6) for _, w in parse_voice(spec, catalog)] == expected


def test_control_characters_are_removed_with_a_note(catalog):
    req = parse_request({"text": "Hello world\u0000 this must be spoken too.\u200b"}, catalog)
    assert req.text == "Hello world  this must be spoken too."
    assert req.notes == ["Note: 2 control or invisible characters were left out of the text "
                         "(they cannot be spoken)."]


def test_language_aliases_and_case(catalog):
    assert parse_request({"text": "Salut", "voice": "ff_siwis", "language": "fr-fr"}, catalog).language == "fr"
    assert parse_request({"text": "Hi", "language": "EN-GB", "voice": "bf_emma"}, catalog).language == "en-gb"


def test_v11_voice_serves_its_three_languages(catalog):
    assert parse_request({"text": "你好", "voice": "zf_001", "language": "zh"}, catalog).model == "v1.1-zh"
    assert parse_request({"text": "Hi", "voice": "zf_001", "language": "en-us"}, catalog).notes


BAD = [
    (None, "must be an object"),
    ({}, "'text' is required"),
    ({"text": ""}, "'text' is empty"),
    ({"text": "   \n"}, "'text' is empty"),
    ({"text": "\u0000\u200b"}, "'text' is empty"),
    ({"text": "Hi \ud83d there"}, "'text' holds an invalid character at position 3: a lone UTF-16 surrogate"),
    ({"text": 42}, "'text' must be a string, not a number"),
    ({"text": ["a"]}, "'text' must be a string, not a list"),
    ({"text": "hi", "voice": "af_hart"}, "Unknown voice 'af_hart'. Did you mean af_heart"),
    ({"text": "hi", "voice": "zf_009", "language": "zh"}, "Unknown voice 'zf_009'. Did you mean"),
    ({"text": "hi", "voice": "/etc/passwd"}, "not a file path"),
    ({"text": "hi", "voice": "evil.pt"}, "not a file path"),
    ({"text": "hi", "voice": "..\\voices\\af_heart"}, "not a file path"),
    ({"text": "hi", "voice": "Hello World"}, "is not a voice id"),
    ({"text": "hi", "voice": 7}, "'voice' must be a string"),
    ({"text": "hi", "voice": ""}, "'voice' is empty"),
    ({"text": "hi", "voice": "af_heart:x"}, "weight of 'af_heart'"),
    ({"text": "hi", "voice": "af_heart:-1,af_bella"}, "positive number"),
    ({"text": "hi", "voice": "af_heart,zf_001"}, "one model"),
    ({"text": "hi", "voice": "af_heart,af_heart"}, "same voice twice"),
    ({"text": "hi", "voice": "af_maple", "language": "ja"}, "speaks en-us, en-gb, zh; it cannot read 'ja'"),
    ({"text": "hi", "language": "de"}, "Unknown language 'de'; use one of en-us"),
    ({"text": "hi", "language": 1}, "'language' must be a string"),
    ({"text": "hi", "speed": "fast"}, "'speed' must be a number from 0.5 to 2.0, not a string"),
    ({"text": "hi", "speed": True}, "'speed' must be a number"),
    ({"text": "hi", "speed": 3}, "'speed' must be from 0.5 to 2.0; got 3"),
    ({"text": "hi", "speed": 0.1}, "got 0.1"),
    ({"text": "hi", "speed": float("nan")}, "'speed' must be from"),
    ({"text": "hi", "split_sentences": "yes"}, "'split_sentences' must be true or false"),
    ({"text": "hi", "format": "aiff"}, "Unknown format 'aiff'; use one of wav, flac, mp3, ogg"),
    ({"text": "hi", "format": None}, "Unknown format 'null'"),
    ({"text": "hi", "speeed": 1.2}, "Unknown input field 'speeed'; accepted: text, voice"),
]


@pytest.mark.parametrize("raw, message", BAD, ids=[m for _, m in BAD])
@pytest.mark.hostile
def test_bad_input_gets_a_specific_message(catalog, raw, message):
    with pytest.raises(InputError) as info:
        parse_request(raw, catalog)
    assert message in str(info.value)


@pytest.mark.hostile
def test_text_limit_is_configurable(catalog, monkeypatch):
    parse_request({"text": "a" * 10_000}, catalog)
    with pytest.raises(InputError, match="10,001 characters; the limit is 10,000"):
        parse_request({"text": "a" * 10_001}, catalog)
    monkeypatch.setenv("KOKORO_MAX_TEXT_CHARS", "50")
    with pytest.raises(InputError, match="the limit is 50 "):
        parse_request({"text": "a" * 51}, catalog)


@pytest.mark.parametrize("voice", ["af_" + "x" * 100_000, "Z" * 100_000, "af_heart:" + "1" * 100_000 + "x"])
@pytest.mark.hostile
def test_a_huge_voice_id_is_quoted_short(catalog, voice):
    with pytest.raises(InputError) as caught:
        parse_request({"text": "Hi.", "voice": voice}, catalog)
    assert len(str(caught.value)) < 200, len(str(caught.value))


@pytest.mark.parametrize("n, said", [(0, "0 voices"), (1, "1 voice"), (2, "2 voices"), (21, "21 voices")])
def test_a_count_is_written_with_its_noun(n, said):
    assert counted(n, "voice") == said  # the UI's summaries and the job's message ("in 1 chunk")
