"""The live display of a batch run, and the table printed at the end.

One line per endpoint: its lane's rows done / total, the requests and tokens per minute it
achieves against its limits, 429s, errors, requests in flight against its (adaptive) cap, cost so
far, and the lane's ETA. prompto shows one tqdm bar per file; here a slow endpoint shows as
slow, and a rate-limited one as paused with its 429 count.

Rendering is a pure function of the counters and an injected clock (rich's own ``Progress``
takes ``get_time`` the same way), so tests render to a ``StringIO`` console. Refreshing happens on
the event loop, in :func:`live_progress`, not on rich's refresh thread, because that thread would
read dicts that the loop is changing.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from orchestra.batch.stats import BatchStats, EndpointProbe
from orchestra.clock import Clock

__all__ = ["ProgressView", "RateMeter", "live_progress", "summary_table"]


class RateMeter:
    """Rate of growth of cumulative counters over the last ``horizon`` seconds.

    Args:
        clock: time source.
        horizon: seconds of history the rate is taken over.
    """

    def __init__(self, clock: Clock, horizon: float = 30.0) -> None:
        self.clock = clock
        self.horizon = horizon
        self._samples: dict[str, deque[tuple[float, float]]] = {}

    def rate(self, key: str, value: float) -> float | None:
        """Record ``value`` of counter ``key`` now; units per second over the horizon (None: too early)."""
        now = self.clock.now()
        samples = self._samples.setdefault(key, deque())
        if not samples or now - samples[-1][0] >= 0.2:
            samples.append((now, value))
        else:
            samples[-1] = (samples[-1][0], value)
        while len(samples) > 2 and now - samples[0][0] > self.horizon:
            samples.popleft()
        start, first = samples[0]
        if now - start < 0.5:
            return None
        return (value - first) / (now - start)


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    return f"{value:.{digits}f}"


def _per_min(rate: float | None, limit: float | None, window: float | None) -> str:
    shown = _num(rate * 60.0) if rate is not None else "-"
    if limit is None:
        return shown
    return f"{shown} / {_num(limit * 60.0 / (window or 60.0))}"


def _add_columns(table: Table, headers: tuple[str, ...], *, right: bool = False) -> None:
    """Columns that stay readable in 80 columns: a header wraps between its words but is never cut
    (``done/t…``), and the endpoint (often a long URL) folds onto more lines instead."""
    for header in headers:
        if header == "endpoint":
            table.add_column(header, overflow="fold", min_width=8, ratio=1)
            continue
        widest = max(len(word) for word in header.split())
        table.add_column(header, justify="right" if right else "left", min_width=widest, overflow="fold")


def _eta(seconds: float | None) -> str:
    if seconds is None or math.isinf(seconds):
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressView:
    """Renders a run's counters as a rich table.

    Args:
        stats: the runner's counters.
        probe: the endpoint stacks' counters (limits, 429s, errors, cost).
        expected: rows expected (e.g. the input's line count), shown until the input is read.
        console: where to draw (tests pass a ``StringIO`` console).
        title: shown above the table.
    """

    def __init__(
        self,
        stats: BatchStats,
        probe: EndpointProbe | None = None,
        *,
        expected: int | None = None,
        console: Console | None = None,
        title: str = "orchestra batch",
    ) -> None:
        self.stats = stats
        self.probe = probe
        self.expected = expected
        self.console = console or Console(stderr=True)
        self.title = title
        self.rates = RateMeter(stats.clock)

    def headline(self) -> Text:
        """One line: elapsed, rows done of the total, and what was skipped, invalid or duplicated."""
        s = self.stats
        done = s.ok + s.failed
        total = s.scanned - s.skipped if not s.reading else None
        shown_total = str(total) if total is not None else f"~{self.expected or s.scanned}"
        parts = [f"{self.title}  {_eta(s.elapsed())} elapsed", f"rows {done}/{shown_total}", f"ok {s.ok}"]
        parts.append(f"failed {s.failed}")
        if s.skipped:
            parts.append(f"already done {s.skipped}")
        if s.invalid:
            parts.append(f"invalid lines {s.invalid}")
        if s.duplicates:
            parts.append(f"duplicate ids {s.duplicates}")
        if s.retries:
            parts.append(f"re-sent {s.retries}")
        if s.stopped:
            parts.append(f"stopped: {'; '.join(s.stopped.values())}")
        return Text("  ·  ".join(parts))

    def table(self) -> Table:
        """The per-endpoint table."""
        table = Table(expand=False, pad_edge=False, box=None, header_style="bold")
        _add_columns(table, ("endpoint", "model", "done", "req/min (limit)", "tok/min (limit)"))
        _add_columns(table, ("429s", "errors", "in flight", "cost $", "ETA"), right=True)
        endpoints = self.probe.snapshot() if self.probe is not None else {}
        for lane in self.stats.lanes.values():
            lane_rate = self.rates.rate(f"lane:{lane.name}", lane.done)
            remaining = lane.total - lane.done
            eta = (
                remaining / lane_rate
                if lane_rate
                else (0.0 if remaining == 0 and not self.stats.reading else None)
            )
            done = f"{lane.done}/{lane.total}" + ("+" if self.stats.reading else "")
            for index, name in enumerate(lane.endpoints):
                info: dict[str, Any] = endpoints.get(name, {})
                req_rate = self.rates.rate(f"req:{name}", info.get("requests", lane.served.get(name, 0)))
                tok_rate = self.rates.rate(f"tok:{name}", info.get("total_tokens", 0))
                cap = info.get("concurrency_limit")
                flight = f"{info.get('in_flight', lane.in_flight)}" + (f"/{cap}" if cap is not None else "")
                if info.get("paused_for"):
                    flight += " paused"
                first = index == 0
                table.add_row(
                    name,
                    lane.name if first else "",
                    done if first else "",
                    _per_min(req_rate, info.get("rpm_limit"), info.get("window")),
                    _per_min(tok_rate, info.get("tpm_limit"), info.get("window")),
                    str(info.get("rate_limited", 0)),
                    str(info.get("errors", 0)),
                    flight,
                    f"{info.get('cost', lane.cost if first else 0.0):.4f}",
                    _eta(eta) if first else "",
                )
        return table

    def render(self) -> Group:
        """Headline and table, ready for ``Live``."""
        return Group(self.headline(), self.table())


@asynccontextmanager
async def live_progress(view: ProgressView, *, refresh: float = 0.25) -> AsyncIterator[ProgressView]:
    """Show ``view`` live while the block runs; redrawn from the event loop every ``refresh`` seconds."""
    with Live(view.render(), console=view.console, auto_refresh=False, transient=False) as live:
        async with anyio.create_task_group() as group:

            async def redraw() -> None:
                while True:
                    await anyio.sleep(refresh)
                    live.update(view.render(), refresh=True)

            group.start_soon(redraw)
            try:
                yield view
            finally:
                group.cancel_scope.cancel()
        live.update(view.render(), refresh=True)
    if not view.console.is_terminal:
        view.console.line()  # off a terminal, Live leaves its last frame without a newline


def summary_table(summary: dict[str, Any]) -> Group:
    """The end-of-run summary (as built by :meth:`BatchStats.summary`) as rich renderables."""
    rows, run, tokens = summary["rows"], summary["this_run"], summary["tokens"]
    head = Text(
        f"rows ok {rows['ok']}  failed {rows['failed']}  (this run: ok {run['ok']}, failed {run['failed']}, "
        f"already done {run['skipped_already_done']}, retries {run['retries']})  ·  "
        f"tokens {tokens['total']}  ·  cost ${summary['cost']:.4f}  ·  wall {summary['wall_seconds']:.2f} s"
    )
    if rows["invalid"] or rows["duplicates"]:
        head.append(f"\ninvalid lines {rows['invalid']}  ·  duplicate custom_ids {rows['duplicates']}")
    for lane, reason in (summary.get("stopped") or {}).items():
        head.append(f"\nstopped {lane}: {reason}")
    if rows.get("left_for_resume"):
        head.append(f"\n{rows['left_for_resume']} rows left unsent: run the same command again to resume")
    if summary.get("output_error"):
        head.append(f"\noutput error: {summary['output_error']}")
    if summary.get("interrupted"):
        head.append("\ninterrupted: run the same command again to resume")
    table = Table(box=None, pad_edge=False, header_style="bold")
    _add_columns(table, ("endpoint",))
    _add_columns(
        table, ("rows ok", "requests", "429s", "errors", "rows/min", "tok/min", "p50 s", "cost $"), right=True
    )
    for name, info in summary["endpoints"].items():
        table.add_row(
            name,
            str(info.get("rows_ok", 0)),
            str(info.get("requests", "-")),
            str(info.get("rate_limited", 0)),
            str(info.get("errors", 0)),
            _num(info.get("rows_per_min")),
            _num(info.get("tokens_per_min")),
            _num(info.get("latency_p50"), 3),
            f"{info.get('cost', 0.0):.4f}",
        )
    return Group(head, table)
