"""Trace every request an endpoint answers: an ``llm`` span each, in the current trace.

The strategies trace their own model calls (they know each call's role: planner, joiner, turn);
code that sends requests itself, such as the test-time-compute runner or a bank build, wraps its
endpoint in :class:`TracedEndpoint` instead, so that ``--trace FILE``, OpenTelemetry and the
timeline see those calls too. A wrapper of the same interface (pydantic-ai's
``InstrumentedModel``), never a flag inside the client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio

from orchestra.chat import ChatChunk, ChatRequest, ChatResponse, Usage
from orchestra.endpoints.base import Endpoint, WrapperEndpoint
from orchestra.endpoints.limited import close_stream
from orchestra.trace import Span, Trace, current_trace, request_record

__all__ = ["TracedEndpoint"]


class TracedEndpoint(WrapperEndpoint):
    """Records each request of ``inner`` as an ``llm`` span: the request (messages and set
    parameters), the response text, the model and the tokens (``prompt_tokens``,
    ``completion_tokens``); a failed request's span carries its error. Costs nothing when no
    trace is active and none was given.

    Args:
        inner: the endpoint to trace.
        trace: where spans go; None: the current trace (:func:`~orchestra.trace.current_trace`)
            at each request.
        model: the model named in the span when the request names none (default: ``inner.model``).
        label: the span name (default ``"chat"``).
    """

    def __init__(
        self, inner: Endpoint, *, trace: Trace | None = None, model: str | None = None, label: str = "chat"
    ) -> None:
        super().__init__(inner)
        self.trace = trace
        self.model = model or getattr(inner, "model", None)
        self.label = label

    def _begin(self, request: ChatRequest) -> tuple[Trace, Span] | None:
        trace = self.trace or current_trace()
        if trace is None:
            return None
        attrs = {"model": request.model or self.model, "request": request_record(request)}
        return trace, trace.start(self.label, "llm", **attrs)

    @staticmethod
    def _finish(span: Span, text: str, model: str | None, usage: Usage | None) -> None:
        span.attrs["response"] = text
        if model:
            span.attrs["response_model"] = model
        if usage is not None:
            span.attrs.update(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        begun = self._begin(request)
        if begun is None:
            return await self.inner.complete(request)
        trace, span = begun
        try:
            response = await self.inner.complete(request)
        except BaseException as exc:
            trace.end(span, error=f"{type(exc).__name__}: {exc}")
            raise
        self._finish(span, response.text, response.model, response.usage)
        trace.end(span)
        return response

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        begun = self._begin(request)
        chunks = self.inner.stream(request)
        parts: list[str] = []
        usage: Usage | None = None
        error: str | None = None
        try:
            async for chunk in chunks:
                if chunk.index == 0 and chunk.delta:
                    parts.append(chunk.delta)
                usage = chunk.usage or usage
                yield chunk
        except GeneratorExit:  # the caller stopped reading: the span ends with what came
            raise
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await close_stream(chunks)
            if begun is not None:
                if error is None:
                    self._finish(begun[1], "".join(parts), None, usage)
                begun[0].end(begun[1], error=error)
