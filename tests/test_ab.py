"""The A/B tab's callbacks, called directly: blind rounds, the play-both rule, votes, pairs, the board."""

from __future__ import annotations

import csv
import random
from collections import Counter
from pathlib import Path

import gradio as gr
import pytest

from ui.ab import ABDesk, draw_pair
from ui.backends import LocalBackend
from ui.clips import ClipMaker
from ui.leaderboard import export_csv, standings
from worker.errors import InputError

TEXT = "Hello there."
NO_PROGRESS = lambda *a, **k: None  # noqa: E731


class Request:
    session_hash = "browser-1"


@pytest.fixture
def desk(engine, catalog, tmp_path):
    return ABDesk(ClipMaker(LocalBackend(engine), catalog), catalog, votes_path=tmp_path / "votes.db",
                  out_dir=tmp_path / "out", rng=random.Random(3))


def compare(desk, blind: bool, a: str = "af_heart", b: str = "am_adam", past=None):
    out = desk.compare("en-us", TEXT, a, 1.0, b, 1.2, blind, past or [], progress=NO_PROGRESS)
    player_a, player_b, status, *buttons, reveal, rnd, history = out
    return player_a, player_b, status, buttons, reveal, rnd, history


def test_blind_round_names_nothing_until_both_are_played_and_the_vote(desk):
    player_a, player_b, status, buttons, reveal, rnd, history = compare(desk, blind=True)
    shown = str((player_a, player_b, status, buttons, reveal, history))
    assert "af_heart" not in shown and "am_adam" not in shown
    assert (player_a["label"], player_b["label"]) == ("A", "B")
    assert {Path(player_a["value"]).name, Path(player_b["value"]).name} == {"A.wav", "B.wav"}
    assert all(b["interactive"] is False for b in buttons) and history == []
    with pytest.raises(gr.Error, match="Play both"):
        desk.vote("a", rnd, [], Request())
    rnd, status, *buttons = desk.played(1, rnd)
    assert "Now play A" in status and not any(b["interactive"] for b in buttons)
    rnd, status, *buttons = desk.played(0, rnd)
    assert all(b["interactive"] for b in buttons)
    rnd, status, *buttons, reveal, label_a, label_b, history = desk.vote("b", rnd, [], Request())
    a, b = rnd.sides
    assert {a.voice, b.voice} == {"af_heart", "am_adam"}
    assert f"A was `{a.voice}`" in reveal and f"B was `{b.voice}`" in reveal
    assert label_a["label"].startswith(f"A · {a.voice}") and not any(b["interactive"] for b in buttons)
    [vote] = desk.store.votes()
    assert (vote.voice_a, vote.voice_b, vote.outcome, vote.blind) == (a.voice, b.voice, "b", True)
    assert (vote.speed_a, vote.speed_b) == (a.speed, b.speed) and {a.speed, b.speed} == {1.0, 1.2}
    assert vote.text == TEXT and vote.model_a == "v1.0" and vote.backend == "local" and len(vote.session) == 12
    assert [h["voice"] for h in history] == [a.voice, b.voice]  # named in the history only now
    with pytest.raises(gr.Error, match="has a vote already"):
        desk.vote("a", rnd, [], Request())
    assert desk.store.count() == 1


def test_blind_mode_shuffles_the_sides(desk):
    firsts = Counter(compare(desk, blind=True)[5].sides[0].voice for _ in range(8))
    assert set(firsts) == {"af_heart", "am_adam"}  # both orders occur (clips come from the cache)


def test_an_open_round_names_the_voices_and_votes_at_once(desk):
    player_a, player_b, _, buttons, _, rnd, history = compare(desk, blind=False)
    assert player_a["label"] == "A · af_heart · 1×" and player_b["label"] == "B · am_adam · 1.2×"
    assert Path(player_a["value"]).name == "A_af_heart.wav"
    assert all(b["interactive"] for b in buttons) and len(history) == 2
    desk.vote("tie", rnd, history, None)
    assert desk.store.votes()[0].blind is False


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


def test_next_pair_draws_from_the_pool_and_covers_it(desk):
    pool = ["af_heart", "af_bella", "am_adam"]
    seen = set()
    for _ in range(3):
        a_dd, b_dd, *_, rnd, _ = desk.next_pair("en-us", TEXT, pool, 1.0, 1.0, False, [], progress=NO_PROGRESS)
        assert (a_dd["value"], b_dd["value"]) == tuple(s.voice for s in rnd.sides)
        seen.add(frozenset(s.voice for s in rnd.sides))
        desk.vote("a", rnd, [], None)
    assert len(seen) == 3  # each of the 3 pairs once before any repeats
    blind = desk.next_pair("en-us", TEXT, pool, 1.0, 1.0, True, [], progress=NO_PROGRESS)
    assert blind[0] == gr.skip() and blind[1] == gr.skip()  # the dropdowns give nothing away
    assert "blind pair from a pool of 3" in blind[4]


def test_the_leaderboard_ranks_by_votes_and_exports_them(desk, catalog, tmp_path):
    rnd = compare(desk, blind=False)[5]
    for _ in range(3):
        desk.vote("a", rnd, [], None)
        rnd.voted = False
    table, chart, summary = standings(desk.store, "en-us", catalog)
    assert list(table["Voice"]) == ["af_heart", "am_adam"] and list(table["Wins"]) == [3, 0]
    assert table["Rating"][0] > 1000 > table["Rating"][1] and list(chart["Voice"]) == ["af_heart", "am_adam"]
    assert "3 votes" in summary
    assert "No votes" in standings(desk.store, "ja", catalog)[2]
    rows = list(csv.DictReader(export_csv(desk.store, tmp_path).open()))
    assert len(rows) == 3 and rows[0]["voice_a"] == "af_heart"


def test_an_auditioned_clip_sent_to_a_side_fills_the_form(desk):
    item = {"voice": "jf_alpha", "language": "ja", "text": "こんにちは。", "speed": 1.3}
    tabs, language, text, voice_a, voice_b, speed_a, speed_b = desk.receive(item, 1, "af_heart")
    assert tabs.selected == "ab" and language == "ja" and text == "こんにちは。"
    assert voice_b.value == "jf_alpha" and voice_a.value != "jf_alpha" and voice_a.value.startswith("j")
    assert speed_b == 1.3 and speed_a == gr.skip()
