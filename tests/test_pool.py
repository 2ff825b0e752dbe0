"""RoutingPolicy (pure, FakeClock) and EndpointPool fallback over fake endpoints."""

from __future__ import annotations

import pytest

from orchestra.chat import ChatRequest
from orchestra.clock import FakeClock
from orchestra.endpoints import EndpointPool, RoutingPolicy
from orchestra.errors import EndpointConnectionError, EndpointError, NoHealthyEndpoint, RateLimitError
from orchestra.testing import FunctionModel, ScriptedModel

# -- RoutingPolicy ----------------------------------------------------------------------------


def test_least_in_flight_then_round_robin() -> None:
    policy = RoutingPolicy(["a", "b", "c"], FakeClock())
    picks = []
    for _ in range(6):
        name = policy.choose()
        assert name is not None
        picks.append(name)
        policy.on_start(name)
        policy.on_success(name)
    assert picks == ["a", "b", "c", "a", "b", "c"]  # equal load: rotate
    policy.on_start("a")
    policy.on_start("a")
    policy.on_start("b")
    assert policy.choose() == "c"  # fewest in flight
    assert policy.choose(exclude={"c"}) == "b"
    assert policy.choose(exclude={"a", "b", "c"}) is None


def test_cooldown_doubles_on_failed_probes_and_a_success_resets() -> None:
    clock = FakeClock()
    policy = RoutingPolicy(["a", "b"], clock, cooldown=1.0, max_cooldown=4.0)
    policy.on_start("a")
    policy.on_failure("a", retryable=True)
    assert not policy.healthy("a")
    assert [policy.choose() for _ in range(3)] == ["b", "b", "b"]
    policy.on_start("a")
    policy.on_failure("a", retryable=True)  # an in-flight failure during the cooldown: same event
    assert policy.retry_after(["a"]) == pytest.approx(1.0)
    cooldowns = []
    for _ in range(4):  # each failed probe after the cooldown doubles it, up to the maximum
        clock.advance(policy.retry_after(["a"]) or 0.0)
        assert policy.healthy("a")
        policy.on_start("a")
        policy.on_failure("a", retryable=True)
        cooldowns.append(policy.retry_after(["a"]))
    assert cooldowns == [2.0, 4.0, 4.0, 4.0]
    clock.advance(4.0)
    policy.on_start("a")
    policy.on_success("a")
    policy.on_start("a")
    policy.on_failure("a", retryable=True)
    assert policy.retry_after(["a"]) == pytest.approx(1.0)  # back to the first cooldown


def test_non_retryable_failures_do_not_touch_health() -> None:
    policy = RoutingPolicy(["a"], FakeClock())
    for _ in range(5):
        policy.on_start("a")
        policy.on_failure("a", retryable=False)
    assert policy.healthy("a")
    assert policy.snapshot()["a"] == {
        "in_flight": 0,
        "healthy": True,
        "cooldown_left": 0.0,
        "consecutive_failures": 0,
        "successes": 0,
        "errors": 5,
        "disabled": "",
    }


def test_when_all_are_cooling_the_soonest_is_still_tried() -> None:
    clock = FakeClock()
    policy = RoutingPolicy(["a", "b"], clock, cooldown=1.0)
    policy.on_start("a")
    policy.on_failure("a", True)
    clock.advance(0.5)
    policy.on_start("b")
    policy.on_failure("b", True)
    assert policy.choose() == "a"  # its cooldown ends first
    assert policy.retry_after() == pytest.approx(0.5)
    assert policy.choose(exclude={"a"}) == "b"


def test_policy_rejects_duplicate_names() -> None:
    with pytest.raises(ValueError):
        RoutingPolicy(["a", "a"])


# -- EndpointPool -----------------------------------------------------------------------------


def dead(name: str, exc: Exception) -> FunctionModel:
    def fail(request: ChatRequest) -> Exception:
        return exc

    return FunctionModel(fail, name=name)


async def test_pool_falls_back_within_the_call_and_then_avoids_the_failing_member() -> None:
    clock = FakeClock()
    bad = dead("bad", EndpointError("HTTP 503", status=503))
    good = FunctionModel(lambda r: "fine", name="good")
    pool = EndpointPool([bad, good], clock=clock)
    texts = [(await pool.complete(ChatRequest.of(f"q{i}"))).text for i in range(10)]
    assert texts == ["fine"] * 10
    assert len(bad.requests) == 1  # tried once, then cooling
    assert len(good.requests) == 10
    assert pool.fallbacks == 1
    clock.advance(1.0)  # cooldown over: probed again, fails, falls back
    assert (await pool.complete(ChatRequest.of("later"))).text == "fine"
    assert len(bad.requests) == 2
    assert pool.policy.snapshot()["bad"]["cooldown_left"] == pytest.approx(2.0)


async def test_pool_raises_a_client_error_without_fallback() -> None:
    first = dead("first", EndpointError("HTTP 400: bad n", status=400))
    second = FunctionModel(lambda r: "unused", name="second")
    pool = EndpointPool([first, second], clock=FakeClock())
    with pytest.raises(EndpointError) as info:
        await pool.complete(ChatRequest.of("q"))
    assert info.value.status == 400
    assert second.requests == []
    assert pool.policy.healthy("first")


async def test_pool_with_every_member_failing_raises_no_healthy_endpoint() -> None:
    pool = EndpointPool(
        [
            dead("a", EndpointConnectionError("refused")),
            dead("b", RateLimitError("429", status=429, retry_after=3.0)),
        ],
        clock=FakeClock(),
    )
    with pytest.raises(NoHealthyEndpoint) as info:
        await pool.complete(ChatRequest.of("q"))
    assert info.value.retryable
    assert info.value.retry_after is not None
    assert isinstance(info.value.__cause__, EndpointError)


async def test_pool_stream_falls_back_before_the_first_chunk() -> None:
    bad = ScriptedModel([EndpointError("HTTP 500", status=500)], name="bad")
    good = ScriptedModel(["streamed answer"], name="good")
    pool = EndpointPool([bad, good], clock=FakeClock())
    chunks = [c async for c in pool.stream(ChatRequest.of("q"))]
    assert "".join(c.delta for c in chunks) == "streamed answer"
    assert chunks[-1].usage is not None
    bad.assert_all_used()
    good.assert_all_used()
    snapshot = pool.policy.snapshot()
    assert (snapshot["good"]["successes"], snapshot["good"]["in_flight"]) == (1, 0)
    assert not snapshot["bad"]["healthy"]


def test_pool_rejects_duplicate_member_names() -> None:
    with pytest.raises(ValueError):
        EndpointPool([FunctionModel(lambda r: "x", name="a"), FunctionModel(lambda r: "y", name="a")])
