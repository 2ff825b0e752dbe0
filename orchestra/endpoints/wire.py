"""The OpenAI chat-completions wire format as servers really send it, parsed into our types.

Pure functions over decoded JSON (and SSE lines), no I/O. They accept every variation found in
the OpenAI API reference and in peers' bug trackers, and turn anything else into an
:class:`~orchestra.errors.EndpointConnectionError` ("malformed response"), never a raw
``KeyError``/``ValidationError``:

- ``content`` as a string, null, or a list of content parts (``[{"type": "text", "text": ...}]``,
  OpenAI API reference, "Chat completion object" / "message.content");
- tool-call ``arguments`` as a JSON object instead of JSON text (ggml-org/llama.cpp#20198);
- the legacy ``function_call`` field (OpenAI API reference, deprecated but still sent by some
  proxies);
- streamed tool calls whose later fragments carry only ``index`` and a piece of ``arguments``
  (OpenAI API reference, "Chat completion chunk object": ``delta.tool_calls[].index``;
  continuedev/continue#13223, openai/openai-python#3201);
- a usage-only final chunk with ``choices: []`` (``stream_options.include_usage``) and servers
  that put ``usage`` on every chunk or send ``usage: null``;
- an ``{"error": {...}}`` object in place of a chunk or body;
- SSE with comments (``: ping``), ``event:`` lines, CRLF, no blank line between events, and
  ``data: [DONE]``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from orchestra.chat import ChatChunk, ChatResponse, Choice, Message, ToolCall, Usage, content_text
from orchestra.errors import EndpointConnectionError, EndpointError

__all__ = ["SSEDecoder", "parse_chunk", "parse_response", "stream_error"]


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return default


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _usage(data: Any) -> Usage:
    if not isinstance(data, dict):
        return Usage()
    return Usage(
        prompt_tokens=_int(data.get("prompt_tokens")), completion_tokens=_int(data.get("completion_tokens"))
    )


def _tool_calls(message: dict[str, Any], *, fragments: bool) -> list[ToolCall] | None:
    calls: list[ToolCall] = []
    raw = message.get("tool_calls")
    for position, item in enumerate(raw if isinstance(raw, list) else ()):
        if not isinstance(item, dict):
            continue
        function = item.get("function")
        function = function if isinstance(function, dict) else {}
        index = item.get("index")
        calls.append(
            ToolCall.model_validate(
                {
                    "id": _str_or_none(item.get("id")) or "",
                    "name": _str_or_none(function.get("name")) or "",
                    "arguments": function.get("arguments"),
                    "index": index
                    if isinstance(index, int) and not isinstance(index, bool)
                    else (None if fragments else position),
                }
            )
        )
    legacy = message.get("function_call")
    if not calls and isinstance(legacy, dict):
        calls.append(
            ToolCall.model_validate(
                {
                    "name": _str_or_none(legacy.get("name")) or "",
                    "arguments": legacy.get("arguments"),
                    "index": 0,
                }
            )
        )
    return calls or None


def stream_error(data: dict[str, Any], endpoint: str) -> EndpointError:
    """The error an ``{"error": {...}}`` body or chunk stands for."""
    error = data.get("error")
    error = error if isinstance(error, dict) else {"message": str(error)}
    status = _int(error.get("status") or error.get("code"), 0) or None
    code = _str_or_none(error.get("code")) or _str_or_none(error.get("type"))
    message = _str_or_none(error.get("message")) or json.dumps(error)[:300]
    return EndpointError(f"{endpoint}: server error: {message}", status=status, endpoint=endpoint, code=code)


def parse_response(data: Any, endpoint: str) -> ChatResponse:
    """A ``chat.completion`` body as a :class:`ChatResponse`.

    Raises:
        EndpointConnectionError: the body is not a chat completion (malformed).
        EndpointError: the body is an ``{"error": ...}`` object.
    """
    if isinstance(data, dict) and "error" in data and data.get("error") and "choices" not in data:
        raise stream_error(data, endpoint)
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        raise EndpointConnectionError(f"{endpoint}: malformed response: no choices", endpoint=endpoint)
    choices = []
    for i, c in enumerate(data["choices"]):
        if not isinstance(c, dict):
            raise EndpointConnectionError(
                f"{endpoint}: malformed response: a choice is not an object", endpoint=endpoint
            )
        message = c.get("message")
        message = message if isinstance(message, dict) else {}
        content = message.get("content")
        text = content if content is None or isinstance(content, str) else content_text(content)
        logprobs = c.get("logprobs")
        choices.append(
            Choice(
                index=_int(c.get("index"), i),
                message=Message(
                    role="assistant", content=text, tool_calls=_tool_calls(message, fragments=False)
                ),
                finish_reason=_str_or_none(c.get("finish_reason")),
                logprobs=logprobs if isinstance(logprobs, dict) else None,
            )
        )
    return ChatResponse(
        id=_str_or_none(data.get("id")) or "",
        model=_str_or_none(data.get("model")) or "",
        choices=choices,
        usage=_usage(data.get("usage")),
        endpoint=endpoint,
    )


def parse_chunk(data: Any, endpoint: str) -> list[ChatChunk]:
    """The chunks of one ``chat.completion.chunk`` event (a text delta per choice, then usage).

    Raises:
        EndpointConnectionError: the event is not a chunk (malformed).
        EndpointError: the event is an ``{"error": ...}`` object.
    """
    if not isinstance(data, dict):
        raise EndpointConnectionError(
            f"{endpoint}: stream broke: an event is not an object", endpoint=endpoint
        )
    if data.get("error") and not data.get("choices"):
        raise stream_error(data, endpoint)
    out: list[ChatChunk] = []
    raw_choices = data.get("choices")
    for i, c in enumerate(raw_choices if isinstance(raw_choices, list) else ()):
        if not isinstance(c, dict):
            continue
        delta = c.get("delta")
        delta = delta if isinstance(delta, dict) else {}
        text = content_text(delta.get("content"))
        calls = _tool_calls(delta, fragments=True)
        finish = _str_or_none(c.get("finish_reason"))
        if text or finish or calls:
            out.append(
                ChatChunk(index=_int(c.get("index"), i), delta=text, finish_reason=finish, tool_calls=calls)
            )
    usage = data.get("usage")
    if isinstance(usage, dict) and (usage.get("prompt_tokens") or usage.get("completion_tokens")):
        out.append(ChatChunk(usage=_usage(usage)))
    return out


class SSEDecoder:
    """Server-sent events to ``data`` payloads, one line at a time (WHATWG HTML, "server-sent events").

    Lenient where servers are: a ``data:`` line that follows a complete JSON payload without a
    blank line in between starts a new event; comments and other fields are skipped.
    """

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> Iterator[str]:
        """Payloads completed by ``line`` (without its line ending)."""
        line = line.rstrip("\r\n")
        if not line:
            yield from self._dispatch()
            return
        if line.startswith(":"):
            return
        field, _, value = line.partition(":")
        if field != "data":
            return
        value = value[1:] if value.startswith(" ") else value
        if self._data and _complete_json("\n".join(self._data)):
            yield from self._dispatch()
        self._data.append(value)

    def close(self) -> Iterator[str]:
        """The payload left when the stream ends without a final blank line."""
        yield from self._dispatch()

    def _dispatch(self) -> Iterator[str]:
        if self._data:
            payload = "\n".join(self._data)
            self._data = []
            yield payload


def _complete_json(text: str) -> bool:
    if text.strip() == "[DONE]":
        return True
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
