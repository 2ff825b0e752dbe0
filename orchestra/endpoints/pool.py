"""``EndpointPool``: one endpoint made of several that serve the same model, with fallback.

Each request goes to the endpoint the :class:`~orchestra.endpoints.routing.RoutingPolicy`
chooses. A retryable failure marks that endpoint and the request falls back to the next one
within the same call; a non-retryable error (a 400: the request is at fault) is raised at once;
when every endpoint has failed the request, :class:`~orchestra.errors.NoHealthyEndpoint` is
raised for the retry layer above. An error that makes the endpoint itself unusable (quota, key,
unknown model; :func:`orchestra.faults.classify`) disables that member for good and the request
falls back; once every member is disabled, :class:`~orchestra.errors.EndpointUnavailable` (final,
never retried) says why, on the first answer (typical composition:
``RetryingEndpoint(EndpointPool([MeteredEndpoint(LimitedEndpoint(OpenAIEndpoint(...))), ...]))``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence

from orchestra.chat import ChatChunk, ChatRequest, ChatResponse
from orchestra.clock import Clock
from orchestra.endpoints.base import Endpoint
from orchestra.endpoints.limited import close_stream
from orchestra.endpoints.routing import RoutingPolicy
from orchestra.errors import EndpointConnectionError, EndpointError, EndpointUnavailable, NoHealthyEndpoint
from orchestra.faults import classify

__all__ = ["EndpointPool"]

log = logging.getLogger(__name__)

_EMPTY = ChatChunk()  # a stream that ended before its first chunk (compared by identity)


class EndpointPool:
    """Routes each request to one of ``endpoints``, falling back on retryable failures.

    Args:
        endpoints: the members, with unique names.
        name: the pool's name (default: ``pool(a,b,...)``).
        clock: time source of the default policy.
        policy: a routing policy over the members' names (default: :class:`RoutingPolicy`).
    """

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        *,
        name: str | None = None,
        clock: Clock | None = None,
        policy: RoutingPolicy | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("an endpoint pool needs at least one endpoint")
        self.endpoints = {e.name: e for e in endpoints}
        if len(self.endpoints) != len(endpoints):
            raise ValueError(f"endpoint names in a pool must be unique: {[e.name for e in endpoints]}")
        self.name = name or f"pool({','.join(self.endpoints)})"
        self.policy = policy or RoutingPolicy(list(self.endpoints), clock)
        if set(self.policy.names) != set(self.endpoints):
            raise ValueError("the routing policy must cover exactly the pool's endpoints")
        self.fallbacks = 0

    def _exhausted(self, last: EndpointError | None) -> EndpointError:
        if self.policy.all_disabled():
            reasons = "; ".join(self.policy.disabled().values())  # each names its endpoint
            return EndpointUnavailable(
                f"{self.name}: no usable endpoint: {reasons}",
                status=last.status if last is not None else None,
                endpoint=self.name,
                code=last.code if last is not None else None,
            )
        retry_after = last.retry_after if last is not None and last.retry_after is not None else None
        if retry_after is None and len(self.endpoints) > 1:
            # Wait for the first member to leave cooldown. A pool of one has nowhere else to go,
            # so its cooldown would only stall retries: the retry layer's backoff decides instead.
            retry_after = self.policy.retry_after()
        return NoHealthyEndpoint(
            f"{self.name}: every endpoint failed this request; last error: {last}",
            status=None,
            retry_after=retry_after,
            endpoint=self.name,
        )

    def _failed(self, name: str, exc: BaseException) -> bool:
        """Record a failure; True when the request should fall back to another endpoint."""
        if not isinstance(exc, EndpointError):
            self.policy.on_failure(name, False)
            return False
        fault = classify(exc)
        self.policy.on_failure(name, fault.retryable)
        if fault.endpoint_final:
            self.policy.disable(name, str(exc))
        elif isinstance(exc, EndpointConnectionError) and not exc.reached:
            self.policy.on_unreached(name, str(exc))
        if fault.retryable or fault.endpoint_final:
            self.fallbacks += 1
            if len(self.endpoints) > 1:
                log.info("%s: %s failed (%s); trying another endpoint", self.name, name, exc)
            return True
        return False

    async def complete(self, request: ChatRequest) -> ChatResponse:
        tried: set[str] = set()
        last: EndpointError | None = None
        while (name := self.policy.choose(exclude=tried)) is not None:
            tried.add(name)
            self.policy.on_start(name)
            try:
                response = await self.endpoints[name].complete(request)
            except BaseException as exc:
                if not self._failed(name, exc):
                    raise
                assert isinstance(exc, EndpointError)
                last = exc
                continue
            self.policy.on_success(name)
            return response
        raise self._exhausted(last) from last

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream from one member; falls back only before the first chunk (after it, text was delivered)."""
        tried: set[str] = set()
        last: EndpointError | None = None
        while (name := self.policy.choose(exclude=tried)) is not None:
            tried.add(name)
            self.policy.on_start(name)
            chunks = self.endpoints[name].stream(request)
            try:
                first = await chunks.__anext__()
            except StopAsyncIteration:
                first = _EMPTY
            except BaseException as exc:
                await close_stream(chunks)
                if not self._failed(name, exc):
                    raise
                assert isinstance(exc, EndpointError)
                last = exc
                continue
            try:
                if first is not _EMPTY:
                    yield first
                async for chunk in chunks:
                    yield chunk
            except BaseException as exc:
                # Too late to fall back: the caller already holds part of this member's answer.
                self.policy.on_failure(name, isinstance(exc, EndpointError) and exc.retryable)
                if isinstance(exc, EndpointError) and classify(exc).endpoint_final:
                    self.policy.disable(name, str(exc))
                raise
            else:
                self.policy.on_success(name)
            finally:
                await close_stream(chunks)
            return
        raise self._exhausted(last) from last

    async def aclose(self) -> None:
        """Close every member."""
        for endpoint in self.endpoints.values():
            await endpoint.aclose()

    async def __aenter__(self) -> EndpointPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
