"""RetryingEndpoint: what is retried, how long it waits (on a FakeClock), and streams."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from orchestra.chat import ChatChunk, ChatRequest, ChatResponse
from orchestra.clock import FakeClock
from orchestra.endpoints import RetryingEndpoint
from orchestra.errors import (
    EndpointConnectionError,
    EndpointError,
    EndpointTimeout,
    RateLimitError,
)
from orchestra.testing import ScriptedModel


def server_error(status: int = 503) -> EndpointError:
    return EndpointError(f"HTTP {status}", status=status)


@pytest.mark.parametrize(
    "failure",
    [
        server_error(500),
        server_error(503),
        EndpointError("lock", status=409),
        EndpointError("request timeout", status=408),
        EndpointTimeout("hung"),
        EndpointConnectionError("refused"),
        RateLimitError("429", status=429),
    ],
)
async def test_retryable_failures_are_retried(failure: EndpointError) -> None:
    clock = FakeClock()
    model = ScriptedModel([failure, failure, "ok"])
    endpoint = RetryingEndpoint(model, clock=clock)
    started = time.monotonic()
    response = await endpoint.complete(ChatRequest.of("q"))
    assert response.text == "ok"
    assert (endpoint.stats.attempts, endpoint.stats.retries, endpoint.stats.gave_up) == (3, 2, 0)
    assert clock.now() == pytest.approx(endpoint.stats.waited)  # waits went through the fake clock
    assert time.monotonic() - started < 0.5  # and did not sleep for real
    model.assert_all_used()


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_client_errors_are_raised_at_once(status: int) -> None:
    model = ScriptedModel([EndpointError("bad request", status=status), "never"])
    endpoint = RetryingEndpoint(model, clock=FakeClock())
    with pytest.raises(EndpointError) as info:
        await endpoint.complete(ChatRequest.of("q"))
    assert info.value.status == status
    assert (endpoint.stats.attempts, endpoint.stats.retries, endpoint.stats.gave_up) == (1, 0, 1)
    assert model.remaining == 1


async def test_other_exceptions_are_not_retried() -> None:
    model = ScriptedModel([ValueError("a bug"), "never"])
    endpoint = RetryingEndpoint(model, clock=FakeClock())
    with pytest.raises(ValueError):
        await endpoint.complete(ChatRequest.of("q"))
    assert endpoint.stats.attempts == 1


async def test_retry_after_from_the_server_is_the_wait() -> None:
    clock = FakeClock()
    model = ScriptedModel([RateLimitError("429", status=429, retry_after=7.25), server_error(), "ok"])
    endpoint = RetryingEndpoint(model, clock=clock, initial=0.5, maximum=1.0)
    await endpoint.complete(ChatRequest.of("q"))
    # 7.25 s as the server asked (above `maximum`), then a jittered backoff of at most 1 s.
    assert 7.25 <= clock.now() <= 8.25


async def test_backoff_is_jittered_and_bounded() -> None:
    waits = []
    for _ in range(20):
        clock = FakeClock()
        endpoint = RetryingEndpoint(
            ScriptedModel([server_error()] * 4 + ["ok"]), clock=clock, initial=0.5, maximum=3.0
        )
        await endpoint.complete(ChatRequest.of("q"))
        waits.append(clock.now())
    # windows 0.5, 1, 2, 3 (capped): at most 6.5 s, and not the same every time.
    assert all(0 <= w <= 6.5 for w in waits)
    assert len({round(w, 6) for w in waits}) > 10


async def test_gives_up_after_max_attempts() -> None:
    model = ScriptedModel([server_error(502)] * 3)
    endpoint = RetryingEndpoint(model, max_attempts=3, clock=FakeClock())
    with pytest.raises(EndpointError) as info:
        await endpoint.complete(ChatRequest.of("q"))
    assert info.value.status == 502
    assert (endpoint.stats.attempts, endpoint.stats.retries, endpoint.stats.gave_up) == (3, 2, 1)
    model.assert_all_used()


class BreakingStream:
    """An endpoint whose streams fail before or after their first chunk, as scripted."""

    name = "breaking"

    def __init__(self, plan: list[str]) -> None:
        self.plan = plan  # per attempt: "before", "after" or "ok"
        self.attempts = 0

    async def complete(self, request: ChatRequest) -> ChatResponse:
        raise NotImplementedError

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        step = self.plan[self.attempts]
        self.attempts += 1
        if step == "before":
            raise server_error(502)
        yield ChatChunk(delta="Hel")
        if step == "after":
            raise EndpointConnectionError("dropped mid-stream")
        yield ChatChunk(delta="lo")

    async def aclose(self) -> None:
        return None


async def test_stream_is_retried_before_its_first_chunk() -> None:
    inner = BreakingStream(["before", "before", "ok"])
    endpoint = RetryingEndpoint(inner, clock=FakeClock())
    text = "".join([c.delta async for c in endpoint.stream(ChatRequest.of("q"))])
    assert text == "Hello"
    assert inner.attempts == 3


async def test_stream_is_not_retried_after_a_chunk_was_delivered() -> None:
    inner = BreakingStream(["after", "ok"])
    endpoint = RetryingEndpoint(inner, clock=FakeClock())
    got = []
    with pytest.raises(EndpointConnectionError):
        async for chunk in endpoint.stream(ChatRequest.of("q")):
            got.append(chunk.delta)
    assert got == ["Hel"]  # no second "Hel" from a new attempt
    assert inner.attempts == 1
