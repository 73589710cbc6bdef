"""Markup in the text: pronunciations `[word](/phonemes/)` and pauses `[pause:1.5s]`, any language.

`parse` turns a text into a `Script`: sections of text separated by explicit pauses, with each
pronounced word replaced by a placeholder (a private-use character) so sentence splitting and G2P
cannot cut through it. `phonemize` is G2P for a piece of such text: the plain runs go through the
language's G2P, the placeholders become their phonemes as written. `display` gives the text a
reader sees (the word, not the markup). A lexicon (word → phonemes) is applied by rewriting its
words as the same markup (`with_lexicon`), so the file, the studio's Pronunciations editor and
inline markup are one mechanism.

Markup that is almost right (`[pause:abc]`, `[word](/phonemes)`) is an InputError that says how to
write it: it is never spoken as brackets.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from worker.core.errors import InputError, snippet

MAX_PAUSE_S = 10.0
MAX_PHONEMES = 510  # the model's context (worker/text/chunking.py); a pronounced word is never cut
MAX_TOTAL_PAUSE_S = 60.0  # 800 ten-second pauses fit in a 10,000-character text: 2 h of silence
_FIRST = 0xE000  # placeholders: the private-use area, which no G2P reads and no user types
_PRIVATE = re.compile("[\ue000-\uf8ff]")
_PAUSE = re.compile(r"\[pause:\s*(\d+(?:\.\d+)?)\s*(s|ms)\s*\]", re.IGNORECASE)
_PAUSE_LIKE = re.compile(r"\[\s*pause\b[^\]\n]{0,40}\]?", re.IGNORECASE)
_SAY = re.compile(r"\[([^\[\]\n]+)\]\(/([^/()\n]+)/\)")
# A line break inside the brackets is a mistake to report, not text to read as brackets.
_SAY_LIKE = re.compile(r"\[[^\[\]]*\]\(/?[^)\n]{0,60}\)?")


@dataclass(frozen=True)
class Section:
    text: str  # with placeholders for pronounced words
    pause_before_s: float = 0.0


@dataclass(frozen=True)
class Script:
    sections: tuple[Section, ...]
    said: tuple[tuple[str, str], ...] = ()  # placeholder i -> (word, phonemes)

    def display(self, text: str) -> str:
        """`text` (a piece of a section) as the reader wrote it, without the markup."""
        return _PRIVATE.sub(lambda m: self._entry(m.group())[0], text)

    def phonemes_of(self, placeholder: str) -> str:
        return self._entry(placeholder)[1]

    def _entry(self, placeholder: str) -> tuple[str, str]:
        return self.said[ord(placeholder) - _FIRST]

    @property
    def pause_s(self) -> float:
        return sum(s.pause_before_s for s in self.sections)


def _pause_seconds(match: re.Match) -> float:
    value = float(match.group(1)) / (1000 if match.group(2).lower() == "ms" else 1)
    if value > MAX_PAUSE_S:
        raise InputError(f"The pause \"{match.group()}\" is longer than {MAX_PAUSE_S:g} s, the most "
                         "one pause may last.")
    return value


def _check_leftovers(text: str, said: list[tuple[str, str]]) -> None:
    """What still looks like markup once the valid markup is gone is a mistake to report, quoted
    as the user wrote it (the pronounced words inside it put back)."""
    def written(held: str) -> str:
        return _PRIVATE.sub(lambda m: "[{}](/{}/)".format(*said[ord(m.group()) - _FIRST]), held)

    if bad := _PAUSE_LIKE.search(text):
        raise InputError(f"\"{snippet(written(bad.group()))}\" is not a pause; write it as [pause:1.5s] or "
                         f"[pause:500ms] (at most {MAX_PAUSE_S:g} s).")
    if bad := _SAY_LIKE.search(text):
        raise InputError(f"\"{snippet(written(bad.group()))}\" is not a pronunciation; write it as "
                         "[word](/phonemes/), e.g. [Kokoro](/kˈOkəɹO/).")


def parse(text: str) -> Script:
    """The text's sections and pronounced words; InputError for malformed markup."""
    text = _PRIVATE.sub(" ", text)  # a user's own private-use characters cannot be spoken anyway
    said: list[tuple[str, str]] = []

    def hold(match: re.Match) -> str:
        word, phonemes = match.group(1).strip(), match.group(2).strip()
        if not word or not phonemes:
            raise InputError(f"\"{snippet(match.group())}\" needs both a word and its phonemes, "
                             "as in [Kokoro](/kˈOkəɹO/).")
        if len(phonemes) > MAX_PHONEMES:  # one word is never cut: refused whole
            raise InputError(f"The pronunciation of \"{snippet(word)}\" has {len(phonemes):,} phonemes; at most "
                             f"{MAX_PHONEMES} fit in what Kokoro speaks at once, so shorten it or split the "
                             "word into several.")
        said.append((word, phonemes))
        return chr(_FIRST + len(said) - 1)

    held = _SAY.sub(hold, text)
    sections: list[Section] = []
    start, pause = 0, 0.0
    for match in _PAUSE.finditer(held):
        _check_leftovers(held[start:match.start()], said)
        sections.append(Section(held[start:match.start()], pause))
        start, pause = match.end(), _pause_seconds(match)
    _check_leftovers(held[start:], said)
    sections.append(Section(held[start:], pause))
    # A pause between two pauses (or at an edge) has no text to sit before: merge them.
    merged: list[Section] = []
    for section in sections:
        if merged and not merged[-1].text.strip():
            section = Section(section.text, merged.pop().pause_before_s + section.pause_before_s)
        merged.append(section)
    script = Script(tuple(merged), tuple(said))
    if script.pause_s > MAX_TOTAL_PAUSE_S:
        raise InputError(f"The text's pauses add up to {script.pause_s:g} s; at most {MAX_TOTAL_PAUSE_S:g} s "
                         "of pauses are allowed in one job.")
    return script


