"""Word timings from the model's own predicted durations.

Kokoro's duration predictor gives every input token (one phoneme symbol) a whole number of frames,
and a frame is 600 samples at 24 kHz (1/40 s): the audio is built from exactly those frames. A
word's phonemes are a span of its chunk's phoneme string, so the word starts after the frames of
everything before the span and ends after the frames of the span. Nothing is guessed from the audio.

Which span is which word: each word of the chunk's text is phonemized on its own and the words'
phonemes are aligned to the chunk's by a minimal edit script, symbol by symbol (rapidfuzz's
Levenshtein alignment: difflib's longest-block heuristic matched "a," said alone, "ˈA,", to the one
stressed "ˈA" at the end of "ɐ, ɐ, … ˈA" and gave the first word the whole clip). That works for
every G2P, with no hooks into misaki or espeak-ng, and the words stay the reader's own: "$5" is one word spoken as
"five dollars". Words are the runs between spaces, punctuation kept with its word; Japanese and
Chinese have no spaces and are segmented by the dictionaries their G2Ps use (MeCab with unidic via
fugashi for Japanese, jieba for Chinese), punctuation again joining the word before it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

SAMPLES_PER_FRAME = 600
# The sound of a token starts about 3 frames (75 ms) before its frames do: measured on the real
# weights, speech onsets after a silence came 50-75 ms before the aligned frame, and kokoro's own
# timestamps (KPipeline.join_timestamps) move every word 3 frames earlier for the same reason.
LEAD_FRAMES = 3
SAMPLE_RATE = 24_000
_SPEAKABLE = re.compile(r"[\w\ue000-\uf8ff]")  # private use: a pronounced word (worker/text/markup.py)
_PUNCTUATION = set(';:,.!?¡¿—…"«»“”()')  # kokoro's punctuation symbols: pauses, not sounds


@dataclass(frozen=True)
class Span:
    """A word of a chunk and where its phonemes are in the chunk's phoneme string."""

    text: str
    start: int
    end: int  # one past its last phoneme; == start when none of the phonemes could be its own


@functools.lru_cache(maxsize=1)
def _japanese_tagger():
    import fugashi

    from worker.text import g2p

    return fugashi.Tagger(g2p.unidic_args())


def _segments(text: str, kokoro_code: str) -> list[str]:
    if kokoro_code == "j":
        return [word.surface for word in _japanese_tagger()(text)]
    if kokoro_code == "z":
        import jieba

        return [w for w in jieba.lcut(text) if w.strip()]
    return text.split()


def words_of(text: str, kokoro_code: str) -> list[str]:
    """The words a reader sees in `text`; pieces with nothing to speak join the word before."""
    words: list[str] = []
    for piece in _segments(text, kokoro_code):
        if words and not _SPEAKABLE.search(piece):
            words[-1] += piece if kokoro_code in "jz" else " " + piece
        else:
            words.append(piece)
    if len(words) > 1 and not _SPEAKABLE.search(words[0]):  # leading punctuation: the first word's
        words[1] = words[0] + ("" if kokoro_code in "jz" else " ") + words[1]
        words.pop(0)
    return words


def spans(words: Sequence[str], word_phonemes: Sequence[str], phonemes: str) -> list[Span]:
    """Each word's span of `phonemes`, given the phonemes of each word said alone."""
    owner_of_w: list[int] = []
    joined = ""
    for i, ps in enumerate(word_phonemes):
        if joined:
            joined += " "
            owner_of_w.append(-1)
        joined += ps
        owner_of_w.extend([i] * len(ps))
    owner = [-1] * len(phonemes)
    for tag, i1, i2, j1, j2 in Levenshtein.opcodes(phonemes, joined):
        for k in range(i1, i2):
            if tag == "equal":
                owner[k] = owner_of_w[j1 + k - i1]
            elif tag == "replace":  # spread the differing stretch over the words it replaces
                owner[k] = owner_of_w[j1 + (k - i1) * (j2 - j1) // (i2 - i1)]
            else:  # only in the chunk's phonemes: the word before owns it
                owner[k] = owner_of_w[j1 - 1] if j1 > 0 else (owner_of_w[0] if owner_of_w else -1)
    out: list[Span] = []
    done = 0  # spans never go back: a word starts where the previous one ended, at the earliest
    for i, word in enumerate(words):
        mine = [k for k, o in enumerate(owner) if o == i and not phonemes[k].isspace() and k >= done]
        start, end = (mine[0], mine[-1] + 1) if mine else (done, done)
        while start < end and phonemes[start] in _PUNCTUATION:  # a word is timed by its sounds:
            start += 1  # "¿Cómo" starts at its k, "dog." ends before the pause its stop makes
        while end > start and phonemes[end - 1] in _PUNCTUATION:
            end -= 1
        out.append(Span(word, start, end))
        done = end
    return out


def chunk_spans(text: str, phonemes: str, kokoro_code: str, g2p: Callable[[str], str]) -> list[Span]:
    """The words of a chunk and their phoneme spans; `g2p` phonemizes one word."""
    words = words_of(text, kokoro_code)
    return spans(words, [g2p(w).strip() for w in words], phonemes)


def seconds(spans_: Sequence[Span], phonemes: str, vocab: dict, durations: Sequence[int]
            ) -> list[tuple[str, float, float]]:
    """(word, start, end) in seconds of the model's own audio for the chunk. `durations` are frames
    per input token: the start pad, one per phoneme the vocab knows (others never reach the model),
    the end pad."""
    token = [0] * (len(phonemes) + 1)  # token[k]: input tokens before phoneme k, start pad included
    count = 1
    for k, symbol in enumerate(phonemes):
        token[k] = count
        count += symbol in vocab
    token[len(phonemes)] = count
    elapsed = [0]
    for frames in durations:
        elapsed.append(elapsed[-1] + int(frames))
    frame_s = SAMPLES_PER_FRAME / SAMPLE_RATE

    def at(k: int) -> float:
        return max(0, elapsed[min(token[k], len(elapsed) - 1)] - LEAD_FRAMES) * frame_s

    return [(s.text, at(s.start), at(s.end)) for s in spans_]
