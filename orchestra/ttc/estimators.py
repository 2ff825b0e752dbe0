"""Predicted marginal gain of one more sample for a query: what adaptive allocation ranks by.

"Learning How Hard to Think" (Damani et al.) gives the next unit of compute to the query whose
predicted gain is highest. The default estimators use only the query's own samples so far:

- :func:`pass_fail_gain`: with s successes in b tries, a Beta posterior on the success rate p
  gives the chance that the next try is the first success, ``p (1 − p)^b`` (0 once one passed).
- :func:`vote_flip_gain`: for a majority vote, the chance that the next ``horizon`` samples
  change which answer leads, under the Dirichlet posterior predictive of the answer shares.
- :func:`contender_gain` (the default for voting): the flip chance times the predictive mass of
  the two leading answers, so a query whose every sample differs (one the model cannot do) is not
  fed samples that cannot settle it.

An :class:`Estimator` is any callable of a :class:`QueryState`, so a user's difficulty model can
replace them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from orchestra.ttc.certaindex import vote_counts

__all__ = ["Estimator", "QueryState", "contender_gain", "pass_fail_gain", "vote_flip_gain"]


@dataclass(frozen=True)
class QueryState:
    """What a program knows when it prices its next sample.

    Attributes:
        query_id: the query.
        answers: normalised answers so far (None: nothing extractable).
        passed: per sample, whether the verifier accepted it (empty without a verifier).
        question: the question text (for difficulty models).
    """

    query_id: str
    answers: Sequence[str | None]
    passed: Sequence[bool] = ()
    question: str = ""


Estimator = Callable[[QueryState], float]
"""Maps a query's state to the predicted gain of one more sample (probability units)."""


def pass_fail_gain(state: QueryState, prior: tuple[float, float] = (1.0, 1.0)) -> float:
    """``p (1 − p)^b``: the chance the next sample is the first to pass, p the posterior mean.

    0.0 once a sample passed (pass@k is already 1).
    """
    if any(state.passed):
        return 0.0
    b = len(state.passed)
    p = prior[0] / (prior[0] + prior[1] + b)
    return p * (1.0 - p) ** b


def vote_flip_gain(state: QueryState, horizon: int = 4, alpha: float = 1.0) -> float:
    """The chance that the vote's leader changes (or ties) within the next ``horizon`` samples.

    The margin between the leader and the runner-up moves +1 with the leader's predictive share,
    −1 with the runner-up's, and stays otherwise; shares are Dirichlet(alpha + counts) means with
    one more category for answers not seen yet. With no samples the gain is 1.
    """
    counts = sorted(vote_counts(state.answers).values(), reverse=True)
    n = len(state.answers)
    if n == 0 or not counts:
        return 1.0
    return _flip(counts[0], counts[1] if len(counts) > 1 else 0, n, len(counts), horizon, alpha)


@functools.lru_cache(maxsize=65536)
def _flip(first: int, second: int, n: int, distinct: int, horizon: int, alpha: float) -> float:
    # Depends on the counts only, so it is cached: adaptive allocation prices millions of samples.
    total = n + alpha * (distinct + 1)
    up, down = (first + alpha) / total, (second + alpha) / total
    margin = first - second
    if margin <= 0:
        return 1.0
    # Distribution over the margin, absorbed when it reaches 0; a margin larger than the steps
    # left can no longer reach 0 and is dropped.
    alive = {margin: 1.0}
    flipped = 0.0
    for step in range(horizon):
        left = horizon - step - 1
        nxt: dict[int, float] = {}
        for m, pr in alive.items():
            if m - 1 <= 0:
                flipped += pr * down
            elif m - 1 <= left:
                nxt[m - 1] = nxt.get(m - 1, 0.0) + pr * down
            if m <= left:
                nxt[m] = nxt.get(m, 0.0) + pr * (1.0 - up - down)
            if m + 1 <= left:
                nxt[m + 1] = nxt.get(m + 1, 0.0) + pr * up
        alive = nxt
    return flipped


def contender_gain(state: QueryState) -> float:
    """The vote-flip chance, times the predictive mass of the two leading answers.

    A flip between answers that hold little of the mass (every sample different) is worth
    little; a close race between two well-supported answers is worth the most. With no samples
    the gain is 1.
    """
    counts = sorted(vote_counts(state.answers).values(), reverse=True)
    n = len(state.answers)
    if n == 0:
        return 1.0
    if not counts:
        return min(1.0, 2.0 / (n + 1.0))  # vote_flip_gain is 1 when no sample gave an answer
    mass = (sum(counts[:2]) + 2.0) / (n + len(counts) + 1.0)
    # _flip directly, as vote_flip_gain(state) would call it (counts computed once: a hot path).
    flip = _flip(counts[0], counts[1] if len(counts) > 1 else 0, n, len(counts), 4, 1.0)
    return flip * min(1.0, mass)
