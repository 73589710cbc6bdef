"""Cut text into chunks the model can speak: each within its phoneme context, none truncated.

Works lazily (a generator), so the first chunk of a very long text is ready after one sentence
of G2P, not after all of it. Sentence ends include the CJK 。！？ and the Devanagari danda,
which kokoro's own splitter for non-English text does not know.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

MAX_PHONEMES = 510  # KModel's context is 512 tokens, two of them the start/end pads

# A sentence ends at ASCII .!?… followed by space (so "3.14" stays whole), at a CJK or
# Devanagari end mark with no space needed, or at a line break; closing quotes stay attached.
_SENTENCE_END = re.compile(
    r"[.!?…]+[\"'”’)\]]*(?=\s|$)|[。！？．!?।॥]+[」』”’）)\]\"']*|\n+"
)
_CLAUSE_BREAK = re.compile(r"[,;:，、；：—–]\s*")
_SPACE = re.compile(r"\s+")

G2P = Callable[[str], str]


@dataclass(frozen=True)
class Chunk:
    text: str
    phonemes: str


def sentences(text: str) -> Iterator[str]:
    """The sentences of `text`, stripped, in order; lazily."""
    start = 0
    for match in _SENTENCE_END.finditer(text):
        piece = text[start:match.end()].strip()
        if piece:
            yield piece
        start = match.end()
    tail = text[start:].strip()
    if tail:
        yield tail


def _split_point(text: str) -> int:
    """Where to cut an over-long span in two: the clause break nearest the middle, else the
    space nearest the middle, else the middle (CJK text has no spaces)."""
    middle = len(text) // 2
    for pattern in (_CLAUSE_BREAK, _SPACE):
        cuts = [m.end() for m in pattern.finditer(text) if 0 < m.end() < len(text)]
        if cuts:
            return min(cuts, key=lambda c: abs(c - middle))
    return max(1, middle)


def bounded(text: str, g2p: G2P, limit: int = MAX_PHONEMES) -> list[Chunk]:
    """G2P for `text`, cut into pieces whose phonemes each fit in `limit`."""
    phonemes = g2p(text).strip()
    if not any(ch.isalpha() for ch in phonemes):  # punctuation alone is nothing to speak
        return []
    if len(phonemes) <= limit:
        return [Chunk(text, phonemes)]
    if len(text) <= 1:  # cannot happen with real G2P; never loop forever
        return [Chunk(text, phonemes[:limit])]
    cut = _split_point(text)
    return bounded(text[:cut].strip(), g2p, limit) + bounded(text[cut:].strip(), g2p, limit)


def plan(text: str, g2p: G2P, split_sentences: bool = True,
         limit: int = MAX_PHONEMES) -> Iterator[Chunk]:
    """Chunks for the whole text, lazily. With split_sentences each sentence is its own chunk;
    without, consecutive sentences share a chunk as far as the phoneme context allows."""
    pending: Chunk | None = None
    for sentence in sentences(text):
        for piece in bounded(sentence, g2p, limit):
            if split_sentences:
                yield piece
            elif pending is None:
                pending = piece
            elif len(pending.phonemes) + 1 + len(piece.phonemes) <= limit:
                pending = Chunk(f"{pending.text} {piece.text}", f"{pending.phonemes} {piece.phonemes}")
            else:
                yield pending
                pending = piece
    if pending is not None:
        yield pending


class Ahead:
    """Iterates `chunks` with their G2P running ahead in a thread, so the model never waits for
    the next chunk's phonemes (G2P releases the GIL in espeak-ng and while torch computes).

    `depth` bounds how far ahead (None: as far as the text goes, for a whole-file job; a small
    number for streaming, so a huge text is not phonemized up front). `total` is the number of
    chunks once G2P has reached the end, else None. Errors surface on the consumer's side."""

    _END = object()

    def __init__(self, chunks: Iterator[Chunk], depth: int | None = None):
        self._queue: queue.Queue = queue.Queue(maxsize=depth or 0)
        self._stop = threading.Event()
        self.total: int | None = None
        self._thread = threading.Thread(target=self._fill, args=(chunks,), name="kokoro-g2p", daemon=True)
        self._thread.start()

    def _fill(self, chunks: Iterator[Chunk]) -> None:
        count = 0
        try:
            for chunk in chunks:
                while not self._stop.is_set():
                    try:
                        self._queue.put(chunk, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
                count += 1
            self.total = count
            self._queue.put(self._END)
        except BaseException as exc:  # handed to the consumer, which raises it
            self._queue.put(exc)

    def __iter__(self) -> "Ahead":
        return self

    def __next__(self) -> Chunk:
        item = self._queue.get()
        if item is self._END:
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """The consumer stopped early: let the G2P thread end after its current chunk."""
        self._stop.set()
