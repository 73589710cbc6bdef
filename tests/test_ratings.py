"""The rating maths: Bradley-Terry with a prior, bootstrap intervals, ranked by their lower bound."""

from __future__ import annotations

import random

import pytest

from ui.studio.ratings import BASE, VOTE_FLOOR, rate, win_probability


def by_voice(votes):
    return {r.voice: r for r in rate(votes)}


def test_no_votes_no_ratings():
    assert rate([]) == []


def test_a_split_record_and_ties_leave_voices_level():
    split = by_voice([("x", "y", "a"), ("x", "y", "b")])
    assert split["x"].rating == pytest.approx(BASE) and split["y"].rating == pytest.approx(BASE)
    ties = by_voice([("x", "y", "tie"), ("y", "z", "bad")])
    assert all(r.rating == pytest.approx(BASE) for r in ties.values())


def test_one_vote_moves_a_little_is_preliminary_and_many_votes_move_more():
    one = by_voice([("x", "y", "a")])
    ten = by_voice([("x", "y", "a")] * VOTE_FLOOR)
    assert BASE < one["x"].rating < BASE + 100  # a single lucky win is not a verdict
    assert ten["x"].rating > one["x"].rating + 80
    assert one["x"].preliminary and not ten["x"].preliminary
    # Unbeaten is not infinitely strong: the prior keeps the rating finite.
    assert ten["x"].rating < BASE + 400


def _listeners(truth: dict[str, float], n: int, seed: int) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    names, votes = list(truth), []
    for _ in range(n):
        a, b = rng.sample(names, 2)
        votes.append((a, b, "a" if rng.random() < win_probability(truth[a], truth[b]) else "b"))
    return votes


def test_intervals_hold_the_estimate_narrow_with_votes_and_repeat_exactly():
    truth = {"p": 1100.0, "q": 1000.0, "r": 900.0}
    few, many = rate(_listeners(truth, 60, 1)), rate(_listeners(truth, 960, 1))
    for r in few + many:
        assert r.low <= r.rating <= r.high
    width = {r.voice: r.high - r.low for r in few}
    for r in many:  # 16× the votes: about a quarter of the width (√16)
        assert r.high - r.low < 0.45 * width[r.voice]
    assert rate(_listeners(truth, 60, 1)) == few  # the same votes, the same table


def test_the_table_is_ranked_by_the_lower_bound():
    votes = [("lucky", "c", "a")] * 2 + [("steady", "c", "a")] * 30 + [("steady", "c", "b")] * 12
    ratings = rate(votes)
    assert [r.low for r in ratings] == sorted((r.low for r in ratings), reverse=True)
    assert [r.voice for r in ratings if r.preliminary] == ["lucky"]


def test_counts_treat_both_bad_as_a_tie_and_outcomes_are_checked():
    r = by_voice([("x", "y", "a"), ("y", "x", "a"), ("x", "y", "tie"), ("x", "y", "bad")])
    assert (r["x"].votes, r["x"].wins, r["x"].losses, r["x"].ties) == (4, 1, 1, 2)
    assert (r["y"].wins, r["y"].losses) == (1, 1)
    with pytest.raises(ValueError):
        rate([("x", "y", "maybe")])


def test_the_order_of_votes_does_not_matter_and_ratings_average_to_the_base():
    votes = [("x", "y", "a"), ("y", "z", "a"), ("z", "x", "tie"), ("x", "z", "a"), ("w", "x", "b")] * 3
    forward = rate(votes)
    backward = rate(list(reversed(votes)))
    assert [(r.voice, round(r.rating, 6)) for r in forward] == [(r.voice, round(r.rating, 6)) for r in backward]
    assert sum(r.rating for r in forward) / len(forward) == pytest.approx(BASE)


def test_ratings_recover_the_true_order_from_simulated_listeners():
    truth = {"best": 1250.0, "good": 1100.0, "fair": 950.0, "poor": 700.0}
    names = list(truth)
    ratings = rate(_listeners(truth, 1500, 7))
    assert [r.voice for r in ratings] == names
    spread = {r.voice: r.rating for r in ratings}
    # Differences come back close to the true ones (the prior shrinks them a little).
    assert spread["best"] - spread["poor"] == pytest.approx(550, abs=90)
    for r in ratings:
        assert r.high - r.low < 160


def test_win_probability_is_the_elo_curve():
    assert win_probability(1000, 1000) == pytest.approx(0.5)
    assert win_probability(1100, 1000) == pytest.approx(0.64, abs=0.01)
    assert win_probability(1000, 1400) == pytest.approx(1 / 11)


def test_one_vote_leaves_a_wide_interval_even_a_tie():
    # A bootstrap resamples one tie into the same tie every time: [1000, 1000], zero width.
    for outcome in ("tie", "a", "bad"):
        for r in rate([("x", "y", outcome)]):
            assert r.high - r.low > 300  # the prior alone: 482 points for two voices; one vote: 394-400
            assert r.low < r.rating < r.high


def test_a_voice_with_one_tie_never_ranks_above_one_with_one_win():
    votes = [("tied1", "tied2", "tie"), ("winner", "loser", "a")]
    ranked = [r.voice for r in rate(votes)]
    assert ranked.index("winner") < ranked.index("tied1") and ranked.index("winner") < ranked.index("tied2")
    by = by_voice(votes)
    assert by["winner"].low > by["tied1"].low > by["loser"].low


def test_intervals_cover_the_truth_about_as_often_as_they_say():
    # 40 simulated tests of 4 voices with 30 votes each: a 95 % interval should miss rarely.
    truth = {"p": 1150.0, "q": 1050.0, "r": 950.0, "s": 850.0}
    mean = sum(truth.values()) / len(truth)
    misses = total = 0
    for seed in range(40):
        for r in rate(_listeners(truth, 30, seed)):
            total += 1
            misses += not (r.low <= truth[r.voice] - mean + 1000 <= r.high)
    assert misses / total < 0.1
