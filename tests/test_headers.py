"""Retry-After and x-ratelimit-* headers: every value parsed safely and bounded (issue: a
``retry-after: inf`` paused an endpoint forever, ``soon`` raised a raw ValueError, ``86400``
paused it for a day). Values come from hypothesis and from a server on 127.0.0.1 that sends
the exact bytes."""

from __future__ import annotations

import email.utils
import math
import time

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_server import WireServer, completion, http

from orchestra.chat import ChatRequest
from orchestra.clock import FakeClock
from orchestra.endpoints import (
    LimitedEndpoint,
    OpenAIEndpoint,
    Permit,
    RateLimiter,
    RetryingEndpoint,
    honoured_wait,
    parse_duration,
    parse_retry_after,
)
from orchestra.errors import OrchestraError, RateLimitError

# Values servers and proxies have been seen to send, and values that break naive parsers.
NASTY = [
    "inf", "-inf", "Infinity", "nan", "NaN", "-1", "-0.5", "1e309", "1e400", "86400", "3600",
    "soon", "1.5s", "", " ", "0x10", "１２", "Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT",
    "Mon, 32 Foo 2020 99:99:99 GMT", "2", "0", "0.25", "1_000", "\x00", "9" * 400,
]  # fmt: skip

values = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.datetimes().map(lambda d: email.utils.format_datetime(d.replace(tzinfo=None), usegmt=False)),
)


@settings(max_examples=400, deadline=None)
@given(retry_after=values, retry_after_ms=st.one_of(st.none(), values))
def test_any_retry_after_parses_to_a_finite_nonnegative_number_or_none(
    retry_after: str, retry_after_ms: str | None
) -> None:
    headers = {"retry-after": retry_after}
    if retry_after_ms is not None:
        headers["retry-after-ms"] = retry_after_ms
    seconds = parse_retry_after(headers)
    assert seconds is None or (math.isfinite(seconds) and seconds >= 0)
    honoured = honoured_wait(seconds, 60.0)
    assert honoured is None or 0 <= honoured <= 60.0


@settings(max_examples=300, deadline=None)
@given(values)
def test_any_duration_parses_to_a_finite_nonnegative_number_or_none(text: str) -> None:
    seconds = parse_duration(text)
    assert seconds is None or (math.isfinite(seconds) and seconds >= 0)


def test_known_forms() -> None:
    now = time.time()
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after-ms": "inf", "retry-after": "3"}) == 3.0  # bad ms: fall back
    assert parse_retry_after({"retry-after": "1.5s"}) == 1.5
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after({"retry-after": email.utils.formatdate(now - 30, usegmt=True)}, now=now) == 0.0
    for bad in ("inf", "nan", "-1", "soon", ""):
        assert parse_retry_after({"retry-after": bad}) is None
    assert honoured_wait(86400.0) is None and honoured_wait(3600.0) is None  # beyond 60 s: our backoff
    assert honoured_wait(59.0) == 59.0 and honoured_wait(30.0, cap=10.0) is None
    assert parse_duration("6m0s") == 360.0 and parse_duration("20ms") == 0.02


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [f"x-ratelimit-{a}-{b}" for a in ("limit", "remaining", "reset") for b in ("requests", "tokens")]
            + ["retry-after", "retry-after-ms"]
        ),
        values,
    )
)
def test_any_rate_limit_headers_leave_the_limiter_usable(headers: dict[str, str]) -> None:
    clock = FakeClock()
    limiter = RateLimiter(window=60.0, clock=clock)
    limiter.observe_headers(headers)
    stats = limiter.stats
    for value in (stats.rpm, stats.tpm, stats.requests_available, stats.tokens_available):
        assert value is None or math.isfinite(value)
    clock.advance(61.0)  # whatever was learned, a window later a request goes
    assert isinstance(limiter.try_acquire(10), Permit)


# -- over the wire --------------------------------------------------------------------------------

OK = http(200, completion({"role": "assistant", "content": "hi"}))


