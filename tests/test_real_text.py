"""Text on real speech: nothing the user wrote is dropped, and English is read as Kokoro was
trained (misaki on spaCy's pipeline) rather than by the espeak-ng fallback."""

import re

import pytest
import torch

from tests.realspeech.hearing import REPORT, assert_heard
from tests.realspeech.listen import error_rate
from worker.model import precision as fp
from worker.service.request import parse_request
from worker.text import g2p

pytestmark = pytest.mark.real_weights

TAIL = "and then the story goes on"


def _speak(engine, text: str, **fields):
    return engine.synthesize(parse_request({"text": text, "voice": "jf_alpha", **fields}, engine.catalog))


@pytest.mark.parametrize("text", [
    f"Hello world\u0000 {TAIL}.",  # espeak-ng read a C string: everything after the NUL was lost
    f"Hello\u200b world\u2060, {TAIL}.",  # zero-width space and word joiner
    f"Hello world\u0007\u001b {TAIL}.",
], ids=["nul", "zero-width", "control"])
def test_invisible_and_control_characters_lose_no_words(real_engine, recogniser, text):
    result = _speak(real_engine, text)
    # What is lost after such a character is the tail (6 of 8 words: WER 0.75); one misheard
    # word ("a story" for "the story", heard once in CI) is the recogniser's, so 0.25 holds.
    assert_heard(recogniser, result.audio, f"Hello world, {TAIL}.", "en", limit=0.25)


def test_a_very_long_token_is_spoken_whole_and_what_follows_too(real_engine, recogniser):
    token = "abcdefghijklmnopqrstuvwxy" * 12  # 300 letters in one word: espeak-ng stopped near 160
    request = parse_request({"text": f"A long word {token}. After it, {TAIL}.", "voice": "jf_alpha"},
                            real_engine.catalog)
    chunks = list(real_engine.stream(request))
    # Measured: 22.8 s for all 300 letters (344 phonemes); without the cut in normalize.for_g2p
    # espeak-ng stopped after 187 phonemes and the chunk lasted 12.5 s.
    assert chunks[0].duration_s > 18, chunks[0].duration_s
    assert_heard(recogniser, chunks[-1].audio, f"After it, {TAIL}.", "en")


def test_a_long_digit_run_is_read_digit_by_digit(real_engine, recogniser):
    digits = "12345678901234567890"
    result = _speak(real_engine, f"The code is {digits}.")
    heard = recogniser.hear(result.audio, "en").text
    spoken_digits = re.sub(r"\D", "", heard)
    # Whisper writes a spoken digit string as digits; one digit of twenty may be misheard.
    assert len(spoken_digits) == len(digits) and sum(a != b for a, b in zip(spoken_digits, digits)) <= 1, heard


def test_a_long_japanese_number_is_spoken_not_an_error(real_engine, recogniser):
    result = _speak(real_engine, "番号は1234567890です。", language="ja")
    from rapidfuzz.distance import (
        Levenshtein,  # the real tier's package; the module must import without it
    )

    assert "iʨi ɲi saɴ joɴ ɡo ɾokɯ nana haʨi kʲɨː ʣeɾo" in result.result.phonemes
    heard = recogniser.hear(result.audio, "ja").text
    # Whisper writes the digits it hears as digits, and once in CI wrote "12345678900" for this
    # clip (locally "1234567890"): one digit of ten may be misheard, as in the English test.
    assert Levenshtein.distance(re.sub(r"\D", "", heard), "1234567890") <= 1 or error_rate(
        "番号はいちにさんよんごろくななはちきゅうぜろです", heard, "ja") <= 0.2, heard


# Numbers, money, times, abbreviations and heteronyms: where the two English G2Ps differ.
G2P_SENTENCES = [
    "The ticket costs $5.50 at the door.",
    "The meeting starts at 3:30 pm today.",
    "We counted 1,234 birds this year.",
    "She finished in 2nd place.",
    "Dr. Smith will see you now.",
    "I read it yesterday, and I will read it again tomorrow.",
    "He wound the bandage around the wound.",
    "The 3rd of May was a Monday.",
    "It weighs 42 kg and costs €19.99.",
    "Please record the record in the studio.",
]


def _heard_with(real_engine, recogniser, phonemize) -> list[float]:
    kmodel = real_engine.model("v1.0")
    pack = real_engine.voice_pack(parse_request({"text": "x", "voice": "jf_alpha"}, real_engine.catalog))
    rates = []
    for sentence in G2P_SENTENCES:
        phonemes = phonemize(sentence)
        torch.manual_seed(0)  # the model's noise source: one clip per phoneme string, in both runs
        with torch.inference_mode(), fp.autocast(real_engine.precision, real_engine.device):
            audio = kmodel(phonemes, pack[len(phonemes) - 1], 1.0).numpy()
        rates.append(error_rate(sentence, recogniser.hear(audio, "en").text, "en"))
    return rates


def test_misaki_english_is_heard_better_than_the_espeak_fallback(real_engine, recogniser, monkeypatch):
    g2p.english.cache_clear()
    misaki = _heard_with(real_engine, recogniser, g2p.english("a"))
    monkeypatch.setattr(g2p, "spacy_pipeline", lambda: None)
    g2p.english.cache_clear()
    espeak = _heard_with(real_engine, recogniser, g2p.english("a"))
    g2p.english.cache_clear()
    if REPORT:
        import json

        with open(REPORT, "a", encoding="utf-8") as out:
            out.write(json.dumps({"test": "g2p", "misaki": misaki, "espeak": espeak}) + "\n")
    mean = lambda rates: sum(rates) / len(rates)  # noqa: E731
    assert mean(misaki) < mean(espeak), (misaki, espeak)
    # Measured mean 0.041 on one machine and 0.1006 in one CI run with the noise unseeded: one
    # misheard word moves the mean of ten sentences by 0.01-0.02. The short-sentence limit (0.12).
    assert mean(misaki) <= 0.12, misaki
