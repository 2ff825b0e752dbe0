"""``LimitedEndpoint``: an endpoint that waits for its :class:`~orchestra.endpoints.limits.RateLimiter`.

The thin async shell around the pure limiter. A request that the limiter grants goes at once.
One that must wait joins the endpoint's waiters, each with its own ``anyio.Event``. Whenever
capacity comes back (a release, a refund, a higher learned limit) the waiters are scanned in
arrival order and every one that fits now is granted and woken; one that does not fit is skipped,
never waited on, so a large request does not stall smaller ones behind it (no head-of-line
blocking). Capacity that comes back with time (a window passing, a pause ending) is picked up by
the oldest waiter alone, which sleeps until the earliest moment any waiter could fit and then
scans. There is no polling tick, and a release wakes only the waiters it lets through: waking
every waiter on every release (one shared event) cost ~1 ms of CPU per request with 20,000
requests queued behind a cap of 100, quadratic in the queue.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable, Mapping
from contextvars import ContextVar
from typing import Any

import anyio

from orchestra.chat import ChatChunk, ChatRequest, ChatResponse, Usage
from orchestra.clock import Clock, MonotonicClock
from orchestra.endpoints.base import Endpoint, WrapperEndpoint
from orchestra.endpoints.headers import DEFAULT_MAX_RETRY_AFTER, honoured_wait, parse_number
from orchestra.endpoints.limits import Outcome, Permit, RateLimiter
from orchestra.errors import EndpointError
from orchestra.faults import classify

__all__ = ["LimitedEndpoint", "close_stream", "failure_effect", "pause_scope"]

log = logging.getLogger(__name__)

# The (limiter, permit) of the request being sent by this task: lets the header hook compare the
# server's x-ratelimit-remaining with what we had when *that* request was granted.
_SENDING: ContextVar[tuple[RateLimiter, Permit] | None] = ContextVar(
    "orchestra_limited_sending", default=None
)


async def close_stream(stream: AsyncIterator[Any]) -> None:
    """Close an endpoint's stream (an async generator) so its connection is released now."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


def pause_scope(exc: BaseException, tokens: int) -> bool:
    """Whether a 429 concerns every request of the endpoint (pause them all) or only its own.

    It concerns all when the server says a shared limit is exhausted: no requests left, or fewer
    tokens left than this request needed. A 429 whose headers show room in both limits (a burst
    429 from a proxy, a per-request rule) concerns that request alone: it waits its Retry-After
    in the retry layer while the others go on. A 429 with no limit headers is ambiguous; it
    pauses nobody else either (the openai SDK delays only the request that got it), and the
    adaptive concurrency cut it causes slows everyone just enough. Pausing the whole endpoint
    for every 429 made a 2% rate of 2 s burst 429s stop it about half the time.
    """
    headers = exc.headers if isinstance(exc, EndpointError) else {}
    requests_left = parse_number(headers.get("x-ratelimit-remaining-requests"))
    tokens_left = parse_number(headers.get("x-ratelimit-remaining-tokens"))
    if requests_left is not None and requests_left < 1:
        return True
    return tokens_left is not None and tokens_left < max(1, tokens)


def failure_effect(
    exc: BaseException,
    tokens: int,
    *,
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
    fallback_pause: float = 1.0,
) -> tuple[float | None, int | None, Outcome]:
    """What a failed request does to its limiter: (endpoint pause in seconds or None, tokens to
    keep debited or None for the estimate, outcome). Shared by every limiter shell (local, Ray)."""
    fault = classify(exc)
    pause = None
    if fault.outcome is Outcome.RATE_LIMITED and pause_scope(exc, tokens):
        retry_after = exc.retry_after if isinstance(exc, EndpointError) else None
        wait = honoured_wait(retry_after, max_retry_after)
        pause = fallback_pause if wait is None else wait
    return pause, None if fault.keeps_tokens else 0, fault.outcome


