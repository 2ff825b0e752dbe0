"""The OpenAI-compatible endpoint, on the official ``openai`` SDK.

One ``AsyncOpenAI`` and one shared ``httpx2.AsyncClient`` per endpoint, never a client per
request (docs/design.md: a peer that builds one per request is capped near 36 requests/s). The SDK's
own retries are off (``max_retries=0``) so :mod:`orchestra.endpoints.retry` is the only retry
loop. SDK types and exceptions stop here: callers see :mod:`orchestra.chat` and
:mod:`orchestra.errors`.

On asyncio the shared client is the SDK's own ``DefaultAioHttpClient`` (the ``openai[aiohttp]``
extra, which the SDK documents "for improved concurrency performance"): an ``httpx2.AsyncClient``
whose transport is aiohttp's C-parsed HTTP/1.1 pool. Measured here at 100 in flight, a bare
``httpx2.AsyncClient.post`` costs ~0.9 ms of client CPU a request on httpx2's own pool and
~0.5 ms on aiohttp's. When 100 answers land together that CPU is paid in series, so it sets the
wall time (``benchmarks/perf/endpoint_throughput.py``). Other anyio backends (trio) get httpx2's
transport, since aiohttp runs only on asyncio.
"""

from __future__ import annotations

import errno
import json
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import sniffio

from orchestra.chat import ChatChunk, ChatRequest, ChatResponse, Message, Usage
from orchestra.endpoints.headers import DEFAULT_MAX_RETRY_AFTER, honoured_wait, parse_retry_after
from orchestra.endpoints.wire import SSEDecoder, parse_chunk, parse_response
from orchestra.errors import (
    EndpointConnectionError,
    EndpointError,
    EndpointTimeout,
    RateLimitError,
    UsageError,
)
from orchestra.redact import redact, register_secret

__all__ = ["OpenAIEndpoint", "parse_retry_after"]  # parse_retry_after: re-exported from .headers

_NO_KEY = "orchestra-no-key"  # local servers ignore the key, but the SDK insists on one
# Idle connections are kept this long: a client paused by a 429 for most of a 60 s window should
# still find warm connections (httpx2's default is 5 s).
_KEEPALIVE_SECONDS = 30.0


