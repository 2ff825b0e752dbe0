"""orchestra's own chat types: what every layer above an endpoint sees.

They follow the shape of the OpenAI chat-completions wire format (so ``model_dump`` of a
:class:`ChatResponse` is a valid response body for the Batch API output) but are our classes:
the ``openai`` SDK's types never leave ``orchestra/endpoints/openai.py``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "ChatChunk",
    "ChatRequest",
    "ChatResponse",
    "Choice",
    "Message",
    "ToolCall",
    "Usage",
    "content_text",
]

Role = Literal["system", "user", "assistant", "tool", "developer"]


def content_text(content: Any) -> str:
    """The text of a message ``content``: a string, or the text parts of a list of content parts.

    The OpenAI API allows ``content`` as a list of parts (``[{"type": "text", "text": "..."}]``)
    in requests and responses alike; parts without text (images, audio) contribute nothing.
    """
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                text = part.get("text", part.get("refusal"))
                if isinstance(text, str):
                    texts.append(text)
        return "".join(texts)
    return ""


def _arguments_text(value: Any) -> str:
    """Tool-call ``arguments`` as JSON text: some servers (llama.cpp builds) send an object."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


class ToolCall(BaseModel):
    """A native function call returned by the model (or one streamed fragment of it).

    Accepts the flat form (``{"id", "name", "arguments"}``) and the OpenAI wire form
    (``{"id", "type": "function", "function": {"name", "arguments"}}``); ``arguments`` given as a
    JSON object is turned into its JSON text.
    """

    id: str = ""
    name: str = ""
    arguments: str = Field(default="", description="JSON text of the arguments, as the model wrote it.")
    index: int | None = Field(
        default=None,
        description="Position of the call in its message; streamed fragments of one call share it.",
    )

    @model_validator(mode="before")
    @classmethod
    def _wire_form(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("function"), dict):
            function = data["function"]
            flat = {k: v for k, v in data.items() if k in ("id", "index")}
            flat["name"] = function.get("name") or ""
            flat["arguments"] = function.get("arguments")
            data = flat
        if isinstance(data, dict):
            data = {**data, "arguments": _arguments_text(data.get("arguments"))}
            if data.get("id") is None:
                data["id"] = ""
            if data.get("name") is None:
                data["name"] = ""
        return data


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(extra="allow")

    role: Role
    content: str | list[dict[str, Any]] | None = Field(
        default=None, description="Text, or a list of content parts as in the OpenAI API."
    )
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None

    @property
    def text(self) -> str:
        """The message's text ('' when it has none); see :func:`content_text`."""
        return content_text(self.content)

    def to_wire(self) -> dict[str, Any]:
        """The OpenAI wire form of this message."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            out["name"] = self.name
        return out


class Usage(BaseModel):
    """Token counts of one request."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


class ChatRequest(BaseModel):
    """A chat-completion request.

    ``extra`` carries any other OpenAI parameter (``seed``, ``stop``, ``logprobs``, vendor
    extensions such as llama.cpp's ``cache_prompt``) through unchanged.
    """

    model_config = ConfigDict(frozen=True)

    messages: list[Message]
    model: str | None = Field(default=None, description="None: the endpoint's configured model.")
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int = 1
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, prompt: str, **kwargs: Any) -> ChatRequest:
        """A request with one user message."""
        return cls(messages=[Message(role="user", content=prompt)], **kwargs)

    def estimated_prompt_tokens(self) -> int:
        """A cheap upper-side estimate of every token the server counts for the prompt.

        Counts the messages' text parts, their tool calls and names, each message's framing (a few
        tokens of role and separators, as in OpenAI's cookbook ``num_tokens_from_messages``), the
        ``tools`` definitions and a ``response_format`` schema. Prose is taken at 4 characters a
        token and JSON at 3 (punctuation and quoted keys tokenize densely), both erring high.
        Rate limiters debit this up front and refund the difference from ``usage`` afterwards.
        Counting only the message text made a request with 12 tool definitions (11 KB of JSON)
        debit 67 tokens where the server counted 2,869.
        """
        text = 0
        structure = 0
        for m in self.messages:
            text += len(m.text) + len(m.name or "") + len(m.tool_call_id or "")
            structure += 16 + (16 * len(m.content) if isinstance(m.content, list) else 0)
            for call in m.tool_calls or ():
                structure += 16 + len(call.id) + len(call.name) + len(call.arguments)
        for extra in (self.tools, self.response_format, self.tool_choice):
            if extra is not None and not isinstance(extra, str):
                structure += len(json.dumps(extra, ensure_ascii=False, separators=(",", ":")))
        return text // 4 + structure // 3 + 3


class Choice(BaseModel):
    """One completion of a request (``n`` > 1 gives several)."""

    index: int = 0
    message: Message
    finish_reason: str | None = None
    logprobs: dict[str, Any] | None = None


class ChatResponse(BaseModel):
    """A whole chat-completion response."""

    id: str = ""
    model: str = ""
    choices: list[Choice]
    usage: Usage = Field(default_factory=Usage)
    endpoint: str | None = Field(default=None, description="Name of the endpoint that served it.")
    cost: float = Field(default=0.0, description="USD, from the endpoint's price table (0 if unpriced).")

    @property
    def text(self) -> str:
        """Content of the first choice ('' when it has none)."""
        return self.choices[0].message.text if self.choices else ""

    def to_wire(self) -> dict[str, Any]:
        """The OpenAI ``chat.completion`` body of this response."""
        return {
            "id": self.id,
            "object": "chat.completion",
            "model": self.model,
            "choices": [
                {
                    "index": c.index,
                    "message": c.message.to_wire(),
                    "finish_reason": c.finish_reason,
                    "logprobs": c.logprobs,
                }
                for c in self.choices
            ],
            "usage": {
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens,
                "total_tokens": self.usage.total_tokens,
            },
        }


class ChatChunk(BaseModel):
    """One piece of a streamed response: a text delta of one choice, or the final usage."""

    index: int = 0
    delta: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    tool_calls: list[ToolCall] | None = None
    timings: dict[str, Any] | None = None
    """Server timings of a raw-text stream (llama.cpp: ``prompt_n``, ``cache_n``, ``predicted_n``)."""
