"""The OpenAI chat-completions wire format, as the simulator reads and writes it.

The only module of the simulator that knows field names of OpenAI's JSON: requests are parsed into
:class:`SimRequest`, answers are built from our own :class:`~orchestra.sim.content.Reply`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestra.sim.content import Reply

__all__ = [
    "DONE_EVENT",
    "BadRequest",
    "SimRequest",
    "chunk_event",
    "completion_body",
    "count_tokens",
    "delta_choice",
    "error_body",
    "models_body",
    "parse_chat_request",
]

DONE_EVENT = b"data: [DONE]\n\n"
_MAX_N = 128  # OpenAI's own cap on n


def count_tokens(text: str) -> int:
    """The simulator's token estimate: whitespace-separated words (deterministic and cheap)."""
    return len(text.split())


class BadRequest(Exception):
    """A request the simulator answers with 400 ``invalid_request_error``."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class SimRequest:
    """The parts of a chat-completion request the simulator acts on."""

    model: str
    n: int
    max_tokens: int | None
    stream: bool
    include_usage: bool
    prompt_tokens: int
    last_user: str
    tools: tuple[dict[str, Any], ...] = ()
    """The functions the model may call (``{"name", "parameters"}``), after ``tool_choice``."""


def _text_of(content: Any) -> str:
    """Text of a message's ``content``: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def _int_param(body: dict[str, Any], name: str, low: int, high: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or value < low
        or (high is not None and value > high)
    ):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise BadRequest(f"'{name}' must be an integer {bound}, got {value!r}", name)
    return value


def _functions(body: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """The offered functions that ``tool_choice`` leaves callable (none for ``"none"``)."""
    tools = body.get("tools")
    if tools is None:
        return ()
    if not isinstance(tools, list) or not all(
        isinstance(t, dict)
        and isinstance(t.get("function"), dict)
        and isinstance(t["function"].get("name"), str)
        for t in tools
    ):
        raise BadRequest(
            '\'tools\' must be an array of {"type": "function", "function": {"name", ...}}.', "tools"
        )
    functions = tuple(t["function"] for t in tools)
    choice = body.get("tool_choice")
    if choice == "none":
        return ()
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        chosen = tuple(f for f in functions if f["name"] == name)
        if not chosen:
            raise BadRequest(f"tool_choice names {name!r}, which is not among 'tools'.", "tool_choice")
        return chosen
    return functions


def parse_chat_request(raw: bytes, default_model: str) -> SimRequest:
    """Parse a ``POST /v1/chat/completions`` body.

    Raises:
        BadRequest: the body is not JSON, or ``messages`` / ``n`` / ``max_tokens`` / ``tools`` /
            ``tool_choice`` are invalid.
    """
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"We could not parse the JSON body of your request: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise BadRequest("'messages' must be a non-empty array of message objects.", "messages")
    texts = [_text_of(m.get("content")) for m in messages]
    last_user = next(
        (t for m, t in zip(reversed(messages), reversed(texts), strict=True) if m.get("role") == "user"), ""
    )
    n = _int_param(body, "n", 1, _MAX_N) or 1
    max_tokens = _int_param(body, "max_completion_tokens", 0)
    if max_tokens is None:
        max_tokens = _int_param(body, "max_tokens", 0)
    options = body.get("stream_options")
    model = body.get("model")
    return SimRequest(
        model=model if isinstance(model, str) and model else default_model,
        n=n,
        max_tokens=max_tokens,
        stream=bool(body.get("stream")),
        include_usage=isinstance(options, dict) and bool(options.get("include_usage")),
        prompt_tokens=sum(count_tokens(t) for t in texts),
        last_user=last_user,
        tools=_functions(body),
    )


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion_body(ident: str, created: int, request: SimRequest, replies: list[Reply]) -> dict[str, Any]:
    """A whole ``chat.completion`` object."""
    choices = []
    for index, reply in enumerate(replies):
        message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
        if reply.tool_calls:
            message["tool_calls"] = list(reply.tool_calls)
        choices.append(
            {"index": index, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}
        )
    return {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": request.model,
        "system_fingerprint": "orchestra-sim",
        "choices": choices,
        "usage": _usage(request.prompt_tokens, sum(r.tokens for r in replies)),
    }


def chunk_event(
    ident: str,
    created: int,
    request: SimRequest,
    choices: list[dict[str, Any]],
    usage: tuple[int, int] | None = None,
) -> bytes:
    """One SSE event carrying a ``chat.completion.chunk``.

    With ``include_usage``, every chunk carries ``"usage": null`` and the last one (``choices``
    empty) the totals, as OpenAI streams them.
    """
    chunk: dict[str, Any] = {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": created,
        "model": request.model,
        "system_fingerprint": "orchestra-sim",
        "choices": choices,
    }
    if request.include_usage:
        chunk["usage"] = _usage(*usage) if usage is not None else None
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


def delta_choice(index: int, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    """One entry of a chunk's ``choices``."""
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def error_body(message: str, kind: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error object: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def models_body(models: list[str]) -> dict[str, Any]:
    """The ``GET /v1/models`` list."""
    return {
        "object": "list",
        "data": [{"id": m, "object": "model", "created": 0, "owned_by": "orchestra-sim"} for m in models],
    }
