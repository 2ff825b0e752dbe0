"""``FirstByteTimeout``: a timeout for the first byte of an answer, learned from observed latencies.

A request that hangs (the server accepted it and never answers) used to hold its slot for the
whole request timeout, 120 s by default, while the answers around it took a fraction of a
second. The timeout that matters for such a hang is the one for the *first* byte (a whole answer
for :meth:`complete`, the first chunk for :meth:`stream`), and the right value is what this
endpoint's answers have shown: a multiple of their recent 99th percentile, never below a floor
and never above the request timeout. A request sent before enough answers had been seen gets its
timeout as soon as they have: a hang in the first wave of a batch must not hold its slot for the
whole request timeout (60 s) while the rest of the wave answered in 0.2 s. "The Tail at Scale" (Dean and Barroso, CACM 2013) answers the same tail with
hedged requests; a learned timeout and a retry cost no duplicate tokens, which matters when each
request is paid for.

:class:`LatencyTracker` is the pure part (no clock, no I/O); the wrapper measures with the
injected clock and raises :class:`~orchestra.errors.EndpointTimeout`, which the limiter counts as
a timeout and the retry layer retries.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import anyio

from orchestra.chat import ChatChunk, ChatRequest, ChatResponse
from orchestra.clock import Clock, MonotonicClock
from orchestra.endpoints.base import Endpoint, WrapperEndpoint
from orchestra.endpoints.limited import close_stream
from orchestra.errors import EndpointTimeout

__all__ = ["FirstByteTimeout", "LatencyTracker"]

_MISSING = object()


class LatencyTracker:
    """Recent latencies of one endpoint and the first-byte timeout they justify.

    Args:
        window: latencies kept (the most recent).
        min_samples: latencies needed before a timeout is given.
        multiplier: the timeout is this many times the recent 99th percentile ...
        floor: ... and at least this many seconds ...
        ceiling: ... and at most this many (None: no ceiling; the request timeout still applies).
    """

    def __init__(
        self,
        *,
        window: int = 500,
        min_samples: int = 20,
        multiplier: float = 4.0,
        floor: float = 2.0,
        ceiling: float | None = None,
    ) -> None:
        if min_samples < 1 or window < min_samples or multiplier < 1 or floor <= 0:
            raise ValueError("need 1 <= min_samples <= window, multiplier >= 1, floor > 0")
        self.min_samples = min_samples
        self.multiplier = multiplier
        self.floor = floor
        self.ceiling = ceiling
        self._recent: deque[float] = deque(maxlen=window)
        self._cached: float | None = None
        self._since = 0  # samples added since the cached timeout was computed

    def record(self, seconds: float) -> None:
        """A successful answer's latency (time to its first byte)."""
        if math.isfinite(seconds) and seconds >= 0:
            self._recent.append(seconds)
            self._since += 1

    def timeout(self) -> float | None:
        """Seconds to wait for a first byte, or None while too few answers have been seen."""
        if len(self._recent) < self.min_samples:
            return None
        if self._cached is None or self._since >= max(1, len(self._recent) // 10):
            ordered = sorted(self._recent)  # recomputed every tenth of the window: cheap enough
            p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
            value = max(self.floor, self.multiplier * p99)
            self._cached = value if self.ceiling is None else min(self.ceiling, value)
            self._since = 0
        return self._cached


class FirstByteTimeout(WrapperEndpoint):
    """Fails a request whose first byte takes longer than its :class:`LatencyTracker` allows.

    Args:
        inner: the endpoint (usually the raw :class:`~orchestra.endpoints.openai.OpenAIEndpoint`,
            under the limiter so that a timeout frees its slot and counts as one).
        tracker: the learned timeout (default: :class:`LatencyTracker` with its defaults).
        clock: time source of the measurements.
    """

    def __init__(
        self, inner: Endpoint, tracker: LatencyTracker | None = None, *, clock: Clock | None = None
    ) -> None:
        super().__init__(inner)
        self.tracker = tracker or LatencyTracker()
        self.clock: Clock = clock or MonotonicClock()
        self.timeouts = 0
        # Requests waiting with no timeout yet: their scope, and when they were sent (anyio time).
        self._unbounded: dict[anyio.CancelScope, float] = {}

    @property
    def on_headers(self) -> Any:
        """The inner endpoint's header hook (so a limiter outside still learns from headers)."""
        hook = getattr(self.inner, "on_headers", _MISSING)
        if hook is _MISSING:  # so that hasattr() is False, as for the inner endpoint
            raise AttributeError("on_headers")
        return hook

    @on_headers.setter
    def on_headers(self, hook: Any) -> None:
        setattr(self.inner, "on_headers", hook)  # noqa: B010

    def _expired(self, seconds: float) -> EndpointTimeout:
        self.timeouts += 1
        return EndpointTimeout(
            f"{self.name}: no answer within {seconds:.2f} s (the first-byte timeout learned from its answers)",
            endpoint=self.name,
        )

    def _scope(self) -> anyio.CancelScope:
        """A scope for one request's first byte: its deadline is the learned timeout, or (before
        one is learned) none until :meth:`_learned` sets it."""
        limit = self.tracker.timeout()
        now = anyio.current_time()
        scope = anyio.CancelScope(deadline=math.inf if limit is None else now + limit)
        if limit is None:
            self._unbounded[scope] = now
        return scope

    def _learned(self, seconds: float) -> None:
        """Record a latency; if that gives the first timeout, bound the requests still waiting."""
        self.tracker.record(seconds)
        if self._unbounded:
            limit = self.tracker.timeout()
            if limit is not None:
                for scope, sent in self._unbounded.items():
                    scope.deadline = min(scope.deadline, sent + limit)
                self._unbounded.clear()

    def _expired_after(self) -> EndpointTimeout:
        # The scope's deadline was always "sent + the learned timeout", whenever it was set.
        limit = self.tracker.timeout()
        return self._expired(limit if limit is not None else math.inf)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        start = self.clock.now()
        scope = self._scope()
        try:
            with scope:
                response = await self.inner.complete(request)
        finally:
            self._unbounded.pop(scope, None)
        if scope.cancelled_caught:
            raise self._expired_after()
        self._learned(self.clock.now() - start)
        return response

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        start = self.clock.now()
        chunks = self.inner.stream(request)
        try:
            first: ChatChunk | None = None
            scope = self._scope()
            try:
                with scope:
                    try:
                        first = await chunks.__anext__()
                    except StopAsyncIteration:
                        return
            finally:
                self._unbounded.pop(scope, None)
            if scope.cancelled_caught:
                raise self._expired_after()
            self._learned(self.clock.now() - start)
            assert first is not None
            yield first
            async for chunk in chunks:
                yield chunk
        finally:
            await close_stream(chunks)
