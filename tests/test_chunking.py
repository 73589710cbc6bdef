import itertools

import pytest

from worker.text.chunking import MAX_PHONEMES, bounded, plan, sentences


def chars(text: str) -> str:
    """A G2P stand-in: one 'phoneme' per non-space character, so limits are easy to reason on."""
    return text.replace(" ", "")


def test_sentence_ends_include_cjk_and_danda():
    assert list(sentences("今日は晴れ。明日は雨！本当？はい")) == ["今日は晴れ。", "明日は雨！", "本当？", "はい"]
    assert list(sentences("你好。世界！")) == ["你好。", "世界！"]
    assert list(sentences("यह पहला है। यह दूसरा है।")) == ["यह पहला है।", "यह दूसरा है।"]
    assert list(sentences('He said "stop." Then left. Pi is 3.14 ok')) == \
        ['He said "stop."', "Then left.", "Pi is 3.14 ok"]
    assert list(sentences("line one\n\nline two")) == ["line one", "line two"]


@pytest.mark.hostile
def test_no_chunk_exceeds_the_context_and_nothing_is_lost():
    text = "。".join("これは長い文章です" * 80 for _ in range(3)) + "。"  # sentences far over 510
    chunks = list(plan(text, chars))
    assert all(0 < len(c.phonemes) <= MAX_PHONEMES for c in chunks)
    assert "".join(c.text for c in chunks) == text


def test_long_sentence_is_cut_at_clause_breaks_first():
    text = ", ".join(["word " * 40] * 6).strip() + "."
    pieces = bounded(text, chars, limit=400)
    assert len(pieces) > 1
    assert all(p.text.endswith((",", ".")) for p in pieces)
    assert chars(" ".join(p.text for p in pieces)) == chars(text)


def test_split_sentences_false_packs_sentences_within_the_limit():
    text = " ".join(f"Sentence number {i} is here." for i in range(100))
    split = list(plan(text, chars, split_sentences=True))
    packed = list(plan(text, chars, split_sentences=False))
    assert len(split) == 100
    assert 1 < len(packed) < 15
    assert all(len(c.phonemes) <= MAX_PHONEMES for c in packed)
    assert chars("".join(c.text for c in packed)) == chars(text)


def test_plan_is_lazy_first_chunk_needs_one_sentence_of_g2p():
    calls = []

    def counting(text):
        calls.append(text)
        return chars(text)

    huge = "A short sentence. " * 10_000
    first = list(itertools.islice(plan(huge, counting), 1))
    assert first[0].text == "A short sentence."
    assert len(calls) == 1


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_nothing_to_say_gives_no_chunks(text):
    assert list(plan(text, chars)) == []


def test_each_chunk_knows_the_break_before_it():
    text = "One, two. Three!\n\nFour five; six.\nSeven"
    split = [(c.text, c.break_before) for c in plan(text, chars)]
    assert split == [("One, two.", ""), ("Three!", "sentence"), ("Four five; six.", "paragraph"),
                     ("Seven", "sentence")]
    packed = [(c.text, c.break_before) for c in plan(text, chars, split_sentences=False)]
    # A paragraph starts a new chunk in both modes, so its pause is the same.
    assert packed == [("One, two. Three!", ""), ("Four five; six. Seven", "paragraph")]


def test_cut_spans_record_a_clause_or_word_break():
    breaks = [c.break_before for c in plan("aaaa bbbb, cccc dddd eeee. ffff", chars, limit=10)]
    assert breaks == ["", "clause", "word", "sentence"]


def test_ahead_closed_with_a_full_queue_ends_its_thread_and_its_iteration():
    from worker.text.chunking import Ahead, Chunk

    made = []

    def chunks():
        for i in range(50):
            made.append(i)
            yield Chunk(f"s{i}.", "a", "sentence")

    ahead = Ahead(chunks(), depth=1)
    assert next(ahead).text == "s0."
    ahead.close()  # the consumer walks away while the G2P thread waits on a full queue
    ahead._thread.join(2)
    assert not ahead._thread.is_alive() and len(made) <= 4
    assert len(list(ahead)) <= 1  # what was queued, then the end: never blocks without an end marker
