"""Certaindex for self-consistency: how sure a set of sampled answers is, and when to stop.

Dynasor (Fu et al., "Efficiently Serving LLM Reasoning Programs with Certaindex") measures the
certainty of a query from the agreement of its answers: with n samples falling into clusters of
sizes c_i, ``certainty = 1 − H / log n`` where ``H = −Σ (c_i/n) log(c_i/n)``. All answers equal
gives 1, all different gives 0. A query stops once its certainty reaches a threshold.

:class:`PosteriorCertainty` is the Bayesian alternative: a Dirichlet posterior over the answer
shares (one pseudo-count per seen answer and one for answers not seen yet); the certainty is the
posterior probability that the leading answer holds more than half the mass, i.e. that more
samples would not overturn it.

Both rules refuse to stop on a tie for the lead, and samples with no extractable answer count as
clusters of their own (they add doubt, never support).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

from orchestra.errors import UsageError

__all__ = [
    "EntropyCertainty",
    "PosteriorCertainty",
    "StoppingRule",
    "entropy_certainty",
    "leader",
    "posterior_certainty",
]


def _clusters(answers: Sequence[str | None]) -> list[int]:
    counts: dict[str, int] = {}
    for a in answers:
        if a is not None:
            counts[a] = counts.get(a, 0) + 1
    return list(counts.values()) + [1] * sum(a is None for a in answers)


def leader(answers: Sequence[str | None]) -> tuple[str | None, bool]:
    """The most frequent non-null answer (first seen wins a tie) and whether it leads alone."""
    counts: dict[str, int] = {}
    for a in answers:
        if a is not None:
            counts[a] = counts.get(a, 0) + 1
    if not counts:
        return None, False
    best = max(counts.values())
    top = [a for a, c in counts.items() if c == best]
    return top[0], len(top) == 1


def entropy_certainty(answers: Sequence[str | None]) -> float:
    """``1 − H/log n`` over the answer clusters (0.0 for fewer than two samples)."""
    n = len(answers)
    if n < 2:
        return 0.0
    h = -sum(c / n * math.log(c / n) for c in _clusters(answers))
    return max(0.0, 1.0 - h / math.log(n))


def _beta_tail_half(a: int, b: int) -> float:
    """P(X > 1/2) for X ~ Beta(a, b), integers a, b >= 1: P(Binomial(a + b − 1, 1/2) <= a − 1)."""
    m = a + b - 1
    return sum(math.comb(m, j) for j in range(a)) / 2.0**m


def posterior_certainty(answers: Sequence[str | None]) -> float:
    """P(the leading answer's share > 1/2) under Dirichlet(1 + counts, 1 for the unseen).

    The leader's marginal is Beta(1 + c, K + n − c) for K seen answers (nulls count in n only).
    """
    top, _ = leader(answers)
    if top is None:
        return 0.0
    c = sum(a == top for a in answers)
    k = len({a for a in answers if a is not None})
    return _beta_tail_half(1 + c, k + len(answers) - c)


class StoppingRule(Protocol):
    """When a self-consistency query has seen enough."""

    def certainty(self, answers: Sequence[str | None]) -> float:
        """Certainty in [0, 1] of the answers so far."""
        ...

    def should_stop(self, answers: Sequence[str | None]) -> bool:
        """Whether to stop sampling this query."""
        ...


class _ThresholdRule:
    def __init__(self, threshold: float, min_samples: int) -> None:
        if not 0.0 < threshold <= 1.0:
            raise UsageError(f"certainty threshold must be in (0, 1], got {threshold}")
        if min_samples < 2:
            raise UsageError("certainty needs at least 2 samples to compare")
        self.threshold = threshold
        self.min_samples = min_samples

    def certainty(self, answers: Sequence[str | None]) -> float:
        raise NotImplementedError

    def should_stop(self, answers: Sequence[str | None]) -> bool:
        if len(answers) < self.min_samples:
            return False
        _, alone = leader(answers)
        return alone and self.certainty(answers) >= self.threshold - 1e-12


class EntropyCertainty(_ThresholdRule):
    """Dynasor's Certaindex for self-consistency: stop at ``1 − H/log n >= threshold``.

    Args:
        threshold: certainty in (0, 1] at which to stop.
        min_samples: never stop before this many samples (>= 2).

    Raises:
        UsageError: a threshold outside (0, 1] or fewer than 2 minimum samples.
    """

    def __init__(self, threshold: float = 0.7, min_samples: int = 2) -> None:
        super().__init__(threshold, min_samples)

    def certainty(self, answers: Sequence[str | None]) -> float:
        return entropy_certainty(answers)


class PosteriorCertainty(_ThresholdRule):
    """Stop when the posterior probability that the leader is a true majority reaches ``threshold``.

    Args:
        threshold: probability in (0, 1] at which to stop.
        min_samples: never stop before this many samples (>= 2).
    """

    def __init__(self, threshold: float = 0.9, min_samples: int = 2) -> None:
        super().__init__(threshold, min_samples)

    def certainty(self, answers: Sequence[str | None]) -> float:
        return posterior_certainty(answers)


def vote_counts(answers: Sequence[str | None]) -> Mapping[str, int]:
    """Votes per non-null answer."""
    counts: dict[str, int] = {}
    for a in answers:
        if a is not None:
            counts[a] = counts.get(a, 0) + 1
    return counts
