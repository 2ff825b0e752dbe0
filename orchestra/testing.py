"""Deterministic fakes for tests, ours and our users' (pydantic-ai's ``TestModel`` / ``FunctionModel``,
openai-agents' ``ScriptedModel``).

- :class:`ScriptedModel` answers from a queue of scripted steps, records every request, and
  :meth:`ScriptedModel.assert_all_used` fails a test that left steps unused.
- :class:`FunctionModel` answers by calling a function of the request.
- :class:`~orchestra.clock.FakeClock` moves time without sleeping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

import anyio

from orchestra.chat import ChatChunk, ChatRequest, ChatResponse, Choice, Message, ToolCall, Usage
from orchestra.clock import FakeClock

__all__ = ["FakeClock", "FunctionModel", "ScriptedModel", "Step", "response_of"]

Step = str | ChatResponse | BaseException | list[ToolCall]
"""A scripted answer: text, a whole response, tool calls, or an exception to raise."""


def response_of(step: str | list[ToolCall] | ChatResponse, request: ChatRequest, name: str) -> ChatResponse:
    """Turn a scripted step into a response, with usage estimated from the texts (4 chars a token)."""
    if isinstance(step, ChatResponse):
        return step
    if isinstance(step, str):
        message = Message(role="assistant", content=step)
    else:
        message = Message(role="assistant", content=None, tool_calls=list(step))
    text = message.text or "".join(c.arguments for c in message.tool_calls or [])
    return ChatResponse(
        id=f"{name}-{id(request):x}",
        model=request.model or name,
        choices=[Choice(index=i, message=message, finish_reason="stop") for i in range(request.n)],
        usage=Usage(
            prompt_tokens=request.estimated_prompt_tokens(),
            completion_tokens=max(1, len(text) // 4) * request.n,
        ),
        endpoint=name,
    )


async def _chunks_of(response: ChatResponse, chunk_chars: int, delay: float) -> AsyncIterator[ChatChunk]:
    for choice in response.choices:
        text = choice.message.text
        for start in range(0, len(text), chunk_chars):
            if delay:
                await anyio.sleep(delay)
            yield ChatChunk(index=choice.index, delta=text[start : start + chunk_chars])
        yield ChatChunk(
            index=choice.index, finish_reason=choice.finish_reason, tool_calls=choice.message.tool_calls
        )
    yield ChatChunk(usage=response.usage)


class ScriptedModel:
    """An endpoint that answers from a script, in order, and records what it was asked.

    Args:
        steps: the answers, one per request (a ``BaseException`` step is raised instead).
        name: endpoint name.
        chunk_chars: how many characters each streamed chunk carries.
        chunk_delay: seconds between streamed chunks (keep it to milliseconds in tests).
    """

    def __init__(
        self, steps: Iterable[Step], *, name: str = "scripted", chunk_chars: int = 3, chunk_delay: float = 0.0
    ) -> None:
        self.name = name
        self._steps = list(steps)
        self._used = 0
        self.requests: list[ChatRequest] = []
        self.chunk_chars = chunk_chars
        self.chunk_delay = chunk_delay

    def _next(self, request: ChatRequest) -> ChatResponse:
        self.requests.append(request)
        if self._used >= len(self._steps):
            raise AssertionError(
                f"{self.name}: request #{self._used + 1} but only {len(self._steps)} steps scripted"
            )
        step = self._steps[self._used]
        self._used += 1
        if isinstance(step, BaseException):
            raise step
        return response_of(step, request, self.name)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        await anyio.lowlevel.checkpoint()
        return self._next(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        response = self._next(request)
        async for chunk in _chunks_of(response, self.chunk_chars, self.chunk_delay):
            yield chunk

    @property
    def remaining(self) -> int:
        """Scripted steps not used yet."""
        return len(self._steps) - self._used

    def assert_all_used(self) -> None:
        """Fail when some scripted steps were never requested."""
        if self.remaining:
            raise AssertionError(f"{self.name}: {self.remaining} scripted step(s) never used")

    async def aclose(self) -> None:
        return None


Handler = Callable[[ChatRequest], Step | Awaitable[Step]]


class FunctionModel:
    """An endpoint whose answer is ``function(request)`` (sync or async; may raise).

    Args:
        function: maps a request to a step (text, response, tool calls).
        name: endpoint name.
        chunk_chars: characters per streamed chunk.
    """

    def __init__(self, function: Handler, *, name: str = "function", chunk_chars: int = 3) -> None:
        self.function = function
        self.name = name
        self.chunk_chars = chunk_chars
        self.requests: list[ChatRequest] = []

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.requests.append(request)
        step = self.function(request)
        if isinstance(step, Awaitable):
            step = await step
        if isinstance(step, BaseException):
            raise step
        return response_of(step, request, self.name)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        response = await self.complete(request)
        async for chunk in _chunks_of(response, self.chunk_chars, 0.0):
            yield chunk

    async def aclose(self) -> None:
        return None
