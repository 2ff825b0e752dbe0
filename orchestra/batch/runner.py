"""The async batch engine: read rows, route each to its endpoint pool, send, journal, report.

Shape (all in one anyio task group, no loose tasks):

- one **producer** reads the input once, line by line. It reports malformed lines and duplicate
  ``custom_id`` s, skips rows the journal already holds, and routes every other row to its *lane*:
  one lane per endpoint pool, picked by the row's model.
- each lane has its **own queue and its own workers** (``concurrency`` of them). A slow or
  rate-limited pool fills only its own queue, so it never holds back the rows of another pool:
  the producer never waits on a lane. This answers the head-of-line blocking of a single shared
  queue. The queue holds small tickets (a :class:`~orchestra.batch.formats.LineRef`, about 100
  bytes), not requests, so reading ahead of a slow pool costs little memory.
- the **writer** takes finished rows, appends each group to the journal in one write and one
  fsync, and only then counts them and hands them on. So a row that was counted or yielded is
  always on disk.

In flight at once: at most ``sum(concurrency)`` requests, whatever the input's size. A row that
fails with a retryable error after the endpoint's own retries is put back at the end of its lane
(up to ``max_row_attempts`` sends, and within ``row_deadline`` seconds when one is set) rather
than failing the row at once. prompto instead retries only in whole extra passes (docs/design.md,
batch).

Every row gets exactly one answer: a malformed line, a row no endpoint serves and a second row
with an already used ``custom_id`` each get their own error row, with their line number. A lane
whose endpoints all became unusable (an exhausted quota, a refused key, an unknown model, an
address that never answered: :attr:`orchestra.faults.Fault.endpoint_final`) *stops*: its
remaining rows are left out of the output for a resume, rather than each paying the error again.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from orchestra.batch.formats import (
    DUPLICATE_ID,
    BadLine,
    BatchResult,
    BatchRow,
    RowSource,
    error_row,
    ok_row,
)
from orchestra.batch.journal import Journal
from orchestra.batch.stats import BatchStats, EndpointProbe, LaneStats, iter_stack
from orchestra.clock import Clock, MonotonicClock
from orchestra.endpoints.base import Endpoint
from orchestra.endpoints.config import EndpointSpec
from orchestra.endpoints.headers import honoured_wait
from orchestra.errors import EndpointError, EndpointTimeout, OutputError, UsageError
from orchestra.faults import classify
from orchestra.trace import current_trace, request_record

__all__ = ["BatchRunner", "Router", "lane_concurrency"]

log = logging.getLogger(__name__)

ResultHook = Callable[[BatchResult], Awaitable[None]]

_WRITE_GROUP = 512  # rows per journal write + fsync at most
_RESULT_BUFFER = 256  # finished rows waiting for the writer
_SCAN_YIELD_EVERY = 64
_LEFT = object()  # a row not answered because its lane stopped: left for a resume  # lines read between two checkpoints when none is routed (skipped, invalid)


def lane_concurrency(specs: Sequence[EndpointSpec], default: int) -> dict[str, int]:
    """Workers per model lane: the sum of its endpoints' ``max_concurrency`` (``default`` for each
    endpoint that states none, where it is also the start and ceiling of the adaptive limit).

    An endpoint with no model (the embedded one, named when it starts) counts under ``""``.
    """
    lanes: dict[str, int] = {}
    for spec in specs:
        lanes[spec.model or ""] = lanes.get(spec.model or "", 0) + (spec.max_concurrency or default)
    return lanes


class Router:
    """Which lane (endpoint pool) serves a row.

    A row's explicit ``endpoint`` (simple form) wins: it may name a lane or any endpoint inside a
    lane's stack. Otherwise, with ``by_model``, the row's model names the lane. Otherwise, and
    for rows that name no model, the row goes to ``default`` (or to the only lane).

    Args:
        lanes: lane name -> endpoint (pool). With ``by_model`` the names are model names.
        by_model: route by the row's model. Off for ``--endpoint X --model M``, where every row
            goes to X, with its own model if it names one.
        default: the lane of rows that name no model.
        served: lane name -> the models its endpoints serve (``Connection.served``), or None when
            unknown. A row naming a model its lane does not serve becomes an error row, never an
            answer from another model.
    """

    def __init__(
        self,
        lanes: Mapping[str, Endpoint],
        *,
        by_model: bool = True,
        default: str | None = None,
        served: Mapping[str, frozenset[str] | None] | None = None,
    ) -> None:
        if not lanes:
            raise UsageError("a batch needs at least one endpoint")
        if default is not None and default not in lanes:
            raise UsageError(f"default lane {default!r} is not one of {sorted(lanes)}")
        self.lanes = dict(lanes)
        self.served = dict(served or {})
        self.by_model = by_model
        self.default = default if default is not None else (next(iter(lanes)) if len(lanes) == 1 else None)
        self._by_endpoint: dict[str, str] = {}
        for lane, endpoint in self.lanes.items():
            for node in iter_stack(endpoint):
                self._by_endpoint.setdefault(getattr(node, "name", lane), lane)

    def route(self, row: BatchRow) -> str:
        """The lane of ``row``.

        Raises:
            UsageError: no lane serves it (the row becomes a ``no_endpoint`` error row).
        """
        lane = self._lane(row)
        served = self.served.get(lane)
        if row.model is not None and served is not None and row.model not in served:
            raise UsageError(
                f"model {row.model!r} is not served by the endpoint in use; it serves: {', '.join(sorted(served))}"
            )
        return lane

    def _lane(self, row: BatchRow) -> str:
        if row.endpoint is not None:
            if row.endpoint in self.lanes:
                return row.endpoint
            if row.endpoint in self._by_endpoint:
                return self._by_endpoint[row.endpoint]
            raise UsageError(
                f"no endpoint named {row.endpoint!r}; known: {', '.join(sorted(self._by_endpoint))}"
            )
        if self.by_model and row.model is not None:
            if row.model in self.lanes:
                return row.model
            raise UsageError(
                f"no endpoint serves model {row.model!r}; models: {', '.join(sorted(self.lanes))}"
            )
        if self.default is not None:
            return self.default
        raise UsageError(f"the row names no model and there are several: {', '.join(sorted(self.lanes))}")


@dataclass(slots=True)
class _Item:
    """A row waiting in a lane: its source ticket, id and line, and the sends it has had."""

    ticket: Any
    custom_id: str
    line: int | None
    attempt: int = 0
    started: float | None = None  # clock time of its first send (the row deadline counts from it)


@dataclass(eq=False)
class _Lane:
    """One pool's queue of tickets. Closed once the input is read and every row of it finished."""

    name: str
    endpoint: Endpoint
    stats: LaneStats
    send: MemoryObjectSendStream[_Item]
    receive: MemoryObjectReceiveStream[_Item]
    pending: int = 0  # rows routed here and not finished (a row waiting to be re-sent counts)
    reading: bool = True
    stopped: str | None = None  # why the lane stopped early (its endpoints are unusable)
    sending: set[anyio.CancelScope] = field(default_factory=set)  # the sends in flight
    _closed: bool = field(default=False)

    def put(self, item: _Item, *, new: bool = True) -> None:
        if new:
            self.pending += 1
            self.stats.total += 1
        self.send.send_nowait(item)

    def finish_one(self) -> None:
        self.pending -= 1
        self._maybe_close()

    def input_done(self) -> None:
        self.reading = False
        self._maybe_close()

    def _maybe_close(self) -> None:
        if not self.reading and self.pending == 0 and not self._closed:
            self._closed = True
            self.send.close()


