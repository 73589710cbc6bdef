"""The A/B tab's callbacks, called directly: blind rounds that stay blind, the server's listen gate,
one vote per round, the vote rate, pairs and the board."""

from __future__ import annotations

import csv
import hashlib
import io
import random
import threading
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import soundfile as sf

from ui.backends import LocalBackend
from ui.studio import loudness
from ui.studio.clips import ClipMaker
from ui.studio.rounds import RoundBook
from ui.tabs.ab import ABDesk, draw_pair
from ui.tabs.leaderboard import export_csv, standings
from worker.core.errors import InputError

TEXT = "Hello there."
NO_PROGRESS = lambda *a, **k: None  # noqa: E731


class Request:
    """What the desk reads of a gr.Request: the session and the client's address."""

    def __init__(self, session: str = "browser-1", address: str = "203.0.113.7"):
        self.session_hash = session
        self.client = SimpleNamespace(host=address)
        self.headers = {}


class Clock:
    """The round book's clock, moved by the test: listening takes no real time."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def desk(engine, catalog, tmp_path, clock):
    return ABDesk(ClipMaker(LocalBackend(engine), catalog), catalog, votes_path=tmp_path / "votes.db",
                  out_dir=tmp_path / "out", rng=random.Random(3), book=RoundBook(clock=clock))


def compare(desk, blind: bool, a: str = "af_heart", b: str = "am_adam", past=None):
    out = desk.compare("en-us", TEXT, a, 1.0, b, 1.2, blind, past or [], progress=NO_PROGRESS)
    picker_a, picker_b, player_a, player_b, status, *buttons, reveal, rnd, history = out
    return picker_a, picker_b, player_a, player_b, status, buttons, reveal, rnd, history


def listen(desk, clock, rnd, seconds: float = 3.0) -> None:
    desk.played(0, rnd)
    desk.played(1, rnd)
    clock.now += seconds


def best_correlation(x, y) -> float:
    """The largest normalised cross-correlation of two waveforms over every lag (the naive attack:
    synthesize each candidate and see which one the blind clip matches)."""
    n = len(x) + len(y)
    spectrum = np.fft.rfft(x, n) * np.conj(np.fft.rfft(y, n))
    return float(np.max(np.abs(np.fft.irfft(spectrum, n))) / (np.linalg.norm(x) * np.linalg.norm(y)))


def served_files(desk) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in desk.out_dir.rglob("*") if p.is_file()}


def test_blind_round_names_nothing_until_both_are_heard_and_the_vote(desk, clock):
    picker_a, picker_b, player_a, player_b, status, buttons, reveal, rnd, history = compare(desk, blind=True)
    shown = str((player_a, player_b, status, buttons, reveal, history))
    assert "af_heart" not in shown and "am_adam" not in shown
    assert picker_a["visible"] is False and picker_b["visible"] is False and "value" not in picker_a
    assert (player_a["label"], player_b["label"]) == ("A", "B")
    assert {Path(player_a["value"]).name, Path(player_b["value"]).name} == {"A.wav", "B.wav"}
    assert all(b["interactive"] is False for b in buttons) and history == []
    with pytest.raises(gr.Error, match="Play A and B before voting"):
        desk.vote("a", rnd, [], Request())
    status, *buttons = desk.played(1, rnd)
    assert "Now play A" in status and not any(b["interactive"] for b in buttons)
    clock.now += 1.0
    status, *buttons = desk.played(0, rnd)
    assert all(b["interactive"] for b in buttons)
    with pytest.raises(gr.Error, match=r"Listen a little longer: A has played for 0.0 s"):
        desk.vote("b", rnd, [], Request())
    clock.now += 3.0
    status, *buttons, reveal, label_a, label_b, picker_a, picker_b, history = desk.vote("b", rnd, [], Request())
    a, b = rnd.sides
    assert {a.voice, b.voice} == {"af_heart", "am_adam"}
    assert f"A was `{a.voice}`" in reveal and f"B was `{b.voice}`" in reveal
    assert label_a["label"].startswith(f"A · {a.voice}") and not any(b["interactive"] for b in buttons)
    assert (picker_a["value"], picker_b["value"], picker_a["visible"]) == (a.voice, b.voice, True)
    [vote] = desk.store.votes()
    assert (vote.voice_a, vote.voice_b, vote.outcome, vote.blind) == (a.voice, b.voice, "b", True)
    assert (vote.speed_a, vote.speed_b) == (a.speed, b.speed) and {a.speed, b.speed} == {1.0, 1.2}
    assert vote.text == TEXT and vote.model_a == "v1.0" and vote.backend == "local" and len(vote.session) == 12
    assert vote.round_id == rnd.round_id
    assert [h["voice"] for h in history] == [a.voice, b.voice]  # named in the history only now
    with pytest.raises(gr.Error, match="has a vote already"):
        desk.vote("a", rnd, [], Request())
    assert desk.store.count() == 1


def test_a_short_clip_needs_only_its_own_length(desk, clock, engine, catalog, tmp_path):
    rnd = compare(desk, blind=False)[7]
    shortest = min(desk.book._rounds[rnd.round_id].durations)
    desk.book.min_listen_s = shortest + 5  # longer than either clip: the clip's length is enough
    listen(desk, clock, rnd, seconds=max(desk.book._rounds[rnd.round_id].durations) + 0.01)
    desk.vote("a", rnd, [], Request())
    assert desk.store.count() == 1


def test_blind_files_match_no_other_file_and_cannot_be_told_apart(desk):
    compare(desk, blind=False)  # an open round of the same pair, and its files
    before = served_files(desk)
    *_, player_a, player_b, _, _, _, rnd, _ = compare(desk, blind=True)
    blind = [Path(player_a["value"]), Path(player_b["value"])]
    digests = [hashlib.sha256(p.read_bytes()).hexdigest() for p in blind]
    assert not set(digests) & set(before.values()) and digests[0] != digests[1]
    cached = {hashlib.sha256(c.data).hexdigest() for c in desk.clips.cache._clips.values()}
    assert not set(digests) & cached
    infos = [sf.info(p) for p in blind]
    assert infos[0].frames == infos[1].frames and blind[0].stat().st_size == blind[1].stat().st_size
    assert blind[0].stat().st_mtime == blind[1].stat().st_mtime
    assert all(p.parent.name != c for p in blind for c in ("clips",))
    # Nothing in the folders' names either: fresh, random ones.
    assert blind[0].parent != blind[1].parent and "af_heart" not in str(blind) and "am_adam" not in str(blind)
    # The speech is each open clip's, at one loudness (ui/studio/loudness.py): one gain, then padding.
    originals = {c.voice: sf.read(io.BytesIO(d.data), dtype="float32")[0]
                 for c, d in desk.clips.cache._clips.items()}
    heard = [sf.read(p, dtype="float32")[0] for p in blind]
    for clip, side in zip(heard, rnd.sides):
        original = originals[side.voice]
        start = int(np.argmax(np.abs(np.correlate(clip[:len(original) + 800], original[:2000], "valid"))))
        gain = float(np.dot(clip[start:start + len(original)], original) / np.dot(original, original))
        assert np.abs(clip[start:start + len(original)] - gain * original).max() < 3 / 32768
    assert abs(loudness.loudness(heard[0], 24_000) - loudness.loudness(heard[1], 24_000)) < 0.5
    again = compare(desk, blind=True)
    assert hashlib.sha256(Path(again[2]["value"]).read_bytes()).hexdigest() not in digests


def test_cache_hits_write_no_new_files(desk):
    compare(desk, blind=False)
    first = served_files(desk)
    for _ in range(3):
        *_, player_a, player_b, _, _, _, _, _ = compare(desk, blind=False)
    assert served_files(desk) == first and {Path(player_a["value"]), Path(player_b["value"])} <= set(first)


def test_blind_mode_shuffles_the_sides(desk):
    firsts = Counter(compare(desk, blind=True)[7].sides[0].voice for _ in range(8))
    assert set(firsts) == {"af_heart", "am_adam"}  # both orders occur (clips come from the cache)


def test_an_open_round_names_the_voices_and_takes_a_vote_after_listening(desk, clock):
    picker_a, _, player_a, player_b, _, buttons, _, rnd, history = compare(desk, blind=False)
    assert player_a["label"] == "A · af_heart · 1×" and player_b["label"] == "B · am_adam · 1.2×"
    assert Path(player_a["value"]).name == "en-us_af_heart.wav" and picker_a["value"] == "af_heart"
    assert not any(b["interactive"] for b in buttons) and len(history) == 2
    with pytest.raises(gr.Error, match="Play A and B"):
        desk.vote("tie", rnd, history, None)
    listen(desk, clock, rnd)
    desk.vote("tie", rnd, history, None)
    assert desk.store.votes()[0].blind is False


@pytest.mark.parametrize("trial", range(5))
def test_racing_votes_on_one_round_record_exactly_one(desk, clock, trial):
    rnd = compare(desk, blind=bool(trial % 2))[7]
    listen(desk, clock, rnd)
    barrier, refused = threading.Barrier(4), []

    def vote(outcome):
        barrier.wait()
        try:
            desk.vote(outcome, rnd, [], Request())
        except gr.Error as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=vote, args=(o,)) for o in ("a", "b", "tie", "bad")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert desk.store.count() == 1 and len(refused) == 3
    assert all("has a vote already" in message for message in refused)


@pytest.mark.hostile
def test_a_client_may_cast_only_so_many_votes_in_a_window_whatever_its_sessions(desk, clock):
    desk.book.votes_per_window = 3
    for k in range(3):  # a fresh Gradio session for every vote, as a script would open
        rnd = compare(desk, blind=False)[7]
        listen(desk, clock, rnd)
        desk.vote("a", rnd, [], Request(f"fresh-{k}", "198.51.100.4"))
    rnd = compare(desk, blind=False)[7]
    listen(desk, clock, rnd)
    with pytest.raises(gr.Error, match="the most one address may cast"):
        desk.vote("a", rnd, [], Request("fresh-3", "198.51.100.4"))
    desk.vote("a", rnd, [], Request("someone-else", "192.0.2.9"))  # another client is not held back
    clock.now += desk.book.window_s
    rnd = compare(desk, blind=False)[7]
    listen(desk, clock, rnd)
    desk.vote("b", rnd, [], Request("fresh-4", "198.51.100.4"))  # the window moved on
    assert desk.store.count() == 5


def test_showing_the_voices_of_a_blind_round_ends_its_vote(desk, clock):
    rnd = compare(desk, blind=True)[7]
    listen(desk, clock, rnd)
    picker_a, picker_b, status, *buttons = desk.on_blind(False, rnd)
    assert picker_a["visible"] and "no longer takes one" in status and not any(b["interactive"] for b in buttons)
    with pytest.raises(gr.Error, match="no longer takes one"):
        desk.vote("a", rnd, [], Request())
    assert desk.store.count() == 0


def test_a_bad_side_is_a_toast_naming_the_side(desk):
    with pytest.raises(gr.Error, match=r"B: .*af_nobody"):
        compare(desk, blind=False, b="af_nobody")


def test_draw_pair_prefers_the_least_compared_pair():
    rng = random.Random(1)
    counts = Counter({frozenset(("x", "y")): 3, frozenset(("x", "z")): 1, frozenset(("y", "z")): 1})
    drawn = {frozenset(draw_pair(["x", "y", "z"], counts, rng)) for _ in range(20)}
    assert drawn == {frozenset(("x", "z")), frozenset(("y", "z"))}
    with pytest.raises(InputError, match="at least two"):
        draw_pair(["x", "x"], Counter(), rng)


def test_next_pair_draws_from_the_pool_and_covers_it(desk, clock):
    pool = ["af_heart", "af_bella", "am_adam"]
    seen = set()
    for _ in range(3):
        a_dd, b_dd, *_, rnd, _ = desk.next_pair("en-us", TEXT, pool, 1.0, 1.0, False, [], progress=NO_PROGRESS)
        assert (a_dd["value"], b_dd["value"]) == tuple(s.voice for s in rnd.sides)
        seen.add(frozenset(s.voice for s in rnd.sides))
        listen(desk, clock, rnd)
        desk.vote("a", rnd, [], None)
    assert len(seen) == 3  # each of the 3 pairs once before any repeats
    blind = desk.next_pair("en-us", TEXT, pool, 1.0, 1.0, True, [], progress=NO_PROGRESS)
    assert blind[0] == gr.update(visible=False) == blind[1]  # the pickers give nothing away
    assert "blind pair from a pool of 3" in blind[4]


def test_the_leaderboard_ranks_by_votes_and_exports_them(desk, catalog, tmp_path, clock):
    for _ in range(3):
        rnd = compare(desk, blind=False)[7]
        listen(desk, clock, rnd)
        desk.vote("a", rnd, [], None)
    table, chart, summary = standings(desk.store, "en-us", catalog)
    assert list(table["Voice"]) == ["af_heart", "am_adam"] and list(table["W–L–T"]) == ["3–0–0", "0–3–0"]
    assert table["Rating"][0] > 1000 > table["Rating"][1] and list(chart["Voice"]) == ["af_heart", "am_adam"]
    assert "3 votes" in summary and list(table["Note"]) == ["preliminary"] * 2
    assert "No votes" in standings(desk.store, "ja", catalog)[2]
    rows = list(csv.DictReader(export_csv(desk.store, tmp_path).open()))
    assert len(rows) == 3 and rows[0]["voice_a"] == "af_heart"


def test_an_auditioned_clip_sent_to_a_side_fills_the_form(desk):
    item = {"voice": "jf_alpha", "language": "ja", "text": "こんにちは。", "speed": 1.3}
    tabs, language, text, voice_a, voice_b, speed_a, speed_b, *cleared = desk.receive(item, 1, "af_heart")
    # The previous round leaves the screen: no players, votes off, no reveal, no round to vote on.
    player_a, player_b, status, *rest = cleared
    *buttons, reveal, rnd = rest
    assert player_a is None and player_b is None and reveal == "" and rnd is None
    assert len(buttons) == 4 and not any(b["interactive"] for b in buttons) and "Generate A/B" in status
    assert tabs.selected == "ab" and language == "ja" and text == "こんにちは。"
    assert voice_b.value == "jf_alpha" and voice_a.value != "jf_alpha" and voice_a.value.startswith("j")
    assert speed_b == 1.3 and speed_a == gr.skip()


@pytest.mark.hostile
def test_blind_clips_are_made_at_a_secret_tempo_and_the_vote_keeps_the_speeds_asked(desk, clock):
    from ui.studio.blind import TEMPO, blind_speed, tempo

    # A fixed key: the process's own key is random, and 80 draws from the 202 tempi (4 decimals) can
    # repeat more often than a bound on a random key can allow without flaking.
    factors = [tempo(f"sentence {k}", v, b"s" * 16) for k in range(40) for v in ("af_heart", "am_adam")]
    assert all(TEMPO[0] - 1e-4 <= abs(f - 1) <= TEMPO[1] + 1e-4 for f in factors)
    assert min(factors) < 1 < max(factors) and len(set(factors)) > 50  # both ways, spread out
    assert 20 < sum(f > 1 for f in factors) < 60  # faster and slower about equally often
    assert tempo("Hi.", "af_heart") == tempo("Hi.", "af_heart")  # fixed per (text, voice): cached clips
    assert tempo("Hi.", "af_heart", b"k" * 16) != tempo("Hi.", "af_heart", b"j" * 16)  # keyed
    assert 0.5 <= blind_speed(0.5, "Hi.", "af_heart") and blind_speed(2.0, "Hi.", "af_heart") <= 2.0
    rnd = compare(desk, blind=True)[7]  # asks for 1.0 and 1.2
    made = {key.speed for key in desk.clips.cache._clips}
    assert made == {blind_speed(1.0, TEXT, "af_heart"), blind_speed(1.2, TEXT, "am_adam")}
    assert not made & {1.0, 1.2}  # not the clips /generate makes for that text and those speeds
    listen(desk, clock, rnd)
    desk.vote("a", rnd, [], Request())
    [vote] = desk.store.votes()
    assert {(vote.voice_a, vote.speed_a), (vote.voice_b, vote.speed_b)} == {("af_heart", 1.0), ("am_adam", 1.2)}