@pytest.mark.parametrize(
    "value", ["inf", "nan", "-5", "soon", "1.5s", "86400", "3600", "1e999", "Fri, 31 Dec 9999 23:59:59 GMT"]
)
async def test_a_429_with_any_retry_after_is_retried_within_a_bounded_wait(value: str) -> None:
    refused = http(429, {"error": {"message": "slow down", "type": "requests"}}, {"retry-after": value})
    with WireServer([refused, OK]) as server:
        clock = FakeClock()  # waits are instant, and measured
        limiter = RateLimiter(clock=clock)
        raw = OpenAIEndpoint(server.url, "m", name="wire")
        endpoint = RetryingEndpoint(LimitedEndpoint(raw, limiter), clock=clock, initial=0.5, maximum=4.0)
        with anyio.fail_after(10):
            response = await endpoint.complete(ChatRequest.of("hello"))
        await endpoint.aclose()
    assert response.text == "hi"
    assert endpoint.stats.retries == 1
    assert endpoint.stats.waited <= 4.0  # our own jittered backoff, not the server's day
    assert limiter.paused_for == 0.0  # and no endpoint-wide pause beyond the cap either


async def test_an_unreadable_retry_after_is_an_orchestra_error_not_a_value_error() -> None:
    refused = http(429, {"error": {"message": "slow"}}, {"retry-after": "soon"})
    with WireServer([refused]) as server:
        endpoint = OpenAIEndpoint(server.url, "m")
        with pytest.raises(RateLimitError) as caught:
            await endpoint.complete(ChatRequest.of("hello"))
        await endpoint.aclose()
    assert isinstance(caught.value, OrchestraError) and caught.value.retry_after is None


async def test_a_retry_after_within_the_cap_is_honoured() -> None:
    refused = http(
        429, {"error": {"message": "slow"}}, {"retry-after": "7", "x-ratelimit-remaining-requests": "0"}
    )
    with WireServer([refused, OK]) as server:
        clock = FakeClock()
        limiter = RateLimiter(clock=clock)
        endpoint = RetryingEndpoint(LimitedEndpoint(OpenAIEndpoint(server.url, "m"), limiter), clock=clock)
        await endpoint.complete(ChatRequest.of("hello"))
        await endpoint.aclose()
    assert endpoint.stats.waited == pytest.approx(7.0)
    assert clock.now() >= 7.0  # the whole endpoint paused for it (its requests are exhausted)


def test_a_learned_limit_follows_the_servers_window_not_a_minute() -> None:
    """A server whose window is 5 s (60 requests: 12/s) says so by its 429's retry-after; before,
    the 60 became 60 a minute, 9% of what it allows."""
    clock = FakeClock()
    limiter = RateLimiter(window=60.0, clock=clock)
    limiter.observe_headers({"x-ratelimit-limit-requests": "60"})  # the first answer: a limit, no reset
    sent = 0
    for second in range(40):
        while isinstance(permit := limiter.try_acquire(), Permit):
            sent += 1
            limiter.release(permit)
        if second == 1:  # the second burst meets the server's limit: a 429 with its headers
            limiter.observe_headers({"x-ratelimit-limit-requests": "60", "retry-after": "5"})
        clock.advance(1.0)
    assert limiter.stats.rpm == 60 and limiter.requests is not None and limiter.requests.window == 5.0
    assert 0.9 * 12 * 40 <= sent <= 12 * 40 + 120  # about the 12/s the server allows, not 1/s


def test_reset_headers_teach_the_window_and_remaining_credits_upward() -> None:
    clock = FakeClock()
    limiter = RateLimiter(window=60.0, clock=clock)
    limiter.observe_headers(
        {
            "x-ratelimit-limit-requests": "100",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "10s",
        }
    )
    assert limiter.requests is not None and limiter.requests.window == 10.0
    permits = []
    while isinstance(p := limiter.try_acquire(), Permit):
        permits.append(p)
    for p in permits:
        limiter.release(p)
    assert len(permits) == 0  # the server said none are left
    clock.advance(10.0)
    for _ in range(100):
        p = limiter.try_acquire()
        assert isinstance(p, Permit)
        limiter.release(p)
    # The server shows it has 90 left while our own count says 0: credit them.
    limiter.observe_headers(
        {
            "x-ratelimit-limit-requests": "100",
            "x-ratelimit-remaining-requests": "90",
            "x-ratelimit-reset-requests": "1s",
        }
    )
    assert limiter.stats.requests_available == pytest.approx(90)
