"""An HTTP transport that spreads requests over several small connection pools.

Measured here: httpcore2's pool re-scans *every* connection on each request it assigns and each
response it closes, and for each idle connection asks anyio whether the socket is readable
(``has_expired`` → ``get_extra_info``). With 100 requests in flight that is O(pool) per
request — about half of the client's CPU in a 500-request, concurrency-100 run (cProfile:
``_assign_requests_to_connections`` 2.25 s of 5.3 s). Splitting one pool of N connections into
shards of a few connections each keeps every scan short, while the endpoint still has one
``httpx2.AsyncClient`` and one ``AsyncOpenAI`` (the transport is the client's one-method
interface, as in httpx's design), so connections are reused exactly as before.
"""

from __future__ import annotations

import math

import httpx2

__all__ = ["ShardedTransport"]


class _CountedStream(httpx2.AsyncByteStream):
    """A response body that gives its shard's slot back when it is closed."""

    def __init__(self, inner: httpx2.AsyncByteStream, done) -> None:
        self._inner = inner
        self._done = done

    async def __aiter__(self):
        async for part in self._inner:
            yield part

    async def aclose(self) -> None:
        done, self._done = self._done, None
        try:
            await self._inner.aclose()
        finally:
            if done is not None:
                done()


class ShardedTransport(httpx2.AsyncBaseTransport):
    """Route each request to the least-busy of several ``AsyncHTTPTransport`` pools.

    Args:
        max_connections: connections across all shards.
        per_shard: connections per shard (small keeps the pool scans cheap).
        keepalive_expiry: seconds an idle connection is kept.
    """

    def __init__(
        self, max_connections: int = 1000, *, per_shard: int = 4, keepalive_expiry: float = 30.0
    ) -> None:
        self._max_shards = max(1, math.ceil(max_connections / per_shard))
        self._per_shard = per_shard
        self._limits = httpx2.Limits(
            max_connections=per_shard, max_keepalive_connections=per_shard, keepalive_expiry=keepalive_expiry
        )
        self._ssl = None
        self._shards: list[httpx2.AsyncHTTPTransport] = []
        self._busy: list[int] = []

    def _pick(self) -> int:
        # Fill shards in order: the first with a free slot takes the request, so a steady load of
        # k requests reuses the same k keep-alive connections instead of opening new ones in
        # emptier shards. Shards are made on demand and share one SSL context: building a
        # transport loads the CA store (~23 ms here), too slow to do a hundred times up front.
        for i, busy in enumerate(self._busy):
            if busy < self._per_shard:
                return i
        if len(self._shards) >= self._max_shards:
            return min(range(len(self._busy)), key=self._busy.__getitem__)
        if self._ssl is None:
            self._ssl = httpx2.create_ssl_context()
        self._shards.append(httpx2.AsyncHTTPTransport(verify=self._ssl, limits=self._limits))
        self._busy.append(0)
        return len(self._shards) - 1

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        i = self._pick()
        self._busy[i] += 1

        def done() -> None:
            self._busy[i] -= 1

        try:
            response = await self._shards[i].handle_async_request(request)
        except BaseException:
            done()
            raise
        response.stream = _CountedStream(response.stream, done)
        return response

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()
