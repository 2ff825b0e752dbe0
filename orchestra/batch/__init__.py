"""Batch querying: a JSONL of requests in, a JSONL of results out, at the endpoints' rate limits, crash-safe.

Python API::

    from contextlib import aclosing
    import orchestra.batch

    async with aclosing(orchestra.batch.run(["2+3?", "3+4?"], endpoints=endpoint)) as results:
        async for result in results:
            print(result.custom_id, result.text or result.error)

    results = orchestra.batch.run_sync("in.jsonl", endpoints={"gpt-4o-mini": pool}, output="out.jsonl")

The command line is ``orchestra batch run IN.jsonl -o OUT.jsonl`` (:mod:`orchestra.cli.batch`).
Modules: :mod:`~orchestra.batch.formats` (rows in and out), :mod:`~orchestra.batch.journal`
(exactly-once output), :mod:`~orchestra.batch.runner` (the engine), :mod:`~orchestra.batch.stats`
and :mod:`~orchestra.batch.progress` (counters, live display, summary),
:mod:`~orchestra.batch.ray_engine` (sharding over Ray).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import anyio

from orchestra.batch.formats import (
    RETRYABLE_CODES,
    BadLine,
    BatchResult,
    BatchRow,
    IterableSource,
    JsonlSource,
    LineRef,
    RowSource,
    error_row,
    ok_row,
    parse_line,
    parse_object,
)
from orchestra.batch.journal import Journal, Recovery, merge_journals
from orchestra.batch.runner import BatchRunner, Router, lane_concurrency
from orchestra.batch.stats import BatchStats, EndpointProbe, LaneStats
from orchestra.chat import ChatRequest
from orchestra.endpoints.base import Endpoint

__all__ = [
    "RETRYABLE_CODES",
    "BadLine",
    "BatchResult",
    "BatchRow",
    "BatchRunner",
    "BatchStats",
    "EndpointProbe",
    "IterableSource",
    "Journal",
    "JsonlSource",
    "LaneStats",
    "LineRef",
    "Recovery",
    "Router",
    "RowSource",
    "error_row",
    "lane_concurrency",
    "merge_journals",
    "ok_row",
    "parse_line",
    "parse_object",
    "run",
    "run_sync",
    "source_of",
]

Requests = str | os.PathLike[str] | Iterable[BatchRow | ChatRequest | str | dict[str, Any]]


def source_of(requests: Requests | RowSource) -> RowSource:
    """A row source for ``requests``: a path is a JSONL file, anything else an iterable of requests."""
    if isinstance(requests, str | os.PathLike):
        return JsonlSource(requests)
    if isinstance(requests, RowSource):
        return requests
    return IterableSource(requests)


def _lanes(endpoints: Endpoint | Mapping[str, Endpoint]) -> tuple[dict[str, Endpoint], bool]:
    if isinstance(endpoints, Mapping):
        return dict(endpoints), True
    return {endpoints.name: endpoints}, False


async def run(
    requests: Requests | RowSource,
    *,
    endpoints: Endpoint | Mapping[str, Endpoint],
    output: str | os.PathLike[str] | None = None,
    retry_failed: bool = False,
    concurrency: int | Mapping[str, int] = 100,
    max_row_attempts: int = 3,
    retry_delay: float = 1.0,
) -> AsyncIterator[BatchResult]:
    """Send a batch and yield each result as it finishes (in completion order).

    Args:
        requests: a JSONL path, or an iterable of rows / ``ChatRequest`` s / prompt strings /
            input dicts (consumed lazily; rows without an id are ``request-N``).
        endpoints: one endpoint (every row goes to it, with its own model if it names one), or
            model name -> endpoint (or pool): each row goes to the one serving its model.
        output: a JSONL journal. Rows it already holds are skipped (resume) and only the rows
            finished in this call are yielded, each after it is on disk.
        retry_failed: with ``output``, also redo rows that ended in a final error.
        concurrency: requests in flight per endpoint (pool) at most.
        max_row_attempts: sends per row after the endpoint's own retries gave up.
        retry_delay: seconds before the first re-send of a row.

    Leaving the loop early: wrap the call in ``contextlib.aclosing`` so the workers stop at once.
    """
    lanes, by_model = _lanes(endpoints)
    journal = Journal(output, retry_failed=retry_failed) if output is not None else None
    runner = BatchRunner(
        lanes,
        by_model=by_model,
        concurrency=concurrency,
        journal=journal,
        max_row_attempts=max_row_attempts,
        retry_delay=retry_delay,
    )
    send, receive = anyio.create_memory_object_stream[BatchResult](64)

    async def drive() -> None:
        async with send:
            await runner.run(source_of(requests), send.send)

    async with anyio.create_task_group() as group:
        group.start_soon(drive)
        async with receive:
            try:
                async for result in receive:
                    yield result
            except GeneratorExit:
                # The caller left the loop (aclose): stop the workers. Rows already journaled stay
                # done; the rest are sent by the next run.
                group.cancel_scope.cancel()
                return


def run_sync(
    requests: Requests | RowSource,
    *,
    endpoints: Endpoint | Mapping[str, Endpoint],
    output: str | os.PathLike[str] | None = None,
    **options: Any,
) -> list[BatchResult]:
    """Blocking :func:`run` for scripts and notebooks: every result of this call, in completion order.

    Options are those of :func:`run`. The batch runs on orchestra's shared background loop
    (:func:`orchestra._sync.run_sync`), so it works where ``anyio.run`` refuses: inside a running
    event loop, as a notebook cell is. The endpoints' HTTP clients are closed before returning (an
    endpoint reopens its client on its next use), so a synchronous caller never sees aiohttp's
    "Unclosed client session".
    """
    from orchestra._sync import run_sync as on_shared_loop

    async def collect() -> list[BatchResult]:
        try:
            return [result async for result in run(requests, endpoints=endpoints, output=output, **options)]
        finally:
            await _close_clients(endpoints)

    return on_shared_loop(collect)


async def _close_clients(endpoints: Endpoint | Mapping[str, Endpoint]) -> None:
    members = list(endpoints.values()) if isinstance(endpoints, Mapping) else [endpoints]
    seen: set[int] = set()
    for endpoint in members:
        if id(endpoint) not in seen:
            seen.add(id(endpoint))
            with anyio.CancelScope(shield=True):
                await endpoint.aclose()
