"""The sampling programs: best-of-k, self-consistency (with Certaindex stopping), weighted best-of-N.

Each draws independent samples of one request, at most ``k``, and at most ``parallel`` at a time
(one by default, so its gain estimate is always up to date when the allocator ranks it). A
sample's value is the :mod:`~orchestra.ttc.estimators` gain of one more sample.

- :class:`BestOfK` (with a user's verifier or reward): the highest-scoring sample; it stops early
  once a sample scores at least ``accept``.
- :class:`SelfConsistency` (Wang et al.): the majority over normalised answers; with a
  :class:`~orchestra.ttc.certaindex.StoppingRule` it is Dynasor's Certaindex for SC.
- :class:`WeightedBestOfN`: the answer with the largest sum of reward over its samples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from orchestra.chat import ChatRequest
from orchestra.errors import UsageError
from orchestra.ttc.answers import extract_answer
from orchestra.ttc.certaindex import StoppingRule, entropy_certainty, vote_counts
from orchestra.ttc.estimators import Estimator, QueryState, contender_gain, pass_fail_gain
from orchestra.ttc.program import Selection, UnitKind, UnitResult, WorkUnit

__all__ = ["BestOfK", "SelfConsistency", "WeightedBestOfN"]

Extractor = Callable[[str], str | None]
Verifier = Callable[[str], float]
"""Scores a sample's text: 1.0 passes, 0.0 fails, anything between is a reward."""


class _Sampler:
    """Shared bookkeeping: k, parallelism, samples seen, failures."""

    def __init__(
        self,
        request: ChatRequest,
        k: int,
        *,
        query_id: str,
        extract: Extractor,
        estimator: Estimator,
        parallel: int,
    ) -> None:
        if k < 1 or parallel < 1:
            raise UsageError(f"{type(self).__name__}: need k >= 1 and parallel >= 1, got {k} and {parallel}")
        self.request = request
        self.k = k
        self.query_id = query_id
        self.extract = extract
        self.estimator = estimator
        self.parallel = parallel
        self.texts: list[str] = []
        self.answers: list[str | None] = []
        self.failed = 0
        self._outstanding = 0

    def _stopped(self) -> bool:
        return False

    @property
    def done(self) -> bool:
        return len(self.texts) + self.failed >= self.k or self._stopped()

    def state(self) -> QueryState:
        return QueryState(self.query_id, list(self.answers), self._passed(), self.request.messages[-1].text)

    def _passed(self) -> list[bool]:
        return []

    def propose(self) -> Sequence[WorkUnit]:
        room = self.k - len(self.texts) - self.failed - self._outstanding
        count = min(room, self.parallel - self._outstanding)
        if self.done or count <= 0:
            return []
        self._outstanding += count
        value = self.estimator(self.state())
        return [
            WorkUnit(UnitKind.SAMPLE, self.request, value=value, prefix=self.query_id) for _ in range(count)
        ]

    def observe(self, result: UnitResult) -> None:
        self._outstanding -= 1
        if result.error is not None:
            self.failed += 1
            return
        self.texts.append(result.text)
        self.answers.append(self.extract(result.text))
        self._seen(result.text)

    def _seen(self, text: str) -> None:
        return None


class SelfConsistency(_Sampler):
    """Majority vote over normalised answers of up to ``k`` samples; Certaindex with ``stop``.

    Args:
        request: the query's request (sampled at its own temperature).
        k: samples at most.
        query_id: names the query (the estimator and cache affinity use it).
        stop: a Certaindex rule (:class:`~orchestra.ttc.certaindex.EntropyCertainty`,
            :class:`~orchestra.ttc.certaindex.PosteriorCertainty`); None samples all k.
        extract: text to normalised answer (default :func:`~orchestra.ttc.answers.extract_answer`).
        estimator: the gain of one more sample (default :func:`contender_gain`).
        parallel: samples in flight at once.
    """

    def __init__(
        self,
        request: ChatRequest,
        k: int,
        *,
        query_id: str = "q",
        stop: StoppingRule | None = None,
        extract: Extractor = extract_answer,
        estimator: Estimator = contender_gain,
        parallel: int = 1,
    ) -> None:
        super().__init__(
            request, k, query_id=query_id, extract=extract, estimator=estimator, parallel=parallel
        )
        self.stop = stop
        self.leader: str | None = None
        """The vote's current leader (most votes; a tie goes to the answer seen first)."""
        self._votes: dict[str, tuple[int, int]] = {}  # answer -> (votes, order first seen)

    def _seen(self, text: str) -> None:
        answer = self.answers[-1]
        if answer is None:
            return
        votes, first = self._votes.get(answer, (0, len(self._votes)))
        self._votes[answer] = (votes + 1, first)
        if self.leader is None:
            self.leader = answer
            return
        lead_votes, lead_first = self._votes[self.leader]
        if votes + 1 > lead_votes or (votes + 1 == lead_votes and first < lead_first):
            self.leader = answer

    def _stopped(self) -> bool:
        return self.stop is not None and self.stop.should_stop(self.answers)

    def select(self) -> Selection:
        answer = self.leader
        certainty = self.stop.certainty(self.answers) if self.stop else entropy_certainty(self.answers)
        return Selection(answer, certainty, len(self.texts), {"votes": dict(vote_counts(self.answers))})


