"""The pure limiter (sliding-window buckets, RateLimiter, AIMD) on a FakeClock, and its async shell."""

from __future__ import annotations

import math
import random
import time

import anyio
import pytest

from orchestra.chat import ChatRequest
from orchestra.clock import FakeClock
from orchestra.endpoints import (
    AdaptiveConcurrency,
    LimitedEndpoint,
    Outcome,
    Permit,
    RateLimiter,
    TokenBucket,
    parse_duration,
)
from orchestra.errors import EndpointError, EndpointTimeout, RateLimitError
from orchestra.testing import FunctionModel, ScriptedModel


def max_in_any_window(times: list[float], window: float) -> int:
    """Most events in any half-open interval [t, t + window)."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("0.5s", 0.5),
        ("1h2m3.5s", 3723.5),
        ("7", 7.0),
        ("", None),
    ],
)
def test_parse_duration_reads_openai_reset_format(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


@pytest.mark.parametrize("text", ["1x", "s", "5m junk", "m5"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    assert parse_duration(text) is None


# -- TokenBucket ------------------------------------------------------------------------------


def test_bucket_debit_returns_exactly_one_window_later() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, 60.0, clock)
    bucket.take(6)
    clock.advance(30)
    bucket.take(4)
    assert bucket.available() == 0
    assert bucket.wait_time(5) == pytest.approx(30.0)  # the first debit (6) frees at t=60
    assert bucket.wait_time(7) == pytest.approx(60.0)  # needs the second one too, at t=90
    clock.advance(29.5)
    assert isinstance(bucket.try_take(1), float)
    clock.advance(0.5)
    assert bucket.available() == 6


def test_bucket_refund_gives_back_the_unused_part() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000, 60.0, clock)
    reservation = bucket.take(800)  # prompt + max_tokens up front
    assert bucket.available() == 200
    bucket.refund(reservation, 150)  # usage said 150
    assert bucket.available() == 850
    assert reservation.amount == 150
    clock.advance(60)
    assert bucket.available() == 1000
    bucket.refund(reservation, 0)  # expired: a late refund changes nothing
    assert bucket.available() == 1000


def test_bucket_clamps_a_request_larger_than_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100, 1.0, clock)
    bucket.take(30)
    assert bucket.wait_time(5000) == pytest.approx(1.0)  # waits for an empty bucket, not forever
    clock.advance(1.0)
    assert bucket.take(5000).amount == 100


def test_bucket_never_exceeds_capacity_in_any_window_over_a_long_run() -> None:
    rng = random.Random(7)
    clock = FakeClock()
    bucket = TokenBucket(50, 10.0, clock)
    taken: list[tuple[float, float]] = []
    for _ in range(20_000):
        clock.advance(rng.expovariate(20.0))
        amount = rng.randint(1, 12)
        got = bucket.try_take(amount)
        if not isinstance(got, float):
            taken.append((clock.now(), amount))
            if rng.random() < 0.5:
                actual = rng.randint(0, amount)
                bucket.refund(got, actual)
                taken[-1] = (clock.now(), actual)
    # Sum of (refunded) debits in every window starting at a debit time.
    worst = 0.0
    start, running = 0, 0.0
    for t, amount in taken:
        running += amount
        while t - taken[start][0] >= 10.0:
            running -= taken[start][1]
            start += 1
        worst = max(worst, running)
    assert worst <= 50
    assert worst >= 45  # the run really pushed against the limit
    assert sum(a for _, a in taken) / clock.now() > 0.8 * 50 / 10.0  # and used most of the capacity


# -- RateLimiter ------------------------------------------------------------------------------


def test_refund_from_usage_lets_the_next_request_in() -> None:
    clock = FakeClock()
    limiter = RateLimiter(tpm=1000, clock=clock)
    first = limiter.try_acquire(600)
    assert isinstance(first, Permit)
    assert isinstance(limiter.try_acquire(600), float)  # 600 + 600 > 1000
    limiter.release(first, used_tokens=120)
    assert isinstance(limiter.try_acquire(600), Permit)  # 120 + 600 <= 1000
    assert limiter.stats.tokens_used == 120
    assert limiter.stats.tokens_available == pytest.approx(280)


def test_no_head_of_line_blocking() -> None:
    clock = FakeClock()
    limiter = RateLimiter(tpm=1000, clock=clock)
    first = limiter.try_acquire(700)
    assert isinstance(first, Permit)
    assert limiter.try_acquire(500) == math.inf  # only the end of `first` can make room
    small = limiter.try_acquire(200)
    assert isinstance(small, Permit)  # the big one waiting does not hold the small one back
    assert limiter.try_acquire(500) == math.inf  # and the big one still does not fit
    clock.advance(5.0)
    limiter.release(first, used_tokens=700)
    assert limiter.try_acquire(500) == pytest.approx(60.0)  # a window after `first` ended


def test_rpm_never_exceeded_in_any_window_at_the_server_over_a_long_simulated_run() -> None:
    rng = random.Random(3)
    clock = FakeClock()
    limiter = RateLimiter(rpm=40, window=1.0, clock=clock)
    grants: list[float] = []
    admitted: list[float] = []  # when the server counts it: anywhere between grant and answer
    in_flight: list[tuple[float, Permit]] = []
    while clock.now() < 120.0:
        clock.advance(rng.uniform(0.0, 0.01))
        for _ in range(rng.randint(0, 5)):  # bursts of callers
            got = limiter.try_acquire(0)
            if isinstance(got, Permit):
                latency = rng.choice([0.002, 0.005, 0.04])  # some requests meet a slow connection
                grants.append(clock.now())
                admitted.append(clock.now() + rng.uniform(0.0, latency))
                in_flight.append((clock.now() + latency, got))
        for done in [p for p in in_flight if p[0] <= clock.now()]:
            in_flight.remove(done)
            limiter.release(done[1], 10, Outcome.OK)
    assert max_in_any_window(admitted, 1.0) <= 40
    assert max_in_any_window(grants, 1.0) <= 40
    assert len(grants) >= 0.95 * 40 * 120  # held near the limit, not far below it


def test_a_debit_held_in_flight_returns_a_window_after_it_finished() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2, 10.0, clock)
    held = bucket.take(1, hold=True)
    bucket.take(1)
    assert bucket.wait_time(1) == pytest.approx(10.0)  # the plain debit returns at t=10
    assert bucket.wait_time(2) == math.inf  # the held one, only after it finishes
    clock.advance(30.0)
    assert bucket.available() == 1
    bucket.finish(held, actual_amount=0.5)
    assert bucket.available() == 1.5
    clock.advance(10.0)
    assert bucket.available() == 2


def test_concurrency_cap_waits_for_a_release_and_notifies() -> None:
    limiter = RateLimiter(max_concurrency=2, clock=FakeClock())
    woken: list[int] = []
    limiter.add_listener(lambda: woken.append(limiter.in_flight))
    a, b = limiter.try_acquire(), limiter.try_acquire()
    assert isinstance(a, Permit) and isinstance(b, Permit)
    assert limiter.try_acquire() == math.inf  # only a release can help
    limiter.release(a)
    limiter.release(a)  # a second release of the same permit is ignored
    assert woken == [1]
    assert isinstance(limiter.try_acquire(), Permit)
    assert limiter.in_flight == 2


def test_pause_blocks_every_request_until_the_time() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=1000, clock=clock)
    limiter.pause(5.0)
    assert limiter.try_acquire(1) == pytest.approx(5.0)
    assert limiter.try_acquire(0) == pytest.approx(5.0)
    limiter.pause_until(2.0)  # an earlier end never shortens a pause
    clock.advance(4.9)
    assert limiter.try_acquire(1) == pytest.approx(0.1)
    assert limiter.stats.paused_for == pytest.approx(0.1)
    clock.advance(0.1)
    assert isinstance(limiter.try_acquire(1), Permit)


def test_headers_teach_limits_and_foreign_usage() -> None:
    clock = FakeClock()
    limiter = RateLimiter(window=60.0, clock=clock)
    assert limiter.stats.rpm is None
    limiter.observe_headers(
        {
            "x-ratelimit-limit-requests": "100",
            "x-ratelimit-remaining-requests": "40",
            "x-ratelimit-reset-requests": "30s",
            "x-ratelimit-limit-tokens": "5000",
            "x-ratelimit-remaining-tokens": "4900",
            "x-ratelimit-reset-tokens": "1.2s",
        }
    )
    stats = limiter.stats
    assert (stats.rpm, stats.tpm) == (100, 5000)
    assert stats.requests_available == 40  # someone else used 60 of ours
    assert stats.tokens_available == 4900
    clock.advance(1.2)
    assert limiter.stats.tokens_available == 5000
    clock.advance(28.8)
    assert limiter.stats.requests_available == 100  # until the reset, no longer


def test_header_limit_never_raises_a_configured_limit() -> None:
    limiter = RateLimiter(rpm=50, clock=FakeClock())
    limiter.observe_headers({"X-RateLimit-Limit-Requests": "500"})
    assert limiter.stats.rpm == 50
    limiter.observe_headers({"x-ratelimit-limit-requests": "20"})
    assert limiter.stats.rpm == 20


def test_headers_are_compared_with_what_we_had_when_that_request_was_granted() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=10, window=10.0, clock=clock)
    permit = limiter.try_acquire()
    assert isinstance(permit, Permit)
    for _ in range(5):  # more requests go out before the first response comes back
        assert isinstance(limiter.try_acquire(), Permit)
    # The server counted our first request only: 9 left then, exactly as we had. Not foreign.
    limiter.observe_headers(
        {"x-ratelimit-remaining-requests": "9", "x-ratelimit-reset-requests": "1s"}, permit
    )
    assert limiter.stats.requests_available == 4
    # Here the server says 7 left after the same request: 2 used by someone else.
    limiter.observe_headers(
        {"x-ratelimit-remaining-requests": "7", "x-ratelimit-reset-requests": "1s"}, permit
    )
    assert limiter.stats.requests_available == 2


# -- adaptive concurrency (AIMD) --------------------------------------------------------------


def test_aimd_cuts_once_per_epoch_on_429_and_grows_on_success() -> None:
    limiter = RateLimiter(adaptive=True, initial_concurrency=10, clock=FakeClock())
    permits = [limiter.try_acquire() for _ in range(10)]
    assert all(isinstance(p, Permit) for p in permits)
    assert limiter.try_acquire() == math.inf
    for p in permits:  # ten 429s of one overload event
        limiter.release(p, 0, Outcome.RATE_LIMITED)
    assert limiter.concurrency_limit == 7
    assert limiter.stats.rate_limited == 10
    # While demand exceeds the cap, a round of `limit` successes adds about one.
    limits = []
    for _ in range(4):
        batch = [limiter.try_acquire() for _ in range(limiter.concurrency_limit)]
        assert all(isinstance(p, Permit) for p in batch)
        assert limiter.try_acquire() == math.inf
        for p in batch:
            limiter.release(p, 5, Outcome.OK)
        limits.append(limiter.concurrency_limit)
    assert limits == [7, 8, 9, 10]


@pytest.mark.parametrize(
    ("outcome", "cut"),
    [(Outcome.OVERLOADED, True), (Outcome.TIMEOUT, True), (Outcome.ERROR, False), (Outcome.CANCELLED, False)],
)
def test_aimd_cuts_on_congestion_only(outcome: Outcome, cut: bool) -> None:
    limiter = RateLimiter(adaptive=True, initial_concurrency=20, clock=FakeClock())
    permits = [limiter.try_acquire() for _ in range(3)]  # one event alone is a fault; 3 of 20 a signal
    for permit in permits:
        assert isinstance(permit, Permit)
        limiter.release(permit, None, outcome)
    assert limiter.concurrency_limit == (14 if cut else 20)


def test_aimd_does_not_grow_when_the_cap_is_not_what_holds_back() -> None:
    aimd = AdaptiveConcurrency(4, maximum=6)
    for _ in range(100):
        aimd.on_success(saturated=False)
    assert aimd.limit == 4
    for _ in range(100):
        aimd.on_success(saturated=True)
    assert aimd.limit == 6  # ceiling
    for epoch in range(20):
        aimd.on_congestion(epoch)
    assert aimd.limit == 1  # floor


# -- the async shell ---------------------------------------------------------------------------


async def test_limited_endpoint_holds_the_concurrency_cap_and_refunds_usage() -> None:
    running = 0
    peak = 0

    async def answer(request: ChatRequest) -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.002)
        running -= 1
        return "four words of text"

    limiter = RateLimiter(max_concurrency=3, tpm=100_000)
    endpoint = LimitedEndpoint(FunctionModel(answer), limiter, default_max_tokens=500)
    async with anyio.create_task_group() as group:
        for i in range(12):
            group.start_soon(endpoint.complete, ChatRequest.of(f"question {i}"))
    assert peak == 3
    stats = limiter.stats
    assert (stats.granted, stats.released, stats.in_flight) == (12, 12, 0)
    assert stats.tokens_reserved > 12 * 500
    assert stats.tokens_available == pytest.approx(100_000 - stats.tokens_used)  # refunded to usage
    assert endpoint.waits > 0


async def test_limited_endpoint_pauses_on_429_and_releases_on_errors() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=100, window=60.0, clock=clock)
    exhausted = {"x-ratelimit-remaining-requests": "0"}  # a shared limit is out: it concerns everyone
    model = ScriptedModel(
        [
            RateLimitError("slow down", status=429, retry_after=2.5, headers=exhausted),
            EndpointError("bad", status=400),
        ]
    )
    endpoint = LimitedEndpoint(model, limiter)
    with pytest.raises(RateLimitError):
        await endpoint.complete(ChatRequest.of("a"))
    assert limiter.paused_for == pytest.approx(2.5)
    with pytest.raises(EndpointError):
        await endpoint.complete(ChatRequest.of("b"))  # waited out the pause on the fake clock
    assert clock.now() >= 2.5
    assert limiter.stats.in_flight == 0
    assert limiter.stats.rate_limited == 1


async def test_limited_stream_holds_the_permit_until_the_usage_chunk() -> None:
    limiter = RateLimiter(max_concurrency=1, tpm=10_000, clock=FakeClock())
    endpoint = LimitedEndpoint(
        ScriptedModel(["a fairly long streamed answer"]), limiter, default_max_tokens=300
    )
    seen = []
    async for chunk in endpoint.stream(ChatRequest.of("hi")):
        seen.append(chunk)
        if chunk.usage is None:
            assert limiter.in_flight == 1
    assert limiter.in_flight == 0
    assert seen[-1].usage is not None
    assert limiter.stats.tokens_used == seen[-1].usage.total_tokens
    assert limiter.stats.tokens_available == 10_000 - seen[-1].usage.total_tokens


async def test_limited_endpoint_counts_timeouts_as_congestion() -> None:
    limiter = RateLimiter(adaptive=True, initial_concurrency=10, clock=FakeClock())
    endpoint = LimitedEndpoint(ScriptedModel([EndpointTimeout("slow")] * 2), limiter)
    for _ in range(2):
        with pytest.raises(EndpointTimeout):
            await endpoint.complete(ChatRequest.of("x", max_tokens=10))
    assert limiter.concurrency_limit == 7
    assert limiter.stats.congested == 2


async def test_a_waiting_large_request_does_not_stall_smaller_ones_behind_it() -> None:
    starts: list[str] = []
    release_first = anyio.Event()

    async def answer(request: ChatRequest) -> str:
        name = request.messages[0].content or ""
        starts.append(name)
        if name == "first":
            await release_first.wait()
        return "ok"

    limiter = RateLimiter(tpm=1000, window=0.05)
    endpoint = LimitedEndpoint(FunctionModel(answer), limiter)
    async with anyio.create_task_group() as group:
        group.start_soon(endpoint.complete, ChatRequest.of("first", max_tokens=600))
        await anyio.sleep(0.005)
        group.start_soon(endpoint.complete, ChatRequest.of("large", max_tokens=600))  # does not fit
        await anyio.sleep(0.005)
        group.start_soon(endpoint.complete, ChatRequest.of("small", max_tokens=100))  # fits now
        await anyio.sleep(0.005)
        assert starts == ["first", "small"]  # the small one went past the waiting large one
        release_first.set()
    assert starts == ["first", "small", "large"]
    assert limiter.stats.in_flight == 0


async def test_a_request_window_is_kept_while_waiters_take_turns_on_the_timer() -> None:
    limiter = RateLimiter(rpm=2, window=0.05)
    starts: list[float] = []

    async def answer(request: ChatRequest) -> str:
        starts.append(time.monotonic())
        return "ok"

    endpoint = LimitedEndpoint(FunctionModel(answer), limiter)
    async with anyio.create_task_group() as group:
        for i in range(7):
            group.start_soon(endpoint.complete, ChatRequest.of(f"q{i}"))
    assert len(starts) == 7
    assert max_in_any_window(starts, 0.05) <= 2
    assert starts[-1] - starts[0] < 0.5  # woken when the window allowed, not much later


async def test_a_waiter_cancelled_after_its_grant_hands_the_permit_back() -> None:
    limiter = RateLimiter(max_concurrency=1, rpm=10)
    endpoint = LimitedEndpoint(ScriptedModel([]), limiter)
    held = await endpoint.acquire(0)
    scope = anyio.CancelScope()

    async def wait_for_a_permit() -> None:
        with scope:
            await endpoint.acquire(0)

    async with anyio.create_task_group() as group:
        group.start_soon(wait_for_a_permit)
        await anyio.sleep(0.005)
        limiter.release(held)  # grants the waiter at once ...
        assert limiter.in_flight == 1
        scope.cancel()  # ... which is cancelled before it could send anything
    assert limiter.in_flight == 0
    assert limiter.stats.requests_available == 9  # the revoked permit's request came back
