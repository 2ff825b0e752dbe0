"""One HTTP exchange with an OpenAI-compatible server: a JSON request, or a streamed one.

aiohttp carries it on asyncio (its C-parsed HTTP/1.1 pool) and ``httpx2`` on other anyio
backends (trio) or when a test injects an ``httpx2`` transport (``ASGITransport``). Both raise
the same errors, so callers never see either library's exceptions:

- :class:`~orchestra.errors.EndpointConnectionError` when no answer came (``reached=False`` when
  no connection was made at all: refused, unreachable, name not resolved), or the answer broke
  off;
- :class:`~orchestra.errors.EndpointTimeout` when the server went quiet for ``timeout`` seconds.

Status codes are not errors here: the caller reads an error body with the wire format's rules.

Why not the ``openai`` SDK (used here until its costs were measured): importing it took 0.5 s of
the CLI's 1.0 s before the first request, and its request builder (URL parsing, header models,
option deep-copies) was a quarter of the client CPU per request at 500 in flight
(``benchmarks/perf/endpoint_throughput.py``, ``benchmarks/perf/cli_startup.py``). We already read
the wire format ourselves (:mod:`orchestra.endpoints.wire`); what remains is one POST.
"""

from __future__ import annotations

import contextlib
import errno
import json
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sniffio

from orchestra import __version__
from orchestra.errors import EndpointConnectionError, EndpointTimeout

if TYPE_CHECKING:
    import aiohttp
    import httpx2

__all__ = ["HTTPClient", "Reply", "StreamReply"]

# Idle connections are kept this long: a client paused by a 429 for most of a 60 s window should
# still find warm connections (httpx2's default is 5 s).
KEEPALIVE_SECONDS = 30.0
_CONNECT_TIMEOUT = 10.0  # seconds; the read timeout is the endpoint's own


@dataclass(frozen=True)
class Reply:
    """A whole answer: ``status`` (e.g. 200), ``headers`` (names lower-cased), ``body`` (bytes)."""

    status: int
    headers: dict[str, str]
    body: bytes


