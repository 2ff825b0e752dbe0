"""The simulator: its wire format (read back through OpenAIEndpoint), rate limits,
faults, reproducibility, and the three ways to run it (in-process, loopback, subprocess, CLI)."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx2
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from orchestra.chat import ChatRequest
from orchestra.clock import FakeClock
from orchestra.endpoints.openai import OpenAIEndpoint
from orchestra.errors import (
    ConfigError,
    EndpointConnectionError,
    EndpointError,
    EndpointTimeout,
    OrchestraError,
    RateLimitError,
)
from orchestra.sim import (
    Fault,
    FaultInjector,
    SimConfig,
    SimProcess,
    SimRateLimiter,
    SimStats,
    TokenBucket,
    create_app,
    format_duration,
    serve_sim,
)
from orchestra.sim.content import VOCABULARY
from orchestra.sim.latency import Pace
from orchestra.sim.streaming import sse_batches
from orchestra.sim.wire import SimRequest

CHAT = "/v1/chat/completions"


def _body(prompt: str = "hello simulated world", **params: object) -> dict[str, object]:
    return {"model": "sim-model", "messages": [{"role": "user", "content": prompt}], **params}


def _sse_payloads(text: str) -> list[str]:
    """The ``data:`` payloads of an SSE body, checking the framing on the way."""
    events = text.split("\n\n")
    assert events[-1] == "", "an SSE body ends with a blank line"
    payloads = []
    for event in events[:-1]:
        assert event.startswith("data: "), event
        payloads.append(event.removeprefix("data: "))
    return payloads


# -- the wire format, through OpenAIEndpoint ------------------------------------------------------------


async def test_completion_over_loopback_has_usage_and_seeded_words() -> None:
    async with serve_sim(SimConfig(completion_tokens=7, seed=1)) as sim:
        assert sim.url == f"http://127.0.0.1:{sim.port}/v1" and sim.port > 0
        async with OpenAIEndpoint(base_url=sim.url, model="sim-model") as endpoint:
            response = await endpoint.complete(ChatRequest.of("four words of prompt"))
    words = response.text.split(" ")
    assert len(words) == 7 and set(words) <= set(VOCABULARY)
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (4, 7)
    assert response.choices[0].finish_reason == "stop"
    assert (sim.stats.ok, sim.stats.prompt_tokens, sim.stats.completion_tokens) == (1, 4, 7)
    assert sim.stats.per_model["sim-model"].ok == 1


async def test_stream_through_sdk_joins_to_the_text_and_ends_with_usage() -> None:
    config = SimConfig(completion_tokens=5, ttft=0.01, tokens_per_second=2000, seed=3)
    async with serve_sim(config) as sim, OpenAIEndpoint(base_url=sim.url, model="sim-model") as endpoint:
        chunks = [c async for c in endpoint.stream(ChatRequest.of("two words", max_tokens=3))]
    text = "".join(c.delta for c in chunks)
    assert len(text.split(" ")) == 3
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["length"]
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (2, 3)


async def test_raw_sse_framing_usage_only_when_asked_and_done_last() -> None:
    async with (
        serve_sim(SimConfig(completion_tokens=3)) as sim,
        httpx2.AsyncClient(base_url=sim.base) as client,
    ):
        plain = await client.post(CHAT, json=_body(stream=True))
        usage = await client.post(CHAT, json=_body(stream=True, stream_options={"include_usage": True}))
    assert plain.headers["content-type"].startswith("text/event-stream")
    for response, with_usage in ((plain, False), (usage, True)):
        payloads = _sse_payloads(response.text)
        assert payloads[-1] == "[DONE]"
        chunks = [json.loads(p) for p in payloads[:-1]]
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        assert ("usage" in chunks[0]) is with_usage
        if with_usage:
            assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3
            assert all(c["usage"] is None for c in chunks[:-1])


async def test_same_app_runs_in_process_through_asgi_transport() -> None:
    app = create_app(SimConfig(content="echo"))
    transport = httpx2.ASGITransport(app=app)
    async with OpenAIEndpoint(
        base_url="http://sim.local/v1", model="any-name", transport=transport
    ) as endpoint:
        response = await endpoint.complete(ChatRequest.of("say  it   back"))
        chunks = [c async for c in endpoint.stream(ChatRequest.of("and stream it"))]
    assert response.text == "say  it   back" and response.model == "any-name"
    assert "".join(c.delta for c in chunks) == "and stream it"
    assert app.state.stats.ok == 2 and app.state.stats.per_model["any-name"].requests == 2


async def test_n_choices_each_have_their_own_text() -> None:
    async with serve_sim(SimConfig(completion_tokens=6, seed=5)) as sim:
        async with OpenAIEndpoint(base_url=sim.url, model="sim-model") as endpoint:
            response = await endpoint.complete(ChatRequest.of("sample twice", n=2))
            chunks = [c async for c in endpoint.stream(ChatRequest.of("sample twice", n=2))]
    assert [c.index for c in response.choices] == [0, 1]
    assert response.choices[0].message.content != response.choices[1].message.content
    assert response.usage.completion_tokens == 12
    streamed = {i: "".join(c.delta for c in chunks if c.index == i and c.usage is None) for i in (0, 1)}
    assert all(len(text.split(" ")) == 6 for text in streamed.values())
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 12


async def test_echo_truncates_at_max_tokens_with_length() -> None:
    app = create_app(SimConfig(content="echo"))
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://sim") as client:
        body = (await client.post(CHAT, json=_body("one two three four", max_tokens=2))).json()
    assert body["choices"][0]["message"]["content"] == "one two"
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"] == {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}


async def test_script_matches_first_then_cycles_and_serves_tool_calls(tmp_path: Path) -> None:
    script = tmp_path / "script.jsonl"
    lines = [
        {"content": "first plain"},
        {"match": "weather", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
        {"match": "capital", "content": "Paris"},
        {"content": "second plain"},
    ]
    script.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    async with serve_sim(SimConfig(content="script", script=script)) as sim:
        async with OpenAIEndpoint(base_url=sim.url, model="sim-model") as endpoint:
            texts = [
                (await endpoint.complete(ChatRequest.of(p))).text for p in ("hi", "the capital?", "hi", "hi")
            ]
            weather = await endpoint.complete(ChatRequest.of("what is the weather"))
            streamed = [c async for c in endpoint.stream(ChatRequest.of("weather again"))]
    assert texts == ["first plain", "Paris", "second plain", "first plain"]
    call = weather.choices[0].message.tool_calls[0]
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})
    assert weather.choices[0].finish_reason == "tool_calls"
    fragments = [t for c in streamed for t in c.tool_calls or []]
    assert fragments[0].name == "get_weather" and all(not f.name for f in fragments[1:])
    assert json.loads("".join(f.arguments for f in fragments)) == {"city": "Paris"}


async def test_once_lines_script_a_conversation_in_order(tmp_path: Path) -> None:
    script = tmp_path / "turns.jsonl"
    lines = [
        {"match": "question", "once": True, "content": "turn one"},
        {"match": "question", "once": True, "content": "turn two"},
    ]
    script.write_text("\n".join(json.dumps(line) for line in lines))
    app = create_app(SimConfig(content="script", script=script))
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://sim") as client:
        answers = [await client.post(CHAT, json=_body("the question")) for _ in range(3)]
    assert [a.json()["choices"][0]["message"]["content"] for a in answers[:2]] == ["turn one", "turn two"]
    assert answers[2].status_code == 400  # used up, and no unconditional line to fall back on
    assert "no line matches" in answers[2].json()["error"]["message"]


def test_script_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"content": "ok"}\n{"match": 3, "content": "x"}\n')
    with pytest.raises(ConfigError, match="line 2"):
        create_app(SimConfig(content="script", script=bad))
    with pytest.raises(ConfigError, match=r"missing\.jsonl"):
        create_app(SimConfig(content="script", script=tmp_path / "missing.jsonl"))


async def test_bad_request_is_400_invalid_request_error() -> None:
    app = create_app()
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://sim") as client:
        not_json = await client.post(CHAT, content=b"{nope")
        no_messages = await client.post(CHAT, json={"model": "m", "messages": []})
        bad_n = await client.post(CHAT, json=_body(n=0))
        models = await client.get("/v1/models")
    assert [r.status_code for r in (not_json, no_messages, bad_n)] == [400, 400, 400]
    assert no_messages.json()["error"]["type"] == "invalid_request_error"
    assert bad_n.json()["error"]["param"] == "n"
    assert [m["id"] for m in models.json()["data"]] == ["sim-model"]
    assert app.state.stats.bad_requests == 3


# -- rate limits -------------------------------------------------------------------------------------


async def test_rpm_exceeded_answers_openai_429_body_and_headers() -> None:
    config = SimConfig(rpm=3, tpm=1000, window_seconds=6.0)
    async with serve_sim(config) as sim, httpx2.AsyncClient(base_url=sim.base) as client:
        answers = [await client.post(CHAT, json=_body(max_tokens=10)) for _ in range(5)]
        stats = (await client.get("/sim/stats", params={"window": "6"})).json()
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    ok, limited = answers[0], answers[3]
    assert ok.headers["x-ratelimit-limit-requests"] == "3"
    assert ok.headers["x-ratelimit-remaining-requests"] == "2"
    assert ok.headers["x-ratelimit-limit-tokens"] == "1000"
    assert ok.headers["x-ratelimit-remaining-tokens"] == str(1000 - (3 + 10))
    assert ok.headers["x-ratelimit-reset-requests"].endswith(("ms", "s"))
    error = limited.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("requests", "rate_limit_exceeded", None)
    assert "Rate limit reached" in error["message"]
    wait_ms = int(limited.headers["retry-after-ms"])
    assert 1000 <= wait_ms <= 2000  # one request drips back every 6 s / 3 = 2 s
    assert int(limited.headers["retry-after"]) == math.ceil(wait_ms / 1000)
    assert limited.headers["x-ratelimit-remaining-requests"] == "0"
    assert (stats["ok"], stats["rate_limited"], stats["max_in_window"]) == (3, 2, 3)


async def test_sdk_sees_rate_limit_error_with_retry_after_and_refill_on_fake_clock() -> None:
    clock = FakeClock()
    async with serve_sim(SimConfig(rpm=2, window_seconds=60.0), clock=clock) as sim:
        async with OpenAIEndpoint(base_url=sim.url, model="sim-model") as endpoint:
            for _ in range(2):
                await endpoint.complete(ChatRequest.of("hi"))
            with pytest.raises(RateLimitError) as caught:
                await endpoint.complete(ChatRequest.of("hi"))
            assert caught.value.status == 429 and caught.value.retryable
            assert caught.value.retry_after == pytest.approx(30.0, abs=0.01)
            clock.advance(caught.value.retry_after)
            assert (await endpoint.complete(ChatRequest.of("hi"))).text
    assert sim.stats.accepted_times == [0.0, 0.0, pytest.approx(30.0, abs=0.01)]
    assert sim.stats.max_in_window(30.0) == 2 and sim.stats.max_in_window(30.1) == 3


async def test_tpm_limit_refuses_with_tokens_type() -> None:
    app = create_app(SimConfig(tpm=50))
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://sim") as client:
        first = await client.post(CHAT, json=_body("a b", max_tokens=40))
        second = await client.post(CHAT, json=_body("a b", max_tokens=40))
        too_large = await client.post(CHAT, json=_body("a b", max_tokens=60))
    assert (first.status_code, second.status_code, too_large.status_code) == (200, 429, 429)
    assert second.json()["error"]["type"] == "tokens"
    assert "Request too large" in too_large.json()["error"]["message"]
    assert (
        "x-ratelimit-limit-requests" not in first.headers
        and first.headers["x-ratelimit-limit-tokens"] == "50"
    )


def test_token_bucket_refills_continuously_on_fake_clock() -> None:
    clock = FakeClock()
    bucket = TokenBucket(capacity=6, window_seconds=60, clock=clock)
    bucket.take(6)
    assert bucket.wait_for(1) == pytest.approx(10.0)
    assert bucket.time_to_full() == pytest.approx(60.0)
    clock.advance(25)
    assert bucket.level == pytest.approx(2.5)
    assert bucket.wait_for(2) == 0 and bucket.wait_for(7) == math.inf
    clock.advance(1000)
    assert bucket.level == 6


def test_limiter_debits_both_or_neither() -> None:
    clock = FakeClock()
    limiter = SimRateLimiter(rpm=10, tpm=100, window_seconds=60, clock=clock)
    assert limiter.admit(90).allowed
    refused = limiter.admit(20)
    assert not refused.allowed and refused.limit_type == "tokens"
    assert refused.retry_after == pytest.approx(6.0)
    assert limiter.headers()["x-ratelimit-remaining-requests"] == "9"  # the refused request cost nothing


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.0201, "21ms"), (0.02, "20ms"), (1, "1s"), (1.5, "1.5s"), (17.28, "17.28s"), (360, "6m0s"),
     (90.25, "1m30.25s"), (3600, "1h0m0s")],
)  # fmt: skip
def test_format_duration_is_openai_style(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_max_in_window_counts_the_busiest_half_open_window() -> None:
    stats = SimStats(accepted_times=[0.0, 0.5, 0.9, 1.0, 1.2, 5.0])
    assert stats.max_in_window(1.0) == 4  # [0.5, 1.5); [0.0, 1.0) excludes 1.0
    assert stats.max_in_window(0.25) == 2
    assert stats.max_in_window(10.0) == 6
    assert SimStats().max_in_window(60.0) == 0
    again = SimStats.from_dict(json.loads(json.dumps(stats.to_dict(times=True))))
    assert again.accepted_times == stats.accepted_times and "accepted_times" not in stats.to_dict()


# -- faults ------------------------------------------------------------------------------------------


async def test_error_rate_one_gives_retryable_5xx() -> None:
    async with serve_sim(SimConfig(error_rate=1.0, seed=2)) as sim:
        async with OpenAIEndpoint(base_url=sim.url, model="sim-model") as endpoint:
            statuses = set()
            for _ in range(12):
                with pytest.raises(EndpointError) as caught:
                    await endpoint.complete(ChatRequest.of("hi"))
                assert caught.value.retryable
                statuses.add(caught.value.status)
    assert statuses == {500, 502, 503}
    assert sim.stats.errors_5xx == 12 and sim.stats.ok == 0 and sim.stats.accepted_times == []


async def test_malformed_body_does_not_parse() -> None:
    async with (
        serve_sim(SimConfig(malformed_rate=1.0)) as sim,
        httpx2.AsyncClient(base_url=sim.base) as client,
    ):
        whole = await client.post(CHAT, json=_body())
        streamed = await client.post(CHAT, json=_body(stream=True))
        async with OpenAIEndpoint(base_url=sim.url, model="sim-model") as endpoint:
            with pytest.raises(EndpointConnectionError):
                await endpoint.complete(ChatRequest.of("hi"))
    assert whole.status_code == 200 and whole.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        json.loads(whole.content)
    with pytest.raises(ValueError):
        json.loads(_sse_payloads(streamed.text)[0])
    assert sim.stats.malformed == 3


async def test_drop_closes_the_connection_mid_stream_and_mid_body() -> None:
    config = SimConfig(drop_rate=1.0, completion_tokens=8, tokens_per_second=5000)
    async with serve_sim(config) as sim, httpx2.AsyncClient(base_url=sim.base) as client:
        received = b""
        with pytest.raises(httpx2.RemoteProtocolError):
            async with client.stream("POST", CHAT, json=_body(stream=True)) as response:
                assert response.status_code == 200
                async for piece in response.aiter_bytes():
                    received += piece
        with pytest.raises(httpx2.RemoteProtocolError):
            await client.post(CHAT, json=_body())
        async with OpenAIEndpoint(base_url=sim.url, model="sim-model") as endpoint:
            with pytest.raises(EndpointConnectionError):
                async for _ in endpoint.stream(ChatRequest.of("hi")):
                    pass
    assert received.startswith(b"data: {") and b"[DONE]" not in received
    assert sim.stats.drops == 3


async def test_hang_outlasts_a_short_client_timeout_and_ends_when_the_client_leaves() -> None:
    config = SimConfig(hang_rate=1.0, hang_seconds=30.0)
    async with serve_sim(config) as sim:
        async with OpenAIEndpoint(base_url=sim.url, model="sim-model", timeout=0.05) as endpoint:
            started = time.monotonic()
            with pytest.raises(EndpointTimeout):
                await endpoint.complete(ChatRequest.of("hi"))
            assert time.monotonic() - started < 2.0
        with anyio.fail_after(2):  # the server notices the disconnect: no hung handler is left
            while sim.app.state.simulator.waiting:  # noqa: ASYNC110 - polling the server's state
                await anyio.sleep(0.005)
        assert sim.stats.hangs == 1
    closed = time.monotonic()
    assert closed - started < 3.0, "shutting down must not wait for hang_seconds"


async def test_shutdown_ends_a_hang_whose_client_is_still_waiting() -> None:
    async with anyio.create_task_group() as tg:
        async with serve_sim(SimConfig(hang_rate=1.0, hang_seconds=30.0)) as sim:

            async def wait_forever() -> None:
                async with httpx2.AsyncClient(base_url=sim.base, timeout=10) as client:
                    response = await client.post(CHAT, json=_body())
                    assert response.status_code == 503

            tg.start_soon(wait_forever)
            with anyio.fail_after(2):
                while sim.stats.hangs == 0:  # noqa: ASYNC110 - polling the server's state
                    await anyio.sleep(0.005)
            started = time.monotonic()
        assert time.monotonic() - started < 3.0


async def test_burst_429_under_the_limit_carries_retry_after_ms() -> None:
    app = create_app(SimConfig(burst_429_rate=1.0, burst_retry_seconds=0.25, rpm=100))
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://sim") as client:
        response = await client.post(CHAT, json=_body())
    assert response.status_code == 429 and response.json()["error"]["code"] == "rate_limit_exceeded"
    assert (response.headers["retry-after-ms"], response.headers["retry-after"]) == ("250", "1")
    assert response.headers["x-ratelimit-remaining-requests"] == "100"  # the burst did not debit the bucket
    assert app.state.stats.bursts_429 == app.state.stats.rate_limited == 1


def test_fault_shares_are_exact_partitions_of_one_draw() -> None:
    config = SimConfig(error_rate=0.2, hang_rate=0.1, drop_rate=0.1, malformed_rate=0.05, burst_429_rate=0.15)
    injector = FaultInjector(config, random.Random(7))
    draws = [injector.draw() for _ in range(20_000)]
    shares = {fault: draws.count(fault) / len(draws) for fault in Fault}
    expected = {Fault.ERROR: 0.2, Fault.HANG: 0.1, Fault.DROP: 0.1, Fault.MALFORMED: 0.05, Fault.BURST_429: 0.15,
                Fault.NONE: 0.4}  # fmt: skip
    assert shares == pytest.approx(expected, abs=0.015)


def test_config_rejects_impossible_settings() -> None:
    with pytest.raises(ValidationError, match="sum to <= 1"):
        SimConfig(error_rate=0.6, hang_rate=0.6)
    with pytest.raises(ValidationError, match="script"):
        SimConfig(content="script")
    with pytest.raises(ValidationError):
        SimConfig(rpm=0)
    with pytest.raises(ValidationError):
        SimConfig.model_validate({"nonsense": 1})


async def _run_sequence(config: SimConfig, count: int) -> list[tuple[int, str]]:
    app = create_app(config)
    out = []
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app, raise_app_exceptions=False),
                                  base_url="http://sim") as client:  # fmt: skip
        for i in range(count):
            response = await client.post(CHAT, json=_body(f"prompt {i}", max_tokens=4))
            out.append((response.status_code, response.text if response.status_code == 200 else ""))
    assert app.state.stats.requests == app.state.stats.outcomes_total == count
    return out


def _contents(run: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """(status, first choice's text) of each answer; ``created`` timestamps may differ between runs."""
    return [(status, json.loads(text)["choices"][0]["message"]["content"] if status == 200 else text)
            for status, text in run]  # fmt: skip


async def test_a_fixed_seed_replays_the_same_faults_and_content() -> None:
    config = SimConfig(error_rate=0.3, burst_429_rate=0.1, seed=11)
    first = _contents(await _run_sequence(config, 40))
    again = _contents(await _run_sequence(config, 40))
    other = _contents(await _run_sequence(config.model_copy(update={"seed": 12}), 40))
    assert first == again
    assert first != other
    statuses = {status for status, _ in first}
    assert {200, 429} <= statuses and statuses & {500, 502, 503}


# -- latency -----------------------------------------------------------------------------------------


def test_stream_layout_follows_ttft_and_tokens_per_second() -> None:
    from orchestra.sim.content import Reply

    request = SimRequest(model="m", n=1, max_tokens=None, stream=True, include_usage=True, prompt_tokens=2,
                         last_user="x")  # fmt: skip
    reply = Reply(("a", " b", " c"), "stop")
    batches = sse_batches("id", 0, request, [reply], Pace(ttft=0.5, step=0.1))
    assert [due for due, _ in batches] == pytest.approx([0.5, 0.6, 0.7])
    assert batches[-1][1].endswith(b"data: [DONE]\n\n")
    instant = sse_batches("id", 0, request, [reply], Pace(ttft=0.0, step=0.0))
    assert len(instant) == 1  # infinite speed: one write


async def test_latency_is_served_per_model() -> None:
    config = SimConfig(ttft=0.0, model_latency={"slow": {"ttft": 0.06}})
    async with serve_sim(config) as sim, httpx2.AsyncClient(base_url=sim.base) as client:
        timings = {}
        for model in ("fast", "slow"):
            started = time.monotonic()
            response = await client.post(CHAT, json={**_body(), "model": model})
            timings[model] = time.monotonic() - started
            assert response.status_code == 200
    assert timings["slow"] >= 0.06 and timings["fast"] < timings["slow"]
    assert set(sim.stats.per_model) == {"fast", "slow"}


# -- running it as a process -------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sim_process_serves_and_leaves_no_process_behind() -> None:
    config = SimConfig(completion_tokens=3, rpm=1000, seed=4)
    with SimProcess(config) as proc:
        pid = proc.pid
        assert pid is not None and _alive(pid)
        response = httpx2.post(f"{proc.url}/chat/completions", json=_body(), timeout=10)
        assert response.status_code == 200 and response.headers["x-ratelimit-limit-requests"] == "1000"
        live = proc.stats()
        assert live.ok == 1 and len(live.accepted_times) == 1
        # Seconds since the simulator started, whose wall-clock start is given (not uptime).
        assert 0 <= live.accepted_times[0] < 60 and abs(live.started_at_unix - time.time()) < 60
    assert proc.returncode is not None and not _alive(pid)
    assert proc.final_stats is not None and proc.final_stats.ok == 1
    assert proc.final_stats.per_model["sim-model"].completion_tokens == 3


async def test_sim_process_works_with_async_with_and_the_sdk() -> None:
    async with SimProcess(SimConfig(content="echo")) as proc:
        async with OpenAIEndpoint(base_url=proc.url, model="sim-model") as endpoint:
            chunks = [c async for c in endpoint.stream(ChatRequest.of("over a real socket"))]
        pid = proc.pid
    assert "".join(c.delta for c in chunks) == "over a real socket"
    assert pid is not None and not _alive(pid)


def test_sim_process_child_exits_when_its_parent_dies_abruptly() -> None:
    # The parent skips every cleanup (os._exit, as after SIGKILL); the child sees its stdin close.
    parent = "import os; from orchestra.sim import SimProcess; print(SimProcess().start().pid, flush=True); os._exit(0)"
    out = subprocess.run(
        [sys.executable, "-c", parent], capture_output=True, text=True, timeout=30, check=True
    )
    child = int(out.stdout.strip())
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    if _alive(child):  # do not leak it even when the test fails
        os.kill(child, signal.SIGKILL)
        pytest.fail("the orphaned simulator kept running")


def test_sim_process_reports_a_child_that_cannot_start(tmp_path: Path) -> None:
    config = SimConfig(content="script", script=tmp_path / "absent.jsonl")
    with pytest.raises(OrchestraError, match=r"absent\.jsonl"):
        SimProcess(config, startup_timeout=20).start()


def test_python_m_orchestra_sim_prints_its_url_and_its_stats_on_sigint() -> None:
    command = [sys.executable, "-m", "orchestra.sim", "--port", "0", "--content", "echo", "--rpm", "50"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline().strip() if proc.stdout else ""
        assert first.startswith("orchestra sim listening on http://127.0.0.1:") and first.endswith("/v1")
        url = first.split()[-1]
        response = httpx2.post(f"{url}/chat/completions", json=_body("ping"), timeout=10)
        assert response.json()["choices"][0]["message"]["content"] == "ping"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "orchestra sim served" in out and "requests" in out


def test_cli_rejects_bad_settings_with_one_line() -> None:
    from orchestra.cli.sim import app

    result = CliRunner().invoke(app, ["serve", "--error-rate", "0.7", "--hang-rate", "0.7"])
    assert result.exit_code == 2
    assert "invalid simulator settings" in result.output and "Traceback" not in result.output
    bad_latency = CliRunner().invoke(app, ["serve", "--model-latency", "oops"])
    assert bad_latency.exit_code == 2 and "NAME=TTFT" in bad_latency.output
