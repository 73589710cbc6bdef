"""Subtitles from word timings: SRT or WebVTT cues a viewer can read as the audio plays.

A cue ends at a sentence end, before a word that would need a third line, or before the cue would
last longer than MAX_CUE_S. Lines hold at most LINE_CHARS characters (CJK_LINE_CHARS where the words
are Chinese or Japanese, which take twice the width), at most two lines a cue, and are balanced
rather than filled greedily. Cues follow each other without gaps or overlaps: each stays until the
next begins, the last until the end of the audio, so the captions cover the whole file.

Where the words and their times come from is not this module's business (issue 13: the engine's
predicted durations); it takes `Word`s in reading order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LINE_CHARS = 42
CJK_LINE_CHARS = 16
MAX_LINES = 2
MAX_CUE_S = 7.0
_SENTENCE_END = re.compile(r"[.!?…。！？]['\"”’»)）」』]*$")
_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")


@dataclass(frozen=True)
class Word:
    text: str  # as the reader sees it in the original text ("$5", not "five dollars")
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    lines: tuple[str, ...]


def _cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def _joined(words: list[Word]) -> str:
    out = ""
    for word in words:  # CJK words sit side by side; others are separated by a space
        glue = "" if not out or (_cjk(out[-1]) and _cjk(word.text[:1])) else " "
        out += glue + word.text
    return out


def _lines(words: list[Word]) -> tuple[str, ...]:
    """One line if it fits, else the two lines whose longer one is shortest."""
    whole = _joined(words)
    if len(whole) <= _limit(words) or len(words) < 2:
        return (whole,)
    best = min(range(1, len(words)), key=lambda k: max(len(_joined(words[:k])), len(_joined(words[k:]))))
    return _joined(words[:best]), _joined(words[best:])


def _limit(words: list[Word]) -> int:
    return CJK_LINE_CHARS if any(_cjk(w.text) for w in words) else LINE_CHARS


def _fits(words: list[Word]) -> bool:
    lines = _lines(words)
    return len(lines) <= MAX_LINES and all(len(line) <= _limit(words) for line in lines) \
        and words[-1].end_s - words[0].start_s <= MAX_CUE_S


def cues(words: list[Word], duration_s: float | None = None) -> list[Cue]:
    """The words grouped into cues; the last runs to `duration_s` (default: its last word's end)."""
    groups: list[list[Word]] = []
    current: list[Word] = []
    for word in (w for w in words if w.text.strip()):
        if current and not _fits(current + [word]):
            groups.append(current)
            current = []
        current.append(word)
        if _SENTENCE_END.search(word.text):
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    out = []
    for i, group in enumerate(groups):
        start = 0.0 if i == 0 else group[0].start_s
        end = groups[i + 1][0].start_s if i + 1 < len(groups) else max(duration_s or 0.0, group[-1].end_s)
        out.append(Cue(start, max(end, start + 0.001), _lines(group)))
    return out


def _stamp(seconds: float, decimal: str) -> str:
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{decimal}{ms:03d}"


def srt(words: list[Word], duration_s: float | None = None) -> str:
    return "".join(f"{i}\n{_stamp(c.start_s, ',')} --> {_stamp(c.end_s, ',')}\n" + "\n".join(c.lines) + "\n\n"
                   for i, c in enumerate(cues(words, duration_s), start=1))


def vtt(words: list[Word], duration_s: float | None = None) -> str:
    body = "".join(f"{_stamp(c.start_s, '.')} --> {_stamp(c.end_s, '.')}\n" + "\n".join(_escape(line) for line in c.lines)
                   + "\n\n" for c in cues(words, duration_s))
    return "WEBVTT\n\n" + body


def _escape(line: str) -> str:
    # WebVTT cue text is markup: a bare & or < would start an entity or a tag.
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render(fmt: str, words: list[Word], duration_s: float | None = None) -> str:
    """Captions in `fmt` ("srt" or "vtt")."""
    return {"srt": srt, "vtt": vtt}[fmt](words, duration_s)
