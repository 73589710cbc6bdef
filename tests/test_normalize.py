"""Nothing dropped: cleaning the request text, reshaping what G2P would cut, and the guard that
notices phonemes too few for their text. (On real speech: tests/test_real_text.py.)"""

import pytest

from worker.core.errors import InputError
from worker.service.request import parse_request
from worker.text.g2p import phonemizer
from worker.text.normalize import DIGIT_RUN, LONG_TOKEN, clean, for_g2p, looks_truncated


def test_control_characters_become_spaces_and_invisible_ones_go():
    text, changed = clean("Hello world\u0000 this\u200b must\u00ad be spo\ufeffken\u0007 too.\r\nNext")
    assert text == "Hello world  this must be spoken  too.\nNext"
    assert changed == 5


def test_lone_surrogate_is_a_clear_error():
    with pytest.raises(InputError, match=r"position 5: a lone UTF-16 surrogate \(U\+D800\)"):
        clean("Hello\ud800 world")


def test_tabs_and_line_breaks_are_text():
    assert clean("a\tb\n\nc") == ("a\tb\n\nc", 0)


def test_long_digit_runs_are_read_digit_by_digit():
    assert for_g2p("call 5551234567 now") == "call 5 5 5 1 2 3 4 5 6 7 now"
    assert for_g2p("x" + "9" * DIGIT_RUN) == "x" + "9" * DIGIT_RUN  # a number up to 999,999,999
    assert for_g2p("１２３４５６７８９０") == "１ ２ ３ ４ ５ ６ ７ ８ ９ ０"  # any script's digits


def test_very_long_words_are_cut_but_cjk_is_left_to_its_g2p():
    word = "a" * (LONG_TOKEN * 2 + 5)
    assert for_g2p(word).split() == ["a" * LONG_TOKEN, "a" * LONG_TOKEN, "aaaaa"]
    assert for_g2p("Pneumonoultramicroscopicsilicovolcanoconiosis") == \
        "Pneumonoultramicroscopicsilicovolcanoconiosis"
    kanji = "東京" * 100
    assert for_g2p(kanji) == kanji


@pytest.mark.parametrize("run", [50, 100, 400])
def test_every_digit_of_a_long_run_reaches_the_phonemes(engine, catalog, run):
    # espeak-ng alone stops after 44 digits: 50, 100 and 400 nines all gave 176 phonemes.
    chunks = list(engine.plan(parse_request({"text": f"Code {'9' * run}."}, catalog)))
    assert sum(c.phonemes.count("nˈIn") for c in chunks) == run


def test_a_5000_letter_token_is_phonemized_whole():
    import random

    rng = random.Random(0)
    token = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(5000))
    english = phonemizer("a")
    whole = sum(len(english(token[i:i + LONG_TOKEN])) for i in range(0, 5000, LONG_TOKEN))
    assert len(english(for_g2p(token))) >= 0.95 * whole  # was 1,484 phonemes before the cut


def test_japanese_long_numbers_no_longer_fail():
    japanese = phonemizer("j")
    with pytest.raises(Exception):
        japanese("9999999999")  # misaki's number reader fails from 10 digits
    assert japanese(for_g2p("9999999999")).count("kʲɨː") == 10


@pytest.mark.parametrize("text, phonemes, code, short", [
    ("Hello world, this must be spoken too.", "həlˈO wˈɜːld", "a", True),
    ("Hello world, this must be spoken too.", "həlˈO wˈɜːld, ðɪs mˈʌst bi spˈOkən tˈuː.", "a", False),
    ("Eaux.", "ˈO", "f", False),  # too short to judge
    ("今日はいい天気ですね。明日も晴れるでしょう。", "kʲoːwa", "j", True),
    ("今日はいい天気ですね。明日も晴れるでしょう。", "kʲoːwa iː teŋkʲi desɨne. asɨ mo haɾerɯ deʃoː.", "j", False),
])
def test_guard_flags_phonemes_too_few_for_the_text(text, phonemes, code, short):
    assert looks_truncated(text, phonemes, code) is short