class BestOfK(_Sampler):
    """The best of up to ``k`` samples by a user's ``verifier``; stops at a score >= ``accept``.

    Args:
        request: the query's request.
        k: samples at most.
        verifier: scores a sample's text (1.0 = passes).
        accept: a score at which to stop early (None: always draw k).
        query_id: names the query.
        extract: text to answer, for the selection's ``answer`` (None keeps the whole text).
        estimator: the gain of one more sample (default :func:`pass_fail_gain`, passing = score >= accept or 1).
        parallel: samples in flight at once.
    """

    def __init__(
        self,
        request: ChatRequest,
        k: int,
        verifier: Verifier,
        *,
        accept: float | None = 1.0,
        query_id: str = "q",
        extract: Extractor | None = extract_answer,
        estimator: Estimator = pass_fail_gain,
        parallel: int = 1,
    ) -> None:
        super().__init__(
            request,
            k,
            query_id=query_id,
            extract=extract or (lambda t: t),
            estimator=estimator,
            parallel=parallel,
        )
        self.verifier = verifier
        self.accept = accept
        self.scores: list[float] = []

    def _seen(self, text: str) -> None:
        self.scores.append(float(self.verifier(text)))

    def _passed(self) -> list[bool]:
        bar = 1.0 if self.accept is None else self.accept
        return [s >= bar for s in self.scores]

    def _stopped(self) -> bool:
        return self.accept is not None and any(s >= self.accept for s in self.scores)

    def select(self) -> Selection:
        if not self.scores:
            return Selection(None, 0.0, 0)
        best = max(range(len(self.scores)), key=lambda i: self.scores[i])  # first of the best
        return Selection(
            self.answers[best],
            max(0.0, min(1.0, self.scores[best])),
            len(self.texts),
            {"scores": self.scores},
        )


class WeightedBestOfN(_Sampler):
    """The answer whose samples' rewards sum highest, over ``n`` samples.

    Args:
        request: the query's request.
        n: samples.
        reward: scores a sample's text (e.g. a reward model's probability).
        query_id: names the query.
        extract: text to normalised answer.
        estimator: the gain of one more sample.
        parallel: samples in flight at once.
    """

    def __init__(
        self,
        request: ChatRequest,
        n: int,
        reward: Verifier,
        *,
        query_id: str = "q",
        extract: Extractor = extract_answer,
        estimator: Estimator = contender_gain,
        parallel: int = 1,
    ) -> None:
        super().__init__(
            request, n, query_id=query_id, extract=extract, estimator=estimator, parallel=parallel
        )
        self.reward = reward
        self.rewards: list[float] = []

    def _seen(self, text: str) -> None:
        self.rewards.append(float(self.reward(text)))

    def select(self) -> Selection:
        totals: dict[str, float] = {}
        for answer, r in zip(self.answers, self.rewards, strict=True):
            if answer is not None:
                totals[answer] = totals.get(answer, 0.0) + r
        if not totals:
            return Selection(None, 0.0, len(self.texts))
        best = max(totals, key=lambda a: totals[a])  # dicts keep first-seen order: ties go to it
        whole = sum(totals.values())
        return Selection(
            best, totals[best] / whole if whole > 0 else 0.0, len(self.texts), {"weights": totals}
        )