class BatchRunner:
    """Runs the rows of a :class:`~orchestra.batch.formats.RowSource` against endpoint lanes.

    Args:
        lanes: lane name -> endpoint (usually a pool per model, each member wrapped in limits,
            retries and metering, as :func:`orchestra.endpoints.stack.connect` builds them).
        by_model: route rows by their model (see :class:`Router`).
        default: the lane of rows that name no model.
        concurrency: workers per lane (requests in flight at most), one number or per lane.
            The endpoint's limiter may allow fewer; it adapts within this.
        journal: the output journal (None: results are only handed to ``on_result``).
        max_row_attempts: sends per row at most, counting runner-level re-sends only.
        retry_delay: seconds before the first runner-level re-send (doubled each time, jittered).
        clock: time source of the statistics and of ``row_deadline``.
        row_deadline: seconds a row may take from its first send, all attempts and waits
            included (None: no bound in time, only ``max_row_attempts``). A row out of time ends
            with a ``timeout`` error, which a resume redoes.
        served: lane name -> the models it serves (see :class:`Router`).
    """

    def __init__(
        self,
        lanes: Mapping[str, Endpoint],
        *,
        by_model: bool = True,
        default: str | None = None,
        concurrency: int | Mapping[str, int] = 100,
        journal: Journal | None = None,
        max_row_attempts: int = 3,
        retry_delay: float = 1.0,
        clock: Clock | None = None,
        row_deadline: float | None = None,
        served: Mapping[str, frozenset[str] | None] | None = None,
    ) -> None:
        if max_row_attempts < 1:
            raise UsageError("max_row_attempts must be at least 1")
        if row_deadline is not None and not row_deadline > 0:
            raise UsageError("row_deadline must be a positive number of seconds")
        self.row_deadline = row_deadline
        self.router = Router(lanes, by_model=by_model, default=default, served=served)
        self.journal = journal
        self.max_row_attempts = max_row_attempts
        self.retry_delay = retry_delay
        self.stats = BatchStats(clock=clock or MonotonicClock())
        self.probe = EndpointProbe(list(self.router.lanes.values()))
        for name, endpoint in self.router.lanes.items():
            workers = concurrency if isinstance(concurrency, int) else concurrency.get(name, 100)
            if workers < 1:
                raise UsageError(f"concurrency of {name} must be at least 1")
            leaves = [
                n for n in iter_stack(endpoint) if not hasattr(n, "inner") and not hasattr(n, "endpoints")
            ]
            members = sorted({n.name for n in leaves if hasattr(n, "name")}) or [name]
            self.stats.lanes[name] = LaneStats(name, endpoints=members, concurrency=workers)
        self._group: TaskGroup | None = None

    async def run(self, source: RowSource, on_result: ResultHook | None = None) -> BatchStats:
        """Send every row not already done, journal each result, and return the statistics.

        ``on_result`` is awaited for each finished row after it is on disk. The journal (when
        given) is opened first and compacted and closed at the end; an interrupted run skips the
        compaction, and the next run does it.

        Raises:
            UsageError: the output is the input, is locked by another run, or is not a journal.
            OutputError: the output cannot be written (disk full, permission); what was written
                resumes exactly once.
        """
        if self.journal is not None:
            try:
                self.stats.recovery = self.journal.open(getattr(source, "path", None))
            except BaseException:
                source.close()
                raise
        try:
            await self._run(source, on_result)
        except OutputError:
            raise
        except BaseExceptionGroup as group:
            failure = _output_error(group)
            if failure is None:
                self.stats.interrupted = True
                raise
            raise failure from None  # one line for the user, not a group of one
        except BaseException:
            self.stats.interrupted = True
            raise
        finally:
            self.stats.finished = self.stats.clock.now()
            source.close()
            if self.journal is not None:
                try:
                    if not self.stats.interrupted:
                        self.stats.compacted_lines = self.journal.compact()
                except OutputError as exc:
                    self.stats.output_error = str(exc)
                    raise
                finally:
                    self.journal.close()
        return self.stats

    async def _run(self, source: RowSource, on_result: ResultHook | None) -> None:
        results_send, results_receive = anyio.create_memory_object_stream[BatchResult](_RESULT_BUFFER)
        lanes: dict[str, _Lane] = {}
        for name, endpoint in self.router.lanes.items():
            send, receive = anyio.create_memory_object_stream[_Item](math.inf)
            lanes[name] = _Lane(name, endpoint, self.stats.lanes[name], send, receive)
        async with anyio.create_task_group() as group:
            self._group = group
            group.start_soon(self._write, results_receive, on_result)
            for lane in lanes.values():
                for _ in range(lane.stats.concurrency):
                    group.start_soon(self._work, lane, source, lane.receive.clone(), results_send.clone())
                lane.receive.close()
            group.start_soon(self._produce, source, lanes, results_send.clone())
            results_send.close()

    # -- the producer ---------------------------------------------------------------------------

    async def _produce(
        self, source: RowSource, lanes: dict[str, _Lane], results: MemoryObjectSendStream[BatchResult]
    ) -> None:
        stats = self.stats
        first_line: dict[str, int | None] = {}
        try:
            async with results:
                for count, (ticket, item) in enumerate(source.scan(), 1):
                    if count % _SCAN_YIELD_EVERY == 0:
                        await anyio.lowlevel.checkpoint()
                    stats.scanned += 1
                    cid = item.custom_id
                    if cid in first_line:
                        await self._duplicate(item, first_line[cid], results)
                        continue
                    first_line[cid] = item.line
                    if self.journal is not None and self.journal.is_done(cid):
                        stats.skipped += 1
                        continue
                    if isinstance(item, BadLine):
                        stats.invalid += 1
                        row = error_row(cid, "invalid_input", item.message, line=item.line)
                        await results.send(BatchResult(cid, row, line=item.line))
                        continue
                    try:
                        name = self.router.route(item)
                    except UsageError as exc:
                        stats.unroutable += 1
                        row = error_row(
                            cid,
                            "no_endpoint",
                            f"line {item.line}: {exc}" if item.line else str(exc),
                            line=item.line,
                        )
                        await results.send(BatchResult(cid, row, line=item.line))
                        continue
                    if lanes[name].stopped is not None:
                        stats.left += 1  # its endpoints are unusable: left for a resume
                        continue
                    lanes[name].put(_Item(ticket, cid, item.line))
                    # Let the worker this ticket wakes send its request before the next row is
                    # read. Handing out 64 tickets between two checkpoints made 64 workers build
                    # their requests (~0.5 ms of SDK CPU each) before the loop polled once, so
                    # on cold connections no request reached the server for ~90 ms; batch wall
                    # time at 500 rows / 100 in flight, median of 6: 1.15x ideal -> 1.10x.
                    await anyio.lowlevel.checkpoint()
        finally:
            stats.reading = False
            for lane in lanes.values():
                lane.input_done()

    async def _duplicate(
        self, item: BatchRow | BadLine, first: int | None, results: MemoryObjectSendStream[BatchResult]
    ) -> None:
        """A second row with a used custom_id: its own error row, naming both lines."""
        cid = item.custom_id
        row = error_row(
            cid,
            DUPLICATE_ID,
            f"line {item.line}: custom_id {cid!r} is already used by line {first}; this row was not sent",
            line=item.line,
        )
        row["error"]["first_line"] = first
        if self.journal is not None and self.journal.is_done(f"{cid}\x00{item.line}"):
            self.stats.skipped += 1
            return
        self.stats.note_duplicate(cid, item.line, first)
        await results.send(BatchResult(cid, row, line=item.line))

    # -- the workers ----------------------------------------------------------------------------

    async def _work(
        self,
        lane: _Lane,
        source: RowSource,
        tickets: MemoryObjectReceiveStream[_Item],
        results: MemoryObjectSendStream[BatchResult],
    ) -> None:
        async with tickets, results:
            async for item in tickets:
                if lane.stopped is not None:
                    self.stats.left += 1  # not sent: left for a resume
                    lane.finish_one()
                    continue
                lane.stats.in_flight += 1
                result = None
                with anyio.CancelScope() as scope:
                    lane.sending.add(scope)
                    try:
                        result = await self._send(lane, source, item)
                    finally:
                        lane.stats.in_flight -= 1
                        lane.sending.discard(scope)
                if scope.cancelled_caught or result is _LEFT:  # the lane stopped: row left for a resume
                    self.stats.left += 1
                    lane.finish_one()
                    continue
                if not isinstance(result, BatchResult):
                    continue  # put back for another attempt: still pending
                await results.send(result)
                lane.finish_one()

    async def _send(self, lane: _Lane, source: RowSource, item: _Item) -> BatchResult | object | None:
        """The row's result; None when it was put back for another attempt; ``_LEFT`` when its
        lane stopped (the row is left for a resume)."""
        cid, line = item.custom_id, item.line
        try:
            row = source.load(item.ticket)
        except UsageError as exc:
            return BatchResult(
                cid, error_row(cid, "invalid_input", str(exc), line=line), lane=lane.name, line=line
            )
        now = self.stats.clock.now()
        if item.started is None:
            item.started = now
        trace = current_trace()  # a row span each only when someone records (--trace, OTel)
        span = None
        if trace is not None:
            span = trace.start(
                f"row {cid}", "row", custom_id=cid, attempt=item.attempt + 1,
                model=row.request.model or lane.name, request=request_record(row.request),
            )  # fmt: skip
        try:
            response = await self._complete(lane, row, item, now)
        except Exception as exc:  # every failure of one row is that row's error, never the run's
            fault = classify(exc)
            if trace is not None and span is not None:
                trace.end(span, error=f"{type(exc).__name__}: {exc}")
            if fault.endpoint_final:
                self._stop(lane, exc)
                return _LEFT
            if fault.row_retryable and item.attempt + 1 < self.max_row_attempts and self._has_time(item):
                lane.stats.retries += 1
                item.attempt += 1
                delay = self._delay(exc, item.attempt - 1)
                log.info(
                    "row %s: %s; sending again in %.2f s (attempt %d)",
                    cid,
                    fault.code,
                    delay,
                    item.attempt + 1,
                )
                assert self._group is not None
                self._group.start_soon(self._resend, lane, item, delay)
                return None
            message = str(exc) if fault.code != "internal_error" else f"{type(exc).__name__}: {exc}"
            row_out = error_row(cid, fault.code, message)
            return BatchResult(cid, row_out, lane=lane.name, line=line, attempts=item.attempt + 1)
        if trace is not None and span is not None:
            span.attrs.update(
                response=response.text, response_model=response.model,
                prompt_tokens=response.usage.prompt_tokens, completion_tokens=response.usage.completion_tokens,
            )  # fmt: skip
            trace.end(span)
        return BatchResult(
            cid,
            ok_row(cid, response),
            response=response,
            lane=lane.name,
            line=line,
            attempts=item.attempt + 1,
        )

    async def _complete(self, lane: _Lane, row: BatchRow, item: _Item, now: float) -> Any:
        if self.row_deadline is None:
            return await lane.endpoint.complete(row.request)
        assert item.started is not None
        left = item.started + self.row_deadline - now
        with anyio.move_on_after(max(0.0, left)) as scope:
            return await lane.endpoint.complete(row.request)
        assert scope.cancelled_caught
        raise EndpointTimeout(
            f"row deadline of {self.row_deadline:g} s passed after {item.attempt + 1} attempt(s)",
            endpoint=lane.name,
        )

    def _has_time(self, item: _Item) -> bool:
        if self.row_deadline is None or item.started is None:
            return True
        return self.stats.clock.now() - item.started < self.row_deadline

    def _stop(self, lane: _Lane, exc: Exception) -> None:
        """Stop a lane whose endpoints are all unusable: its rows are left for a resume."""
        if lane.stopped is None:
            lane.stopped = str(exc)
            self.stats.stopped[lane.name] = str(exc)
            for scope in lane.sending:  # rows waiting out a backoff would only meet the same error
                scope.cancel()

    def _delay(self, exc: Exception, attempt: int) -> float:
        retry_after = exc.retry_after if isinstance(exc, EndpointError) else None
        server = honoured_wait(retry_after) or 0.0
        backoff = self.retry_delay * float(2**attempt) * random.uniform(0.5, 1.0)
        return max(server, backoff)

    async def _resend(self, lane: _Lane, item: _Item, delay: float) -> None:
        with anyio.CancelScope() as scope:
            lane.sending.add(scope)
            try:
                await anyio.sleep(delay)
            finally:
                lane.sending.discard(scope)
        if scope.cancelled_caught:  # the lane stopped during the wait
            self.stats.left += 1
            lane.finish_one()
            return
        lane.put(item, new=False)

    # -- the writer -----------------------------------------------------------------------------

    async def _write(
        self, results: MemoryObjectReceiveStream[BatchResult], on_result: ResultHook | None
    ) -> None:
        async with results:
            async for first in results:
                group = [first]
                while len(group) < _WRITE_GROUP:
                    try:
                        group.append(results.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                if self.journal is not None:
                    # One write + one fsync per group, off the event loop; not abandoned on
                    # cancellation, so a row is either wholly written or not at all.
                    try:
                        await anyio.to_thread.run_sync(self.journal.append, [r.row for r in group])
                    except OutputError as exc:
                        self.stats.output_error = str(exc)
                        raise
                now = self.stats.clock.now()
                for result in group:
                    if result.lane is not None:
                        self.stats.lanes[result.lane].record(result, now)
                    if on_result is not None:
                        await on_result(result)


def _output_error(group: BaseExceptionGroup[BaseException]) -> OutputError | None:
    """The output error inside a task group's failure, if that is what stopped the run."""
    for exc in group.exceptions:
        if isinstance(exc, OutputError):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = _output_error(exc)
            if found is not None:
                return found
    return None