class OpenAIEndpoint:
    """An endpoint speaking the OpenAI chat-completions API at ``base_url``.

    Args:
        base_url: e.g. ``http://127.0.0.1:8787/v1``; None reads ``OPENAI_BASE_URL`` as the SDK does.
        model: model name sent when a request names none.
        api_key: None reads ``OPENAI_API_KEY``; local servers need none.
        name: label for traces, limits and accounting (default: the base URL).
        timeout: seconds before a request with no complete answer fails with ``EndpointTimeout``.
        max_connections: size of the shared connection pool.
        transport: an ``httpx2`` transport, e.g. ``httpx2.ASGITransport(app)`` for in-process tests;
            by default aiohttp's on asyncio and httpx2's on other backends.
        on_headers: called with every response's headers (lower-cased), e.g. to learn rate limits.
        chat_template: a Jinja chat template (a model's ``tokenizer_config.json`` ``chat_template``)
            for :meth:`apply_template`; None asks the server (llama.cpp's ``/apply-template``).
        max_retry_after: the longest server-requested wait (Retry-After) honoured, in seconds; a
            longer (or unreadable) one is dropped from the error, so the retry layer uses its own
            jittered backoff (the openai SDK's rule, with its 60 s bound).
    """

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        *,
        api_key: str | None = None,
        name: str | None = None,
        timeout: float = 60.0,
        max_connections: int = 1000,
        transport: httpx2.AsyncBaseTransport | None = None,
        on_headers: Any = None,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        chat_template: str | None = None,
    ) -> None:
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise UsageError("no base URL: pass one or set OPENAI_BASE_URL")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = name or self.base_url
        self.on_headers = on_headers
        self.max_retry_after = max_retry_after
        self.chat_template = chat_template
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY") or _NO_KEY
        register_secret(self._api_key)
        self._timeout = timeout
        self._max_connections = max_connections
        self._transport = transport
        self._http: httpx2.AsyncClient | None = None
        self._client_: openai.AsyncOpenAI | None = None
        if _running_backend() is not None:
            # Built now when we know the backend: the first build imports httpcore2 and loads the
            # CA store (~0.1 s here), which should not land on the first request's latency.
            self._client  # noqa: B018

    @property
    def _client(self) -> openai.AsyncOpenAI:
        # Built inside the event loop, because the HTTP client depends on which backend runs it
        # (aiohttp needs asyncio); an endpoint made outside any loop builds it on first use.
        if self._client_ is None:
            self._http = self._http_client()
            self._client_ = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=self._api_key,
                max_retries=0,
                timeout=self._timeout,
                http_client=self._http,
            )
        return self._client_

    def _http_client(self) -> httpx2.AsyncClient:
        options: dict[str, Any] = {
            "timeout": httpx2.Timeout(self._timeout, connect=min(10.0, self._timeout)),
            "limits": httpx2.Limits(
                max_connections=self._max_connections,
                max_keepalive_connections=self._max_connections,
                keepalive_expiry=_KEEPALIVE_SECONDS,
            ),
        }
        if self._transport is not None:
            return httpx2.AsyncClient(transport=self._transport, **options)
        if _running_backend() == "asyncio":
            return openai.DefaultAioHttpClient(**options)
        return httpx2.AsyncClient(**options)

    # -- requests ---------------------------------------------------------------------------

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        model = request.model or self.model
        if not model:
            raise UsageError(f"endpoint {self.name}: the request names no model and the endpoint has none")
        params: dict[str, Any] = {"model": model, "messages": [m.to_wire() for m in request.messages]}
        for key in ("max_tokens", "temperature", "top_p", "response_format", "tools", "tool_choice"):
            value = getattr(request, key)
            if value is not None:
                params[key] = value
        if request.n != 1:
            params["n"] = request.n
        known = {k: v for k, v in request.extra.items() if k in _SDK_PARAMS}
        params.update(known)
        unknown = {k: v for k, v in request.extra.items() if k not in _SDK_PARAMS}
        if unknown:
            params["extra_body"] = unknown
        return params

    async def complete(self, request: ChatRequest) -> ChatResponse:
        params = self._params(request)
        body = {**params, **params.pop("extra_body", {})}
        try:
            # The SDK's low-level ``post`` (same client, auth, base URL and error mapping) with our
            # already-plain JSON body: ``chat.completions.create`` would re-walk the body through
            # its TypedDict transform and build pydantic models we only convert again — together
            # ~0.4 ms of CPU a request, measured with cProfile at 100 in flight.
            raw = await self._client.post("/chat/completions", body=body, cast_to=httpx2.Response)
            self._observe(raw.headers)
            content = raw.content
        except openai.OpenAIError as exc:
            raise self._convert(exc) from exc
        except httpx2.HTTPError as exc:
            raise EndpointConnectionError(f"{self.name}: response broke: {exc}", endpoint=self.name) from exc
        try:
            # utf-8-sig: a BOM before the JSON is not an error (some proxies add one).
            data = json.loads(content.decode("utf-8-sig")) if content else None
        except (ValueError, UnicodeDecodeError) as exc:
            raise EndpointConnectionError(
                f"{self.name}: malformed response: {exc}", endpoint=self.name
            ) from exc
        return parse_response(data, self.name)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream the answer; SSE is decoded here, not by the SDK, so that every chunk shape
        servers send is read by :mod:`orchestra.endpoints.wire` (the SDK's typed chunks drop a
        tool call's object ``arguments`` and cannot say which fragment belongs to which call)."""
        params = self._params(request)
        params["stream"] = True
        params["stream_options"] = {"include_usage": True}
        decoder = SSEDecoder()
        try:
            async with self._client.chat.completions.with_streaming_response.create(**params) as raw:
                self._observe(raw.headers)
                async for line in raw.iter_lines():
                    for payload in decoder.feed(line):
                        if payload.strip() == "[DONE]":
                            return
                        for chunk in self._parse_event(payload):
                            yield chunk
                for payload in decoder.close():
                    if payload.strip() != "[DONE]":
                        for chunk in self._parse_event(payload):
                            yield chunk
        except openai.OpenAIError as exc:
            raise self._convert(exc) from exc
        except httpx2.HTTPError as exc:
            raise EndpointConnectionError(f"{self.name}: stream broke: {exc}", endpoint=self.name) from exc

    def _parse_event(self, payload: str) -> list[ChatChunk]:
        try:
            data = json.loads(payload)
        except ValueError as exc:
            raise EndpointConnectionError(
                f"{self.name}: stream broke: an event is not JSON: {_short(payload, 80)!r}",
                endpoint=self.name,
            ) from exc
        return parse_chunk(data, self.name)

    # -- raw text: /completions and the chat template (the ``async`` strategy's resume mode) ---

    async def apply_template(self, messages: list[Message]) -> str:
        """The prompt text of ``messages`` with the model's chat template and the assistant's
        generation prompt, so that ``/completions`` continues as the chat endpoint would.

        Raises:
            EndpointError: the server has no ``/apply-template`` (only llama.cpp's has) and no
                ``chat_template`` was given.
        """
        wire = [m.to_wire() for m in messages]
        if self.chat_template is not None:
            import jinja2.sandbox  # only this path needs it

            env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
            template = env.from_string(self.chat_template)
            return str(template.render(messages=wire, add_generation_prompt=True, bos_token="", eos_token=""))
        root = self.base_url.removesuffix("/v1")
        try:
            raw = await self._client.post(
                f"{root}/apply-template", body={"messages": wire}, cast_to=httpx2.Response
            )
            data = raw.json()
        except openai.OpenAIError as exc:
            raise self._convert(exc) from exc
        except (httpx2.HTTPError, ValueError) as exc:
            raise EndpointConnectionError(f"{self.name}: apply-template: {exc}", endpoint=self.name) from exc
        if not isinstance(data, dict) or not isinstance(data.get("prompt"), str):
            raise EndpointError(f"{self.name}: /apply-template answered without a prompt", endpoint=self.name)
        return str(data["prompt"])

    async def stream_text(self, request: ChatRequest, prompt: str) -> AsyncIterator[ChatChunk]:
        """Continue raw ``prompt`` through ``/completions``, streamed; ``request`` gives the sampling
        parameters (its messages are ignored). The last chunk carries ``usage``, and ``timings``
        when the server reports them (llama.cpp: ``prompt_n`` tokens evaluated, ``cache_n`` reused).
        """
        params = self._params(request)
        del params["messages"]
        for key in ("tools", "tool_choice", "response_format"):
            params.pop(key, None)
        extra = params.pop("extra_body", {})
        try:
            try:
                stream = await self._client.completions.create(
                    **params, prompt=prompt, stream=True, extra_body=extra
                )
            except openai.APIConnectionError:
                # A pooled connection the server closed after the last (possibly cancelled) stream
                # fails before any byte is sent; resuming right after a cancel meets it. Once more.
                stream = await self._client.completions.create(
                    **params, prompt=prompt, stream=True, extra_body=extra
                )
            async with stream:
                async for event in stream:
                    yield self._text_chunk(event)
        except openai.OpenAIError as exc:
            raise self._convert(exc) from exc
        except (httpx2.HTTPError, ValueError) as exc:
            raise EndpointConnectionError(f"{self.name}: stream broke: {exc}", endpoint=self.name) from exc

    def _text_chunk(self, event: Any) -> ChatChunk:
        choice = event.choices[0] if event.choices else None
        usage = None
        if event.usage is not None:
            usage = Usage(
                prompt_tokens=event.usage.prompt_tokens, completion_tokens=event.usage.completion_tokens
            )
        timings = (event.model_extra or {}).get("timings")
        return ChatChunk(
            delta=(choice.text or "") if choice is not None else "",
            finish_reason=choice.finish_reason if choice is not None else None,
            usage=usage,
            timings=timings if isinstance(timings, dict) else None,
        )

    async def models(self) -> list[str]:
        """The model ids the server lists at ``GET {base_url}/models``.

        Raises:
            EndpointError: the server answered an error status (404 when it has no such route).
            EndpointConnectionError / EndpointTimeout: it could not be reached.
        """
        try:
            raw = await self._client.get("/models", cast_to=httpx2.Response)
            data = raw.json() if raw.content else None
        except openai.OpenAIError as exc:
            raise self._convert(exc) from exc
        except (httpx2.HTTPError, ValueError) as exc:
            raise EndpointConnectionError(
                f"{self.name}: malformed model list: {exc}", endpoint=self.name
            ) from exc
        entries = data.get("data") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise EndpointConnectionError(f"{self.name}: malformed model list", endpoint=self.name)
        return [str(e["id"]) for e in entries if isinstance(e, dict) and e.get("id")]

    async def aclose(self) -> None:
        client, http = self._client_, self._http
        self._client_ = self._http = None
        if client is not None:
            await client.close()
        if http is not None:
            await http.aclose()

    async def __aenter__(self) -> OpenAIEndpoint:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- conversions (the only place that touches SDK types) --------------------------------

    def _observe(self, headers: httpx2.Headers) -> None:
        if self.on_headers is not None:
            self.on_headers({k.lower(): v for k, v in headers.items()})

    def _convert(self, exc: openai.OpenAIError) -> EndpointError:
        """The :class:`EndpointError` for an SDK error, with secrets redacted from its message (a
        server may quote the key it was sent: OpenAI's 401 does)."""
        error = self._classify(exc)
        error.args = (redact(str(error)),)
        return error

    def _classify(self, exc: openai.OpenAIError) -> EndpointError:
        if isinstance(exc, openai.APITimeoutError):
            # The SDK's aiohttp adapter maps every aiohttp connection error, a refused connection
            # included, to a connect *timeout*; say what happened.
            refused = _os_error(exc)
            if refused is None:
                return EndpointTimeout(f"{self.name}: timed out", endpoint=self.name)
            return EndpointConnectionError(
                f"{self.name}: connection failed: {refused}", endpoint=self.name, reached=not _refused(exc)
            )
        if isinstance(exc, openai.APIConnectionError):
            return EndpointConnectionError(
                f"{self.name}: connection failed: {exc.__cause__ or exc}",
                endpoint=self.name,
                reached=not _refused(exc),
            )
        if isinstance(exc, openai.APIStatusError):
            headers = {k.lower(): v for k, v in exc.response.headers.items()}
            self._observe(exc.response.headers)
            kind = RateLimitError if exc.status_code == 429 else EndpointError
            code = exc.code if isinstance(exc.code, str) else None
            code = code or (exc.type if isinstance(exc.type, str) else None)
            return kind(
                f"{self.name}: HTTP {exc.status_code}{f' {code}' if code else ''}{_detail(exc)}"
                f"{self._hint(exc.status_code)}",
                status=exc.status_code,
                retry_after=honoured_wait(parse_retry_after(headers), self.max_retry_after),
                endpoint=self.name,
                headers=headers,
                code=code,
            )
        return EndpointConnectionError(f"{self.name}: {exc}", endpoint=self.name)

    def _hint(self, status: int) -> str:
        # OpenAI-compatible servers serve the API under /v1; a base URL without it gets 404s.
        if status == 404 and not self.base_url.endswith("/v1") and "/v1/" not in self.base_url + "/":
            return f" (did you mean {self.base_url}/v1?)"
        return ""


def _running_backend() -> str | None:
    """The async library running the current task ("asyncio", "trio"), or None outside one."""
    try:
        return sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return None


def _os_error(exc: BaseException) -> OSError | None:
    """The innermost OS-level error (not a timeout) in ``exc``'s cause chain, if any: e.g.
    ``[Errno 111] Connect call failed ('127.0.0.1', 9)`` rather than aiohttp's wrapper of it."""
    found: OSError | None = None
    seen: set[int] = set()
    cause = exc.__cause__ or exc.__context__
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
            found = cause
        cause = cause.__cause__ or cause.__context__
    return found


def _refused(exc: BaseException) -> bool:
    """Whether no connection was made at all (refused, unreachable, name not resolved)."""
    error = _os_error(exc)
    if error is None:
        return False
    return isinstance(error, ConnectionRefusedError | socket.gaierror) or error.errno in _NOT_CONNECTED


_NOT_CONNECTED = frozenset({errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL})


def _detail(exc: openai.APIStatusError) -> str:
    """``: <the server's message>``, or nothing when the SDK has only "Error code: 404" to say."""
    if exc.message.strip() == f"Error code: {exc.status_code}":
        return ""
    return f": {_short(exc.message)}"


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# Parameters the SDK's ``create`` takes by name; anything else goes in ``extra_body``.
_SDK_PARAMS = frozenset(
    {
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "presence_penalty",
        "seed",
        "stop",
        "user",
        "parallel_tool_calls",
        "metadata",
        "store",
        "service_tier",
        "reasoning_effort",
        "max_completion_tokens",
    }
)
