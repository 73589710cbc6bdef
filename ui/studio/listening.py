"""Listening tests for teams: a fixed script, candidate voices, a balanced sequence per rater, and
results a lead can defend.

A test (name, language, sentences, voices) is stored with the votes (ui/studio/votes.py, schema v4)
under a short random id; its link is `<studio>/?test=<id>`. Each rater (an id kept in the browser)
gets their own sequence once, stored, so a reload resumes where they left off: every pair of voices
on every sentence (or, past MAX_PAIRS, on a rotation of the sentences that differs per rater), the
sides counter-balanced (each voice of a pair on the left for half of its pairs), in a random order
seeded by the rater id. One vote per (test, rater, pair): the vote store's unique index, whatever a
client sends. Results use the arena's Bayesian Bradley-Terry ratings (ui/studio/ratings.py) on the
test's votes only; the arena leaderboard reads the votes outside tests.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
import secrets
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from ui.studio.ratings import rate
from ui.studio.votes import Vote, VoteStore
from worker.core.catalog import Catalog
from worker.core.errors import InputError, snippet

MAX_PAIRS = 60  # pairs a rater is asked for; more voices × sentences are rotated across raters
MAX_SENTENCES = 50
MAX_SENTENCE_CHARS = 300
_ID = re.compile(r"[A-Za-z0-9_-]{6,16}")


@dataclass(frozen=True)
class Test:
    id: str
    name: str
    language: str
    sentences: tuple[str, ...]
    voices: tuple[str, ...]
    created_at: str = ""


@dataclass(frozen=True)
class Pair:
    """One comparison a rater is asked for: a sentence, the voice on the left (A) and on the right (B)."""
    index: int
    sentence: int
    left: str
    right: str


def create(store: VoteStore, catalog: Catalog, name: str, language: str, sentences: str, voices: str) -> Test:
    """A new test from plain values (sentences one per line, voices comma-separated); InputError
    with one sentence for anything a test cannot be made of."""
    name = " ".join((name or "").split())[:80]
    if not name:
        raise InputError("Give the test a name.")
    if language not in catalog.languages:
        raise InputError(f"Unknown language \"{snippet(language or '')}\": use one of "
                         f"{', '.join(catalog.languages)}.")
    lines = [" ".join(line.split()) for line in (sentences or "").splitlines()]
    lines = list(dict.fromkeys(line for line in lines if line))
    if not lines:
        raise InputError("Give the test at least one sentence (one per line).")
    if len(lines) > MAX_SENTENCES or any(len(line) > MAX_SENTENCE_CHARS for line in lines):
        raise InputError(f"A test takes at most {MAX_SENTENCES} sentences of at most "
                         f"{MAX_SENTENCE_CHARS} characters each.")
    picked = list(dict.fromkeys(v.strip() for v in (voices or "").split(",") if v.strip()))
    unknown = [v for v in picked if catalog.voice(v) is None]
    if unknown:
        raise InputError(f"Unknown voice \"{snippet(unknown[0])}\": use catalog ids such as af_heart.")
    if len(picked) < 2:
        raise InputError("A test compares at least two voices.")
    test = Test(secrets.token_urlsafe(6), name, language, tuple(lines), tuple(picked),
                datetime.now(timezone.utc).isoformat(timespec="seconds"))
    with store.connection() as conn:
        conn.execute("INSERT INTO tests (id, created_at, name, language, sentences, voices) VALUES (?, ?, ?, ?, ?, ?)",
                     (test.id, test.created_at, test.name, test.language, json.dumps(test.sentences),
                      json.dumps(test.voices)))
    return test


def test_id(id_or_link: str | None) -> str:
    """The id from an id or a link (`…/?test=<id>`); InputError when it holds none."""
    text = (id_or_link or "").strip()
    found = re.search(r"[?&]test=([^&#\s]+)", text)
    candidate = found.group(1) if found else text
    if not _ID.fullmatch(candidate):
        raise InputError(f"\"{snippet(text)}\" is not a test id or link.")
    return candidate


def load(store: VoteStore, id_or_link: str | None) -> Test:
    tid = test_id(id_or_link)
    with store.connection() as conn:
        row = conn.execute("SELECT * FROM tests WHERE id = ?", (tid,)).fetchone()
    if row is None:
        raise InputError(f"There is no test {tid}: check the link, or ask for a new one.")
    return _test_of(row)


def _test_of(row) -> Test:
    return Test(row["id"], row["name"], row["language"], tuple(json.loads(row["sentences"])),
                tuple(json.loads(row["voices"])), row["created_at"])


def sequence(test: Test, rater: str) -> list[Pair]:
    """The rater's pairs: every voice pair on every sentence (or on a per-rater rotation of them when
    that would pass MAX_PAIRS), sides counter-balanced, the order shuffled by the rater id."""
    seed = int.from_bytes(hashlib.sha256(f"{test.id}:{rater}".encode()).digest()[:8], "big")
    rng = random.Random(seed)
    pairs = list(itertools.combinations(test.voices, 2))
    n = len(test.sentences)
    per_pair = max(1, min(n, MAX_PAIRS // len(pairs)))
    offset = rng.randrange(n)
    items = []
    for p, (x, y) in enumerate(pairs):
        for k in range(per_pair):
            sentence = (offset + p + k * max(1, n // per_pair)) % n
            flip = (p + k + seed) % 2  # each voice of a pair on the left for half of its comparisons
            items.append((sentence, y, x) if flip else (sentence, x, y))
    rng.shuffle(items)
    return [Pair(i, s, left, right) for i, (s, left, right) in enumerate(items)]


def rater_pairs(store: VoteStore, test: Test, rater: str, name: str = "") -> list[Pair]:
    """The rater's stored sequence, made and stored on their first visit (a reload resumes it)."""
    if not _ID.fullmatch(rater or ""):
        raise InputError("This browser's rater id is malformed: reload the page.")
    with store.connection() as conn:
        row = conn.execute("SELECT sequence FROM raters WHERE test_id = ? AND rater = ?", (test.id, rater)).fetchone()
        if row is None:
            made = sequence(test, rater)
            conn.execute("INSERT OR IGNORE INTO raters (test_id, rater, name, sequence, created_at) VALUES (?, ?, ?, ?, ?)",
                         (test.id, rater, " ".join((name or "").split())[:60], json.dumps([asdict(p) for p in made]),
                          datetime.now(timezone.utc).isoformat(timespec="seconds")))
            row = conn.execute("SELECT sequence FROM raters WHERE test_id = ? AND rater = ?",
                               (test.id, rater)).fetchone()
    return [Pair(**p) for p in json.loads(row["sequence"])]


