"""A/B rounds: what a round is (its two sides), how the next pair is drawn, and the server's record
of which clips each round played, when, and whether a vote may count.

A browser can send any event in any order, so nothing it claims is taken on trust. Each round gets
an id the server makes; the server notes the time of the first "play" of each side, and a vote
counts only when both sides were started and each has had min(MIN_LISTEN_S, its duration) since
(TTS Arena's rule). One client address may cast at most VOTES_PER_WINDOW votes per WINDOW_S
(ui/studio/voters.py): a listener needs at least MIN_LISTEN_S per vote and in practice takes
10-20 s, so the limit leaves room for three or four raters behind one office address, while a
script that opens a fresh session per vote is held back as one client. One vote per round is enforced by the vote store
(a unique round id), so two vote requests racing each other still record one.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from worker.core.errors import InputError

MIN_LISTEN_S = 3.0
VOTES_PER_WINDOW = 60
WINDOW_S = 300.0
MAX_ROUNDS = 10_000  # oldest rounds are forgotten first; a forgotten round cannot take a vote


class VoteRefused(Exception):
    """A vote that does not count, with the sentence that tells the listener why."""


@dataclass
class _Round:
    durations: tuple[float, float]
    blind: bool
    started: dict[int, float] = field(default_factory=dict)  # side → first play, server clock
    closed: str = ""  # why no vote may come any more ("" while open)


class RoundBook:
    """Open rounds, their plays, and each client's recent votes. Thread-safe; in memory, because a
    round lives only as long as the page that plays it (a restart starts new rounds)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, min_listen_s: float = MIN_LISTEN_S,
                 votes_per_window: int = VOTES_PER_WINDOW, window_s: float = WINDOW_S):
        self.clock = clock
        self.min_listen_s = min_listen_s
        self.votes_per_window = votes_per_window
        self.window_s = window_s
        self._rounds: OrderedDict[str, _Round] = OrderedDict()
        self._votes: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def open(self, durations: tuple[float, float], blind: bool) -> str:
        """A new round; returns its id."""
        round_id = uuid.uuid4().hex
        with self._lock:
            self._rounds[round_id] = _Round(tuple(durations), blind)
            while len(self._rounds) > MAX_ROUNDS:
                self._rounds.popitem(last=False)
        return round_id

    def played(self, round_id: str, side: int) -> set[int]:
        """Side 0 (A) or 1 (B) was started; returns the sides started so far."""
        with self._lock:
            rnd = self._rounds.get(round_id)
            if rnd is None:
                return set()
            rnd.started.setdefault(side, self.clock())
            return set(rnd.started)

    def close(self, round_id: str, reason: str) -> bool:
        """No vote may come for this round any more (its names were shown, it was voted on);
        returns whether it was open until now."""
        with self._lock:
            rnd = self._rounds.get(round_id)
            if rnd is None or rnd.closed:
                return False
            rnd.closed = reason
            return True

    def closed(self, round_id: str) -> bool:
        with self._lock:
            rnd = self._rounds.get(round_id)
            return rnd is None or bool(rnd.closed)

    def admit(self, round_id: str, client: str) -> None:
        """Raises VoteRefused unless a vote from `client` (ui/studio/voters.py) on this round may be
        recorded now; when it may, the vote is counted against the client's rate."""
        with self._lock:
            rnd = self._rounds.get(round_id)
            if rnd is None:
                raise VoteRefused("This pair has expired: generate a new one to vote.")
            if rnd.closed:
                raise VoteRefused(rnd.closed)
            now = self.clock()
            missing = [letter for side, letter in enumerate("AB") if side not in rnd.started]
            if missing:
                raise VoteRefused(f"Play {' and '.join(missing)} before voting.")
            for side, letter in enumerate("AB"):
                need = min(self.min_listen_s, rnd.durations[side])
                heard = now - rnd.started[side]
                if heard < need:
                    raise VoteRefused(f"Listen a little longer: {letter} has played for {heard:.1f} s, "
                                      f"a vote counts after {need:.1f} s of each clip.")
            recent = self._votes.setdefault(client, deque())
            while recent and now - recent[0] > self.window_s:
                recent.popleft()
            if len(recent) >= self.votes_per_window:
                wait = self.window_s - (now - recent[0])
                raise VoteRefused(f"That is {len(recent)} votes in {self.window_s / 60:.0f} minutes, the most "
                                  f"one address may cast: try again in {wait:.0f} s.")
            recent.append(now)

    def refund(self, client: str) -> None:
        """The admitted vote was not stored (the round had one already): it does not count."""
        with self._lock:
            if recent := self._votes.get(client):
                recent.pop()


@dataclass(frozen=True)
class Side:
    voice: str  # id or blend spec
    model: str
    speed: float
    path: str


@dataclass(frozen=True)
class Round:
    round_id: str  # the RoundBook's, and the vote store's unique key
    language: str
    text: str
    sides: tuple[Side, Side]  # as shown: A then B
    blind: bool


def draw_pair(pool: list[str], counts: Counter, rng: random.Random) -> tuple[str, str]:
    """Two voices of the pool, from the pairs compared least so far (at random among those)."""
    voices = sorted(set(pool))
    if len(voices) < 2:
        raise InputError("The pool needs at least two voices to draw a pair from.")
    pairs = list(itertools.combinations(voices, 2))
    fewest = min(counts.get(frozenset(p), 0) for p in pairs)
    pair = list(rng.choice([p for p in pairs if counts.get(frozenset(p), 0) == fewest]))
    rng.shuffle(pair)
    return pair[0], pair[1]


def side_label(letter: str, side: Side) -> str:
    return f"{letter} · {side.voice} · {side.speed:g}×"
