"""The allocator's policy: which unit of which query goes next, to which endpoint, within the budget.

Pure: no I/O and no awaiting. Time comes from an injected clock; the async shell
(:mod:`orchestra.ttc.runner`) asks :meth:`Allocator.next` for work, sends it, and hands each
result back with :meth:`Allocator.finish`. Decisions:

- **Value per cost, with ageing.** Pending units are ordered by ``value / expected tokens`` plus
  ``ageing × seconds waited``. The ageing term grows at the same rate for every unit, so the
  order of two waiting units never changes and one heap keyed by ``value/cost − ageing × enqueued
  time`` serves; a unit that waits long enough overtakes any newcomer, so no query starves.
- **Minimum samples first.** A unit of a query that has had fewer than ``min_samples`` model
  samples ranks above every other.
- **Never over budget.** A unit is sent only if its worst case (prompt + ``max_tokens``) fits in
  the budget left after what is spent and reserved; its real usage is charged when it returns.
  Probes, judges and test generation are charged like samples.
- **Endpoints that can admit now.** A unit goes to an endpoint whose
  :class:`~orchestra.endpoints.limits.RateLimiter` would grant it now (and that has a free slot
  of its own ``max_in_flight``), preferring the endpoint that served the same ``prefix`` before
  (its prompt cache holds it). When none can, :meth:`Allocator.next` says how long to wait.
- **Early stop.** A query's pending units are dropped as soon as its program is done.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from orchestra.chat import ChatRequest
from orchestra.clock import Clock, MonotonicClock
from orchestra.endpoints.limits import RateLimiter
from orchestra.errors import UsageError
from orchestra.ttc.budget import Budget, Cost
from orchestra.ttc.program import Program, Selection, UnitKind, UnitResult, WorkUnit

__all__ = ["Allocator", "Dispatch", "Lane", "QueryUsage"]

_MODEL_SAMPLES = frozenset({UnitKind.SAMPLE, UnitKind.CONTINUE, UnitKind.DEBUG})


@dataclass
class Lane:
    """An endpoint as the allocator sees it.

    Attributes:
        name: the endpoint's name.
        limiter: its rate limiter (None: unlimited); only read (``wait_time``), never debited here.
        max_in_flight: units in flight at most on it (None: no cap).
        in_flight: units sent to it and not finished.
    """

    name: str
    limiter: RateLimiter | None = None
    max_in_flight: int | None = None
    in_flight: int = 0

    def wait_time(self, tokens: int) -> float:
        """Seconds until it could take a unit of ``tokens`` (``math.inf``: only a finish helps)."""
        if self.max_in_flight is not None and self.in_flight >= self.max_in_flight:
            return math.inf
        if self.limiter is None:
            return 0.0
        if self.in_flight > self.limiter.in_flight:
            return math.inf  # a unit sent here still waits for its grant: the lane is full
        return self.limiter.wait_time(tokens)


@dataclass(eq=False)
class Dispatch:
    """A unit the allocator has sent: hand it back to :meth:`Allocator.finish` with its result."""

    query_id: str
    unit: WorkUnit
    lane: str | None
    reserved: Cost
    sent_at: float


@dataclass
class QueryUsage:
    """What one query has spent."""

    tokens: int = 0
    dollars: float = 0.0
    calls: int = 0
    samples: int = 0
    units: dict[str, int] = field(default_factory=dict)


@dataclass
class _Query:
    program: Program
    usage: QueryUsage = field(default_factory=QueryUsage)
    in_flight: int = 0
    pending: int = 0
    prompt_tokens: int = 0  # largest prompt seen: the reservation's floor for later units
    completion_sum: int = 0
    completions: int = 0
    closed: bool = False
    estimates: dict[int, int] = field(default_factory=dict)  # id(request) -> its prompt estimate


class Allocator:
    """Runs many query programs under one budget and a set of endpoints.

    Args:
        budget: the shared budget.
        lanes: the endpoints; an empty sequence means one unlimited lane named ``"default"``.
        clock: time source (ageing, rate-limit waits).
        min_samples: model samples each query gets before any query gets more than that.
        ageing: priority gained per second of waiting (value per token units).
        default_max_tokens: completion bound assumed for requests that set no ``max_tokens``.

    Raises:
        UsageError: a negative ``min_samples`` or ``ageing``.
    """

    def __init__(
        self,
        budget: Budget,
        lanes: Sequence[Lane] = (),
        *,
        clock: Clock | None = None,
        min_samples: int = 1,
        ageing: float = 1e-4,
        default_max_tokens: int = 1024,
    ) -> None:
        if min_samples < 0 or ageing < 0:
            raise UsageError("allocator: min_samples and ageing cannot be negative")
        self.budget = budget
        self.lanes = list(lanes) or [Lane("default")]
        self.clock: Clock = clock or MonotonicClock()
        self.min_samples = min_samples
        self.ageing = ageing
        self.default_max_tokens = default_max_tokens
        self._queries: dict[str, _Query] = {}
        self._heap: list[tuple[int, float, int, str, WorkUnit]] = []
        self._seq = itertools.count()
        self._affinity: dict[str, str] = {}

    # -- queries -----------------------------------------------------------------------------

    def add(self, query_id: str, program: Program) -> None:
        """Add a query; its first units are proposed at once.

        Raises:
            UsageError: the id is already in use.
        """
        if query_id in self._queries:
            raise UsageError(f"allocator: query {query_id!r} added twice")
        self._queries[query_id] = _Query(program)
        self._refill(query_id)

    def selection(self, query_id: str) -> Selection:
        """The query's program's current selection."""
        return self._queries[query_id].program.select()

    def usage(self, query_id: str) -> QueryUsage:
        """What the query has spent so far."""
        return self._queries[query_id].usage

    def finished(self, query_id: str) -> bool:
        """Whether the query's program is done and none of its units is in flight."""
        q = self._queries[query_id]
        return q.program.done and q.in_flight == 0

    @property
    def query_ids(self) -> list[str]:
        """Every query, in the order added."""
        return list(self._queries)

    @property
    def in_flight(self) -> int:
        """Units sent and not finished."""
        return sum(q.in_flight for q in self._queries.values())

    # -- scheduling --------------------------------------------------------------------------

    def _push(self, query_id: str, unit: WorkUnit) -> None:
        q = self._queries[query_id]
        tier = 0 if unit.kind in _MODEL_SAMPLES and q.usage.samples + q.pending < self.min_samples else 1
        score = unit.value / max(1, self._expected_tokens(q, unit)) - self.ageing * self.clock.now()
        q.pending += unit.kind in _MODEL_SAMPLES
        heapq.heappush(self._heap, (tier, -score, next(self._seq), query_id, unit))

    def _refill(self, query_id: str) -> None:
        q = self._queries[query_id]
        if q.closed:
            return
        if q.program.done:
            q.closed = True
            return
        for unit in q.program.propose():
            self._push(query_id, unit)

    @staticmethod
    def _prompt_estimate(q: _Query, request: ChatRequest) -> int:
        # Programs resend one request object many times: estimate it once (a hot path in replays).
        key = id(request)
        if key not in q.estimates:
            if len(q.estimates) > 64:
                q.estimates.clear()
            q.estimates[key] = request.estimated_prompt_tokens()
        return max(q.estimates[key], q.prompt_tokens)

    def _expected_tokens(self, q: _Query, unit: WorkUnit) -> int:
        if unit.request is None:
            return 1
        completion = (
            q.completion_sum // q.completions
            if q.completions
            else unit.request.max_tokens or self.default_max_tokens
        )
        return self._prompt_estimate(q, unit.request) + completion

    def _worst_case(self, q: _Query, unit: WorkUnit) -> Cost:
        if unit.request is None:
            return Cost()
        prompt = self._prompt_estimate(q, unit.request)
        max_tokens = (unit.request.max_tokens or self.default_max_tokens) * unit.request.n
        return self.budget.worst_case(prompt, max_tokens)

    def _route(self, unit: WorkUnit, tokens: int) -> tuple[Lane | None, float]:
        if unit.request is None:
            return None, 0.0
        preferred = self._affinity.get(unit.prefix) if unit.prefix is not None else None
        best: Lane | None = None
        wait = math.inf
        for lane in self.lanes:
            w = lane.wait_time(tokens)
            if w <= 0 and lane.name == preferred:
                return lane, 0.0
            if w <= 0 and (best is None or lane.in_flight < best.in_flight):
                best = lane
            wait = min(wait, w)
        return (best, 0.0) if best is not None else (None, wait)

    def next(self) -> Dispatch | float | None:
        """The next unit to send, or the seconds to wait before one could go, or None.

        None means nothing can be sent until a unit in flight finishes (or, with nothing in
        flight, that the work is over: every query done, or the budget spent).
        ``math.inf`` is never returned with nothing in flight.
        """
        skipped: list[tuple[int, float, int, str, WorkUnit]] = []
        wait = math.inf
        try:
            while self._heap:
                entry = heapq.heappop(self._heap)
                query_id, unit = entry[3], entry[4]
                q = self._queries[query_id]
                if q.closed or q.program.done:
                    q.closed = True
                    continue
                reserve = self._worst_case(q, unit)
                if not self.budget.fits(reserve):
                    skipped.append(entry)
                    continue
                lane, lane_wait = self._route(unit, reserve.tokens)
                if lane is None and unit.request is not None:
                    skipped.append(entry)
                    wait = min(wait, lane_wait)
                    continue
                return self._send(query_id, q, unit, lane, reserve)
        finally:
            for entry in skipped:
                heapq.heappush(self._heap, entry)
        if math.isfinite(wait):
            return wait
        return None

    def _send(self, query_id: str, q: _Query, unit: WorkUnit, lane: Lane | None, reserve: Cost) -> Dispatch:
        self.budget.reserve(reserve)
        q.in_flight += 1
        if unit.kind in _MODEL_SAMPLES:
            q.pending -= 1
            q.usage.samples += 1
        if lane is not None:
            lane.in_flight += 1
            if unit.prefix is not None:
                self._affinity[unit.prefix] = lane.name
        return Dispatch(query_id, unit, lane.name if lane else None, reserve, self.clock.now())

    def finish(self, dispatch: Dispatch, result: UnitResult) -> None:
        """Charge a finished unit and give its result to its program.

        The charge is the usage reported; a failed model unit that reported none is charged its
        whole reservation (it may have used it).
        """
        q = self._queries[dispatch.query_id]
        q.in_flight -= 1
        for lane in self.lanes:
            if lane.name == dispatch.lane:
                lane.in_flight -= 1
        tokens = result.prompt_tokens + result.completion_tokens
        actual = Cost(tokens, result.dollars, dispatch.reserved.calls)
        if result.error is not None and tokens == 0:
            actual = dispatch.reserved
        self.budget.settle(dispatch.reserved, actual)
        usage = q.usage
        usage.tokens += actual.tokens
        usage.dollars += actual.dollars
        usage.calls += actual.calls
        usage.units[dispatch.unit.kind.value] = usage.units.get(dispatch.unit.kind.value, 0) + 1
        if result.error is None and dispatch.unit.request is not None:
            q.prompt_tokens = max(q.prompt_tokens, result.prompt_tokens)
            if dispatch.unit.kind is UnitKind.SAMPLE:
                q.completion_sum += result.completion_tokens
                q.completions += 1
        q.program.observe(result)
        self._refill(dispatch.query_id)
