"""Slow start and share-judged cuts of the adaptive concurrency; the learned first-byte timeout."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from orchestra.batch import BatchRunner, Journal, JsonlSource
from orchestra.chat import ChatRequest
from orchestra.clock import FakeClock
from orchestra.endpoints import AdaptiveConcurrency, FirstByteTimeout, LatencyTracker, Permit, RateLimiter
from orchestra.errors import EndpointTimeout
from orchestra.testing import FunctionModel


def _round_trip(limiter: RateLimiter, clock: FakeClock, demand: int, latency: float = 0.5) -> int:
    """One round trip at ``demand`` requests wanting to be in flight; returns how many went."""
    permits = []
    for _ in range(demand):
        granted = limiter.try_acquire()
        if not isinstance(granted, Permit):
            break
        permits.append(granted)
    for _ in range(demand - len(permits)):
        limiter.try_acquire()  # refused by the cap: demand above it
    clock.advance(latency)
    for permit in permits:
        limiter.release(permit)
    return len(permits)


def test_slow_start_doubles_each_round_trip_until_it_covers_the_demand() -> None:
    clock = FakeClock()
    limiter = RateLimiter(adaptive=True, initial_concurrency=10, clock=clock)
    sent = [_round_trip(limiter, clock, 500) for _ in range(8)]
    assert sent[:6] == [10, 20, 40, 80, 160, 320]
    assert sent[6] == 500 and sent[7] == 500  # the whole demand, after six round trips


def test_latency_rising_with_load_ends_slow_start() -> None:
    adaptive = AdaptiveConcurrency(10)
    for latency in [0.5] * 10 + [0.6] * 20:
        adaptive.on_success(True, latency)
    assert adaptive.slow_start
    for _ in range(40):
        adaptive.on_success(True, 2.0)  # four times the floor: the server is queueing
    assert not adaptive.slow_start
    before = adaptive.limit
    for _ in range(before):
        adaptive.on_success(True, 2.0)
    assert adaptive.limit <= before + 1  # additive now: about one a round trip


def test_scattered_faults_do_not_cut_but_a_congested_round_trip_does() -> None:
    adaptive = AdaptiveConcurrency(100, latency_rise=100.0)
    for i in range(2000):  # 5% congestion, evenly spread: faults, not load
        if i % 20 == 0:
            adaptive.on_congestion(adaptive.epoch)
        else:
            adaptive.on_success(False, 0.5)
    assert adaptive.epoch == 0 and adaptive.limit == 100
    cuts = sum(adaptive.on_congestion(0) for _ in range(40))  # a round trip of 503s
    assert cuts == 1 and adaptive.epoch == 1
    assert adaptive.on_congestion(0) is False  # granted before the cut: the same event


async def test_a_hung_request_fails_at_the_learned_first_byte_timeout() -> None:
    hang = anyio.Event()

    async def answer(request: ChatRequest) -> str:
        if request.messages[0].text == "hang":
            await hang.wait()
        return "ok"

    tracker = LatencyTracker(min_samples=5, multiplier=4.0, floor=0.05)
    endpoint = FirstByteTimeout(FunctionModel(answer, name="f"), tracker)
    assert tracker.timeout() is None
    for _ in range(5):
        await endpoint.complete(ChatRequest.of("quick"))
    limit = tracker.timeout()
    assert limit is not None and limit == pytest.approx(0.05, abs=0.05)
    start = anyio.current_time()
    with pytest.raises(EndpointTimeout, match="first-byte"):
        await endpoint.complete(ChatRequest.of("hang"))
    assert anyio.current_time() - start < 1.0 and endpoint.timeouts == 1


async def test_a_hang_sent_before_any_timeout_was_learned_gets_one_when_it_is() -> None:
    # The first wave of a batch: the hang is sent with the quick requests, before any latency is
    # known. It must end at the timeout those answers teach, not at the request timeout.
    hang = anyio.Event()

    async def answer(request: ChatRequest) -> str:
        if request.messages[0].text == "hang":
            await hang.wait()
        await anyio.sleep(0.01)
        return "ok"

    tracker = LatencyTracker(min_samples=5, multiplier=4.0, floor=0.05)
    endpoint = FirstByteTimeout(FunctionModel(answer, name="f"), tracker)
    outcome: list[str] = []

    async def hung() -> None:
        try:
            await endpoint.complete(ChatRequest.of("hang"))
            outcome.append("answered")
        except EndpointTimeout:
            outcome.append("timed out")

    start = anyio.current_time()
    async with anyio.create_task_group() as tg:
        tg.start_soon(hung)
        for _ in range(5):
            tg.start_soon(endpoint.complete, ChatRequest.of("quick"))
    assert outcome == ["timed out"] and endpoint.timeouts == 1
    assert anyio.current_time() - start < 1.0  # the learned 0.05-0.2 s, not forever
    assert not endpoint._unbounded  # nothing left waiting on a bound


def test_the_tracker_follows_the_99th_percentile() -> None:
    tracker = LatencyTracker(min_samples=10, multiplier=3.0, floor=0.1, ceiling=5.0)
    for i in range(100):
        tracker.record(0.2 if i < 98 else 1.0)
    assert tracker.timeout() == pytest.approx(3.0)
    for _ in range(400):
        tracker.record(10.0)
    assert tracker.timeout() == 5.0  # never above the ceiling


async def test_a_row_deadline_bounds_retries_in_time(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": f"r{i}", "prompt": "x"}) + "\n" for i in range(5)))

    async def hang(request: ChatRequest) -> str:
        await anyio.sleep(3600)
        return "never"

    runner = BatchRunner(
        {"e": FunctionModel(hang, name="e")},
        journal=Journal(tmp_path / "out.jsonl"),
        row_deadline=0.2,
        retry_delay=0.01,
    )
    start = anyio.current_time()
    stats = await runner.run(JsonlSource(source))
    assert anyio.current_time() - start < 2.0
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert stats.failed == 5 and {r["error"]["code"] for r in rows} == {"timeout"}
    assert "row deadline" in rows[0]["error"]["message"]


def _layers(endpoint: object) -> list[object]:
    layers = [endpoint]
    while hasattr(layers[-1], "inner"):
        layers.append(layers[-1].inner)  # type: ignore[attr-defined]
    return layers


async def test_the_embedded_model_gets_no_learned_timeout_and_a_long_request_timeout() -> None:
    # Its server shares this machine's CPUs: when other work starts its answers get ten times
    # slower, and a timeout learned from the quiet minutes would fail them all.
    from orchestra.endpoints import EndpointSpec, Meter, OpenAIEndpoint
    from orchestra.endpoints.stack import LOCAL_TIMEOUT, build_endpoint

    local, _ = build_endpoint(
        EndpointSpec(name="local", base_url="local", model="m"), Meter(), base_url="http://127.0.0.1:9/v1"
    )
    layers = _layers(local)
    assert not any(isinstance(layer, FirstByteTimeout) for layer in layers)
    raw = layers[-1]
    assert isinstance(raw, OpenAIEndpoint) and raw._timeout == LOCAL_TIMEOUT
    await local.aclose()
    chosen, _ = build_endpoint(
        EndpointSpec(name="local", base_url="local", model="m", timeout=30),
        Meter(),
        base_url="http://127.0.0.1:9/v1",
    )
    assert _layers(chosen)[-1]._timeout == 30  # type: ignore[attr-defined]  # a timeout the user set stays
    await chosen.aclose()
    remote, _ = build_endpoint(EndpointSpec(name="r", base_url="http://127.0.0.1:9/v1", model="m"), Meter())
    assert any(isinstance(layer, FirstByteTimeout) for layer in _layers(remote))
    await remote.aclose()
