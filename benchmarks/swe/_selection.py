"""CodeMonkeys-style selection: candidate patches voted on by candidate-written tests.

CodeMonkeys (Ehrlich et al., 2025) samples many patches per SWE-bench issue, has each sample
write a test script too, runs every patch against every test, and keeps the patches the most
tests pass. Pure: the outcomes go in, an order comes out.

Two choices of ours: a test that already passes on the unpatched base proves nothing about the
issue, so it does not vote; and an empty patch is ranked below every non-empty one. Ties on
votes go to the shorter patch (a smaller change is less likely to break what no test checks),
then to the earlier sample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Ranking", "rank_candidates"]


@dataclass(frozen=True)
class Ranking:
    """The result of a vote.

    Attributes:
        order: candidate indexes, best first.
        votes: per candidate, how many voting tests its patch passes.
        voters: the indexes of the tests that voted (those that fail on the base).
    """

    order: list[int]
    votes: list[int]
    voters: list[int]

    @property
    def best(self) -> int:
        """The chosen candidate."""
        return self.order[0]


def rank_candidates(
    patches: Sequence[str],
    passes: Mapping[tuple[int, int], bool],
    base_passes: Mapping[int, bool],
) -> Ranking:
    """Rank candidate patches by votes, then by shorter patch.

    Args:
        patches: the candidates' patches (``""`` for none).
        passes: ``(patch i, test j) -> True`` when test ``j`` exits 0 with patch ``i`` applied.
        base_passes: ``test j -> True`` when test ``j`` exits 0 on the unpatched base.

    Returns:
        The order, the votes and the tests that voted.
    """
    voters = sorted(j for j, ok in base_passes.items() if not ok)
    votes = [sum(1 for j in voters if passes.get((i, j), False)) for i in range(len(patches))]

    def key(i: int) -> tuple[int, int, int, int]:
        empty = 1 if not patches[i].strip() else 0
        return (empty, -votes[i], len(patches[i]), i)

    return Ranking(order=sorted(range(len(patches)), key=key), votes=votes, voters=voters)
