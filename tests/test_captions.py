"""Subtitles from word timings (worker/sound/captions.py), read back by real subtitle parsers."""

from __future__ import annotations

import html
import io

import pytest
import srt as srt_parser
import webvtt

from worker.sound.captions import (
    CJK_LINE_CHARS,
    LINE_CHARS,
    MAX_CUE_S,
    Word,
    cues,
    srt,
    vtt,
)


def _words(text: str, per_word_s: float = 0.3, gap_after_sentence_s: float = 0.4) -> list[Word]:
    out, t = [], 0.0
    for token in text.split():
        out.append(Word(token, t, t + per_word_s))
        t += per_word_s + (gap_after_sentence_s if token.endswith(".") else 0.05)
    return out


SPEECH = ("Hello there. This sentence is long enough that it needs more than one line of captions to be read, "
          "and it goes on a little longer still. Short one. & <tags> stay text.")


def test_cues_end_at_sentences_fit_two_lines_and_tile_the_audio():
    words = _words(SPEECH)
    made = cues(words, duration_s=words[-1].end_s + 1.0)
    assert made[0].lines == ("Hello there.",) and made[0].start_s == 0.0
    for cue in made:
        assert len(cue.lines) <= 2 and all(len(line) <= LINE_CHARS for line in cue.lines)
    for a, b in zip(made, made[1:]):
        assert a.end_s == b.start_s  # no gap, no overlap
    assert made[-1].end_s == words[-1].end_s + 1.0
    assert " ".join(" ".join(c.lines) for c in made) == " ".join(w.text for w in words)  # every word, once


def test_a_cue_never_outlasts_its_limit():
    slow = _words("one two three four five six seven eight nine ten", per_word_s=1.0)
    assert all(c.lines and (c.end_s - c.start_s <= MAX_CUE_S + 1.1) for c in cues(slow))
    assert len(cues(slow)) >= 2


def test_srt_and_vtt_parse_with_real_parsers():
    words = _words(SPEECH)
    parsed = list(srt_parser.parse(srt(words)))
    assert [p.index for p in parsed] == list(range(1, len(parsed) + 1))
    assert parsed[0].content == "Hello there." and parsed[0].start.total_seconds() == 0.0
    captions = webvtt.from_buffer(io.StringIO(vtt(words)))
    assert len(captions) == len(parsed)
    assert captions[-1].text == "&amp; &lt;tags&gt; stay text."  # markup characters escaped, not tags
    assert html.unescape(captions[-1].text) == parsed[-1].content
    for a, b in zip(parsed, parsed[1:]):
        assert a.end == b.start


def test_japanese_words_sit_side_by_side_on_short_lines():
    words = [Word(w, i * 0.4, i * 0.4 + 0.35) for i, w in enumerate(
        ["吾輩", "は", "猫", "で", "ある", "。", "名前", "は", "まだ", "無い", "。"])]
    made = cues(words)
    assert [c.lines for c in made] == [("吾輩は猫である。",), ("名前はまだ無い。",)]
    assert all(len(line) <= CJK_LINE_CHARS for c in made for line in c.lines)


@pytest.mark.parametrize("n", [2000])
def test_a_long_text_makes_valid_captions(n):
    words = _words(" ".join(f"word{i}{'.' if i % 17 == 16 else ''}" for i in range(n)))
    parsed = list(srt_parser.parse(srt(words)))
    assert sum(len(p.content.split()) for p in parsed) == n
    assert parsed[-1].end.total_seconds() == pytest.approx(words[-1].end_s, abs=0.001)
