"""TracedEndpoint: one ``llm`` span per request, whole or streamed, failed or cut short."""

from __future__ import annotations

import anyio
import pytest

from orchestra.chat import ChatRequest
from orchestra.endpoints import TracedEndpoint
from orchestra.errors import EndpointError
from orchestra.testing import FakeClock, FunctionModel
from orchestra.trace import Trace


def _answer(request: ChatRequest) -> str | BaseException:
    text = request.messages[-1].text
    return EndpointError("HTTP 500: boom") if text == "fail" else f"echo {text}"


async def _stream_text(endpoint: TracedEndpoint, question: str, *, stop_after: int | None = None) -> str:
    parts = []
    stream = endpoint.stream(ChatRequest.of(question))
    async for chunk in stream:
        parts.append(chunk.delta)
        if stop_after is not None and len(parts) >= stop_after:
            await stream.aclose()  # type: ignore[attr-defined]
            break
    return "".join(parts)


def test_each_request_is_one_llm_span_with_request_response_and_tokens() -> None:
    trace = Trace(FakeClock(), listeners=[])
    endpoint = TracedEndpoint(FunctionModel(_answer), model="m1")

    async def main() -> None:
        with trace.activate():
            await endpoint.complete(ChatRequest.of("hi", max_tokens=5))
            assert await _stream_text(endpoint, "there") == "echo there"
            with pytest.raises(EndpointError):
                await endpoint.complete(ChatRequest.of("fail"))
            with pytest.raises(EndpointError):
                await _stream_text(endpoint, "fail")
            await _stream_text(endpoint, "a longer question", stop_after=2)
        await endpoint.complete(ChatRequest.of("untraced"))  # no active trace: no span

    anyio.run(main)
    whole, streamed, failed, failed_stream, cut = trace.spans
    assert [s.kind for s in trace.spans] == ["llm"] * 5 and all(s.end is not None for s in trace.spans)
    assert whole.attrs["model"] == "m1" and whole.attrs["request"]["max_tokens"] == 5
    assert whole.attrs["response"] == "echo hi" and whole.attrs["completion_tokens"] >= 1
    assert streamed.attrs["response"] == "echo there" and "prompt_tokens" in streamed.attrs
    assert failed.error == failed_stream.error == "EndpointError: HTTP 500: boom"
    assert "response" not in failed.attrs
    assert cut.error is None and cut.attrs["response"] == "echo a"  # the caller stopped reading


def test_a_given_trace_is_used_without_an_active_one() -> None:
    trace = Trace(FakeClock(), listeners=[])
    endpoint = TracedEndpoint(FunctionModel(_answer), trace=trace, label="sample")
    anyio.run(endpoint.complete, ChatRequest.of("x"))
    (span,) = trace.spans
    assert span.name == "sample" and span.attrs["model"] is None
