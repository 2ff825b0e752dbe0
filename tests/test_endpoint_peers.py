"""Peer defects docs/design.md names for endpoint clients, shown absent over real HTTP on loopback.

- prompto builds a new client (so a new connection) per request, which caps it near 36 req/s:
  ours keeps one pool per endpoint and reuses its connections.
- the OpenAI cookbook processor misses OpenAI's own 429 code (``rate_limit_exceeded``): ours
  recognises the 429 as a rate limit, pauses the endpoint, and succeeds on retry.
"""

from __future__ import annotations

import anyio

from orchestra.chat import ChatRequest
from orchestra.endpoints import EndpointSpec, OpenAIEndpoint, connect
from orchestra.errors import RateLimitError
from orchestra.sim import SimConfig, serve_sim


async def test_connections_are_reused_not_opened_per_request() -> None:
    async with serve_sim(SimConfig(seed=1)) as sim, OpenAIEndpoint(sim.url, "sim-model") as endpoint:
        for round_ in range(3):
            async with anyio.create_task_group() as tg:
                for i in range(20):
                    tg.start_soon(endpoint.complete, ChatRequest.of(f"{round_}-{i}", max_tokens=4))
        assert sim.stats.ok == 60
        # 20 in flight at most, so at most 20 connections for 60 requests (one per request would be 60).
        assert sim.stats.to_dict()["connections"] <= 20


async def test_openai_429_code_is_a_rate_limit_that_pauses_and_then_succeeds() -> None:
    config = SimConfig(rpm=2, window_seconds=0.5, seed=2)
    async with serve_sim(config) as sim:
        async with OpenAIEndpoint(sim.url, "sim-model") as raw:
            for _ in range(2):
                await raw.complete(ChatRequest.of("fill the bucket", max_tokens=2))
            try:
                await raw.complete(ChatRequest.of("one too many", max_tokens=2))
            except RateLimitError as exc:
                assert exc.status == 429 and exc.retry_after is not None and exc.retryable
            else:
                raise AssertionError("the third request in the window should have been rate limited")
        spec = EndpointSpec(
            name="sim", base_url=sim.url, model="sim-model"
        )  # no limits known: learn from 429
        async with connect([spec]) as conn:
            reply = await conn.default.complete(ChatRequest.of("after the pause", max_tokens=2))
            assert reply.text
            assert conn.meter.snapshot()["total"]["ok"] == 1