def new_rater() -> str:
    """A rater id for a browser that has none (kept in its local storage)."""
    return secrets.token_urlsafe(9)


def is_rater(rater: str | None) -> bool:
    return bool(_ID.fullmatch(rater or ""))


def rater_name(store: VoteStore, test: Test, rater: str) -> str:
    with store.connection() as conn:
        row = conn.execute("SELECT name FROM raters WHERE test_id = ? AND rater = ?", (test.id, rater)).fetchone()
    return row["name"] if row else ""


def set_name(store: VoteStore, test: Test, rater: str, name: str | None) -> str:
    """The rater's optional name, as the results will show it; returns it as stored."""
    clean = " ".join((name or "").split())[:60]
    rater_pairs(store, test, rater, clean)
    with store.connection() as conn:
        conn.execute("UPDATE raters SET name = ? WHERE test_id = ? AND rater = ?", (clean, test.id, rater))
    return clean


def remaining(store: VoteStore, test: Test, rater: str, name: str = "") -> tuple[list[Pair], int]:
    """(the rater's pairs still without a vote, in their order; pairs in all); a first visit stores
    the sequence (and `name`)."""
    pairs = rater_pairs(store, test, rater, name)
    done = {v.pair_index for v in store.votes(test_id=test.id) if v.rater == rater}
    return [p for p in pairs if p.index not in done], len(pairs)


