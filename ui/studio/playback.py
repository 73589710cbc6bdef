"""When the studio's player may start, so that playback never runs dry: the audio already made
must last while the rest is made, at the speed measured so far. On hardware faster than real
time that is the first chunk (early first audio, as before); on a slow or shared CPU the first
chunks are held back, then played together, and the page says how long: "first audio in ~N s,
ready in ~M s".

With B seconds of audio made and R still to make at r seconds of audio per second of work, the
rest takes R / r to make while B + R plays; playback that starts now stays ahead to the end when
B ≥ (R / r − R). A margin covers the speed's drift; and because audio arrives a chunk at a time
and sentences differ in length, the buffer must also outlast the making of the next chunk, taken
as twice the longest chunk so far (measured: at 1.27× real time, playing from the first chunk ran
dry for 0.2 s when a long sentence followed a short one).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

MARGIN = 1.15  # the speed measured so far may drop by this much and playback still not run dry


@dataclass(frozen=True)
class Outlook:
    play: bool  # start (or keep) playing now
    first_in_s: float | None  # until playback starts (0 once playing); None: not known yet
    ready_in_s: float | None  # until the whole text is made; None: not known yet


class Playback:
    """Fed each chunk's audio as it is made; says whether the player may start."""

    def __init__(self, text_chars: int, clock: Callable[[], float] = time.monotonic, margin: float = MARGIN):
        self.text_chars, self.clock, self.margin = max(1, text_chars), clock, margin
        self.started = clock()
        self.made_s = 0.0  # audio made
        self.chars = 0  # of the text, spoken in it
        self.chunks = 0
        self.total: int | None = None
        self.longest_s = 0.0  # the longest chunk's audio so far
        self.first_at: float | None = None  # when the first chunk arrived
        self.playing = False

    def add(self, audio_s: float, chars: int, total: int | None) -> Outlook:
        now = self.clock()
        self.first_at = now if self.first_at is None else self.first_at
        self.made_s += audio_s
        self.longest_s = max(self.longest_s, audio_s)
        self.chars += chars
        self.chunks += 1
        self.total = total if total is not None else self.total
        return self.outlook(now)

    def done(self) -> bool:
        return self.total is not None and self.chunks >= self.total

    def rate(self, now: float) -> float:
        """Seconds of audio made per second, from the start of the run (its first chunk's latency
        included: a cautious figure that can only underestimate)."""
        return self.made_s / max(now - self.started, 1e-6)

    def rest_s(self) -> float:
        """Audio still to come: by chunks once their number is known, else by characters."""
        if self.done():
            return 0.0
        if self.total is not None:
            return self.made_s / self.chunks * (self.total - self.chunks)
        per_char = self.made_s / max(self.chars, 1)
        return max(self.text_chars - self.chars, 0) * per_char

    def expected_s(self) -> float:
        """The whole text's audio as far as it can be told yet: made so far plus the estimated rest
        (what the page says while Gradio's streaming player knows only what it has received)."""
        return self.made_s + self.rest_s()

    def outlook(self, now: float | None = None) -> Outlook:
        now = self.clock() if now is None else now
        if self.chunks == 0:
            return Outlook(False, None, None)
        rate, rest = self.rate(now), self.rest_s()
        ready_in = rest / rate
        if self.playing or self.done():
            self.playing = True
            return Outlook(True, 0.0, ready_in)
        next_chunk_s = 2 * self.longest_s / rate  # making the next chunk, should it be twice the longest
        need = max(ready_in - rest, 0.0) * self.margin + next_chunk_s
        if self.made_s >= need:
            self.playing = True
            return Outlook(True, 0.0, ready_in)
        # Waiting t more seconds adds r·t of audio and takes r·t off the rest: solve for t.
        first_in = (need - self.made_s) / (rate + max(1 - rate, 0.0) * self.margin)
        return Outlook(False, min(first_in, ready_in), ready_in)
