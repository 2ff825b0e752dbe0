"""orchestra's own chat types: what every layer above an endpoint sees.

They follow the shape of the OpenAI chat-completions wire format (so ``model_dump`` of a
:class:`ChatResponse` is a valid response body for the Batch API output) but are our classes:
the ``openai`` SDK's types never leave ``orchestra/endpoints/openai.py``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChatChunk",
    "ChatRequest",
    "ChatResponse",
    "Choice",
    "Message",
    "ToolCall",
    "Usage",
]

Role = Literal["system", "user", "assistant", "tool", "developer"]


class ToolCall(BaseModel):
    """A native function call returned by the model."""

    id: str
    name: str
    arguments: str = Field(description="JSON text of the arguments, as the model wrote it.")
    index: int | None = Field(
        default=None,
        description="In a streamed delta, which call this piece belongs to (merge pieces by it).",
    )


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(extra="allow")

    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None

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
        """A cheap upper-side estimate of the prompt's tokens (4 characters a token, plus framing).

        Rate limiters debit this up front and refund the difference from ``usage`` afterwards.
        """
        chars = sum(len(m.content or "") + 16 for m in self.messages)
        return chars // 4 + 1


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
        return (self.choices[0].message.content or "") if self.choices else ""

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
