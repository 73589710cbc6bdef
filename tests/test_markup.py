"""Markup (worker/text/markup.py) and the lexicon file (worker/text/lexicon.py): pure, no weights."""

from __future__ import annotations

import pytest

from worker.core.errors import InputError
from worker.text import lexicon, markup


def _fake_g2p(text: str) -> str:
    return "<" + text + ">"


def test_a_pronounced_word_is_spoken_as_written_and_shown_as_the_word():
    script = markup.parse("I say [tomato](/təmˈɑːtoʊ/) daily.")
    (section,) = script.sections
    assert markup.phonemize(section.text, _fake_g2p, script) == "<I say> təmˈɑːtoʊ <daily.>"
    assert script.display(section.text) == "I say tomato daily."


def test_pauses_split_the_text_and_merge_at_the_edges():
    script = markup.parse("[pause:0.5s]One. [pause:1.5s] Two [pause:250ms][pause:1s]")
    assert [(s.text.strip(), s.pause_before_s) for s in script.sections] == [("One.", 0.5), ("Two", 1.5), ("", 1.25)]
    assert script.pause_s == pytest.approx(3.25)


@pytest.mark.parametrize("text, says", [
    ("Wait [pause:abc] now", "is not a pause"),
    ("Wait [pause: 2 minutes] now", "is not a pause"),
    ("Wait [pause:11s] now", "longer than 10 s"),
    ("Wait [pause:10s]" * 7, "add up to 70 s"),
    ("Say [word](/wɜːd) now", "is not a pronunciation"),
    ("Say [word](wɜːd/) now", "is not a pronunciation"),
    ("Say [word](//) now", "is not a pronunciation"),
    ("Say [ ](/wɜːd/) now", "needs both a word and its phonemes"),
])
def test_markup_that_is_almost_right_is_a_clear_error_not_speech(text, says):
    with pytest.raises(InputError, match=says):
        markup.parse(text)


def test_ordinary_brackets_are_just_text():
    script = markup.parse("See [1] and (this), then [a note].")
    assert script.display(script.sections[0].text) == "See [1] and (this), then [a note]."


def test_a_lexicon_rewrites_whole_words_case_insensitively_but_not_inside_markup():
    entries = {"Kokoro": "kˈOkəɹO", "New York": "nu jɔɹk", "東京": "toːkʲoː"}
    text = "kokoro, Kokoros, [Kokoro](/x/) in new york; 東京タワー"
    assert markup.with_lexicon(text, entries) == (
        "[kokoro](/kˈOkəɹO/), Kokoros, [Kokoro](/x/) in [new york](/nu jɔɹk/); [東京](/toːkʲoː/)タワー")


@pytest.mark.hostile
def test_a_lexicon_file_is_validated_with_one_readable_message(tmp_path, catalog):
    good = tmp_path / "lexicon.yaml"
    good.write_text("EN-US:\n  Kokoro: kˈOkəɹO\nja:\n  東京: toːkʲoː\n", encoding="utf-8")
    assert lexicon.load(good, catalog) == {"en-us": {"Kokoro": "kˈOkəɹO"}, "ja": {"東京": "toːkʲoː"}}
    for body, says in [("klingon:\n  a: b\n", "unknown language 'klingon'"),
                       ("en-us:\n  \"[x]\": b\n", r"en-us\.\[x\]: the word"),
                       ("en-us:\n  word: \"\"\n", "the phonemes must be"),
                       ("en-us: [a, b]\n", "must map words to phonemes"),
                       ("en-us: {a: [\n", "not valid YAML")]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(body, encoding="utf-8")
        with pytest.raises(lexicon.LexiconError, match=says):
            lexicon.load(bad, catalog)


@pytest.mark.hostile
def test_a_broken_lexicon_stops_start_up_with_one_line(tmp_path, monkeypatch, capsys):
    from worker.core import startup

    bad = tmp_path / "lexicon.yaml"
    bad.write_text("klingon:\n  a: b\n", encoding="utf-8")
    monkeypatch.setenv("KOKORO_LEXICON", str(bad))
    lexicon.configured.cache_clear()
    try:
        with pytest.raises(SystemExit) as stopped:
            startup.start_up("kokoro worker")
    finally:
        lexicon.configured.cache_clear()
    assert stopped.value.code == 1 and "unknown language 'klingon'" in capsys.readouterr().err


def test_the_exported_lexicon_reads_back(tmp_path, catalog):
    entries = {"en-us": {"Kokoro": "kˈOkəɹO"}, "ja": {"東京": "toːkʲoː"}}
    path = tmp_path / "out.yaml"
    path.write_text(lexicon.to_yaml(entries), encoding="utf-8")
    assert lexicon.load(path, catalog) == entries