class _Waiter:
    """A request waiting for a permit; the dispatcher fills ``permit`` and sets ``event``."""

    __slots__ = ("event", "permit", "tokens")

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens
        self.permit: Permit | None = None
        self.event = anyio.Event()


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
        max_retry_after: the longest pause a server's Retry-After may impose on the endpoint, in
            seconds; a longer or unreadable one pauses for ``fallback_pause`` instead.
        fallback_pause: seconds the endpoint pauses on an exhausted limit with no usable Retry-After.
    """

    def __init__(
        self,
        inner: Endpoint,
        limiter: RateLimiter,
        *,
        clock: Clock | None = None,
        default_max_tokens: int = 1024,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        fallback_pause: float = 1.0,
    ) -> None:
        super().__init__(inner)
        self.limiter = limiter
        self.max_retry_after = max_retry_after
        self.fallback_pause = fallback_pause
        if limiter.name == "endpoint":
            limiter.name = inner.name
        self.clock: Clock = clock or limiter.clock
        self.default_max_tokens = default_max_tokens
        self.waits = 0
        self._waiters: dict[_Waiter, None] = {}  # an ordered set: arrival order, O(1) removal
        self._next_wake = math.inf  # clock time some waiter could fit, by the last scan
        self._armed = math.inf  # clock time the oldest waiter's timer is set for
        limiter.add_listener(self._dispatch)
        if hasattr(inner, "on_headers"):
            inner.on_headers = self._header_hook(inner.on_headers)

    # -- waiting -----------------------------------------------------------------------------

    def _header_hook(
        self, previous: Callable[[dict[str, str]], None] | None
    ) -> Callable[[dict[str, str]], None]:
        def hook(headers: Mapping[str, str]) -> None:
            if previous is not None:
                previous(dict(headers))
            sending = _SENDING.get()
            permit = sending[1] if sending is not None and sending[0] is self.limiter else None
            self.limiter.observe_headers(headers, permit)

        return hook

    def estimate_tokens(self, request: ChatRequest) -> int:
        """Tokens debited up front: the prompt estimate plus the completion budget of every choice."""
        budget = request.max_tokens or request.extra.get("max_completion_tokens") or self.default_max_tokens
        return request.estimated_prompt_tokens() + int(budget) * request.n

    def _dispatch(self) -> None:
        """Grant every waiter that fits now, oldest first, and note when the next one could."""
        limiter = self.limiter
        next_wait = math.inf
        for waiter in self._waiters:
            if waiter.permit is not None:
                continue
            granted = limiter.try_acquire(waiter.tokens)
            if isinstance(granted, Permit):
                waiter.permit = granted
                waiter.event.set()
                continue
            next_wait = min(next_wait, granted)
            blocked = limiter.wait_time(0)
            if blocked > 0:  # nobody fits (cap, pause, request window): the rest need not be asked
                next_wait = min(next_wait, blocked)
                break
        self._next_wake = self.clock.now() + next_wait
        head = next(iter(self._waiters), None)
        if head is not None and head.permit is None and self._next_wake < self._armed:
            head.event.set()  # the timer is set too late now: the oldest re-arms it

    async def acquire(self, tokens: int) -> Permit:
        """Wait until the limiter grants a request of ``tokens`` tokens."""
        if not self._waiters:  # waiters already queued get first pick of what comes back
            granted = self.limiter.try_acquire(tokens)
            if isinstance(granted, Permit):
                return granted
        self.waits += 1
        waiter = _Waiter(tokens)
        self._waiters[waiter] = None
        try:
            self._dispatch()
            while waiter.permit is None:
                if waiter.event.is_set():
                    waiter.event = anyio.Event()
                if next(iter(self._waiters)) is not waiter:
                    await waiter.event.wait()
                    continue
                self._armed = self._next_wake
                try:
                    await self._wait(self._next_wake - self.clock.now(), waiter.event)
                finally:
                    self._armed = math.inf
                if waiter.permit is None:
                    self._dispatch()  # the time came when someone could fit
            await anyio.lowlevel.checkpoint_if_cancelled()  # granted while being cancelled: hand it back
        except BaseException:
            if waiter.permit is not None:  # granted, but the caller is gone: the request was never sent
                self.limiter.revoke(waiter.permit)
            raise
        finally:
            was_leading = next(iter(self._waiters)) is waiter
            del self._waiters[waiter]
            if was_leading and self._waiters:
                next(iter(self._waiters)).event.set()  # the next oldest takes over the timer
        return waiter.permit

    async def _wait(self, seconds: float, event: anyio.Event) -> None:
        """Wait ``seconds`` of clock time or until ``event`` is set, whichever is first."""
        if math.isinf(seconds):
            await event.wait()
        elif seconds <= 0:
            await anyio.lowlevel.checkpoint()
        elif isinstance(self.clock, MonotonicClock):
            with anyio.move_on_after(seconds):  # anyio's time is the same monotonic clock
                await event.wait()
        else:
            async with anyio.create_task_group() as group:

                async def sleep() -> None:
                    await self.clock.sleep(seconds)
                    group.cancel_scope.cancel()

                async def woken() -> None:
                    await event.wait()
                    group.cancel_scope.cancel()

                group.start_soon(sleep)
                group.start_soon(woken)

    def _release_failed(self, permit: Permit, exc: BaseException) -> None:
        pause, used, outcome = failure_effect(
            exc, permit.tokens, max_retry_after=self.max_retry_after, fallback_pause=self.fallback_pause
        )
        if pause is not None:
            log.info("%s: %s, pausing the endpoint for %.2f s", self.name, type(exc).__name__, pause)
            self.limiter.pause(pause)
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
