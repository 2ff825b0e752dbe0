"""The ``Endpoint`` protocol and the base of the wrappers built on it.

An endpoint does chat completions, whole (:meth:`Endpoint.complete`) or streamed
(:meth:`Endpoint.stream`). Rate limits, retries, routing and metering are *wrappers* that
implement the same protocol around an inner endpoint (pydantic-ai's ``FallbackModel`` /
``ConcurrencyLimitedModel`` pattern), never flags inside one class.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from orchestra.chat import ChatChunk, ChatRequest, ChatResponse

__all__ = ["Endpoint", "WrapperEndpoint"]


@runtime_checkable
class Endpoint(Protocol):
    """Something that answers chat-completion requests."""

    name: str

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Answer ``request`` whole.

        Raises:
            EndpointError: (or a subclass) when the endpoint fails.
        """
        ...

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Answer ``request`` as a stream of chunks; the last carries ``usage`` when known."""
        ...

    async def aclose(self) -> None:
        """Release connections and processes."""
        ...


class WrapperEndpoint:
    """Base of endpoints that wrap another: forwards everything to ``inner``.

    Args:
        inner: the wrapped endpoint.
    """

    def __init__(self, inner: Endpoint) -> None:
        self.inner = inner
        self.name = inner.name

    async def complete(self, request: ChatRequest) -> ChatResponse:
        return await self.inner.complete(request)

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        return self.inner.stream(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def __aenter__(self) -> WrapperEndpoint:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
