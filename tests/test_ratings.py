"""The rating maths: Bradley-Terry with a prior, on the points scale."""

from __future__ import annotations

import random

import pytest

from ui.ratings import BASE, rate, win_probability


def by_voice(votes):
    return {r.voice: r for r in rate(votes)}


def test_no_votes_no_ratings():
    assert rate([]) == []


def test_a_split_record_and_ties_leave_voices_level():
    split = by_voice([("x", "y", "a"), ("x", "y", "b")])
    assert split["x"].rating == pytest.approx(BASE) and split["y"].rating == pytest.approx(BASE)
    ties = by_voice([("x", "y", "tie"), ("y", "z", "bad")])
    assert all(r.rating == pytest.approx(BASE) for r in ties.values())


def test_one_vote_moves_a_little_and_many_votes_move_more_with_narrower_intervals():
    one = by_voice([("x", "y", "a")])
    ten = by_voice([("x", "y", "a")] * 10)
    assert BASE < one["x"].rating < BASE + 100  # a single lucky win is not a verdict
    assert ten["x"].rating > one["x"].rating + 80
    assert one["x"].ci95 > 150 and ten["x"].ci95 < 0.8 * one["x"].ci95
    # Unbeaten is not infinitely strong: the prior keeps the rating finite.
    assert ten["x"].rating < BASE + 400


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
    rng = random.Random(7)
    truth = {"best": 1250.0, "good": 1100.0, "fair": 950.0, "poor": 700.0}
    names = list(truth)
    votes = []
    for _ in range(1500):
        a, b = rng.sample(names, 2)
        p = win_probability(truth[a], truth[b])
        votes.append((a, b, "a" if rng.random() < p else "b"))
    ratings = rate(votes)
    assert [r.voice for r in ratings] == names
    spread = {r.voice: r.rating for r in ratings}
    # Differences come back close to the true ones (the prior shrinks them a little).
    assert spread["best"] - spread["poor"] == pytest.approx(550, abs=90)
    for r in ratings:
        assert r.ci95 < 80


def test_win_probability_is_the_elo_curve():
    assert win_probability(1000, 1000) == pytest.approx(0.5)
    assert win_probability(1100, 1000) == pytest.approx(0.64, abs=0.01)
    assert win_probability(1000, 1400) == pytest.approx(1 / 11)
