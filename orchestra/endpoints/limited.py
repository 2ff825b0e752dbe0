"""``LimitedEndpoint``: an endpoint that waits for its :class:`~orchestra.endpoints.limits.RateLimiter`.

The thin async shell around the pure limiter. Each request asks the limiter; when told to wait,
it sleeps until the earlier of the limiter's answer and the next *wake-up*, an ``anyio.Event``
set whenever capacity comes back (a release, a refund) and replaced after each wake-up. There is
no polling tick and no queue, so a request that does not fit never stalls one that does.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Mapping
from contextvars import ContextVar
from typing import Any

import anyio

from orchestra.chat import ChatChunk, ChatRequest, ChatResponse, Usage
from orchestra.clock import Clock, MonotonicClock
from orchestra.endpoints.base import Endpoint, WrapperEndpoint
from orchestra.endpoints.limits import Outcome, Permit, RateLimiter
from orchestra.errors import EndpointError, EndpointTimeout, RateLimitError

__all__ = ["LimitedEndpoint", "close_stream", "outcome_of"]

# The (limiter, permit) of the request being sent by this task: lets the header hook compare the
# server's x-ratelimit-remaining with what we had when *that* request was granted.
_SENDING: ContextVar[tuple[RateLimiter, Permit] | None] = ContextVar("orchestra_limited_sending", default=None)


def outcome_of(exc: BaseException) -> tuple[Outcome, int | None]:
    """How a failed request ended, and the tokens to keep debited (None: keep the estimate).

    A server that answered with an error status generated nothing, so the token debit is
    refunded to 0; after a timeout or a dropped connection the server may still have worked, so
    the up-front estimate stays.
    """
    if isinstance(exc, RateLimitError) or (isinstance(exc, EndpointError) and exc.status == 429):
        return Outcome.RATE_LIMITED, 0
    if isinstance(exc, EndpointTimeout):
        return Outcome.TIMEOUT, None
    if isinstance(exc, EndpointError) and exc.status is not None:
        return (Outcome.OVERLOADED if exc.status == 503 else Outcome.ERROR), 0
    if isinstance(exc, Exception):
        return Outcome.ERROR, None
    return Outcome.CANCELLED, None


async def close_stream(stream: AsyncIterator[Any]) -> None:
    """Close an endpoint's stream (an async generator) so its connection is released now."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


def _used(usage: Usage | None) -> int | None:
    # A server that reports no usage (zeros) tells us nothing: keep the up-front estimate.
    return usage.total_tokens if usage is not None and usage.total_tokens > 0 else None


class LimitedEndpoint(WrapperEndpoint):
    """An endpoint whose requests go through ``limiter`` (RPM, TPM, concurrency, 429 pauses).

    When ``inner`` has an ``on_headers`` hook (:class:`~orchestra.endpoints.openai.OpenAIEndpoint`
    does), it is chained to :meth:`RateLimiter.observe_headers` so limits are learned from the
    server's ``x-ratelimit-*`` headers.

    Args:
        inner: the endpoint to limit.
        limiter: its limits; exposed as ``self.limiter``. Several endpoints may share one.
        clock: time source for waits (default: the limiter's).
        default_max_tokens: completion tokens reserved for a request that sets no ``max_tokens``.
    """

    def __init__(
        self,
        inner: Endpoint,
        limiter: RateLimiter,
        *,
        clock: Clock | None = None,
        default_max_tokens: int = 1024,
    ) -> None:
        super().__init__(inner)
        self.limiter = limiter
        self.clock: Clock = clock or limiter.clock
        self.default_max_tokens = default_max_tokens
        self.waits = 0
        self._wake: anyio.Event | None = None  # created lazily: an Event needs a running loop
        limiter.add_listener(self._on_capacity)
        if hasattr(inner, "on_headers"):
            inner.on_headers = self._header_hook(inner.on_headers)

    # -- waiting -----------------------------------------------------------------------------

    def _header_hook(self, previous: Callable[[dict[str, str]], None] | None) -> Callable[[dict[str, str]], None]:
        def hook(headers: Mapping[str, str]) -> None:
            if previous is not None:
                previous(dict(headers))
            sending = _SENDING.get()
            permit = sending[1] if sending is not None and sending[0] is self.limiter else None
            self.limiter.observe_headers(headers, permit)

        return hook

    def _on_capacity(self) -> None:
        if self._wake is not None:
            self._wake.set()
            self._wake = None

    def estimate_tokens(self, request: ChatRequest) -> int:
        """Tokens debited up front: the prompt estimate plus the completion budget of every choice."""
        budget = request.max_tokens or request.extra.get("max_completion_tokens") or self.default_max_tokens
        return request.estimated_prompt_tokens() + int(budget) * request.n

    async def acquire(self, tokens: int) -> Permit:
        """Wait until the limiter grants a request of ``tokens`` tokens."""
        while True:
            granted = self.limiter.try_acquire(tokens)
            if isinstance(granted, Permit):
                return granted
            self.waits += 1
            await self._wait(granted)

    async def _wait(self, seconds: float) -> None:
        """Wait ``seconds`` of clock time, or until capacity is released, whichever is first."""
        if self._wake is None:
            self._wake = anyio.Event()
        wake = self._wake
        if math.isinf(seconds):
            await wake.wait()
        elif isinstance(self.clock, MonotonicClock):
            with anyio.move_on_after(seconds):  # anyio's time is the same monotonic clock
                await wake.wait()
        else:
            async with anyio.create_task_group() as group:

                async def sleep() -> None:
                    await self.clock.sleep(seconds)
                    group.cancel_scope.cancel()

                async def woken() -> None:
                    await wake.wait()
                    group.cancel_scope.cancel()

                group.start_soon(sleep)
                group.start_soon(woken)

    def _release_failed(self, permit: Permit, exc: BaseException) -> None:
        outcome, used = outcome_of(exc)
        if outcome is Outcome.RATE_LIMITED:
            retry_after = exc.retry_after if isinstance(exc, EndpointError) else None
            self.limiter.pause(retry_after if retry_after is not None else 1.0)
        self.limiter.release(permit, used, outcome)

    # -- requests ----------------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> ChatResponse:
        permit = await self.acquire(self.estimate_tokens(request))
        token = _SENDING.set((self.limiter, permit))
        try:
            response = await self.inner.complete(request)
        except BaseException as exc:
            self._release_failed(permit, exc)
            raise
        finally:
            _SENDING.reset(token)
        self.limiter.release(permit, _used(response.usage), Outcome.OK)
        return response

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream under one permit held for the whole stream, released with the usage chunk's count."""
        permit = await self.acquire(self.estimate_tokens(request))
        chunks = self.inner.stream(request)
        used: int | None = None
        try:
            while True:
                # Set only around each step, never across a yield: the consumer's context must
                # not see (or reset) our value.
                token = _SENDING.set((self.limiter, permit))
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    break
                finally:
                    _SENDING.reset(token)
                if chunk.usage is not None:
                    used = _used(chunk.usage)
                yield chunk
        except BaseException as exc:
            self._release_failed(permit, exc)
            raise
        else:
            self.limiter.release(permit, used, Outcome.OK)
        finally:
            await close_stream(chunks)
