"""The allocator's policy under a fake clock: budget, minimum samples, endpoint limits, ordering."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra.chat import ChatRequest
from orchestra.clock import FakeClock
from orchestra.endpoints.limits import RateLimiter
from orchestra.errors import UsageError
from orchestra.ttc import (
    Allocator,
    Budget,
    Dispatch,
    DynasorCoT,
    EntropyCertainty,
    Lane,
    SelfConsistency,
    UnitKind,
    UnitResult,
    WorkUnit,
    drive,
)
from orchestra.ttc.program import Selection


def _answer(dispatch: Dispatch, text: str, completion: int = 5, prompt: int = 10) -> UnitResult:
    return UnitResult(
        dispatch.unit, text=text, prompt_tokens=prompt, completion_tokens=completion, finish_reason="stop"
    )


def _sc(qid: str, k: int = 8, max_tokens: int = 10, **kwargs: object) -> SelfConsistency:
    return SelfConsistency(
        ChatRequest.of(f"question {qid}", max_tokens=max_tokens), k, query_id=qid, **kwargs
    )  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    budget=st.integers(0, 600),
    queries=st.integers(1, 6),
    completions=st.lists(st.integers(0, 20), min_size=1, max_size=40),
    seed=st.integers(0, 1000),
)
def test_spending_never_passes_the_budget(
    budget: int, queries: int, completions: list[int], seed: int
) -> None:
    rng = random.Random(seed)
    b = Budget(tokens=budget)
    allocator = Allocator(b, clock=FakeClock())
    for i in range(queries):
        allocator.add(f"q{i}", _sc(f"q{i}", k=6, max_tokens=20))
    prompt = ChatRequest.of("question q0", max_tokens=20).estimated_prompt_tokens()
    sent = 0

    def serve(d: Dispatch) -> UnitResult:
        nonlocal sent
        sent += 1
        assert b.spent.tokens + b.reserved.tokens <= budget
        return _answer(d, rng.choice(["1", "2"]), rng.choice(completions), prompt)

    drive(allocator, serve)
    assert b.spent.tokens <= budget
    assert b.reserved.tokens == 0
    assert b.spent.tokens == sum(allocator.usage(q).tokens for q in allocator.query_ids)
    # It stopped because it had to: every query is done, or one more worst-case sample would not fit.
    worst = prompt + 20
    assert (
        all(allocator.usage(q).samples == 6 for q in allocator.query_ids) or budget - b.spent.tokens < worst
    )


def test_every_query_gets_its_minimum_samples_before_any_gets_more() -> None:
    b = Budget(tokens=10_000)
    allocator = Allocator(b, min_samples=3, clock=FakeClock())
    for i in range(5):
        # Query 0 would win every unit on value: it never agrees with itself.
        allocator.add(f"q{i}", _sc(f"q{i}", k=20, estimator=(lambda s, i=i: 1.0 if i == 0 else 0.01)))  # type: ignore[misc]
    order: list[str] = []

    def serve(d: Dispatch) -> UnitResult:
        order.append(d.query_id)
        return _answer(d, str(len(order)))

    drive(allocator, serve)
    first = order[:15]
    assert sorted(first) == sorted([f"q{i}" for i in range(5)] * 3)
    assert order[15] == "q0"  # after the minimums, value decides
    assert all(allocator.usage(f"q{i}").samples >= 3 for i in range(5))


def test_units_go_by_value_per_token_and_ageing_lets_old_units_overtake() -> None:
    clock = FakeClock()
    allocator = Allocator(Budget(), min_samples=0, ageing=1.0, clock=clock)
    # A cheap sample (10 tokens) of low value, then an expensive one of higher value per token.
    allocator.add("cheap", _sc("cheap", k=1, max_tokens=2, estimator=lambda s: 0.1))
    allocator.add("rich", _sc("rich", k=1, max_tokens=2, estimator=lambda s: 0.5))
    first = allocator.next()
    assert isinstance(first, Dispatch) and first.query_id == "rich"

    allocator2 = Allocator(Budget(), min_samples=0, ageing=1.0, clock=clock)
    allocator2.add("old", _sc("old", k=1, max_tokens=2, estimator=lambda s: 0.0))
    clock.advance(100.0)  # waiting 100 s is worth more than any value per token
    allocator2.add("new", _sc("new", k=1, max_tokens=2, estimator=lambda s: 1.0))
    first = allocator2.next()
    assert isinstance(first, Dispatch) and first.query_id == "old"


def test_a_unit_goes_only_to_an_endpoint_that_can_admit_it_now() -> None:
    clock = FakeClock()
    slow = RateLimiter(rpm=2, window=10.0, clock=clock)
    fast = RateLimiter(rpm=4, window=10.0, clock=clock)
    lanes = [Lane("slow", slow), Lane("fast", fast)]
    allocator = Allocator(Budget(), lanes, clock=clock)
    for i in range(30):
        allocator.add(f"q{i}", _sc(f"q{i}", k=1))
    sent: list[tuple[float, str]] = []
    limiters = {"slow": slow, "fast": fast}
    while True:
        step = allocator.next()
        if step is None:
            break
        if isinstance(step, float):
            clock.advance(step)
            continue
        assert step.lane is not None
        permit = limiters[step.lane].try_acquire(0)  # what a LimitedEndpoint does: granted at once
        assert not isinstance(permit, float), f"routed to {step.lane}, which had to wait {permit}s"
        sent.append((clock.now(), step.lane))
        limiters[step.lane].release(permit, 0)
        allocator.finish(step, _answer(step, "1"))
    assert len(sent) == 30
    for name, rpm in (("slow", 2), ("fast", 4)):
        times = [t for t, lane in sent if lane == name]
        for t in times:  # no 10 s window holds more than the endpoint's limit
            assert sum(1 for u in times if t <= u < t + 10.0) <= rpm
    # The combined rate bounds the schedule: 6 per 10 s, 30 units -> the last leaves at 40 s.
    assert sent[-1][0] == pytest.approx(40.0)


def test_an_endpoint_cap_holds_units_back_until_one_finishes() -> None:
    allocator = Allocator(Budget(), [Lane("one", max_in_flight=1)], clock=FakeClock())
    allocator.add("a", _sc("a", k=1))
    allocator.add("b", _sc("b", k=1))
    first = allocator.next()
    assert isinstance(first, Dispatch)
    assert allocator.next() is None  # the lane is full: only a finish can help
    allocator.finish(first, _answer(first, "1"))
    assert isinstance(allocator.next(), Dispatch)


def test_same_prefix_prefers_the_same_endpoint() -> None:
    lanes = [Lane("a"), Lane("b")]
    allocator = Allocator(Budget(), lanes, clock=FakeClock())
    allocator.add("q", _sc("q", k=4, parallel=4))
    routed = []
    for _ in range(4):
        step = allocator.next()
        assert isinstance(step, Dispatch)
        routed.append(step.lane)
    assert len(set(routed)) == 1


def test_a_query_stops_as_soon_as_its_program_is_done() -> None:
    allocator = Allocator(Budget(), clock=FakeClock())
    allocator.add("q", _sc("q", k=32, stop=EntropyCertainty(0.9)))
    drive(allocator, lambda d: _answer(d, "7"))
    assert allocator.usage("q").samples == 2
    assert allocator.selection("q").answer == "7"


class _Chatty:
    """A program whose every unit is a judge or probe: they must be charged like samples."""

    def __init__(self) -> None:
        self.left = [UnitKind.PROBE, UnitKind.JUDGE, UnitKind.TEST_GENERATION]
        self.seen = 0

    def propose(self) -> Sequence[WorkUnit]:
        units = [WorkUnit(kind, ChatRequest.of("x", max_tokens=4)) for kind in self.left]
        self.left = []
        return units

    def observe(self, result: UnitResult) -> None:
        self.seen += 1

    @property
    def done(self) -> bool:
        return self.seen == 3

    def select(self) -> Selection:
        return Selection(None, 0.0, 0)


def test_probes_judges_and_test_generation_are_charged_to_the_budget() -> None:
    b = Budget(tokens=1000, calls=10)
    allocator = Allocator(b, clock=FakeClock())
    allocator.add("q", _Chatty())
    drive(allocator, lambda d: _answer(d, "x", completion=3, prompt=7))
    assert b.spent.tokens == 30 and b.spent.calls == 3
    assert allocator.usage("q").units == {"probe": 1, "judge": 1, "test-generation": 1}


def test_dynasor_probes_are_charged_and_count_against_a_small_budget() -> None:
    chain = DynasorCoT(ChatRequest.of("q"), probe_every=8, window=2, max_tokens=64, probe_tokens=4)
    worst_continue = ChatRequest.of("q").estimated_prompt_tokens() + 8
    b = Budget(tokens=worst_continue + 5)  # one continuation fits; its probe's worst case does not
    allocator = Allocator(b, clock=FakeClock())
    allocator.add("q", chain)

    def serve(d: Dispatch) -> UnitResult:
        return UnitResult(d.unit, text="7", prompt_tokens=1, completion_tokens=8, finish_reason="length")

    drive(allocator, serve)
    assert b.spent.tokens <= b.tokens  # type: ignore[operator]
    assert allocator.usage("q").units.get("continue", 0) >= 1


def test_duplicate_queries_and_bad_settings_are_usage_errors() -> None:
    allocator = Allocator(Budget())
    allocator.add("q", _sc("q"))
    with pytest.raises(UsageError):
        allocator.add("q", _sc("q"))
    with pytest.raises(UsageError):
        Allocator(Budget(), min_samples=-1)
    with pytest.raises(UsageError):
        Budget(dollars=1.0)  # no price to reserve against


def test_a_lane_whose_last_unit_has_not_taken_its_permit_yet_gets_no_more() -> None:
    # The shell sends a unit in a task that takes its permit a moment later; until it has, the
    # limiter still looks empty, and routing more units there would pile them up behind it.
    clock = FakeClock()
    limiter = RateLimiter(rpm=1, window=10.0, clock=clock)
    allocator = Allocator(Budget(), [Lane("a", limiter), Lane("b")], clock=clock)
    for i in range(3):
        allocator.add(f"q{i}", _sc(f"q{i}", k=1))
    first = allocator.next()
    assert isinstance(first, Dispatch) and first.lane == "a"
    second = allocator.next()
    assert isinstance(second, Dispatch) and second.lane == "b"  # "a" has a unit still unadmitted
    permit = limiter.try_acquire(0)
    assert not isinstance(permit, float)
    third = allocator.next()
    assert isinstance(third, Dispatch) and third.lane == "b"  # "a" is now out of requests
