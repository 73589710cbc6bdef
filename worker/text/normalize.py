"""Make a text safe to speak: nothing in it may be silently lost on the way to the model.

Two steps, both pure:
- `clean` runs once on the request: it refuses what cannot be text (a lone UTF-16 surrogate),
  turns control characters into spaces (espeak-ng reads a C string and stops at a NUL, so
  "Hello\\0 world" used to speak only "Hello") and drops invisible format characters (zero-width
  spaces and joiners, BOM, soft hyphens), which G2P would otherwise read or trip on.
- `for_g2p` runs on each piece of text just before G2P: it reshapes runs that G2P cuts short or
  fails on, so every part is spoken. Digit runs longer than `DIGIT_RUN` are read digit by digit
  (espeak-ng stops after 44 digits, misaki's Japanese number reader fails from 10 digits, and a
  20-digit "number" read as quintillions is no use to a listener either). Letter runs longer than
  `LONG_TOKEN` are cut into pieces of that size (espeak-ng drops what follows ~160 letters of one
  word). CJK text has no spaces and is left alone: its G2P segments it.
"""

from __future__ import annotations

import re
import unicodedata

from worker.core.errors import InputError
from worker.text import scripts

DIGIT_RUN = 9  # longest digit run read as one number ("999999999" is fine in every language)
LONG_TOKEN = 64  # longest run of letters kept whole (longer than any dictionary word we know)

_DIGITS = re.compile(rf"\d{{{DIGIT_RUN + 1},}}")
# Letters of scripts written with spaces: everything \w matches except digits, "_" and the CJK,
# kana and Hangul blocks (whose words are found by their G2P, not by spaces).
_LONG_WORD = re.compile(
    rf"[^\W\d_\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]{{{LONG_TOKEN + 1},}}")
_KEEP_CONTROL = "\n\t"


def clean(text: str) -> tuple[str, int]:
    """The text with control characters turned into spaces and invisible format characters
    removed; also how many characters were changed. InputError for a lone surrogate."""
    out: list[str] = []
    changed = 0
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for position, ch in enumerate(text):
        category = unicodedata.category(ch)
        if category == "Cs":
            raise InputError(f"'text' holds an invalid character at position {position}: a lone "
                             "UTF-16 surrogate (U+%04X), which is not text; send valid Unicode." % ord(ch))
        if category == "Cc" and ch not in _KEEP_CONTROL:
            out.append(" ")  # keeps the words on either side apart
            changed += 1
        elif category == "Cf":
            changed += 1
        else:
            out.append(ch)
    return "".join(out), changed


def _spell_digits(match: re.Match) -> str:
    return " ".join(match.group())


def _cut_word(match: re.Match) -> str:
    word = match.group()
    return " ".join(word[i:i + LONG_TOKEN] for i in range(0, len(word), LONG_TOKEN))


def for_g2p(text: str) -> str:
    """The text as G2P should see it: long digit runs spaced digit by digit, very long words cut."""
    return _LONG_WORD.sub(_cut_word, _DIGITS.sub(_spell_digits, text))


# Phoneme letters per letter or digit of text below which G2P has most likely dropped part of
# the text, by kokoro language code. The fewest measured on real text (catalog samples and harder
# sentences): English "Eaux, beaux, though, through, thought." 0.62, French 0.68, Hindi 2.1,
# Japanese 1.89, Chinese 2.1, v1.1 Chinese 1.58. Alphabetic scripts get 0.4 (two thirds of that),
# the others about half. "Hello world\0 this must be spoken too." spoke 0.3 before the fix.
MIN_SOUNDS_PER_CHAR = {"a": 0.4, "b": 0.4, "e": 0.4, "f": 0.4, "i": 0.4, "p": 0.4,
                       "h": 1.0, "j": 0.9, "z": 0.8}
GUARD_MIN_CHARS = 16  # short texts vary too much ("Eaux." is one sound) to judge


def looks_truncated(text: str, phonemes: str, kokoro_code: str) -> bool:
    """True when `phonemes` are implausibly few for `text` (G2P silently dropped some of it)."""
    chars = sum(1 for ch in text if ch.isalnum())
    if chars < GUARD_MIN_CHARS:
        return False
    # Letters of a text script (Cyrillic a G2P passed through, say) are no sound: the model has no
    # symbol for them and speaks silence.
    sounds = sum(1 for ch in phonemes if ch.isalpha() and scripts.script(ch) not in scripts.TEXT_SCRIPTS)
    return sounds < MIN_SOUNDS_PER_CHAR.get(kokoro_code, 0.4) * chars