class StreamReply:
    """An answer still arriving: ``status`` and ``headers`` now, the body by :meth:`lines`.

    Args:
        status: the HTTP status.
        headers: response headers, names lower-cased.
        chunks: the body's byte chunks as they arrive.
        on_error: maps the transport's exceptions while reading (see :class:`HTTPClient`).
    """

    def __init__(
        self, status: int, headers: dict[str, str], chunks: AsyncIterator[bytes], on_error: Any
    ) -> None:
        self.status = status
        self.headers = headers
        self._chunks = chunks
        self._on_error = on_error

    async def read(self) -> bytes:
        """The rest of the body (an error body, usually)."""
        return b"".join([chunk async for chunk in self._guarded()])

    async def lines(self) -> AsyncIterator[str]:
        """The body's lines, decoded as UTF-8, without their line endings. Lines of any length:
        one SSE event may carry a whole tool call's arguments."""
        pending = b""
        async for chunk in self._guarded():
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line.rstrip(b"\r").decode("utf-8", errors="replace")
        if pending:
            yield pending.rstrip(b"\r").decode("utf-8", errors="replace")

    async def _guarded(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._chunks:
                yield chunk
        except Exception as exc:
            error = self._on_error(exc, "stream broke")
            if error is None:
                raise
            raise error from exc


class HTTPClient:
    """The shared connection pool of one endpoint; build it inside the event loop that uses it.

    Args:
        name: the endpoint's label, which starts every error message.
        api_key: sent as ``Authorization: Bearer``.
        timeout: seconds the server may stay silent (connect, or between bytes of the answer)
            before :class:`~orchestra.errors.EndpointTimeout`; connecting waits at most 10 s.
        max_connections: size of the pool.
        transport: an ``httpx2`` transport (tests); forces the ``httpx2`` client.
    """

    def __init__(
        self,
        name: str,
        *,
        api_key: str,
        timeout: float,
        max_connections: int,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"orchestra/{__version__}",
        }
        self._timeout = timeout
        self._max_connections = max_connections
        self._transport = transport
        self._aiohttp: aiohttp.ClientSession | None = None
        self._aiohttp_loop: object = None
        self._httpx: httpx2.AsyncClient | None = None

    def prepare(self) -> None:
        """Import the HTTP library now (~0.15 s on first use, with its CA store), so that it does
        not land on the first request's latency. Opens no connection; outside an event loop
        (where the backend is not known yet) it does nothing."""
        backend = _running_backend()
        if backend is None:
            return
        if self._transport is None and backend == "asyncio":
            import aiohttp  # noqa: F401
        else:
            import httpx2  # noqa: F401

    def _session(self) -> aiohttp.ClientSession | None:
        """The aiohttp session of the running event loop, or None when httpx2 carries requests.

        Opened on first use, inside the loop: a session belongs to the loop that opened it, and
        an endpoint may be built in one loop and used in another (``run_sync`` in a notebook).
        """
        if self._httpx is not None or self._transport is not None or _running_backend() != "asyncio":
            if self._httpx is None:
                self._httpx = self._open_httpx()
            return None
        import asyncio

        loop = asyncio.get_running_loop()
        if self._aiohttp is None or self._aiohttp_loop is not loop or self._aiohttp.closed:
            self._aiohttp, self._aiohttp_loop = self._open_aiohttp(), loop
        return self._aiohttp

    # -- aiohttp (asyncio) ------------------------------------------------------------------

    def _open_aiohttp(self) -> aiohttp.ClientSession:
        import aiohttp

        connect = min(_CONNECT_TIMEOUT, self._timeout)
        return aiohttp.ClientSession(
            # ssl: aiohttp's own verifying context, made once when aiohttp is imported (the system's
            # CA store); another one here would load the store a second time.
            connector=aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=KEEPALIVE_SECONDS),
            headers=self._headers,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=self._timeout),
        )

    def _aiohttp_error(self, exc: BaseException, doing: str) -> Exception | None:
        import aiohttp

        if isinstance(exc, TimeoutError):  # aiohttp's ServerTimeoutError and SocketTimeoutError too
            return EndpointTimeout(f"{self.name}: timed out", endpoint=self.name)
        if isinstance(exc, aiohttp.ClientConnectorError):
            return _connection_failed(self.name, exc.os_error)
        if isinstance(exc, aiohttp.ClientError):
            return EndpointConnectionError(f"{self.name}: {doing}: {_describe(exc)}", endpoint=self.name)
        return None

    # -- httpx2 (other backends, injected transports) -----------------------------------------

    def _open_httpx(self) -> httpx2.AsyncClient:
        import httpx2

        timeout = httpx2.Timeout(self._timeout, connect=min(_CONNECT_TIMEOUT, self._timeout))
        limits = httpx2.Limits(
            max_connections=self._max_connections,
            max_keepalive_connections=self._max_connections,
            keepalive_expiry=KEEPALIVE_SECONDS,
        )
        if self._transport is not None:
            return httpx2.AsyncClient(
                transport=self._transport, headers=self._headers, timeout=timeout, limits=limits
            )
        return httpx2.AsyncClient(headers=self._headers, timeout=timeout, limits=limits)

    def _httpx_error(self, exc: BaseException, doing: str) -> Exception | None:
        import httpx2

        if isinstance(exc, httpx2.TimeoutException):
            return EndpointTimeout(f"{self.name}: timed out", endpoint=self.name)
        if isinstance(exc, httpx2.ConnectError):
            return _connection_failed(self.name, _os_error(exc))
        if isinstance(exc, httpx2.HTTPError):
            return EndpointConnectionError(f"{self.name}: {doing}: {_describe(exc)}", endpoint=self.name)
        return None

    # -- the exchange -----------------------------------------------------------------------

    def _error(self, exc: BaseException, doing: str) -> Exception | None:
        """Our error for a transport's exception (None: not a transport error, re-raise it)."""
        if "aiohttp" in sys.modules:
            mapped = self._aiohttp_error(exc, doing)
            if mapped is not None:
                return mapped
        if "httpx2" in sys.modules:
            return self._httpx_error(exc, doing)
        return None

    async def send(self, method: str, url: str, body: object = None) -> Reply:
        """``method`` ``url`` with ``body`` as JSON (None: no body), read whole.

        Raises:
            EndpointConnectionError: no answer, or the answer broke off.
            EndpointTimeout: the server was silent for the timeout.
        """
        data = None if body is None else json.dumps(body).encode()
        try:
            session = self._session()
            if session is not None:
                async with session.request(method, url, data=data) as response:
                    head = response.status, _lower(response.headers.items())
                    try:
                        content = await response.read()
                    except Exception as exc:
                        raise _Broke(exc) from exc
                return Reply(head[0], head[1], content)
            assert self._httpx is not None
            async with self._httpx.stream(method, url, content=data) as streamed:
                try:
                    content = await streamed.aread()
                except Exception as exc:
                    raise _Broke(exc) from exc
                return Reply(streamed.status_code, _lower(streamed.headers.items()), content)
        except _Broke as broke:
            error = self._error(broke.cause, "response broke")
            if error is None:
                raise broke.cause from None
            raise error from broke.cause
        except Exception as exc:
            error = self._error(exc, "connection failed")
            if error is None:
                raise
            raise error from exc

    @contextlib.asynccontextmanager
    async def stream(self, url: str, body: object) -> AsyncIterator[StreamReply]:
        """POST ``body`` as JSON to ``url`` and yield the answer as it arrives.

        Raises:
            EndpointConnectionError: no answer, or (while reading lines) the answer broke off.
            EndpointTimeout: the server was silent for the timeout.
        """
        data = json.dumps(body).encode()
        opened = contextlib.AsyncExitStack()
        async with opened:
            try:
                session = self._session()
                if session is not None:
                    response = await opened.enter_async_context(session.post(url, data=data))
                    reply = StreamReply(
                        response.status,
                        _lower(response.headers.items()),
                        response.content.iter_any(),
                        self._error,
                    )
                else:
                    assert self._httpx is not None
                    streamed = await opened.enter_async_context(self._httpx.stream("POST", url, content=data))
                    reply = StreamReply(
                        streamed.status_code,
                        _lower(streamed.headers.items()),
                        streamed.aiter_bytes(),
                        self._error,
                    )
            except Exception as exc:
                error = self._error(exc, "connection failed")
                if error is None:
                    raise
                raise error from exc
            yield reply

    async def aclose(self) -> None:
        """Close the pool (idempotent)."""
        session, client = self._aiohttp, self._httpx
        self._aiohttp = self._httpx = None
        if session is not None:
            await session.close()
        if client is not None:
            await client.aclose()


class _Broke(Exception):
    """Carries an exception raised while reading a body out of the ``async with`` that read it."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _running_backend() -> str | None:
    """The async library running the current task ("asyncio", "trio"), or None outside one."""
    try:
        return sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return None


def _lower(items: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in items}


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _connection_failed(name: str, os_error: OSError | None) -> EndpointConnectionError:
    """``connection failed`` with the innermost OS error, e.g. ``[Errno 111] Connect call failed
    ('127.0.0.1', 9)``; ``reached`` is False when no connection was made at all."""
    refused = os_error is not None and (
        isinstance(os_error, ConnectionRefusedError | socket.gaierror) or os_error.errno in _NOT_CONNECTED
    )
    detail = os_error if os_error is not None else "no connection"
    return EndpointConnectionError(f"{name}: connection failed: {detail}", endpoint=name, reached=not refused)


def _os_error(exc: BaseException) -> OSError | None:
    """The innermost OS-level error (not a timeout) in ``exc``'s cause chain, if any."""
    found: OSError | None = None
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
            found = cause
        cause = cause.__cause__ or cause.__context__
    return found


_NOT_CONNECTED = frozenset({errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL})