def next_pair(store: VoteStore, test: Test, rater: str) -> tuple[Pair | None, int, int]:
    """(the first pair without the rater's vote or None when done, pairs voted, pairs in all)."""
    left, total = remaining(store, test, rater)
    return (left[0] if left else None), total - len(left), total


def all_tests(store: VoteStore) -> list[Test]:
    """Every test, newest first."""
    with store.connection() as conn:
        rows = conn.execute("SELECT * FROM tests ORDER BY created_at DESC, rowid DESC").fetchall()
    return [_test_of(r) for r in rows]


def record(store: VoteStore, catalog: Catalog, test: Test, rater: str, index: int, outcome: str,
           backend: str = "") -> Vote:
    """The rater's vote on their pair `index` (A = the left voice); AlreadyVoted for a second one.
    The page's listening rules (ui/studio/rounds.py) decide before this whether it may count."""
    pairs = rater_pairs(store, test, rater)
    if not 0 <= index < len(pairs):
        raise InputError(f"Pair {index + 1} is not in this rater's sequence of {len(pairs)}.")
    pair = pairs[index]
    models = [catalog.voice(v).model for v in (pair.left, pair.right)]
    return store.record(Vote(language=test.language, text=test.sentences[pair.sentence], voice_a=pair.left,
                             voice_b=pair.right, model_a=models[0], model_b=models[1], speed_a=1.0, speed_b=1.0,
                             outcome=outcome, blind=True, backend=backend, session=rater, test_id=test.id,
                             rater=rater, pair_index=index))


def results(store: VoteStore, id_or_link: str | None) -> dict:
    """A test's results as plain data: ratings with 95 % intervals (ranked by the lower bound), the
    win matrix, per-sentence and per-rater counts, rater agreement and progress."""
    test = load(store, id_or_link)
    votes = store.votes(test_id=test.id)
    with store.connection() as conn:
        raters = {r["rater"]: (r["name"], len(json.loads(r["sequence"])))
                  for r in conn.execute("SELECT rater, name, sequence FROM raters WHERE test_id = ?", (test.id,))}
    wins = {a: {b: 0.0 for b in test.voices} for a in test.voices}
    for v in votes:
        share = {"a": 1.0, "b": 0.0}.get(v.outcome, 0.5)
        wins[v.voice_a][v.voice_b] += share
        wins[v.voice_b][v.voice_a] += 1 - share
    per_sentence = Counter(v.text for v in votes)
    per_rater = Counter(v.rater for v in votes)
    return {
        "test": {"id": test.id, "name": test.name, "language": test.language, "voices": list(test.voices),
                 "sentences": list(test.sentences), "created_at": test.created_at},
        "ratings": [{"voice": r.voice, "rating": round(r.rating), "low": round(r.low), "high": round(r.high),
                     "votes": r.votes, "wins": r.wins, "losses": r.losses, "ties": r.ties}
                    for r in rate((v.voice_a, v.voice_b, v.outcome) for v in votes)],
        "win_matrix": wins,
        "per_sentence": [{"sentence": s, "votes": per_sentence.get(s, 0)} for s in test.sentences],
        "per_rater": [{"rater": r, "name": name, "votes": per_rater.get(r, 0), "pairs": total}
                      for r, (name, total) in sorted(raters.items())],
        "agreement": agreement(votes),
        "progress": {"raters": len(raters), "votes": len(votes),
                     "pairs_left": sum(total for _, total in raters.values()) - len(votes)},
    }


def agreement(votes) -> float | None:
    """How often two raters who judged the same pair of voices on the same sentence chose the same
    way (ties as their own answer); None until two raters overlap."""
    by_item: dict[tuple, list[str]] = {}
    for v in votes:
        first, second = sorted((v.voice_a, v.voice_b))
        choice = v.outcome if v.outcome in ("tie", "bad") else (
            first if (v.outcome == "a") == (v.voice_a == first) else second)
        by_item.setdefault((v.text, first, second), []).append(choice)
    same = total = 0
    for choices in by_item.values():
        for x, y in itertools.combinations(choices, 2):
            total += 1
            same += x == y
    return round(same / total, 3) if total else None
