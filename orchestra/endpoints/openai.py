"""The OpenAI-compatible endpoint: the chat-completions API over one shared connection pool.

One pool per endpoint, never a client per request (docs/design.md: a peer that builds one per
request is capped near 36 requests/s). There are no retries here: :mod:`orchestra.endpoints.retry`
is the only retry loop. The HTTP exchange is :mod:`orchestra.endpoints.http` (aiohttp on asyncio,
httpx2 elsewhere); bodies, SSE streams and error bodies are read by
:mod:`orchestra.endpoints.wire`. Callers see :mod:`orchestra.chat` and :mod:`orchestra.errors`.

The request is built and the answer classified as the OpenAI API reference describes them
("Chat", "Error codes"), which the ``openai`` SDK also follows; the SDK itself is not used, because
importing it cost the CLI half a second and its request builder a quarter of the client CPU per
request (see :mod:`orchestra.endpoints.http`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from orchestra.chat import ChatChunk, ChatRequest, ChatResponse, Message, Usage
from orchestra.endpoints.headers import DEFAULT_MAX_RETRY_AFTER, honoured_wait, parse_retry_after
from orchestra.endpoints.http import HTTPClient, StreamReply
from orchestra.endpoints.wire import SSEDecoder, parse_chunk, parse_response
from orchestra.errors import EndpointConnectionError, EndpointError, RateLimitError, UsageError
from orchestra.redact import redact, register_secret

if TYPE_CHECKING:
    import httpx2

__all__ = ["OpenAIEndpoint", "parse_retry_after"]  # parse_retry_after: re-exported from .headers

_NO_KEY = "orchestra-no-key"  # local servers ignore the key; the header is sent anyway


class OpenAIEndpoint:
    """An endpoint speaking the OpenAI chat-completions API at ``base_url``.

    Args:
        base_url: e.g. ``http://127.0.0.1:8787/v1``; None reads ``OPENAI_BASE_URL`` as the SDK does.
        model: model name sent when a request names none.
        api_key: None reads ``OPENAI_API_KEY``; local servers need none.
        name: label for traces, limits and accounting (default: the base URL).
        timeout: seconds the server may stay silent (connecting, or between bytes of its answer)
            before the request fails with ``EndpointTimeout``.
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
        self._http_: HTTPClient | None = None
        # Inside an event loop we know the backend now: importing the HTTP library should not
        # land on the first request's latency (outside one, this does nothing).
        self._http.prepare()

    @property
    def _http(self) -> HTTPClient:
        if self._http_ is None:
            self._http_ = HTTPClient(
                self.name,
                api_key=self._api_key,
                timeout=self._timeout,
                max_connections=self._max_connections,
                transport=self._transport,
            )
        return self._http_

    # -- requests ---------------------------------------------------------------------------

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body of ``request`` (OpenAI API reference, "Create chat completion");
        ``request.extra`` goes in as is, for parameters a server adds (``top_k``, ``min_p``)."""
        model = request.model or self.model
        if not model:
            raise UsageError(f"endpoint {self.name}: the request names no model and the endpoint has none")
        body: dict[str, Any] = {"model": model, "messages": [m.to_wire() for m in request.messages]}
        for key in ("max_tokens", "temperature", "top_p", "response_format", "tools", "tool_choice"):
            value = getattr(request, key)
            if value is not None:
                body[key] = value
        if request.n != 1:
            body["n"] = request.n
        body.update(request.extra)
        return body

    async def complete(self, request: ChatRequest) -> ChatResponse:
        reply = await self._http.send("POST", f"{self.base_url}/chat/completions", self._body(request))
        self._observe(reply.headers)
        if reply.status >= 400:
            raise self._status_error(reply.status, reply.headers, reply.body)
        return parse_response(self._json(reply.body, "malformed response"), self.name)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream the answer; every chunk shape servers send is read by
        :mod:`orchestra.endpoints.wire` (a tool call's object ``arguments`` too, and which
        fragment belongs to which call)."""
        body = self._body(request)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        async with self._http.stream(f"{self.base_url}/chat/completions", body) as reply:
            await self._check(reply)
            async for payload in _events(reply):
                for chunk in self._parse_event(payload):
                    yield chunk

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
        reply = await self._http.send("POST", f"{root}/apply-template", {"messages": wire})
        if reply.status >= 400:
            raise self._status_error(reply.status, reply.headers, reply.body)
        data = self._json(reply.body, "apply-template")
        if not isinstance(data, dict) or not isinstance(data.get("prompt"), str):
            raise EndpointError(f"{self.name}: /apply-template answered without a prompt", endpoint=self.name)
        return str(data["prompt"])

    async def stream_text(self, request: ChatRequest, prompt: str) -> AsyncIterator[ChatChunk]:
        """Continue raw ``prompt`` through ``/completions``, streamed; ``request`` gives the sampling
        parameters (its messages are ignored). The last chunk carries ``usage``, and ``timings``
        when the server reports them (llama.cpp: ``prompt_n`` tokens evaluated, ``cache_n`` reused).
        """
        body = self._body(request)
        del body["messages"]
        for key in ("tools", "tool_choice", "response_format"):
            body.pop(key, None)
        body.update(prompt=prompt, stream=True, stream_options={"include_usage": True})
        url = f"{self.base_url}/completions"
        async with contextlib.AsyncExitStack() as opened:
            try:
                reply = await opened.enter_async_context(self._http.stream(url, body))
            except EndpointConnectionError:
                # A pooled connection the server closed after the last (possibly cancelled) stream
                # fails before any byte is sent; resuming right after a cancel meets it. Once more.
                reply = await opened.enter_async_context(self._http.stream(url, body))
            await self._check(reply)
            async for payload in _events(reply):
                yield self._text_chunk(self._json(payload.encode(), "stream broke"))

    def _text_chunk(self, event: Any) -> ChatChunk:
        """A ``text_completion`` chunk (OpenAI API reference, "Completions") as a :class:`ChatChunk`."""
        if not isinstance(event, dict):
            raise EndpointConnectionError(
                f"{self.name}: stream broke: an event is not an object", endpoint=self.name
            )
        if event.get("error") and "choices" not in event:
            raise self._status_error(0, {}, json.dumps(event).encode())
        choices = event.get("choices")
        choice = (
            choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
        )
        raw_usage = event.get("usage")
        usage = None
        if isinstance(raw_usage, dict):
            usage = Usage(
                prompt_tokens=_count(raw_usage.get("prompt_tokens")),
                completion_tokens=_count(raw_usage.get("completion_tokens")),
            )
        timings = event.get("timings")
        text = choice.get("text") if choice is not None else None
        finish = choice.get("finish_reason") if choice is not None else None
        return ChatChunk(
            delta=text if isinstance(text, str) else "",
            finish_reason=finish if isinstance(finish, str) else None,
            usage=usage,
            timings=timings if isinstance(timings, dict) else None,
        )

    async def models(self) -> list[str]:
        """The model ids the server lists at ``GET {base_url}/models``.

        Raises:
            EndpointError: the server answered an error status (404 when it has no such route).
            EndpointConnectionError / EndpointTimeout: it could not be reached.
        """
        reply = await self._http.send("GET", f"{self.base_url}/models")
        self._observe(reply.headers)
        if reply.status >= 400:
            raise self._status_error(reply.status, reply.headers, reply.body)
        data = self._json(reply.body, "malformed model list")
        entries = data.get("data") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise EndpointConnectionError(f"{self.name}: malformed model list", endpoint=self.name)
        return [str(e["id"]) for e in entries if isinstance(e, dict) and e.get("id")]

    async def aclose(self) -> None:
        http, self._http_ = self._http_, None
        if http is not None:
            await http.aclose()

    async def __aenter__(self) -> OpenAIEndpoint:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- answers ----------------------------------------------------------------------------

    def _observe(self, headers: dict[str, str]) -> None:
        if self.on_headers is not None:
            self.on_headers(headers)

    def _json(self, body: bytes, what: str) -> Any:
        """``body`` parsed; a BOM before the JSON is not an error (some proxies add one)."""
        try:
            return json.loads(body.decode("utf-8-sig")) if body else None
        except (ValueError, UnicodeDecodeError) as exc:
            raise EndpointConnectionError(f"{self.name}: {what}: {exc}", endpoint=self.name) from exc

    async def _check(self, reply: StreamReply) -> None:
        """Raise the error a streamed answer's status stands for, after reading its body."""
        self._observe(reply.headers)
        if reply.status >= 400:
            raise self._status_error(reply.status, reply.headers, await reply.read())

    def _status_error(self, status: int, headers: dict[str, str], body: bytes) -> EndpointError:
        """The error for an HTTP error answer, read as OpenAI's error object (OpenAI API reference,
        "Error codes": ``{"error": {"message", "type", "code", "param"}}``) or as plain text, with
        secrets redacted from it (a server may quote the key it was sent: OpenAI's 401 does).
        ``status`` 0 is an error object inside a 200 stream."""
        text = body.decode("utf-8-sig", errors="replace").strip()
        try:
            data: Any = json.loads(text) if text else None
        except ValueError:
            data = None
        error = data.get("error", data) if isinstance(data, dict) else None
        code = message = None
        if isinstance(error, dict):
            code = _text(error.get("code")) or _text(error.get("type"))
            message = _text(error.get("message"))
        elif isinstance(error, str):
            message = error
        if message is None and text and data is None:
            message = text
        kind = RateLimitError if status == 429 else EndpointError
        head = f"HTTP {status}" if status else "server error"
        detail = f": {_short(message)}" if message else ""
        found = kind(
            f"{self.name}: {head}{f' {code}' if code else ''}{detail}{self._hint(status)}",
            status=status or None,
            retry_after=honoured_wait(parse_retry_after(headers), self.max_retry_after),
            endpoint=self.name,
            headers=headers,
            code=code,
        )
        found.args = (redact(str(found)),)
        return found

    def _hint(self, status: int) -> str:
        # OpenAI-compatible servers serve the API under /v1; a base URL without it gets 404s.
        if status == 404 and not self.base_url.endswith("/v1") and "/v1/" not in self.base_url + "/":
            return f" (did you mean {self.base_url}/v1?)"
        return ""


async def _events(reply: StreamReply) -> AsyncIterator[str]:
    """The SSE ``data`` payloads of ``reply`` up to ``[DONE]`` (or the end of the body)."""
    decoder = SSEDecoder()
    async for line in reply.lines():
        for payload in decoder.feed(line):
            if payload.strip() == "[DONE]":
                return
            yield payload
    for payload in decoder.close():
        if payload.strip() != "[DONE]":
            yield payload


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
