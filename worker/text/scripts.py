"""Text in a script the language's G2P cannot read goes to a G2P that can: nothing is dropped.

misaki's Japanese G2P silently drops Cyrillic, Greek or Hangul, misaki's Chinese passes them through
as "phonemes" the model has no sound for (silence), and espeak-ng's English spells Cyrillic letter
by letter and marks its own language switches with "(hi)…(en-us)" in the phonemes. `routed` wraps a
language's G2P: the text is cut into runs by script (each letter's Unicode script; marks, digits,
spaces and punctuation stay with the run they follow), the language's own scripts go to its G2P,
and a run in another script to the G2P of a language written in it: kokoro's own for Latin
(English) and Japanese or Chinese characters, espeak-ng's for the rest (`ESPEAK`, e.g. Cyrillic
read as Russian, the most widely written Cyrillic language). Letters of a script none of these
reads stay with the language's G2P; the guard (worker/text/normalize.py) notes a chunk that lost them.

Flag emoji (two regional indicator letters) are read as their country's name in the text's
language, from the CLDR names babel ships (🇯🇵 → "Japan", "日本"); espeak-ng read some flags and
dropped others.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable

G2P = Callable[[str], str]

# A script (the first word of a letter's Unicode name) -> espeak-ng's language for it.
ESPEAK = {"CYRILLIC": "ru", "GREEK": "el", "ARABIC": "ar", "HEBREW": "he", "HANGUL": "ko", "THAI": "th",
          "GEORGIAN": "ka", "ARMENIAN": "hy", "BENGALI": "bn", "TAMIL": "ta", "TELUGU": "te", "KANNADA": "kn",
          "MALAYALAM": "ml", "GUJARATI": "gu", "GURMUKHI": "pa", "SINHALA": "si", "MYANMAR": "my",
          "ETHIOPIC": "am"}
_KANA = frozenset({"HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA"})
# Letters of these scripts are text, never one of Kokoro's phoneme symbols (the guard's business).
TEXT_SCRIPTS = frozenset(ESPEAK) | _KANA | {"DEVANAGARI"}
_CJK = frozenset({"CJK"}) | _KANA

# The scripts each language's G2P reads (kokoro code; "z1.1": the v1.1-zh model's Chinese, whose
# G2P reads Latin words through misaki's English).
NATIVE = {"a": {"LATIN"}, "b": {"LATIN"}, "e": {"LATIN"}, "f": {"LATIN"}, "i": {"LATIN"}, "p": {"LATIN"},
          "h": {"DEVANAGARI", "LATIN"}, "j": set(_CJK), "z": {"CJK"}, "z1.1": {"CJK", "LATIN"}}
LOCALE = {"a": "en", "b": "en", "e": "es", "f": "fr", "h": "hi", "i": "it", "j": "ja", "p": "pt", "z": "zh"}

_FLAG = re.compile("[\U0001F1E6-\U0001F1FF]{2}")
_NEUTRAL = ""  # not a letter: joins the run before it


@functools.lru_cache(maxsize=4096)
def script(ch: str) -> str:
    """The script of a letter (the first word of its Unicode name, "CJK" for Han); "" otherwise."""
    if not ch.isalpha():
        return _NEUTRAL
    return unicodedata.name(ch, "").split(" ")[0]


def _group(ch: str, native: set[str], kana_apart: bool) -> str | None:
    """None for the language's own letters (and letters no G2P here knows), "" for non-letters,
    else the name of the foreign run the letter belongs to."""
    name = script(ch)
    if name == _NEUTRAL:
        return _NEUTRAL
    if name in native or not (name in ESPEAK or name in _CJK or name in ("LATIN", "DEVANAGARI")):
        return None
    if name in _CJK and not kana_apart:
        return "CJK"  # kanji and kana of one Japanese phrase stay one run
    return name


def runs(text: str, code: str) -> list[tuple[str | None, str]]:
    """`text` as (foreign script or None for the language's own, piece), in order."""
    native = NATIVE[code]
    kana_apart = code.startswith("z")  # Chinese reads its Han characters itself; kana go to Japanese
    pieces: list[list] = []  # [group, text, has a letter]
    for ch in text:
        group = _group(ch, native, kana_apart)
        if group == _NEUTRAL:
            if not pieces:
                pieces.append([None, "", False])
            pieces[-1][1] += ch
        elif pieces and not pieces[-1][2]:  # what came before had no letter: it joins this run
            pieces[-1][0], pieces[-1][1], pieces[-1][2] = group, pieces[-1][1] + ch, True
        elif pieces and pieces[-1][0] == group:
            pieces[-1][1] += ch
        else:
            pieces.append([group, ch, True])
    return [(group, piece) for group, piece, _ in pieces]


@functools.lru_cache(maxsize=None)
def _espeak(language: str) -> G2P:
    from misaki import espeak

    g2p = espeak.EspeakG2P(language=language)  # language_switch="remove-flags"
    return lambda text: g2p(text)[0] or ""


def _foreign(group: str, piece: str, phonemizer: Callable[[str], G2P]) -> G2P:
    """The G2P for a run of another script: one of Kokoro's (`phonemizer`, by kokoro language code,
    handed in by worker/text/g2p.py, which imports this module) or espeak-ng's."""
    if group == "LATIN":
        return phonemizer("a")
    if group == "DEVANAGARI":
        return phonemizer("h")
    if group in _KANA or group == "CJK" and any(script(ch) in _KANA for ch in piece):
        return phonemizer("j")
    if group == "CJK":
        return phonemizer("z")
    return _espeak(ESPEAK[group])


def flags_named(text: str, code: str) -> str:
    """Flag emoji replaced by their country's name in the language of `code`; unknown pairs kept."""
    if not _FLAG.search(text):
        return text
    from babel import Locale

    names = Locale.parse(LOCALE[code]).territories
    spaced = code not in "jz"  # Japanese and Chinese write no spaces between words

    def name(match: re.Match) -> str:
        region = "".join(chr(ord(ch) - 0x1F1E6 + ord("A")) for ch in match.group())
        found = names.get(region)
        return match.group() if found is None else f" {found} " if spaced else found

    named = _FLAG.sub(name, text)
    return re.sub(r"(?<=\S) {2,}(?=\S)", " ", named).strip() if spaced else named


def routed(g2p: G2P, code: str, phonemizer: Callable[[str], G2P]) -> G2P:
    """`g2p` (the G2P for kokoro language `code`, or "z1.1") with flags named and every run in a
    script it cannot read phonemized by a G2P that can (`phonemizer`: Kokoro's, by language code)."""
    language = code[0]

    def run(text: str) -> str:
        text = flags_named(text, language)
        pieces = runs(text, code)
        if all(group is None for group, _ in pieces):
            return g2p(text)  # the usual case: one script, the language's own
        said = [(g2p if group is None else _foreign(group, piece, phonemizer))(piece).strip()
                for group, piece in pieces]
        return " ".join(s for s in said if s)

    return run
