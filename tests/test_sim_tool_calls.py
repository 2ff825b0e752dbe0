"""The simulator answers with native tool calls, streamed in OpenAI's delta format."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2

from orchestra.chat import ChatRequest, Message
from orchestra.endpoints.openai import OpenAIEndpoint
from orchestra.sim import SimConfig, serve_sim
from orchestra.sim.content import Reply
from orchestra.sim.latency import Pace
from orchestra.sim.streaming import sse_batches
from orchestra.sim.wire import SimRequest

CHAT = "/v1/chat/completions"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "units": {"type": "string", "enum": ["C", "F"]},
                "note": {"type": "string"},
            },
            "required": ["city", "days", "units"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}


def _events(text: str) -> list[dict[str, object]]:
    payloads = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
    assert payloads[-1] == "[DONE]"
    return [json.loads(p) for p in payloads[:-1]]


def _script(tmp_path: Path) -> Path:
    script = tmp_path / "script.jsonl"
    calls = [
        {"name": "get_weather", "arguments": {"city": "New York City", "days": 3}},
        {"name": "get_time", "arguments": {}},
    ]
    script.write_text(json.dumps({"match": "plan", "tool_calls": calls}) + "\n")
    return script


async def test_tool_calls_stream_as_a_name_fragment_then_argument_pieces_under_one_index(
    tmp_path: Path,
) -> None:
    async with (
        serve_sim(SimConfig(content="script", script=_script(tmp_path))) as sim,
        httpx2.AsyncClient(base_url=sim.base) as client,
    ):
        body = {"model": "m", "messages": [{"role": "user", "content": "plan"}], "stream": True,
                "stream_options": {"include_usage": True}, "tools": [WEATHER, TIME]}  # fmt: skip
        response = await client.post(CHAT, json=body)
    events = _events(response.text)
    deltas = [e["choices"][0]["delta"] for e in events if e["choices"]]
    fragments = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert deltas[0]["role"] == "assistant" and deltas[0]["content"] is None
    heads = [f for f in fragments if "id" in f]
    assert [(h["index"], h["function"]["name"], h["function"]["arguments"], h["type"]) for h in heads] == [
        (0, "get_weather", "", "function"),
        (1, "get_time", "", "function"),
    ]
    pieces = [f for f in fragments if "id" not in f]
    assert all(set(f) == {"index", "function"} and set(f["function"]) == {"arguments"} for f in pieces)
    first = [f["function"]["arguments"] for f in pieces if f["index"] == 0]
    assert len(first) == 6 and json.loads("".join(first)) == {"city": "New York City", "days": 3}
    assert "".join(f["function"]["arguments"] for f in pieces if f["index"] == 1) == "{}"
    assert fragments.index(heads[1]) > max(fragments.index(p) for p in pieces if p["index"] == 0)
    finish = [e["choices"][0]["finish_reason"] for e in events if e["choices"]]
    assert finish[-1] == "tool_calls" and events[-1]["usage"]["completion_tokens"] == len(fragments)


def test_each_fragment_is_due_one_token_after_the_last() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1, "b": 2}'}}
    request = SimRequest("m", 1, None, True, False, 3, "q")
    batches = sse_batches("id", 0, request, [Reply((), "tool_calls", (call,), 5)], Pace(ttft=0.5, step=0.1))
    assert [round(due, 3) for due, _ in batches] == [0.5, 0.6, 0.7, 0.8, 0.9]  # the name, then 4 pieces
    assert b'"name":"f"' in batches[0][1] and b"[DONE]" in batches[-1][1]


async def test_an_endpoint_reassembles_the_fragments_and_whole_answers_carry_the_calls(
    tmp_path: Path,
) -> None:
    async with (
        serve_sim(SimConfig(content="script", script=_script(tmp_path))) as sim,
        OpenAIEndpoint(base_url=sim.url, model="sim-model") as endpoint,
    ):
        request = ChatRequest(messages=[Message(role="user", content="plan")], tools=[WEATHER, TIME])
        chunks = [c async for c in endpoint.stream(request)]
    calls: list[list[str]] = []
    for fragment in (t for c in chunks for t in c.tool_calls or []):
        if fragment.name:
            calls.append([fragment.name, ""])
        calls[-1][1] += fragment.arguments
    assert [(n, json.loads(a)) for n, a in calls] == [
        ("get_weather", {"city": "New York City", "days": 3}),
        ("get_time", {}),
    ]


async def test_generated_answers_call_an_offered_tool_with_schema_shaped_arguments() -> None:
    async with (
        serve_sim(SimConfig(seed=7)) as sim,
        OpenAIEndpoint(base_url=sim.url, model="sim-model") as endpoint,
    ):
        offered = ChatRequest(messages=[Message(role="user", content="weather?")], tools=[WEATHER])
        answers = [await endpoint.complete(offered) for _ in range(5)]
        refused = await endpoint.complete(offered.model_copy(update={"tool_choice": "none"}))
        chosen = await endpoint.complete(
            ChatRequest(
                messages=[Message(role="user", content="time?")],
                tools=[WEATHER, TIME],
                tool_choice={"type": "function", "function": {"name": "get_time"}},
            )
        )
        plain = await endpoint.complete(ChatRequest.of("no tools here"))
    for answer in answers:
        (call,) = answer.choices[0].message.tool_calls or []
        args = json.loads(call.arguments)
        assert call.name == "get_weather" and answer.choices[0].finish_reason == "tool_calls"
        assert set(args) == {"city", "days", "units"} and isinstance(args["days"], int)
        assert isinstance(args["city"], str) and args["units"] in ("C", "F")
    assert len({a.choices[0].message.tool_calls[0].id for a in answers}) == 5  # type: ignore[index]
    assert refused.choices[0].message.tool_calls is None and refused.text
    assert [c.name for c in chosen.choices[0].message.tool_calls or []] == ["get_time"]
    assert plain.choices[0].message.tool_calls is None and plain.text


async def test_bad_tools_are_a_400() -> None:
    async with serve_sim(SimConfig()) as sim, httpx2.AsyncClient(base_url=sim.base) as client:
        body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
        bad = await client.post(CHAT, json={**body, "tools": [{"type": "function"}]})
        unknown = await client.post(
            CHAT,
            json={**body, "tools": [TIME], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
        )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "tools"
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "tool_choice"
