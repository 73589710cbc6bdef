"""Listening tests (ui/studio/listening.py): creating one from plain values, balanced sequences per
rater that resume, one vote per pair, results for the test alone, the arena kept apart."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from ui.studio import listening
from ui.studio.votes import AlreadyVoted, Vote, VoteStore
from worker.core.errors import InputError

SENTENCES = "The boat drifted.\nA quiet lake.\n\nThe boat drifted.\nEvening came early."
VOICES = "af_heart, am_adam, bf_emma, af_bella"


@pytest.fixture
def store(tmp_path):
    return VoteStore(tmp_path / "votes.db")


@pytest.fixture
def test(store, catalog):
    return listening.create(store, catalog, "Product voice", "en-us", SENTENCES, VOICES)


def test_a_test_is_made_from_plain_values_and_found_by_id_or_link(store, catalog, test):
    assert test.sentences == ("The boat drifted.", "A quiet lake.", "Evening came early.")  # blank and repeat gone
    assert test.voices == ("af_heart", "am_adam", "bf_emma", "af_bella")
    assert listening.load(store, test.id) == test
    assert listening.load(store, f"http://127.0.0.1:7860/?test={test.id}&x=1") == test


@pytest.mark.parametrize("name, language, sentences, voices, says", [
    ("", "en-us", "Hi.", "af_heart,am_adam", "Give the test a name."),
    ("T", "xx", "Hi.", "af_heart,am_adam", "Unknown language"),
    ("T", "en-us", " \n ", "af_heart,am_adam", "at least one sentence"),
    ("T", "en-us", "Hi.", "af_heart", "at least two voices"),
    ("T", "en-us", "Hi.", "af_heart," + "x" * 100_000, "Unknown voice \"xxxxxxxxx"),
    ("T", "en-us", "x" * 301, "af_heart,am_adam", "at most 300 characters"),
])
@pytest.mark.hostile
def test_what_a_test_cannot_be_made_of_is_one_sentence(store, catalog, name, language, sentences, voices, says):
    with pytest.raises(InputError, match=says) as caught:
        listening.create(store, catalog, name, language, sentences, voices)
    assert len(str(caught.value)) < 200


def test_each_rater_gets_every_pair_on_every_sentence_sides_balanced(test):
    pairs = listening.sequence(test, "rater-one")
    assert len(pairs) == 6 * 3  # 4 voices: 6 pairs, on each of 3 sentences
    seen = Counter((frozenset((p.left, p.right)), p.sentence) for p in pairs)
    assert set(seen.values()) == {1} and len(seen) == 18
    left = Counter(p.left for p in pairs)
    assert max(left.values()) - min(left.values()) <= 3  # each voice on the left about half its time
    for a, b in itertools.combinations(test.voices, 2):  # and per pair: 1 or 2 of 3 on each side
        assert sum(p.left == a and p.right == b for p in pairs) in (1, 2)
    other = listening.sequence(test, "rater-two")
    assert [(p.left, p.right, p.sentence) for p in other] != [(p.left, p.right, p.sentence) for p in pairs]
    assert listening.sequence(test, "rater-one") == pairs  # the same rater, the same sequence


def test_a_big_test_rotates_sentences_within_the_cap(store, catalog):
    many = "\n".join(f"Sentence number {i}." for i in range(30))
    big = listening.create(store, catalog, "Big", "en-us", many, "af_heart,am_adam,bf_emma,af_bella,af_nicole")
    pairs = listening.sequence(big, "rater-one")
    assert len(pairs) <= listening.MAX_PAIRS and len({p.sentence for p in pairs}) > 5
    assert Counter(frozenset((p.left, p.right)) for p in pairs).most_common()[-1][1] >= 1  # every pair


def test_a_rater_resumes_where_they_left_off_and_votes_once_per_pair(store, catalog, test):
    first, done, total = listening.next_pair(store, test, "rater-one")
    assert (first.index, done, total) == (0, 0, 18)
    listening.record(store, catalog, test, "rater-one", 0, "a")
    with pytest.raises(AlreadyVoted):
        listening.record(store, catalog, test, "rater-one", 0, "b")  # a replayed request
    again, done, _ = listening.next_pair(store, test, "rater-one")  # a reload: the stored sequence
    assert (again.index, done) == (1, 1)
    with pytest.raises(InputError, match="not in this rater's sequence"):
        listening.record(store, catalog, test, "rater-one", 99, "a")


def test_results_rate_the_test_alone_and_the_arena_keeps_its_own_votes(store, catalog, test):
    store.record(Vote("en-us", "Arena text.", "am_adam", "af_heart", "v1.0", "v1.0", 1.0, 1.0, "a", True, "local"))
    for rater in ("rater-one", "rater-two"):
        for pair in listening.rater_pairs(store, test, rater):
            # af_heart wins every pair it is in, the rest are ties: heart first, clearly
            outcome = "a" if pair.left == "af_heart" else "b" if pair.right == "af_heart" else "tie"
            listening.record(store, catalog, test, rater, pair.index, outcome)
    out = listening.results(store, test.id)
    assert out["ratings"][0]["voice"] == "af_heart" and out["ratings"][0]["low"] > out["ratings"][1]["high"]
    assert out["win_matrix"]["af_heart"]["am_adam"] == 6.0 and out["win_matrix"]["am_adam"]["af_heart"] == 0.0
    assert out["progress"] == {"raters": 2, "votes": 36, "pairs_left": 0}
    assert [r["votes"] for r in out["per_rater"]] == [18, 18]
    assert sum(s["votes"] for s in out["per_sentence"]) == 36 and out["agreement"] == 1.0
    arena = store.votes("en-us")
    assert [v.text for v in arena] == ["Arena text."]  # the leaderboard never sees the test's votes
    assert len(store.votes(include_tests=True)) == 37 and "test_id" in store.to_csv().splitlines()[0]


def test_a_malformed_id_or_a_missing_test_is_one_sentence(store):
    with pytest.raises(InputError, match="is not a test id or link"):
        listening.results(store, "../../etc/passwd")
    with pytest.raises(InputError, match="There is no test abcdefgh."):
        listening.results(store, "abcdefgh")
