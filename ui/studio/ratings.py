"""Voice ratings from pairwise votes: a Bayesian Bradley-Terry model, intervals from its posterior,
on an Elo scale.

Each voice has a strength θ; P(i beats j) = σ(θi − θj). A tie counts as half a win each way,
and so does "both bad" (neither voice was preferred). A Gaussian prior θ ~ N(0, PRIOR_SD²) keeps
ratings finite while votes are few (an unbeaten voice with maximum likelihood alone would be
infinitely strong). The estimate is the posterior mode (Newton's method on the whole model at
once, so the order of the votes does not matter, unlike online Elo).

Intervals come from the posterior itself (Laplace's approximation: a Gaussian at the mode whose
covariance is the inverse of the log posterior's curvature, prior included), not from resampling
the votes. A bootstrap cannot see uncertainty that the resamples do not vary: one tie resampled is
always that tie, so it gave a zero-width interval and ranked level with a voice that won its only
vote. Here one vote leaves the interval nearly as wide as the prior (about ±340 points) and every
vote narrows it. Voices rank by the interval's lower bound, so a voice needs consistent wins, not
one lucky vote, to reach the top; below VOTE_FLOOR votes it is marked preliminary. Shown as
1000 + 400·log10(odds): 100 points ≈ 64 % to win.
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
Z95 = 1.959964  # the normal distribution's two-sided 95 % point
VOTE_FLOOR = 10  # fewer votes than this and a voice's place is "preliminary"


@dataclass(frozen=True)
class Rating:
    voice: str
    rating: float  # Elo-like points around BASE
    low: float  # the posterior's 95 % interval, in points
    high: float
    votes: int
    wins: int
    losses: int
    ties: int  # ties and "both bad"

    @property
    def preliminary(self) -> bool:
        return self.votes < VOTE_FLOOR


def _score(outcome: str) -> float:
    """A's share of the point."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    return {"a": 1.0, "b": 0.0}.get(outcome, 0.5)


def rate(votes: Iterable[tuple[str, str, str]], prior_sd: float = PRIOR_SD) -> list[Rating]:
    """Ratings for every voice in `votes` (voice_a, voice_b, outcome), ranked by the lower bound
    of their interval (then rating, then name): one set of votes, one table."""
    games = [(a, b, _score(o)) for a, b, o in votes if a != b]
    voices = sorted({v for a, b, _ in games for v in (a, b)})
    if not voices:
        return []
    index = {v: i for i, v in enumerate(voices)}
    ia = np.array([index[a] for a, _, _ in games])
    ib = np.array([index[b] for _, b, _ in games])
    score = np.array([s for _, _, s in games])
    precision = 1.0 / prior_sd**2
    theta = _fit(np.zeros(len(voices)), ia, ib, score, precision)
    sd = _posterior_sd(theta, ia, ib, precision)
    ratings = []
    for voice, i in index.items():
        as_a, as_b = score[ia == i], score[ib == i]
        wins = int((as_a == 1).sum() + (as_b == 0).sum())
        losses = int((as_a == 0).sum() + (as_b == 1).sum())
        ties = int((as_a == 0.5).sum() + (as_b == 0.5).sum())
        ratings.append(Rating(voice, _points(theta[i]), _points(theta[i] - Z95 * sd[i]),
                              _points(theta[i] + Z95 * sd[i]), wins + losses + ties, wins, losses, ties))
    return sorted(ratings, key=lambda r: (-r.low, -r.rating, r.voice))


def _posterior_sd(theta, ia, ib, precision: float):
    """Each voice's posterior standard deviation (log-odds) around the average voice: the Laplace
    covariance, centred as the ratings are (only differences are observed)."""
    _, hess = _curvature(theta, ia, ib, precision)
    n = len(theta)
    centre = np.eye(n) - 1.0 / n
    cov = centre @ np.linalg.inv(hess) @ centre
    return np.sqrt(np.clip(np.diag(cov), 0.0, None))


def _points(theta: float) -> float:
    return float(BASE + SCALE * theta)


def _fit(theta, ia, ib, score, precision: float):
    """The posterior mode by Newton's method, centred so the average voice is 0 (only
    differences are observed; the prior alone would fix the level only loosely)."""
    for _ in range(100):
        p, hess = _curvature(theta, ia, ib, precision)
        residual = score - p
        grad = -precision * theta + np.bincount(ia, residual, len(theta)) - np.bincount(ib, residual, len(theta))
        step = np.linalg.solve(hess, grad)
        theta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return theta - theta.mean()


def _curvature(theta, ia, ib, precision: float):
    """P(A wins) per game, and the negative Hessian of the log posterior (positive definite
    thanks to the prior, so Newton's step always exists)."""
    p = 1.0 / (1.0 + np.exp(-(theta[ia] - theta[ib])))
    w = p * (1.0 - p)
    n = len(theta)
    hess = precision * np.eye(n)
    hess[np.diag_indices(n)] += np.bincount(ia, w, n) + np.bincount(ib, w, n)
    cross = np.bincount(ia * n + ib, w, n * n).reshape(n, n)
    return p, hess - cross - cross.T


def win_probability(a: float, b: float) -> float:
    """The chance that a voice rated `a` beats one rated `b` (both on the points scale)."""
    return 1.0 / (1.0 + 10 ** ((b - a) / 400.0))
