"""Voice ratings from pairwise votes: a Bradley-Terry model with a prior, on an Elo-like scale.

Each voice has a strength θ; P(i beats j) = σ(θi − θj). A tie counts as half a win each way,
and so does "both bad" (neither voice was preferred). A Gaussian prior θ ~ N(0, PRIOR_SD²) keeps
ratings finite and modest while votes are few: one lucky win moves a voice a little, ten wins
move it a lot. The estimate is the posterior mode (Newton's method on the whole model at once,
so the order of the votes does not matter, unlike online Elo), and its uncertainty the
posterior's curvature. Shown as 1000 + 400·log10(odds): 100 points ≈ 64 % to win.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

OUTCOMES = ("a", "b", "tie", "bad")  # A won, B won, a tie, both bad
PRIOR_SD = 1.0  # in log-odds: a voice's strength is a priori within ±2 (≈ ±350 points) of average
BASE = 1000.0
SCALE = 400.0 / math.log(10.0)  # log-odds → Elo points
Z95 = 1.96


@dataclass(frozen=True)
class Rating:
    voice: str
    rating: float  # Elo-like points around BASE
    ci95: float  # ± points, a 95 % interval
    votes: int
    wins: int
    losses: int
    ties: int  # ties and "both bad"


def _score(outcome: str) -> float:
    """A's share of the point."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    return {"a": 1.0, "b": 0.0}.get(outcome, 0.5)


def rate(votes: Iterable[tuple[str, str, str]], prior_sd: float = PRIOR_SD) -> list[Rating]:
    """Ratings for every voice in `votes` (voice_a, voice_b, outcome), best first."""
    games = [(a, b, _score(o)) for a, b, o in votes if a != b]
    voices = sorted({v for a, b, _ in games for v in (a, b)})
    if not voices:
        return []
    index = {v: i for i, v in enumerate(voices)}
    n = len(voices)
    ia = np.array([index[a] for a, _, _ in games])
    ib = np.array([index[b] for _, b, _ in games])
    score = np.array([s for _, _, s in games])
    precision = 1.0 / prior_sd**2
    theta = np.zeros(n)
    for _ in range(100):
        p, hess = _curvature(theta, ia, ib, precision)
        grad = -precision * theta
        np.add.at(grad, ia, score - p)
        np.subtract.at(grad, ib, score - p)
        step = np.linalg.solve(hess, grad)
        theta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    # Uncertainty of each rating relative to the average voice: the level of the whole scale is
    # arbitrary (only differences are observed), and its prior-only spread would swamp the interval.
    cov = np.linalg.inv(_curvature(theta, ia, ib, precision)[1])
    sd = np.sqrt(np.maximum(np.diag(cov) - 2 * cov.mean(axis=1) + cov.mean(), 0.0))
    ratings = []
    for voice, i in index.items():
        as_a, as_b = score[ia == i], score[ib == i]
        wins = int((as_a == 1).sum() + (as_b == 0).sum())
        losses = int((as_a == 0).sum() + (as_b == 1).sum())
        ties = int((as_a == 0.5).sum() + (as_b == 0.5).sum())
        ratings.append(Rating(voice, float(BASE + SCALE * theta[i]), float(Z95 * SCALE * sd[i]),
                              wins + losses + ties, wins, losses, ties))
    return sorted(ratings, key=lambda r: (-r.rating, r.voice))


def _curvature(theta, ia, ib, precision: float):
    """P(A wins) per game, and the negative Hessian of the log posterior (positive definite
    thanks to the prior, so Newton's step always exists)."""
    p = 1.0 / (1.0 + np.exp(-(theta[ia] - theta[ib])))
    w = p * (1.0 - p)
    hess = precision * np.eye(len(theta))
    np.add.at(hess, (ia, ia), w)
    np.add.at(hess, (ib, ib), w)
    np.subtract.at(hess, (ia, ib), w)
    np.subtract.at(hess, (ib, ia), w)
    return p, hess


def win_probability(a: float, b: float) -> float:
    """The chance that a voice rated `a` beats one rated `b` (both on the points scale)."""
    return 1.0 / (1.0 + 10 ** ((b - a) / 400.0))
