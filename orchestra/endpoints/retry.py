"""``RetryingEndpoint``: the one retry loop of orchestra, on ``tenacity``.

The HTTP layer (:mod:`orchestra.endpoints.http`) never retries, so that
attempts are counted and paced in one place. Only errors that may go away are retried
(:attr:`~orchestra.errors.EndpointError.retryable`: 408, 409, 429, 5xx, timeouts, connection
errors); a 400 fails the same way every time and is raised at once. The wait is the server's
``Retry-After`` when it sent one, else jittered exponential backoff ("full jitter"), so that
many clients backing off together do not come back together.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from orchestra.chat import ChatChunk, ChatRequest, ChatResponse
from orchestra.clock import Clock, MonotonicClock
from orchestra.endpoints.base import Endpoint, WrapperEndpoint
from orchestra.endpoints.headers import DEFAULT_MAX_RETRY_AFTER, honoured_wait
from orchestra.endpoints.limited import close_stream
from orchestra.errors import EndpointError
from orchestra.faults import classify

__all__ = ["RetryStats", "RetryingEndpoint", "is_retryable"]

log = logging.getLogger(__name__)


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` is an endpoint failure worth another attempt (:func:`orchestra.faults.classify`)."""
    return isinstance(exc, EndpointError) and classify(exc).retryable


@dataclass
class RetryStats:
    """Counters of a :class:`RetryingEndpoint`.

    Attributes:
        calls: requests made through it.
        attempts: requests sent to the inner endpoint (``calls`` + retries).
        retries: attempts after a retryable failure.
        gave_up: calls that failed after their last attempt (or at once, on a final error).
        waited: seconds spent waiting between attempts.
    """

    calls: int = 0
    attempts: int = 0
    retries: int = 0
    gave_up: int = 0
    waited: float = 0.0


class _ServerOrBackoff:
    """tenacity wait: the server's Retry-After when we honour it (finite, at most ``cap``),
    else jittered exponential backoff (the openai SDK's rule)."""

    def __init__(self, initial: float, maximum: float, cap: float) -> None:
        self._backoff = wait_random_exponential(multiplier=initial, max=maximum)
        self._cap = cap

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, EndpointError):
            server = honoured_wait(exc.retry_after, self._cap)
            if server is not None:
                return server
        return float(self._backoff(state))


_EMPTY = object()  # a stream that ended before its first chunk
T = TypeVar("T")


class RetryingEndpoint(WrapperEndpoint):
    """Retries retryable failures of ``inner``.

    Args:
        inner: the endpoint to retry (a pool, a limited endpoint ...).
        max_attempts: attempts per request, the first included.
        initial: scale of the first backoff window in seconds.
        maximum: largest backoff window in seconds (a server's Retry-After may exceed it).
        clock: time source of the waits (a ``FakeClock`` makes tests instant).
        max_retry_after: the longest server-requested wait honoured, in seconds; beyond it (or
            for ``inf``/``nan``/negative values) the backoff is used instead.
    """

    def __init__(
        self,
        inner: Endpoint,
        *,
        max_attempts: int = 6,
        initial: float = 0.5,
        maximum: float = 30.0,
        clock: Clock | None = None,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
    ) -> None:
        super().__init__(inner)
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.max_attempts = max_attempts
        self.clock: Clock = clock or MonotonicClock()
        self.stats = RetryStats()
        self._wait = _ServerOrBackoff(initial, maximum, max_retry_after)

    def _retrying(self) -> AsyncRetrying:
        return AsyncRetrying(
            sleep=self.clock.sleep,
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(is_retryable),
            before_sleep=self._before_sleep,
            reraise=True,
        )

    def _before_sleep(self, state: RetryCallState) -> None:
        self.stats.retries += 1
        self.stats.waited += state.upcoming_sleep
        exc = state.outcome.exception() if state.outcome is not None else None
        log.info(
            "%s: retry %d of %d in %.2f s after: %s",
            self.name, state.attempt_number, self.max_attempts - 1, state.upcoming_sleep, exc,
        )  # fmt: skip

    async def _run(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run ``attempt`` until it succeeds, fails for good, or runs out of attempts."""
        self.stats.calls += 1
        # The first attempt runs outside tenacity: its per-attempt bookkeeping costs ~90 µs of
        # CPU, which most requests (those that succeed at once) need not pay.
        try:
            self.stats.attempts += 1
            return await attempt()
        except Exception as exc:
            if not is_retryable(exc) or self.max_attempts == 1:
                self.stats.gave_up += 1
                raise
            failure: Exception | None = exc
        try:
            async for state in self._retrying():
                with state:
                    if failure is not None:
                        # Replay the first failure as tenacity's attempt 1, so that its wait
                        # (Retry-After or backoff) and its attempt count are tenacity's own.
                        replay, failure = failure, None
                        raise replay
                    self.stats.attempts += 1
                    return await attempt()
        except Exception:
            self.stats.gave_up += 1
            raise
        raise AssertionError("unreachable: tenacity either returns or reraises")  # pragma: no cover

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return await self._run(lambda: self.inner.complete(request))

    async def _open(self, request: ChatRequest) -> tuple[AsyncIterator[ChatChunk], object]:
        """Start a stream and wait for its first chunk (``_EMPTY`` if it has none)."""
        chunks = self.inner.stream(request)
        try:
            return chunks, await chunks.__anext__()
        except StopAsyncIteration:
            return chunks, _EMPTY
        except BaseException:
            await close_stream(chunks)
            raise

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream, retrying a failure only until the first chunk arrives.

        Once a chunk has been yielded the caller holds part of the answer; a new attempt would
        generate a different text and duplicate or contradict what was already delivered, so a
        later failure is raised as is.
        """
        chunks, first = await self._run(lambda: self._open(request))
        try:
            if first is not _EMPTY:
                yield first  # type: ignore[misc]
            async for chunk in chunks:
                yield chunk
        finally:
            await close_stream(chunks)
