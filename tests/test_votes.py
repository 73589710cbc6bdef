"""Vote storage: SQLite schema on first use, migrations, restarts, concurrent voters, CSV."""

from __future__ import annotations

import csv
import io
import multiprocessing
import sqlite3
import threading

import pytest

from ui.studio.votes import CSV_COLUMNS, MIGRATIONS, Vote, VoteStore, default_path


def a_vote(**changes) -> Vote:
    fields = dict(language="en-us", text="Hello.", voice_a="af_heart", voice_b="af_bella", model_a="v1.0",
                  model_b="v1.0", speed_a=1.0, speed_b=1.25, outcome="a", blind=True, backend="local",
                  session="s1")
    return Vote(**{**fields, **changes})


def test_first_use_creates_the_schema_and_a_vote_round_trips(tmp_path):
    path = tmp_path / "deep" / "votes.sqlite3"
    store = VoteStore(path)
    assert path.exists() and store.schema_version() == len(MIGRATIONS)
    saved = store.record(a_vote(text="Grüße, 你好"))
    assert saved.id == 1 and saved.created_at.endswith("+00:00")
    [back] = store.votes()
    assert back == saved and back.blind is True and back.speed_b == 1.25


def test_votes_survive_a_restart(tmp_path):
    path = tmp_path / "votes.sqlite3"
    first = VoteStore(path)
    for outcome in ("a", "b", "tie", "bad"):
        first.record(a_vote(outcome=outcome))
    del first
    again = VoteStore(path)  # a new process would do exactly this
    assert [v.outcome for v in again.votes()] == ["a", "b", "tie", "bad"]
    assert again.count("en-us") == 4 and again.count("ja") == 0


def test_an_old_database_is_migrated_and_keeps_its_votes(tmp_path):
    path = tmp_path / "votes.sqlite3"
    VoteStore(path, migrations=MIGRATIONS[:1])  # as an older release left it
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO votes (created_at, language, text, voice_a, voice_b, model_a, model_b, "
                     "speed_a, speed_b, outcome, blind, backend) VALUES "
                     "('2026-01-01T00:00:00+00:00', 'ja', 'こんにちは', 'jf_alpha', 'jm_kumo', 'v1.0', 'v1.0', "
                     "1, 1, 'b', 0, 'runpod')")
    store = VoteStore(path)
    assert store.schema_version() == len(MIGRATIONS) > 1
    [old] = store.votes("ja")
    assert old.voice_b == "jm_kumo" and old.session == "" and old.blind is False and old.round_id is None
    store.record(a_vote(language="ja", session="new"))
    assert store.count("ja") == 2


@pytest.mark.hostile
def test_bad_outcomes_are_refused(tmp_path):
    store = VoteStore(tmp_path / "v.db")
    with pytest.raises(ValueError):
        store.record(a_vote(outcome="maybe"))
    assert store.count() == 0


def _vote_many(path: str, voter: int, n: int) -> None:
    store = VoteStore(path)  # each process opens (and races to migrate) the same new file
    for i in range(n):
        store.record(a_vote(session=f"p{voter}", text=f"{voter}-{i}"))


def test_concurrent_voters_in_threads_and_processes_lose_nothing(tmp_path):
    path = str(tmp_path / "votes.sqlite3")
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_vote_many, args=(path, p, 40)) for p in range(4)]
    threads = [threading.Thread(target=_vote_many, args=(path, 10 + t, 40)) for t in range(4)]
    for worker in (*processes, *threads):
        worker.start()
    for worker in (*processes, *threads):
        worker.join(120)
    assert all(p.exitcode == 0 for p in processes)
    votes = VoteStore(path).votes()
    assert len(votes) == 8 * 40
    assert len({v.text for v in votes}) == 8 * 40  # every single vote, none twice


def _vote_on_round(path: str, voter: int) -> None:
    from ui.studio.votes import AlreadyVoted

    try:
        VoteStore(path).record(a_vote(session=f"p{voter}", round_id="round-1", outcome="ab"[voter % 2]))
    except AlreadyVoted:
        pass


def test_one_round_takes_one_vote_across_processes_and_threads(tmp_path):
    from ui.studio.votes import AlreadyVoted

    path = str(tmp_path / "votes.sqlite3")
    context = multiprocessing.get_context("fork")
    racers = [context.Process(target=_vote_on_round, args=(path, p)) for p in range(4)]
    racers += [threading.Thread(target=_vote_on_round, args=(path, 10 + t)) for t in range(4)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(60)
    [vote] = VoteStore(path).votes()
    assert vote.round_id == "round-1"
    with pytest.raises(AlreadyVoted):
        VoteStore(path).record(a_vote(round_id="round-1"))
    VoteStore(path).record(a_vote())  # votes without a round (older rows) are not limited
    VoteStore(path).record(a_vote())
    assert VoteStore(path).count() == 3


def test_csv_export_has_a_header_and_one_row_per_vote(tmp_path):
    store = VoteStore(tmp_path / "v.db")
    store.record(a_vote(text='He said "hi", then left.'))
    store.record(a_vote(language="zh", voice_a="zf_xiaobei", voice_b="zf_001", model_b="v1.1-zh", outcome="tie"))
    rows = list(csv.DictReader(io.StringIO(store.to_csv())))
    assert list(rows[0]) == CSV_COLUMNS
    assert [r["outcome"] for r in rows] == ["a", "tie"]
    assert rows[0]["text"] == 'He said "hi", then left.' and rows[1]["model_b"] == "v1.1-zh"
    assert rows[0]["blind"] == "1" and rows[0]["id"] == "1"


def test_the_database_path_comes_from_the_environment(tmp_path):
    assert default_path({"KOKORO_VOTES_DB": str(tmp_path / "x.db")}) == tmp_path / "x.db"
    assert default_path({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "kokoro-studio" / "votes.sqlite3"