def phonemize(text: str, g2p: Callable[[str], str], script: Script) -> str:
    """G2P for `text` (a piece of a section): plain runs through `g2p`, pronounced words as written.
    Punctuation-only runs attach to what precedes them, as G2P would write them."""
    out: list[str] = []
    for run in re.split(f"({_PRIVATE.pattern})", text):
        if not run.strip():
            continue
        phonemes = script.phonemes_of(run) if _PRIVATE.fullmatch(run) else g2p(run.strip()).strip()
        if not phonemes:
            continue
        punctuation = not _PRIVATE.fullmatch(run) and not any(ch.isalnum() for ch in run)
        glue = "" if not out or punctuation else " "
        out.append(glue + phonemes)
    return "".join(out)


def with_lexicon(text: str, entries: dict[str, str]) -> str:
    """`text` with every word of `entries` (case-insensitive, whole words; any substring for CJK
    keys, whose words have no spaces) written as a pronunciation, except inside existing markup."""
    if not entries:
        return text
    keys = sorted(entries, key=len, reverse=True)  # "New York" before "York"
    lowered = {k.lower(): v for k, v in entries.items()}
    alternatives = "|".join(re.escape(k) if _cjk(k) else rf"(?<!\w){re.escape(k)}(?!\w)" for k in keys)
    pattern = re.compile(alternatives, re.IGNORECASE)

    def mark(plain: str) -> str:
        return pattern.sub(lambda m: f"[{m.group()}](/{lowered[m.group().lower()]}/)", plain)

    pieces = []
    start = 0
    for markup in re.finditer(f"{_SAY.pattern}|{_PAUSE.pattern}", text, re.IGNORECASE):
        pieces += [mark(text[start:markup.start()]), markup.group()]
        start = markup.end()
    return "".join(pieces) + mark(text[start:])


def _cjk(word: str) -> bool:
    return bool(re.search(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]", word))
