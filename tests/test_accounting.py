"""Prices, the meter, and MeteredEndpoint."""

from __future__ import annotations

import json

import pytest

from orchestra.chat import ChatRequest, ChatResponse, Choice, Message, Usage
from orchestra.clock import FakeClock
from orchestra.endpoints import Meter, MeteredEndpoint, Price, PriceTable
from orchestra.errors import (
    EndpointTimeout,
    RateLimitError,
)
from orchestra.testing import ScriptedModel


def test_price_of_usage() -> None:
    price = Price(input_per_mtok=0.15, output_per_mtok=0.60)
    assert price.cost(Usage(prompt_tokens=1_000_000, completion_tokens=0)) == pytest.approx(0.15)
    assert price.cost(Usage(prompt_tokens=2000, completion_tokens=500)) == pytest.approx(0.0003 + 0.0003)
    with pytest.raises(ValueError):
        Price(-1.0, 0.0)


def test_price_table_matches_exact_then_longest_prefix_then_star() -> None:
    table = PriceTable(
        {
            "gpt-4o": Price(2.5, 10.0),
            "gpt-4o-mini": {"input_per_mtok": 0.15, "output_per_mtok": 0.6},
        }
    )
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000)
    assert table.cost("gpt-4o", usage) == pytest.approx(12.5)
    assert table.cost("gpt-4o-mini-2024-07-18", usage) == pytest.approx(0.75)  # not gpt-4o's price
    assert table.cost("gpt-4o-2024-08-06", usage) == pytest.approx(12.5)
    assert table.cost("llama-3", usage) == 0.0
    assert table.cost(None, usage) == 0.0
    with_default = PriceTable({"*": Price(1.0, 2.0)})
    assert with_default.cost("anything", usage) == pytest.approx(3.0)


def answer(model: str, prompt: int, completion: int) -> ChatResponse:
    return ChatResponse(
        model=model,
        choices=[Choice(message=Message(role="assistant", content="hi"))],
        usage=Usage(prompt_tokens=prompt, completion_tokens=completion),
    )


async def test_metered_endpoint_prices_each_response_and_counts_everything() -> None:
    clock = FakeClock()
    meter = Meter()
    prices = PriceTable({"m": Price(1.0, 3.0)})
    inner = ScriptedModel(
        [
            answer("m", 1000, 200),
            RateLimitError("429", status=429),
            answer("m", 3000, 100),
            EndpointTimeout("t"),
        ],
        name="ep",
    )
    endpoint = MeteredEndpoint(inner, meter, prices, clock=clock)
    first = await endpoint.complete(ChatRequest.of("a", model="m"))
    assert first.cost == pytest.approx((1000 * 1.0 + 200 * 3.0) / 1e6)
    assert first.endpoint == "ep"
    with pytest.raises(RateLimitError):
        await endpoint.complete(ChatRequest.of("b", model="m"))
    third = await endpoint.complete(ChatRequest.of("c", model="m"))
    with pytest.raises(EndpointTimeout):
        await endpoint.complete(ChatRequest.of("d", model="m"))

    snapshot = meter.snapshot()
    json.dumps(snapshot)  # plain data
    ep = snapshot["endpoints"]["ep"]
    assert (ep["requests"], ep["ok"], ep["errors"], ep["rate_limited"]) == (4, 2, 2, 1)
    assert ep["errors_by_kind"] == {"rate_limited": 1, "timeout": 1}
    assert (ep["prompt_tokens"], ep["completion_tokens"], ep["total_tokens"]) == (4000, 300, 4300)
    assert ep["cost"] == pytest.approx(first.cost + third.cost)
    assert meter.cost == pytest.approx(first.cost + third.cost)
    assert snapshot["total"]["requests"] == 4


async def test_meter_keeps_endpoints_apart_and_sums_the_total() -> None:
    meter = Meter()
    for name, latency in (("a", 0.1), ("a", 0.3), ("b", 0.2)):
        meter.record(name, latency=latency, usage=Usage(prompt_tokens=10, completion_tokens=5), cost=0.01)
    snapshot = meter.snapshot()
    assert snapshot["endpoints"]["a"]["requests"] == 2
    assert snapshot["endpoints"]["a"]["latency_p50"] == pytest.approx(0.1)
    assert snapshot["endpoints"]["a"]["latency_p99"] == pytest.approx(0.3)
    assert snapshot["endpoints"]["b"]["latency_mean"] == pytest.approx(0.2)
    assert snapshot["total"]["requests"] == 3
    assert snapshot["total"]["cost"] == pytest.approx(0.03)


async def test_metered_stream_records_usage_from_the_last_chunk() -> None:
    meter = Meter()
    endpoint = MeteredEndpoint(
        ScriptedModel(["streamed words here"], name="s"), meter, PriceTable({"*": Price(1.0, 1.0)})
    )
    chunks = [c async for c in endpoint.stream(ChatRequest.of("q"))]
    usage = chunks[-1].usage
    assert usage is not None
    ep = meter.snapshot()["endpoints"]["s"]
    assert (ep["requests"], ep["ok"], ep["total_tokens"]) == (1, 1, usage.total_tokens)
    assert ep["cost"] == pytest.approx(usage.total_tokens / 1e6)
