"""The endpoint layer against the simulator over real HTTP on 127.0.0.1 (issue 2's acceptance).

Short windows (1 s instead of 60 s) and short latencies keep each test to a few seconds.
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Callable

import anyio
import pytest

from orchestra.chat import ChatChunk, ChatRequest, ChatResponse
from orchestra.endpoints import (
    EndpointPool,
    LimitedEndpoint,
    Meter,
    MeteredEndpoint,
    OpenAIEndpoint,
    RateLimiter,
    RetryingEndpoint,
    WrapperEndpoint,
)
from orchestra.errors import EndpointError, RateLimitError
from orchestra.sim import SimConfig, serve_sim

WINDOW = 1.0


class Recorder(WrapperEndpoint):
    """Records when each request reaches the wrapped endpoint and how it ended.

    Forwards ``on_headers`` so a LimitedEndpoint around it still learns from the headers.
    """

    def __init__(self, inner: OpenAIEndpoint) -> None:
        super().__init__(inner)
        self.events: list[tuple[float, str, str]] = []  # (time, prompt, "start" | "ok" | error status)
        self.retry_afters: list[float | None] = []  # Retry-After of each error

    @property
    def on_headers(self) -> Callable[[dict[str, str]], None] | None:
        return self.inner.on_headers  # type: ignore[attr-defined, no-any-return]

    @on_headers.setter
    def on_headers(self, hook: Callable[[dict[str, str]], None] | None) -> None:
        self.inner.on_headers = hook  # type: ignore[attr-defined]

    async def complete(self, request: ChatRequest) -> ChatResponse:
        prompt = request.messages[0].content or "" if request.messages else ""
        self.events.append((time.monotonic(), prompt, "start"))
        try:
            response = await self.inner.complete(request)
        except EndpointError as exc:
            self.events.append((time.monotonic(), prompt, str(exc.status)))
            self.retry_afters.append(exc.retry_after)
            raise
        self.events.append((time.monotonic(), prompt, "ok"))
        return response

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        raise NotImplementedError


def openai(url: str, name: str, timeout: float = 10.0) -> OpenAIEndpoint:
    return OpenAIEndpoint(url, model="sim-model", name=name, timeout=timeout)


async def gather(endpoint: object, prompts: list[str]) -> list[ChatResponse | BaseException]:
    """Send every prompt concurrently; results (or exceptions) in prompt order."""
    results: list[ChatResponse | BaseException] = [RuntimeError("not run")] * len(prompts)

    async def one(i: int) -> None:
        try:
            results[i] = await endpoint.complete(ChatRequest.of(prompts[i], max_tokens=8))  # type: ignore[attr-defined]
        except Exception as exc:
            results[i] = exc

    async with anyio.create_task_group() as group:
        for i in range(len(prompts)):
            group.start_soon(one, i)
    return results


async def test_100_concurrent_requests_stay_under_the_rpm_limit_with_no_429() -> None:
    rpm = 40
    async with serve_sim(SimConfig(ttft=0.02, rpm=rpm, window_seconds=WINDOW, seed=1)) as sim:
        limiter = RateLimiter(rpm=rpm, window=WINDOW)
        endpoint = LimitedEndpoint(openai(sim.url, "sim"), limiter)
        started = time.monotonic()
        results = await gather(endpoint, [f"question {i}" for i in range(100)])
        elapsed = time.monotonic() - started
        await endpoint.aclose()
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == []
    assert sim.stats.ok == 100
    assert sim.stats.rate_limited == 0
    assert sim.stats.max_in_window(WINDOW) <= rpm  # the server's own count, over any window
    # 100 at 40 per window needs two full windows (plus latency: a debit's window starts when
    # its request ends); far more would mean the limiter paces wrongly.
    assert 2.0 <= elapsed < 5.0
    assert limiter.stats.granted == 100


async def test_a_429_pauses_the_whole_endpoint_and_the_request_then_succeeds() -> None:
    # Someone else drains the server's limit (3 per second) until it is refused; our limiter
    # has not seen any of it.
    async with serve_sim(SimConfig(ttft=0.0, rpm=3, window_seconds=WINDOW, seed=2)) as sim:
        limiter = RateLimiter(window=WINDOW)
        recorder = Recorder(openai(sim.url, "ours"))
        endpoint = RetryingEndpoint(LimitedEndpoint(recorder, limiter), initial=0.05)
        other = openai(sim.url, "other")
        with pytest.raises(RateLimitError):
            for i in range(10):
                await other.complete(ChatRequest.of(f"other {i}", max_tokens=4))
        got_429 = anyio.Event()
        seen: dict[str, float] = {}

        def on_capacity() -> None:  # called inside release(), right after the 429 paused us
            if limiter.stats.rate_limited and not got_429.is_set():
                seen["at"], seen["pause"] = time.monotonic(), limiter.paused_for
                got_429.set()

        limiter.add_listener(on_capacity)
        results: dict[str, ChatResponse] = {}

        async def ask(prompt: str) -> None:
            results[prompt] = await endpoint.complete(ChatRequest.of(prompt, max_tokens=4))

        async with anyio.create_task_group() as group:
            group.start_soon(ask, "first")
            with anyio.fail_after(5):  # "first" must meet the drained limit (a third of a second)
                await got_429.wait()
            for prompt in ("second", "third"):  # arrive during the pause
                group.start_soon(ask, prompt)
        await endpoint.aclose()
        await other.aclose()
    assert sorted(results) == ["first", "second", "third"]
    assert sim.stats.rate_limited == 2  # the other client's and ours: nobody knocked during the pause
    (retry_after,) = recorder.retry_afters
    assert retry_after is not None and 0.0 < retry_after <= 0.34  # retry-after-ms: one request at 3/s
    assert seen["pause"] == pytest.approx(retry_after, abs=0.005)  # the endpoint paused as the server said
    (status_429,) = [e for e in recorder.events if e[2] == "429"]
    assert status_429[1] == "first"
    later_starts = [t for t, prompt, what in recorder.events if what == "start" and t > status_429[0]]
    assert len(later_starts) == 3  # the retry of "first", "second", "third"
    assert min(later_starts) >= seen["at"] + seen["pause"] - 0.005  # all of them waited for the pause


async def test_a_hung_request_times_out_and_is_retried() -> None:
    config = SimConfig(ttft=0.0, hang_rate=0.3, hang_seconds=30.0, seed=3)
    async with serve_sim(config) as sim:
        limiter = RateLimiter(adaptive=True, initial_concurrency=20)
        endpoint = RetryingEndpoint(
            LimitedEndpoint(openai(sim.url, "sim", timeout=0.3), limiter), initial=0.05
        )
        started = time.monotonic()
        results = await gather(endpoint, [f"q{i}" for i in range(10)])
        elapsed = time.monotonic() - started
        await endpoint.aclose()
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert sim.stats.hangs >= 1
    # Each hang cost a retry (a loaded machine may time out a few more requests) ...
    assert endpoint.stats.retries >= sim.stats.hangs
    # ... and every retry was a timeout, which the limiter counts as congestion.
    assert limiter.stats.congested == endpoint.stats.retries
    assert elapsed < 10.0  # timed out at 0.3 s, not held for the sim's 30 s


async def test_5xx_is_retried_and_400_is_not() -> None:
    async with serve_sim(SimConfig(ttft=0.0, error_rate=0.4, seed=4)) as sim:
        endpoint = RetryingEndpoint(LimitedEndpoint(openai(sim.url, "sim"), RateLimiter()), initial=0.02)
        results = await gather(endpoint, [f"q{i}" for i in range(10)])
        assert [r for r in results if isinstance(r, BaseException)] == []
        assert sim.stats.errors_5xx >= 1
        assert endpoint.stats.retries == sim.stats.errors_5xx

        before = endpoint.stats.attempts
        with pytest.raises(EndpointError) as info:
            await endpoint.complete(ChatRequest(messages=[]))  # the server answers 400
        assert info.value.status == 400
        assert not info.value.retryable
        assert endpoint.stats.attempts == before + 1
        assert sim.stats.bad_requests == 1
        await endpoint.aclose()


def unreachable_url() -> str:
    """A loopback URL where nothing listens (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.mark.parametrize("failure", ["5xx", "refused"])
async def test_a_pool_with_one_failing_endpoint_completes_everything_on_the_other(failure: str) -> None:
    async with (
        serve_sim(SimConfig(ttft=0.01, error_rate=1.0, seed=5)) as bad_sim,
        serve_sim(SimConfig(ttft=0.01, seed=6)) as good_sim,
    ):
        meter = Meter()
        bad_url = bad_sim.url if failure == "5xx" else unreachable_url()
        members = [
            MeteredEndpoint(LimitedEndpoint(openai(url, name), RateLimiter(max_concurrency=20)), meter)
            for url, name in ((bad_url, "bad"), (good_sim.url, "good"))
        ]
        pool = EndpointPool(members, name="sim-model")
        endpoint = RetryingEndpoint(pool, initial=0.02)
        results = await gather(endpoint, [f"q{i}" for i in range(40)])
        await endpoint.aclose()
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert {r.endpoint for r in results if isinstance(r, ChatResponse)} == {"good"}
    assert good_sim.stats.ok == 40
    assert endpoint.stats.retries == 0  # the pool fell back within each call
    snapshot = meter.snapshot()["endpoints"]
    assert snapshot["good"]["ok"] == 40
    assert snapshot["bad"]["ok"] == 0
    assert 1 <= snapshot["bad"]["requests"] <= 20  # tried, then cooled down and skipped
    assert pool.fallbacks == snapshot["bad"]["requests"]


async def test_limits_are_learned_from_the_servers_headers() -> None:
    async with serve_sim(SimConfig(rpm=50, tpm=100_000, window_seconds=WINDOW, seed=7)) as sim:
        limiter = RateLimiter(window=WINDOW)  # told nothing
        endpoint = LimitedEndpoint(openai(sim.url, "sim"), limiter)
        await endpoint.complete(ChatRequest.of("hello", max_tokens=8))
        await endpoint.aclose()
    assert (limiter.stats.rpm, limiter.stats.tpm) == (50, 100_000)


async def test_streams_hold_their_permit_and_release_it_with_the_usage() -> None:
    async with serve_sim(SimConfig(ttft=0.01, tokens_per_second=2000, seed=8)) as sim:
        limiter = RateLimiter(max_concurrency=2, tpm=1_000_000, window=WINDOW)
        endpoint = RetryingEndpoint(LimitedEndpoint(openai(sim.url, "sim"), limiter))
        texts: list[str] = []

        async def one(i: int) -> None:
            parts = [c.delta async for c in endpoint.stream(ChatRequest.of(f"tell me {i}", max_tokens=12))]
            texts.append("".join(parts))

        async with anyio.create_task_group() as group:
            for i in range(6):
                group.start_soon(one, i)
        await endpoint.aclose()
    assert len(texts) == 6 and all(texts)
    assert limiter.stats.in_flight == 0
    assert limiter.stats.tokens_used == sim.stats.prompt_tokens + sim.stats.completion_tokens
