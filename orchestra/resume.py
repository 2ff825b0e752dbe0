"""The ``async`` strategy's ``resume`` mode: interrupts delivered mid-generation.

The conversation is turned into prompt text once with the model's own chat template (llama.cpp's
``/apply-template``, or a template passed to the endpoint), and the model's answer is generated
through ``/completions`` as raw text. While a segment streams, calls are dispatched as their
frames close. When a result is ready and the parser is at a safe boundary (outside any frame, no
half-read marker), the stream is cancelled at once and generation resumes from

    prompt + the text generated so far + ``[INTR] k [HEAD] value [END]`` frames

so the model reads the result where it stopped, as AsyncLM's interrupts do inside one engine.
The resumed prompt extends the last one, so a server with prefix caching re-evaluates only the
new tokens (llama.cpp: ``cache_prompt``; vLLM and SGLang cache prefixes automatically). Each
segment's span records the server's figures when it reports them: ``prompt_n`` (prompt tokens
evaluated) and ``cache_n`` (tokens taken from the cache).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

import anyio

from orchestra.call_runtime import CallRuntime
from orchestra.chat import ChatChunk, ChatRequest, Message
from orchestra.cml import END, TRAP, CMLParser, interrupt_frame
from orchestra.endpoints.base import Endpoint
from orchestra.errors import EndpointError
from orchestra.planning import InterruptPlanner
from orchestra.trace import Span

if TYPE_CHECKING:
    from orchestra.strategies import RunState

__all__ = ["TextEndpoint", "run_resume", "text_endpoint"]


@runtime_checkable
class TextEndpoint(Protocol):
    """An endpoint that continues raw text and knows its model's chat template."""

    name: str

    async def apply_template(self, messages: list[Message]) -> str:
        """The prompt text of ``messages``, ending with the assistant's generation prompt."""
        ...

    def stream_text(self, request: ChatRequest, prompt: str) -> AsyncIterator[ChatChunk]:
        """Continue ``prompt`` (``/completions``), streamed, with ``request``'s sampling parameters."""
        ...


def text_endpoint(endpoint: Endpoint) -> TextEndpoint | None:
    """The raw-text endpoint at the bottom of a stack of wrappers (``inner``; a pool of one
    member), if it has one. Its raw-text requests bypass the wrappers' limits and retries."""
    seen: Any = endpoint
    for _ in range(16):
        if isinstance(seen, TextEndpoint):
            return seen
        members = getattr(seen, "endpoints", None)
        if isinstance(members, dict) and len(members) == 1:
            seen = next(iter(members.values()))
            continue
        seen = getattr(seen, "inner", None)
        if seen is None:
            return None
    return None


async def run_resume(state: RunState, rt: CallRuntime, *, required: bool) -> str | None:
    """Run in ``resume`` mode; None when the endpoint cannot (and the mode was not ``required``).

    Raises:
        EndpointError: the model failed, or ``required`` and it has no chat template.
    """
    endpoint = text_endpoint(state.model.endpoint)
    if endpoint is None:
        return None
    agent = state.agent
    planner = cast(InterruptPlanner, agent.planner)
    context = state.context
    messages = planner.start(context, "resume")
    try:
        prompt = await endpoint.apply_template(messages)
    except EndpointError:
        if required:
            raise
        return None
    generated = ""
    for segment in range(agent.max_turns + 1):
        context.final = segment == agent.max_turns
        round_ = rt.new_round()
        request = planner.request(messages, context, "resume")
        parser = CMLParser()
        visible: list[str] = []
        outcome = await _segment(rt, endpoint, request, prompt + generated, parser, visible, segment)
        text = parser.text
        if outcome == "trap":
            text = text[: text.find(TRAP) + len(TRAP)] + END
        round_.text = text
        generated += text
        if context.final or (outcome == "end" and rt.queue.idle):
            return planner.answer("".join(visible))
        delivery = await rt.deliver()
        sep = "" if not generated or generated.endswith("\n") else "\n"
        if delivery is not None:
            generated += sep + delivery.frames() + "\n"
        elif outcome == "trap":  # a trap with nothing pending would wait forever: say so
            generated += sep + interrupt_frame(0, "no call is pending; write the answer") + "\n"
    raise AssertionError("unreachable: the last segment always returns")


async def _segment(
    rt: CallRuntime,
    endpoint: TextEndpoint,
    request: ChatRequest,
    prompt: str,
    parser: CMLParser,
    visible: list[str],
    number: int,
) -> str:
    """Stream one segment until its end, a trap, or a result ready at a safe boundary.

    Returns:
        ``"end"`` (the model stopped, or wrote a forged ``[INTR]``), ``"trap"``, or
        ``"interrupt"`` (cancelled to deliver).
    """
    from orchestra.asynclm import _handle

    trace = rt.trace
    model = rt.state.model
    span = trace.start(f"segment {number + 1}", "llm")
    model.calls += 1
    outcome = "end"
    final = rt.state.context.final
    stream = endpoint.stream_text(request, prompt)

    failure: list[Exception] = []

    async def consume(scope: anyio.CancelScope) -> None:
        try:
            await read(scope)
        except Exception as exc:  # the model failed: raised as itself below, not in a group
            failure.append(exc)
            scope.cancel()

    async def read(scope: anyio.CancelScope) -> None:
        nonlocal outcome
        async for chunk in stream:
            _record(span, model, chunk)
            if "ttft" not in span.attrs and chunk.delta:
                rt.first_token(span)
            if _handle(rt, parser.feed(chunk.delta), visible, final=final):
                outcome = "trap"
                break
            if parser.done:
                break
            if rt.queue.ready and parser.at_boundary:
                outcome = "interrupt"
                break
        else:
            _handle(rt, parser.close(), visible, final=final)
        scope.cancel()

    async def watch(scope: anyio.CancelScope) -> None:
        # A result that lands while the model sits at a boundary waiting for its next token is
        # delivered now, not one token later.
        nonlocal outcome
        while True:
            await rt.queue.wait()
            if parser.at_boundary and not final:
                outcome = "interrupt"
                scope.cancel()
                return
            await anyio.sleep(0.005)  # mid-frame: the consumer cuts at the next boundary

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(consume, tg.cancel_scope)
            if not final:
                tg.start_soon(watch, tg.cancel_scope)
    finally:
        with anyio.CancelScope(shield=True):
            await stream.aclose()  # type: ignore[attr-defined]
        span.attrs["outcome"] = outcome
        if failure:
            span.error = f"{type(failure[0]).__name__}: {failure[0]}"
        trace.end(span)
    if failure:
        raise failure[0]
    return outcome


def _record(span: Span, model: Any, chunk: ChatChunk) -> None:
    if chunk.usage is not None:
        model.usage = model.usage + chunk.usage
        span.attrs.update(
            prompt_tokens=chunk.usage.prompt_tokens, completion_tokens=chunk.usage.completion_tokens
        )
    if chunk.timings:
        for key in ("prompt_n", "cache_n", "predicted_n", "prompt_ms"):
            if key in chunk.timings:
                span.attrs[key] = chunk.timings[key]
