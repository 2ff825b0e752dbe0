"""Counters of a batch run, what the endpoint stacks know, and the summary built from both.

:class:`BatchStats` is the runner's own accounting: rows per lane (one lane per endpoint pool),
ok / failed, runner-level retries, tokens, cost. :class:`EndpointProbe` reads what only the endpoint
stack knows: requests really sent, 429s and errors from the :class:`~orchestra.endpoints.accounting.Meter`,
limits and in-flight counts from each :class:`~orchestra.endpoints.limits.RateLimiter`, and retries
from each :class:`~orchestra.endpoints.retry.RetryingEndpoint`. Both feed the live display
(:mod:`orchestra.batch.progress`) and :meth:`BatchStats.summary`, the JSON written at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from orchestra.batch.formats import BatchResult
from orchestra.batch.journal import Recovery
from orchestra.clock import Clock, MonotonicClock
from orchestra.endpoints.base import Endpoint

__all__ = ["BatchStats", "EndpointProbe", "LaneStats", "iter_stack"]

_MAX_DUPLICATE_EXAMPLES = 100


@dataclass
class LaneStats:
    """Rows of one lane (one endpoint pool) in this run.

    Attributes:
        name: the lane (a model name, or the endpoint's name).
        endpoints: names of the endpoints serving it.
        concurrency: workers of the lane (requests it may have in flight).
        total: rows routed to it so far (final once the input is read).
        ok / failed: rows finished each way.
        retries: runner-level re-sends (after the endpoint's own retries gave up).
        in_flight: rows being sent now.
        served: ok rows per endpoint that answered them.
    """

    name: str
    endpoints: list[str] = field(default_factory=list)
    concurrency: int = 0
    total: int = 0
    ok: int = 0
    failed: int = 0
    retries: int = 0
    in_flight: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    first_done: float | None = None
    last_done: float | None = None
    served: dict[str, int] = field(default_factory=dict)

    @property
    def done(self) -> int:
        """Rows finished (ok or failed)."""
        return self.ok + self.failed

    def record(self, result: BatchResult, now: float) -> None:
        """Count one finished row."""
        if self.first_done is None:
            self.first_done = now
        self.last_done = now
        if result.response is None:
            self.failed += 1
            return
        self.ok += 1
        usage = result.response.usage
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.cost += result.response.cost
        served_by = result.response.endpoint or self.name
        self.served[served_by] = self.served.get(served_by, 0) + 1

    def as_dict(self, started: float, now: float) -> dict[str, Any]:
        """Plain numbers for the summary, with rows and tokens per minute over the run."""
        minutes = max(1e-9, now - started) / 60.0
        tokens = self.prompt_tokens + self.completion_tokens
        return {
            "endpoints": self.endpoints,
            "concurrency": self.concurrency,
            "total": self.total,
            "ok": self.ok,
            "failed": self.failed,
            "retries": self.retries,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": self.cost,
            "rows_per_min": self.done / minutes,
            "tokens_per_min": tokens / minutes,
            "served": dict(self.served),
        }


def iter_stack(endpoint: Endpoint) -> Iterator[Any]:
    """Every endpoint in a wrapper stack: the wrappers (``.inner``) and pool members (``.endpoints``)."""
    seen: set[int] = set()
    todo: list[Any] = [endpoint]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        inner = getattr(node, "inner", None)
        if inner is not None:
            todo.append(inner)
        members = getattr(node, "endpoints", None)
        if isinstance(members, dict):
            todo.extend(members.values())
        elif isinstance(members, list | tuple):
            todo.extend(members)


class EndpointProbe:
    """Reads limits, 429s, errors, retries and cost from the endpoint stacks of a run.

    Found by walking each stack (:func:`iter_stack`): ``.limiter`` of limited endpoints, ``.meter``
    of metered ones, ``.stats.retries`` of retrying ones. Stacks built without one of them simply
    report less.

    Args:
        endpoints: the lanes' endpoints (stacks).
    """

    def __init__(self, endpoints: list[Endpoint]) -> None:
        self.limiters: dict[str, Any] = {}
        self.meters: list[Any] = []
        self.retriers: list[Any] = []
        for endpoint in endpoints:
            for node in iter_stack(endpoint):
                limiter = getattr(node, "limiter", None)
                if limiter is not None and hasattr(limiter, "try_acquire"):
                    self.limiters.setdefault(node.name, limiter)
                meter = getattr(node, "meter", None)
                if (
                    meter is not None
                    and hasattr(meter, "snapshot")
                    and all(meter is not m for m in self.meters)
                ):
                    self.meters.append(meter)
                if hasattr(getattr(node, "stats", None), "retries") and hasattr(node, "max_attempts"):
                    self.retriers.append(node)

    @property
    def endpoint_retries(self) -> int:
        """Retries made inside the endpoint stacks (each request re-sent after a retryable failure)."""
        return sum(r.stats.retries for r in self.retriers)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per endpoint name: requests, ok, errors, 429s, tokens, cost, latency, limits, in flight."""
        out: dict[str, dict[str, Any]] = {}
        for meter in self.meters:
            for name, tally in meter.snapshot().get("endpoints", {}).items():
                out.setdefault(name, {}).update(tally)
        for name, limiter in self.limiters.items():
            stats = limiter.stats
            entry = out.setdefault(name, {})
            entry.update(
                rpm_limit=stats.rpm,
                tpm_limit=stats.tpm,
                window=limiter.window,
                in_flight=stats.in_flight,
                concurrency_limit=stats.concurrency_limit,
                paused_for=stats.paused_for,
            )
            entry.setdefault("requests", stats.granted)
            entry.setdefault("rate_limited", stats.rate_limited)
        return out


@dataclass
class BatchStats:
    """Everything counted during one batch run.

    Attributes:
        scanned: input rows read so far (invalid and duplicate lines included).
        reading: whether the input is still being read (totals may still grow).
        skipped: rows already done in the output (resume).
        invalid: malformed input lines (recorded as error rows).
        unroutable: rows no endpoint serves (recorded as error rows).
        duplicates: rows whose custom_id was seen earlier in the input (not sent; each gets
            its own ``duplicate_custom_id`` error row naming both lines).
        left: rows not sent because their endpoints became unusable; a resume sends them.
        stopped: lane -> why it stopped early (every endpoint of it unusable).
        lanes: per lane counters.
        recovery: what resume found in the output (None without an output file).
        interrupted: the run was cancelled before it finished.
        output_error: why the output could not be written, if it could not.
    """

    clock: Clock = field(default_factory=MonotonicClock)
    started: float = 0.0
    finished: float | None = None
    scanned: int = 0
    reading: bool = True
    skipped: int = 0
    invalid: int = 0
    unroutable: int = 0
    duplicates: int = 0
    duplicate_examples: list[dict[str, Any]] = field(default_factory=list)
    left: int = 0
    stopped: dict[str, str] = field(default_factory=dict)
    lanes: dict[str, LaneStats] = field(default_factory=dict)
    recovery: Recovery | None = None
    interrupted: bool = False
    output_error: str | None = None
    compacted_lines: int = 0

    def __post_init__(self) -> None:
        self.started = self.clock.now()

    def elapsed(self) -> float:
        """Seconds since the run started (until it finished)."""
        end = self.finished if self.finished is not None else self.clock.now()
        return end - self.started

    def note_duplicate(self, custom_id: str, line: int | None, first_line: int | None) -> None:
        """A custom_id seen twice in the input: the second gets an error row, and is not sent."""
        self.duplicates += 1
        if len(self.duplicate_examples) < _MAX_DUPLICATE_EXAMPLES:
            self.duplicate_examples.append({"custom_id": custom_id, "line": line, "first_line": first_line})

    @property
    def ok(self) -> int:
        """Rows answered in this run."""
        return sum(lane.ok for lane in self.lanes.values())

    @property
    def failed(self) -> int:
        """Rows that ended in an error in this run (invalid and unroutable lines included)."""
        return (
            sum(lane.failed for lane in self.lanes.values())
            + self.invalid
            + self.unroutable
            + self.duplicates
        )

    @property
    def retries(self) -> int:
        """Runner-level re-sends in this run."""
        return sum(lane.retries for lane in self.lanes.values())

    def summary(self, probe: EndpointProbe | None = None, **where: Any) -> dict[str, Any]:
        """The end-of-run summary as plain JSON-ready values.

        Args:
            probe: the endpoint stacks' counters (429s, errors, limits, endpoint retries).
            where: extra top-level fields, e.g. ``input=`` and ``output=`` paths.
        """
        now = self.finished if self.finished is not None else self.clock.now()
        prompt = sum(lane.prompt_tokens for lane in self.lanes.values())
        completion = sum(lane.completion_tokens for lane in self.lanes.values())
        previous = self.recovery or Recovery()
        endpoints = probe.snapshot() if probe is not None else {}
        endpoint_retries = probe.endpoint_retries if probe is not None else 0
        minutes = max(1e-9, now - self.started) / 60.0
        for lane in self.lanes.values():
            for name, rows in lane.served.items():
                entry = endpoints.setdefault(name, {})
                entry["rows_ok"] = entry.get("rows_ok", 0) + rows
                entry["rows_per_min"] = entry["rows_ok"] / minutes
        for entry in endpoints.values():
            if "total_tokens" in entry:
                entry["tokens_per_min"] = entry["total_tokens"] / minutes
            if "requests" in entry:
                entry["requests_per_min"] = entry["requests"] / minutes
        return {
            **{k: (str(v) if v is not None else None) for k, v in where.items()},
            "wall_seconds": now - self.started,
            "interrupted": self.interrupted,
            "stopped": dict(self.stopped),
            "output_error": self.output_error,
            "rows": {
                "input": self.scanned,
                "ok": previous.ok + self.ok,
                "failed": previous.failed + self.failed,
                "invalid": self.invalid,
                "unroutable": self.unroutable,
                "duplicates": self.duplicates,
                "left_for_resume": self.left,
            },
            "this_run": {
                "ok": self.ok,
                "failed": self.failed,
                "skipped_already_done": self.skipped,
                "retries": self.retries + endpoint_retries,
                "row_retries": self.retries,
                "endpoint_retries": endpoint_retries,
            },
            "tokens": {"prompt": prompt, "completion": completion, "total": prompt + completion},
            "cost": sum(lane.cost for lane in self.lanes.values()),
            "resume": {
                "previous_lines": previous.lines,
                "previous_ok": previous.ok,
                "previous_failed": previous.failed,
                "redone": previous.redo,
                "torn_bytes_cut": previous.truncated_bytes,
                "compacted_lines": self.compacted_lines,
            },
            "duplicates": self.duplicate_examples,
            "lanes": {name: lane.as_dict(self.started, now) for name, lane in self.lanes.items()},
            "endpoints": endpoints,
        }
