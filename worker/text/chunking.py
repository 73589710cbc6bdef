"""Cut text into chunks the model can speak: each within its phoneme context, none truncated.

Works lazily (a generator), so the first chunk of a very long text is ready after one sentence
of G2P, not after all of it. Sentence ends include the CJK 。！？ and the Devanagari danda,
which kokoro's own splitter for non-English text does not know.

Each chunk records what kind of break comes before it (`BREAKS`: a paragraph, a sentence end, a
clause mark, or only a word boundary where an over-long span had to be cut), so the engine can
put back a pause chosen by the text, not by where the chunks happen to fall.
"""

from __future__ import annotations

import functools
import queue
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from worker.sound import timing
from worker.text import markup
from worker.text.markup import Script

MAX_PHONEMES = markup.MAX_PHONEMES  # KModel's context is 512 tokens, two of them the start/end pads
# Sentences share a chunk (split_sentences=false) only up to this many phonemes. Kokoro reads
# longer utterances faster: measured on the real weights, 2.46 frames per phoneme for one
# sentence (60-100 phonemes), 2.42 at 200-300, 2.23 at 400-510 (English, jf_alpha; jm_kumo and
# Japanese alike). Packing to 510 made a text 11-13 % shorter than the same text split; at 200
# the two modes last within 5 % of each other (README, "Pacing").
PACK_PHONEMES = 200

# A sentence ends at ASCII .!?… followed by space (so "3.14" stays whole), at a CJK or
# Devanagari end mark with no space needed, or at a line break; closing quotes stay attached.
_SENTENCE_END = re.compile(
    r"[.!?…]+[\"'”’)\]]*(?=\s|$)|[。！？．!?।॥]+[」』”’）)\]\"']*|\n+"
)
_ENDS_SENTENCE = re.compile(r"[.!?…。！？．।॥][\"'”’)\]」』）]*\s*$")
_CLAUSE_BREAK = re.compile(r"[,;:，、；：—–]\s*")
_CLAUSE_END = re.compile(r"[,;:，、；：—–]$")
_SPACE = re.compile(r"\s+")
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")

G2P = Callable[[str], str]

# The kinds of break before a chunk, weakest first. "" is the start of the text.
BREAKS = ("", "word", "clause", "sentence", "paragraph")


@dataclass(frozen=True)
class Chunk:
    text: str
    phonemes: str
    break_before: str = ""  # one of BREAKS
    pause_s: float = 0.0  # an explicit pause before it ([pause:1s]), on top of its break's
    words: tuple | None = None  # timing.Span per word, when the request wants timings


def _sentence_spans(text: str) -> Iterator[tuple[str, bool]]:
    """(sentence, starts a paragraph) for each sentence of `text`: a paragraph starts after a
    blank line."""
    start = 0
    last_end = 0  # where the previous sentence's own text ended
    for end in [m.end() for m in _SENTENCE_END.finditer(text)] + [len(text)]:
        raw = text[start:end]
        piece = raw.strip()
        if piece:
            begins = start + (len(raw) - len(raw.lstrip()))
            yield piece, bool(_BLANK_LINE.search(text, last_end, begins))
            last_end = begins + len(piece)
        start = end


def sentences(text: str) -> Iterator[str]:
    """The sentences of `text`, stripped, in order; lazily."""
    for sentence, _ in _sentence_spans(text):
        yield sentence


def _break_after(piece: Chunk, sentence_end: bool) -> str:
    if sentence_end:
        return "sentence"
    return "clause" if _CLAUSE_END.search(piece.text) else "word"


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
         limit: int = MAX_PHONEMES, pack: int = PACK_PHONEMES) -> Iterator[Chunk]:
    """Chunks for the whole text, lazily. With split_sentences each sentence is its own chunk;
    without, consecutive sentences of a paragraph share a chunk up to `pack` phonemes (a
    single sentence may still fill the whole `limit`)."""
    pending: Chunk | None = None
    before = ""  # the break before the next piece; nothing before the first one
    for sentence, new_paragraph in _sentence_spans(text):
        pieces = bounded(sentence, g2p, limit)
        for number, piece in enumerate(pieces):
            if before and number == 0 and new_paragraph:
                before = "paragraph"
            piece = Chunk(piece.text, piece.phonemes, before)
            before = _break_after(piece, sentence_end=number == len(pieces) - 1)
            if split_sentences:
                yield piece
            elif pending is None:
                pending = piece
            # A paragraph always starts a chunk, so its pause is the same in both modes.
            elif piece.break_before != "paragraph" and len(pending.phonemes) + 1 + len(piece.phonemes) <= pack:
                pending = Chunk(f"{pending.text} {piece.text}", f"{pending.phonemes} {piece.phonemes}",
                                pending.break_before)
            else:
                yield pending
                pending = piece
    if pending is not None:
        yield pending


def plan_script(script: Script, g2p: G2P, split_sentences: bool = True,
                timed_as: str | None = None) -> Iterator[Chunk]:
    """Chunks for a parsed text (worker/text/markup.py), lazily: each section planned as `plan` does,
    its explicit pause put before its first chunk, the pronounced words spoken as written and shown
    as written (`script.display`). `timed_as`: the kokoro language code whose words each chunk's
    word spans are found with (worker/sound/timing.py); None: no timings wanted. A pause at the very end
    is a chunk of silence with no text."""
    def said(text: str) -> str:
        return markup.phonemize(text, g2p, script)

    word_g2p = functools.lru_cache(maxsize=4096)(said)  # a text repeats its words: each said once
    before, pause = "", 0.0
    for section in script.sections:
        pause += section.pause_before_s
        for chunk in plan(section.text, said, split_sentences):
            words = None if timed_as is None else tuple(
                replace(w, text=script.display(w.text))
                for w in timing.chunk_spans(chunk.text, chunk.phonemes, timed_as, word_g2p))
            yield replace(chunk, text=script.display(chunk.text), pause_s=pause, words=words,
                          break_before=chunk.break_before or before)
            # The break the text makes where the next section starts (the pause adds to it).
            pause, before = 0.0, _break_after(chunk, bool(_ENDS_SENTENCE.search(chunk.text)))
    if pause:
        yield Chunk("", "", "", pause, None if timed_as is None else ())


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
                if not self._offer(chunk):
                    return
                count += 1
            self.total = count
            self._offer(self._END)
        except BaseException as exc:  # handed to the consumer, which raises it
            self._offer(exc)

    def _offer(self, item: object) -> bool:
        """Put `item` in the queue unless the consumer has gone (close): a full queue nobody reads
        any more must not hold this thread forever. False when closed."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> "Ahead":
        return self

    def __next__(self) -> Chunk:
        while True:  # a closed Ahead ends the iteration even if its G2P thread never answers
            try:
                item = self._queue.get(timeout=0.1)
                break
            except queue.Empty:
                if self._stop.is_set():
                    raise StopIteration from None
        if item is self._END:
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """The consumer stopped early: let the G2P thread end after its current chunk."""
        self._stop.set()
