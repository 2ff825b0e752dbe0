"""The endpoint's HTTP client: aiohttp's transport on asyncio, httpx2's elsewhere, one error story.

``OpenAIEndpoint`` sends over aiohttp on asyncio (the throughput path,
``benchmarks/perf/endpoint_throughput.py``) and over ``httpx2.AsyncClient`` on trio, where aiohttp
cannot run (``orchestra/endpoints/http.py``). Both must behave the same to callers.
"""

from __future__ import annotations

import socket
import time

import anyio
import pytest

from orchestra.chat import ChatRequest
from orchestra.endpoints import OpenAIEndpoint
from orchestra.errors import EndpointConnectionError, EndpointTimeout
from orchestra.sim import SimConfig, SimProcess, serve_sim


def _refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


async def test_a_refused_connection_is_reported_as_refused_not_as_a_timeout() -> None:
    # The openai SDK's aiohttp adapter mapped a refused connect to a timeout; a user pointing
    # at the wrong port must not be told the server was slow.
    endpoint = OpenAIEndpoint(_refused_url(), "sim-model", timeout=5.0)
    start = time.monotonic()
    with pytest.raises(EndpointConnectionError) as caught:
        await endpoint.complete(ChatRequest.of("hi"))
    await endpoint.aclose()
    assert time.monotonic() - start < 2.0
    assert not isinstance(caught.value, EndpointTimeout)
    assert "connection failed" in str(caught.value) and "timed out" not in str(caught.value)


async def test_a_hung_server_is_still_a_timeout() -> None:
    async with serve_sim(SimConfig(hang_rate=1.0, hang_seconds=30.0, seed=1)) as sim:
        endpoint = OpenAIEndpoint(sim.url, "sim-model", timeout=0.3)
        with pytest.raises(EndpointTimeout):
            await endpoint.complete(ChatRequest.of("hi"))
        await endpoint.aclose()


def test_the_endpoint_works_on_trio_over_real_http() -> None:
    pytest.importorskip("trio")

    async def main(url: str) -> tuple[str, str, int]:
        endpoint = OpenAIEndpoint(url, "sim-model")
        whole = await endpoint.complete(ChatRequest.of("say something", max_tokens=8))
        parts, usage = [], 0
        async for chunk in endpoint.stream(ChatRequest.of("say something", max_tokens=8)):
            parts.append(chunk.delta)
            if chunk.usage is not None:
                usage = chunk.usage.completion_tokens
        await endpoint.aclose()
        return whole.text, "".join(parts), usage

    with SimProcess(SimConfig(completion_tokens=5, seed=3)) as sim:
        whole, streamed, usage = anyio.run(main, sim.url, backend="trio")
        served = sim.stats().ok
    assert whole and streamed
    assert usage == 5
    assert served == 2


async def test_an_endpoint_made_outside_a_loop_works_inside_one() -> None:
    # The HTTP client is chosen by the running backend, so an endpoint built at import time or in
    # synchronous set-up code builds it on first use.
    async with serve_sim(SimConfig(seed=2)) as sim:
        endpoint = await anyio.to_thread.run_sync(lambda: OpenAIEndpoint(sim.url, "sim-model"))
        response = await endpoint.complete(ChatRequest.of("hi", max_tokens=4))
        await endpoint.aclose()
    assert response.text


async def test_a_stream_arrives_as_the_server_writes_it() -> None:
    # The compiler strategy starts tasks while the plan streams (docs/design.md); a transport that
    # buffered the body would quietly remove that overlap. 6 tokens at 100/s span ~50 ms.
    async with serve_sim(SimConfig(ttft=0.01, tokens_per_second=100, completion_tokens=6, seed=4)) as sim:
        endpoint = OpenAIEndpoint(sim.url, "sim-model")
        arrivals = []
        async for chunk in endpoint.stream(ChatRequest.of("hi", max_tokens=6)):
            if chunk.delta:
                arrivals.append(time.monotonic())
        await endpoint.aclose()
    assert len(arrivals) == 6
    assert arrivals[-1] - arrivals[0] >= 0.025, [round(t - arrivals[0], 3) for t in arrivals]
