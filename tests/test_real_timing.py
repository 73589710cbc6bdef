"""Word timings, pronunciations and pauses on real speech: the recogniser's own word timestamps
agree with ours, written pronunciations change what it hears, pauses add their length."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.realspeech.hearing import assert_heard
from tests.realspeech.timings import agreement
from worker.service.request import parse_request

pytestmark = pytest.mark.real_weights

TEXTS = {
    "en": ("The old lighthouse keeper climbed the stairs every evening. He lit the lamp, watched the "
           "ships pass by, and wrote a few lines in his journal before midnight."),
    "ja": "昨日は友達と一緒に公園を散歩しました。桜の花がとても綺麗で、たくさん写真を撮りました。",
}


def _speak(engine, text: str, language: str = "en-us", **fields):
    torch.manual_seed(0)  # the model's noise source: the same clip for the same text
    request = parse_request({"text": text, "voice": "jf_alpha", "language": language, **fields}, engine.catalog)
    return engine.synthesize(request)


@pytest.mark.parametrize("language", ["en", "ja"])
def test_our_word_times_agree_with_the_recognisers(real_engine, recogniser, language):
    synthesis = _speak(real_engine, TEXTS[language], "en-us" if language == "en" else "ja", timestamps=True)
    words = synthesis.result.words
    heard = recogniser.hear(synthesis.audio, language)
    found = agreement(words, heard.words)
    print(f"\n{language}: {found}")
    assert found.matched >= 0.6 * found.ours, found  # most words found in both transcripts
    assert found.median_s <= 0.1 and found.worst_s <= 0.5, found


def test_an_inline_pronunciation_is_what_the_recogniser_hears(real_engine, recogniser):
    synthesis = _speak(real_engine, "I would like a baked [tomato](/pətˈAtO/) for dinner.")
    assert "pətˈAtO" in synthesis.result.phonemes
    assert_heard(recogniser, synthesis.audio, "I would like a baked potato for dinner.", "en")


def test_a_lexicon_entry_is_what_the_recogniser_hears(real_hf_home, recogniser):
    from worker.model.engine import Engine

    engine = Engine(cache_dir=real_hf_home / "hub", pronunciations={"en-us": {"cat": "dˈɔɡ"}})
    synthesis = _speak(engine, "The cat sleeps by the fire.")
    assert "dˈɔɡ" in synthesis.result.phonemes
    assert_heard(recogniser, synthesis.audio, "The dog sleeps by the fire.", "en")


@pytest.mark.parametrize("language, text", [
    ("en-us", "The bell rang twice. {} Then the hall went quiet."),
    ("ja", "ベルが二回鳴りました。{}そして静かになりました。"),
])
def test_a_pause_adds_its_length(real_engine, language, text):
    plain = _speak(real_engine, text.format(""), language, timestamps=True)
    paused = _speak(real_engine, text.format("[pause:1.5s]"), language, timestamps=True)
    added = paused.result.duration_s - plain.result.duration_s
    assert abs(added - 1.5) <= 0.02, added
    # and the words after it move by the same amount
    shift = np.array([p.start_s - q.start_s for p, q in zip(paused.result.words, plain.result.words)])
    assert abs(shift[-1] - 1.5) <= 0.02 and abs(shift[0]) <= 0.02, shift
