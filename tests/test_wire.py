"""The OpenAI wire format as servers really speak it, parsed by orchestra.endpoints.wire.

Sources of the variations, each named where it is used:
- [ref] OpenAI API reference, "The chat completion object" and "The chat completion chunk object"
  (content string or null; ``refusal``; ``tool_calls[].index`` in chunks; the usage-only final
  chunk with ``choices: []`` under ``stream_options.include_usage``; legacy ``function_call``).
- [parts] OpenAI API reference, "Create chat completion", ``messages[].content``: "array of
  content parts" (``{"type": "text", "text": ...}``), valid in requests and in responses.
- [llama.cpp] ggml-org/llama.cpp#20198: llama-server returned tool-call ``arguments`` as a JSON
  object instead of a string (Portkey-AI/gateway#772 saw the same from Bedrock).
- [index] continuedev/continue#13223: later stream fragments of a tool call carry only ``index``
  (no id, no name) and were joined to the wrong call; openai/openai-python#3201: the first chunk
  can hold two entries with the same ``index`` (the name, then a first argument fragment).
- [sse] WHATWG HTML "Server-sent events": comment lines, ``event:`` fields, CRLF line ends; an
  ``{"error": ...}`` object in place of a chunk, as OpenAI-compatible servers send on failure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_server import WireServer, completion, http, sse

from orchestra import Agent
from orchestra.batch import JsonlSource, parse_line
from orchestra.batch.formats import BatchRow
from orchestra.chat import ChatChunk, ChatRequest, Message, ToolCall
from orchestra.endpoints import OpenAIEndpoint
from orchestra.endpoints.wire import SSEDecoder, parse_chunk, parse_response
from orchestra.errors import EndpointConnectionError, EndpointError, OrchestraError
from orchestra.tool_deltas import ToolCallMerger


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


# -- whole responses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "text"),
    [
        ({"role": "assistant", "content": "plain"}, "plain"),  # [ref]
        ({"role": "assistant", "content": None, "refusal": None}, ""),  # [ref]
        (
            {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            "ab",
        ),  # [parts]
        ({"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]}, "no"),  # [parts]
        ({"role": "assistant"}, ""),
    ],
)
def test_response_content_forms(message: dict[str, Any], text: str) -> None:
    assert parse_response(completion(message), "e").text == text


@pytest.mark.parametrize(
    "arguments",
    ['{"city": "Paris"}', {"city": "Paris"}],  # [ref] text; [llama.cpp] an object
)
def test_tool_call_arguments_as_text_or_object(arguments: Any) -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": arguments}}
        ],
    }
    (call,) = (
        parse_response(completion(message, finish_reason="tool_calls"), "e").choices[0].message.tool_calls
        or []
    )
    assert (call.id, call.name, json.loads(call.arguments)) == ("call_1", "weather", {"city": "Paris"})


def test_legacy_function_call() -> None:  # [ref], deprecated but still sent by some proxies
    message = {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}}
    (call,) = parse_response(completion(message), "e").choices[0].message.tool_calls or []
    assert (call.name, call.arguments) == ("f", "{}")


@pytest.mark.parametrize(
    "body",
    [None, [], "x", {}, {"choices": None}, {"choices": [1]}, {"choices": "no"}],
)
def test_malformed_bodies_are_endpoint_errors(body: Any) -> None:
    with pytest.raises(EndpointConnectionError):
        parse_response(body, "e")


def test_an_error_body_with_status_200_is_an_endpoint_error() -> None:  # [sse] vLLM
    with pytest.raises(EndpointError) as caught:
        parse_response({"error": {"message": "overloaded", "type": "server_error", "code": 503}}, "e")
    assert caught.value.status == 503


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
fields = st.sampled_from(
    [
        "choices",
        "message",
        "delta",
        "content",
        "tool_calls",
        "function",
        "arguments",
        "usage",
        "index",
        "error",
        "id",
        "name",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(fields, json_values, max_size=5))
def test_any_json_body_parses_or_raises_an_orchestra_error(body: dict[str, Any]) -> None:
    for parse in (parse_response, parse_chunk):
        try:
            parse(body, "e")
        except OrchestraError:
            pass


# -- streams --------------------------------------------------------------------------------------


def test_tool_call_fragments_merge_by_index() -> None:  # [index]
    events = [
        _chunk(
            {
                "tool_calls": [
                    {"index": 2, "id": "call_c", "function": {"name": "n"}},
                    {"index": 2, "function": {"arguments": "{"}},
                ]
            }
        ),
        _chunk({"tool_calls": [{"index": 2, "function": {"arguments": "}"}}]}),
        _chunk(
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "weather", "arguments": ""},
                    }
                ],
            }
        ),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
        _chunk(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "time", "arguments": ""},
                    }
                ]
            }
        ),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]}),
        _chunk({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}),
        _chunk({}, "tool_calls"),
    ]
    fragments = [c for e in events for chunk in parse_chunk(e, "e") for c in chunk.tool_calls or []]
    calls = merge(fragments)
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("call_a", "weather", '{"city": "Paris"}'),
        ("call_b", "time", "{}"),
        ("call_c", "n", "{}"),
    ]


def merge(fragments: list[ToolCall]) -> list[ToolCall]:
    """Whole calls from stream fragments, by orchestra.tool_deltas.ToolCallMerger (in index order)."""
    merger = ToolCallMerger()
    done = merger.feed(fragments) + merger.close()
    ordered = sorted(done, key=lambda c: c.index)
    return [ToolCall(id=c.id, name=c.name, arguments=c.arguments, index=c.index) for c in ordered]


def test_whole_calls_without_index_stay_apart() -> None:
    whole = [ToolCall(id="x", name="f", arguments="{}"), ToolCall(id="y", name="g", arguments="{}")]
    assert [(c.id, c.name) for c in merge(whole)] == [("x", "f"), ("y", "g")]


def test_usage_only_final_chunk_and_null_usage() -> None:  # [ref]
    assert (
        parse_chunk({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}, "e")[0].usage
        is not None
    )
    assert parse_chunk(_chunk({"content": "x"}, usage=None), "e") == [ChatChunk(delta="x")]


def test_a_mid_stream_error_event_is_an_endpoint_error() -> None:  # [sse] vLLM
    with pytest.raises(EndpointError):
        parse_chunk({"error": {"message": "boom", "code": "internal"}}, "e")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.text(alphabet='ab {}":', max_size=10).map(lambda t: json.dumps({"t": t})), min_size=1, max_size=6
    ),
    st.sampled_from(["\n\n", "\r\n\r\n", "\n"]),
    st.lists(st.integers(min_value=0, max_value=5), max_size=4),
)
def test_sse_decoder_yields_each_payload_once(
    payloads: list[str], separator: str, comments: list[int]
) -> None:  # [sse]
    eol = "\r\n" if "\r" in separator else "\n"
    text = ""
    for i, payload in enumerate(payloads):
        if i in comments:
            text += ": keep-alive" + eol + "event: message" + eol
        text += f"data: {payload}{separator}"
    decoder = SSEDecoder()
    seen = [p for line in text.splitlines() for p in decoder.feed(line)] + list(decoder.close())
    assert seen == payloads


# -- over the wire --------------------------------------------------------------------------------


async def test_complete_over_the_wire_with_object_arguments_and_content_parts() -> None:
    message = {
        "role": "assistant",
        "content": [{"type": "text", "text": "calling"}],
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "weather", "arguments": {"city": "Paris"}},
            }
        ],
    }
    with WireServer([http(200, completion(message, finish_reason="tool_calls"))]) as server:
        endpoint = OpenAIEndpoint(server.url, "m")
        response = await endpoint.complete(ChatRequest.of("weather?"))
        await endpoint.aclose()
    assert response.text == "calling"
    (call,) = response.choices[0].message.tool_calls or []
    assert json.loads(call.arguments) == {"city": "Paris"}


async def test_an_agent_survives_object_arguments() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "nothing", "arguments": {}}}],
    }
    final = {"role": "assistant", "content": "done"}
    with WireServer(
        [http(200, completion(message, finish_reason="tool_calls")), http(200, completion(final))]
    ) as server:
        endpoint = OpenAIEndpoint(server.url, "m")
        try:
            await Agent(endpoint, []).run("hello")
        except OrchestraError:
            pass  # an unknown tool is an orchestra error; a raw pydantic ValidationError fails the test
        finally:
            await endpoint.aclose()
    assert len(server.requests) >= 1


@pytest.mark.parametrize("separator", ["\n\n", "\r\n\r\n", "\n"])
async def test_stream_over_the_wire_merges_fragments_by_index(separator: str) -> None:
    events: list[str | dict[str, Any]] = [
        ": ping",
        _chunk(
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "weather", "arguments": ""},
                    }
                ],
            }
        ),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": {"city": "Paris"}}}]}),
        _chunk(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "time", "arguments": "{}"},
                    }
                ]
            }
        ),
        _chunk({}, "tool_calls"),
        {"id": "c", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 9}},
    ]
    with WireServer([sse(events, separator=separator)]) as server:
        endpoint = OpenAIEndpoint(server.url, "m")
        chunks = [c async for c in endpoint.stream(ChatRequest.of("hi"))]
        await endpoint.aclose()
    calls = merge([c for chunk in chunks for c in chunk.tool_calls or []])
    assert [(c.id, c.name, json.loads(c.arguments)) for c in calls] == [
        ("call_a", "weather", {"city": "Paris"}),
        ("call_b", "time", {}),
    ]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 9


async def test_a_stream_error_event_is_raised_as_an_endpoint_error() -> None:
    events: list[str | dict[str, Any]] = [
        _chunk({"content": "par"}),
        {"error": {"message": "engine died", "code": 500}},
    ]
    with WireServer([sse(events, done=False)]) as server:
        endpoint = OpenAIEndpoint(server.url, "m")
        with pytest.raises(EndpointError, match="engine died"):
            _ = [c async for c in endpoint.stream(ChatRequest.of("hi"))]
        await endpoint.aclose()


# -- requests and batch input -----------------------------------------------------------------------


def test_content_parts_and_wire_tool_calls_in_requests() -> None:  # [parts] [ref]
    line = json.dumps(
        {
            "custom_id": "a",
            "body": {
                "model": "m",
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "hi"},
                            {"type": "image_url", "image_url": {"url": "data:,"}},
                        ],
                    },
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}}
                        ],
                    },
                    {"role": "tool", "tool_call_id": "c1", "content": "1"},
                ],
            },
        }
    )
    row = parse_line(line, 1)
    assert isinstance(row, BatchRow), row
    wire = [m.to_wire() for m in row.request.messages]
    assert wire[0]["content"][1]["type"] == "image_url"  # passed through as sent
    assert json.loads(wire[1]["tool_calls"][0]["function"]["arguments"]) == {"x": 1}
    assert Message.model_validate(wire[0]).text == "hi"


def test_a_bom_does_not_cost_the_first_row(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": "y"}\n')
    source = JsonlSource(path)
    rows = [row for _, row in source.scan()]
    assert [r.custom_id for r in rows] == ["a", "b"] and all(isinstance(r, BatchRow) for r in rows)
    ticket = next(iter(source.scan()))[0]
    assert source.load(ticket).custom_id == "a"
    source.close()
