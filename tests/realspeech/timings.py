"""Comparing our word times with the recogniser's: which words are the same word, and how far
apart their starts are."""

from __future__ import annotations

import difflib
import re
import statistics
from dataclasses import dataclass

_KEEP = re.compile(r"\w")


def _letters(text: str) -> str:
    return "".join(ch for ch in text.lower() if _KEEP.match(ch))


def _starts(words) -> tuple[str, dict[int, float]]:
    """The words' letters run together, and each word's start time keyed by its first letter."""
    joined, starts = "", {}
    for word in words:
        letters = _letters(word.text)
        if letters:
            starts[len(joined)] = word.start_s
            joined += letters
    return joined, starts


@dataclass(frozen=True)
class Agreement:
    matched: int
    ours: int
    differences: tuple[float, ...]  # |our start - heard start| per matched word, seconds

    @property
    def median_s(self) -> float:
        return statistics.median(self.differences)

    @property
    def worst_s(self) -> float:
        return max(self.differences)

    def __str__(self) -> str:
        return (f"{self.matched} of {self.ours} words matched; start difference median "
                f"{self.median_s * 1000:.0f} ms, worst {self.worst_s * 1000:.0f} ms")


def agreement(ours, heard) -> Agreement:
    """Words count as the same where both transcripts start a word at the same aligned letter
    (so it works for Japanese, whose Whisper words are not MeCab's): their start times differ by?"""
    our_text, our_starts = _starts(ours)
    heard_text, heard_starts = _starts(heard)
    differences = []
    matcher = difflib.SequenceMatcher(None, our_text, heard_text, autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            mine, theirs = block.a + k, block.b + k
            if mine in our_starts and theirs in heard_starts:
                differences.append(abs(our_starts[mine] - heard_starts[theirs]))
    return Agreement(len(differences), len(our_starts), tuple(differences))
