"""The live display and the summary table, rendered to a StringIO console with a fake clock."""

from __future__ import annotations

import io
import re

import anyio
from rich.console import Console

from orchestra.batch.formats import BatchResult, ok_row
from orchestra.batch.progress import ProgressView, RateMeter, live_progress, summary_table
from orchestra.batch.stats import BatchStats, EndpointProbe, LaneStats
from orchestra.chat import ChatResponse, Choice, Message, Usage
from orchestra.clock import FakeClock
from orchestra.endpoints.accounting import Meter, MeteredEndpoint
from orchestra.endpoints.limited import LimitedEndpoint
from orchestra.endpoints.limits import RateLimiter
from orchestra.testing import FunctionModel


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=160, color_system=None, force_terminal=False), buffer


def _result(endpoint: str, tokens: int = 10) -> BatchResult:
    response = ChatResponse(
        id="x",
        choices=[Choice(message=Message(role="assistant", content="a"))],
        usage=Usage(prompt_tokens=tokens // 2, completion_tokens=tokens // 2),
        endpoint=endpoint,
        cost=0.01,
    )
    return BatchResult("r", ok_row("r", response), response=response, lane="m")


def test_rate_meter_measures_growth_over_its_horizon() -> None:
    clock = FakeClock()
    meter = RateMeter(clock, horizon=10.0)
    assert meter.rate("k", 0) is None
    clock.advance(1.0)
    assert meter.rate("k", 50) == 50.0
    clock.advance(20.0)
    meter.rate("k", 50)
    clock.advance(1.0)
    assert meter.rate("k", 60) == 10.0  # the old samples fell out of the horizon


def test_progress_shows_done_rates_limits_429s_cost_and_eta() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=120, tpm=6000, window=60.0, clock=clock)
    meter = Meter()
    endpoint = MeteredEndpoint(LimitedEndpoint(FunctionModel(lambda r: "a", name="ep1"), limiter), meter)
    probe = EndpointProbe([endpoint])
    stats = BatchStats(clock=clock)
    stats.lanes["m"] = LaneStats("m", endpoints=["ep1"], concurrency=10, total=100)
    stats.reading = False
    stats.scanned, stats.skipped, stats.invalid = 103, 2, 1
    meter.record("ep1", latency=0.1, error="rate_limited")
    console, buffer = _console()
    view = ProgressView(stats, probe, console=console)
    view.render()
    for _ in range(20):
        clock.advance(1.0)
        stats.lanes["m"].record(_result("ep1"), clock.now())
        meter.record("ep1", latency=0.1, usage=Usage(prompt_tokens=5, completion_tokens=5), cost=0.01)
    console.print(view.render())
    text = buffer.getvalue()
    assert "rows 21/101" in text and "already done 2" in text and "invalid lines 1" in text
    line = next(row for row in text.splitlines() if row.strip().startswith("ep1"))
    assert "20/100" in line  # the lane's done / total
    assert re.search(r"60 / 120", line), line  # requests per minute achieved / the limit
    assert re.search(r"600 / 6000", line), line  # tokens per minute / the limit
    assert " 1 " in line and "0.2000" in line  # one 429; cost so far
    assert "1:20" in line  # 80 rows left at one a second


def test_summary_table_and_live_refresh() -> None:
    clock = FakeClock()
    stats = BatchStats(clock=clock)
    stats.lanes["m"] = LaneStats("m", endpoints=["ep1"], total=1)
    stats.lanes["m"].record(_result("ep1"), 0.0)
    stats.finished = clock.now() + 2.0
    summary = stats.summary(None, input="in.jsonl")
    assert (
        summary["rows"]["ok"] == 1
        and summary["endpoints"]["ep1"]["rows_ok"] == 1
        and summary["input"] == "in.jsonl"
    )
    console, buffer = _console()
    console.print(summary_table({**summary, "interrupted": True}))
    text = buffer.getvalue()
    assert "rows ok 1" in text and "ep1" in text and "run the same command again" in text

    async def show() -> None:
        async with live_progress(ProgressView(stats, console=console), refresh=0.001):
            await anyio.sleep(0.01)

    anyio.run(show)
    assert "orchestra batch" in buffer.getvalue()
