"""The task-fetching executor: runs a plan's tasks concurrently while the plan is still streaming.

LLMCompiler's Task Fetching Unit (ICML 2024) dispatches each task as soon as its dependencies are
done, without waiting for the planner to finish. The executor here consumes plan events (``Task``
objects from an async iterable) in the host of an anyio task group and dispatches through the
event-driven :class:`~orchestra.scheduler.Scheduler` (dependency counters, no polling; the public
LLMCompiler polls every 10 ms and LangGraph every 250 ms).

What the public implementations get wrong and this does not (docs/design.md):

- a tool exception becomes a structured error result; its dependents are skipped with the reason,
  and the run always ends (LLMCompiler leaves the task unfinished and hangs);
- a planner exception ends the run with that error (LLMCompiler's stream hangs);
- a reference to a missing task is a :class:`~orchestra.errors.PlanError` (not a KeyError);
- tasks really run concurrently (LangGraph's version runs tools one after another).

Per-task timeouts (``anyio.fail_after``), retries, a global and per-tool concurrency limits
(``anyio.CapacityLimiter``), cancellation through the caller's cancel scope, de-duplication of
identical side-effect-free calls, and one trace span per task complete it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterable, Callable, Coroutine, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import anyio

from orchestra._tool import Tool
from orchestra.clock import Clock, MonotonicClock
from orchestra.errors import DeadlineExceeded, OrchestraError, PlanError, ToolError
from orchestra.plan import Plan, Task
from orchestra.references import as_text
from orchestra.scheduler import Scheduler
from orchestra.trace import Span, Trace, current_trace

__all__ = ["DEFAULT_RUN_TIMEOUT", "DEFAULT_TASK_TIMEOUT", "Executor", "TaskResult", "TaskStatus"]

DEFAULT_TASK_TIMEOUT = 120.0
"""Seconds one attempt of a tool may take when neither the tool nor the caller sets a timeout."""
OBSERVATION_CHARS = 16_000
"""Longest text a result gives the joiner / replanner (a huge value is cut, not sent whole)."""
DEFAULT_RUN_TIMEOUT = 600.0
"""Seconds one :meth:`Executor.run` may take: a plan stream that stalls without ``join()`` ends."""

log = logging.getLogger(__name__)

TaskStatus = Literal["ok", "error", "skipped", "cancelled"]


@dataclass(slots=True)
class TaskResult:
    """What became of one task.

    Attributes:
        task_id: the task.
        tool: its tool name.
        status: ``ok``, ``error`` (the tool failed, timed out, or got bad arguments), ``skipped``
            (a dependency failed; ``error`` says which), or ``cancelled``.
        value: the tool's return value when ``ok``.
        error: the error when not ``ok``: a ToolError, or a PlanError for a bad reference path.
        attempts: how many times the tool was called (0 if it never ran or the result was reused).
        ready: clock time its dependencies were all done (None if it never became ready).
        start: clock time its first attempt began.
        end: clock time it reached its final state.
        reused_from: the task whose identical call's result this is (de-duplication).
    """

    task_id: int
    tool: str
    status: TaskStatus
    value: Any = None
    error: OrchestraError | None = None
    attempts: int = 0
    ready: float | None = None
    start: float | None = None
    end: float | None = None
    reused_from: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the tool returned a value."""
        return self.status == "ok"

    def observation(self, limit: int = OBSERVATION_CHARS) -> str:
        """The result as text for the joiner / replanner, cut at ``limit`` characters; never raises."""
        if self.status == "ok":
            return as_text(self.value, limit)
        return as_text(f"{self.status.upper()}: {self.error}", limit)


OnResult = Callable[[TaskResult], object]


class Executor:
    """Runs plan events concurrently as their dependencies finish.

    Args:
        tools: the tools tasks may call (a list, or a mapping by name).
        max_concurrency: at most this many tool calls at once across the run (None: no limit).
        clock: source of the times recorded in results and spans.
        trace: where task spans go; default: the current trace (:func:`~orchestra.trace.current_trace`)
            at run time, else :attr:`trace`, a trace of this executor's own.
        timeouts: per-tool timeout overrides in seconds, by tool name (else ``tool.timeout``).
        default_timeout: timeout for tools that have none (default :data:`DEFAULT_TASK_TIMEOUT`,
            120 s; None: no limit).
        run_timeout: seconds one :meth:`run` may take, plan stream included (default
            :data:`DEFAULT_RUN_TIMEOUT`, 600 s; None: no limit); past it, unfinished tasks are
            ``cancelled`` and :class:`~orchestra.errors.DeadlineExceeded` is raised.
        retry_delay: seconds before the first retry, doubled for each further one.
        dedup: run identical calls of side-effect-free tools once per run.
    """

    def __init__(
        self,
        tools: Mapping[str, Tool] | Iterable[Tool],
        *,
        max_concurrency: int | None = None,
        clock: Clock | None = None,
        trace: Trace | None = None,
        timeouts: Mapping[str, float] | None = None,
        default_timeout: float | None = DEFAULT_TASK_TIMEOUT,
        run_timeout: float | None = DEFAULT_RUN_TIMEOUT,
        retry_delay: float = 0.0,
        dedup: bool = True,
    ) -> None:
        self.tools: dict[str, Tool] = (
            dict(tools) if isinstance(tools, Mapping) else {t.name: t for t in tools}
        )
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.max_concurrency = max_concurrency
        self.clock: Clock = clock or MonotonicClock()
        self._explicit_trace = trace
        self.trace: Trace = trace or Trace(self.clock)
        self.timeouts = dict(timeouts or {})
        self.default_timeout = default_timeout
        self.run_timeout = run_timeout
        self.retry_delay = retry_delay
        self.dedup = dedup
        # Created on first use: limiters belong to the event loop that runs them. Per-tool limits
        # are per executor, not per run, so concurrent runs share one tool's budget.
        self._limiters: dict[str, anyio.CapacityLimiter] | None = None
        self._global: anyio.CapacityLimiter | None = None

    def _limits(self) -> tuple[dict[str, anyio.CapacityLimiter], anyio.CapacityLimiter | None]:
        if self._limiters is None:
            self._limiters = {
                name: anyio.CapacityLimiter(t.concurrency) for name, t in self.tools.items() if t.concurrency
            }
            if self.max_concurrency is not None:
                self._global = anyio.CapacityLimiter(self.max_concurrency)
        return self._limiters, self._global

    def timeout_for(self, tool: Tool) -> float | None:
        """The timeout one attempt of ``tool`` gets."""
        return self.timeouts.get(
            tool.name, tool.timeout if tool.timeout is not None else self.default_timeout
        )

    async def run(
        self,
        events: AsyncIterable[Task] | Iterable[Task],
        results: dict[int, TaskResult] | None = None,
        *,
        on_result: OnResult | None = None,
        plan: Plan | None = None,
    ) -> dict[int, TaskResult]:
        """Validate and run tasks as they arrive; return when the plan ended and every task did.

        The plan ends at ``join()`` or when ``events`` is exhausted. To get results while the run
        goes on (the ``async`` strategy delivers them as interrupts), pass ``on_result``, e.g. a
        memory stream's ``send_nowait``; it is called in the event loop for every final result,
        skipped and cancelled ones included, and must not block or raise.

        Args:
            events: the plan's tasks, in order; an async iterable for a streamed plan.
            results: earlier rounds' results (replanning): they stay referable, their ids taken;
                this dict is updated in place, so what finished survives an exception.
            on_result: called with each final :class:`TaskResult`.
            plan: the plan to validate against and extend, kept across replans (default: a new
                one over these tools, knowing the ids in ``results``); reopened if it had joined.

        Returns:
            ``results``, with one entry per task of this round added.

        Raises:
            PlanError: a task failed validation; the message is repair feedback for the planner.
            DeadlineExceeded: the run took longer than ``run_timeout``.
            Exception: whatever ``events`` raised (the planner failed). Either way, tasks still
                running are cancelled (recorded as ``cancelled``) and the run ends at once.
        """
        results = {} if results is None else results
        trace = self._explicit_trace or current_trace() or self.trace
        run = _Run(self, results, plan, on_result, trace)
        failure: BaseException | None = None
        deadline = anyio.CancelScope()
        if self.run_timeout is not None:
            deadline.deadline = anyio.current_time() + self.run_timeout
        try:
            with deadline:
                async with anyio.create_task_group() as tg:
                    run.tg = tg
                    try:
                        await run.feed(events)
                    except Exception as exc:  # the planner failed or wrote an invalid task
                        failure = exc
                        tg.cancel_scope.cancel()
        finally:
            reason = None
            if deadline.cancelled_caught:
                reason = f"the run's deadline of {self.run_timeout:g} s passed before this task finished"
            run.cancel_unfinished(reason)
        if failure is not None:
            raise failure
        if deadline.cancelled_caught:
            raise DeadlineExceeded(
                f"the executor's run took longer than {self.run_timeout:g} s (run_timeout); "
                "unfinished tasks were cancelled"
            )
        return results


class _Run:
    """The state of one :meth:`Executor.run`: plan, scheduler, results, dedup table."""

    def __init__(
        self,
        executor: Executor,
        results: dict[int, TaskResult],
        plan: Plan | None,
        on_result: OnResult | None,
        trace: Trace,
    ) -> None:
        self.ex = executor
        self.tools = executor.tools
        self.now = executor.clock.now
        self.results = results
        self.values: dict[int, Any] = {i: r.value for i, r in results.items() if r.status == "ok"}
        failed = [i for i, r in results.items() if r.status != "ok"]
        if plan is None:
            plan = Plan(self.tools, known=results.keys())
        plan.reopen()  # a run is a new round: a plan that ended with join() takes more tasks
        self.plan = plan
        self.scheduler = Scheduler(done=self.values, failed=failed)
        self.on_result = on_result
        self.trace = trace
        # Task spans open at their first attempt only when someone watches (a live view, an OTel
        # exporter); otherwise each is made once, finished, in record() (cheaper on 10k-task plans).
        self.watched = bool(trace.listeners)
        self.open_spans: dict[int, Span] = {}
        self.tg: anyio.abc.TaskGroup | None = None
        self.ready_at: dict[int, float] = {}
        self.ready: deque[Task] = deque()
        self.starting = 0  # workers spawned that have not begun draining yet
        self.skip_root: dict[int, int] = {}
        self.calls: dict[tuple[str, Any], _Call] = {}
        self.limiters, self.global_limiter = executor._limits()

    async def feed(self, events: AsyncIterable[Task] | Iterable[Task]) -> None:
        """Consume plan events until ``join()`` or the end, dispatching ready tasks at once."""
        if isinstance(events, AsyncIterable):
            iterator = aiter(events)
            try:
                async for task in iterator:
                    if self.accept(task):
                        break
            finally:
                aclose = getattr(iterator, "aclose", None)
                if aclose is not None:  # stop a planner generator that goes on after join()
                    await aclose()
        else:
            for task in events:
                if self.accept(task):
                    break

    def accept(self, task: Task) -> bool:
        """Validate and schedule one task; True when it is the ``join()`` that ends the plan."""
        self.plan.add(task)  # raises PlanError, ending the run
        if task.is_join:
            return True
        ready, blocker = self.scheduler.add(task.id, task.deps)
        if ready:
            self.ready_at[task.id] = self.now()
            self.ready.append(task)
            self.ensure_worker()
        elif blocker is not None:
            self.record_skip(task, blocker)
        return False

    def ensure_worker(self) -> None:
        """Spawn a worker if ready tasks wait and no spawned worker is about to take them.

        Called by the plan feed, and by a worker right before it really suspends (see _Eager).
        One at a time: the new worker takes the front of the queue (dependents of finished tasks
        first) and, if its own task suspends, spawns the next. Spawning one worker per queued
        task at once was measured slower on a 10k-task plan whose tools yield (the loop's FIFO
        then runs hundreds of unrelated roots before the dependents of a finished task).
        """
        if self.ready and not self.starting:
            self.starting += 1
            self.tg.start_soon(self.drain)  # type: ignore[union-attr]

    async def drain(self) -> None:
        """Run ready tasks until none is left; dependents that become ready go first.

        Tasks run eagerly in this coroutine until one really suspends (a tool waiting on I/O, a
        limiter, a worker thread); only then is another worker spawned for the rest of the queue.
        Ready tasks thus always run concurrently, while no-op or cached tools cost no task spawn
        (an anyio spawn costs ~35 µs here; asyncio's eager tasks, Python 3.12, have the same aim).
        Newly ready dependents go to the front (depth first): they finish branches already
        started, and a chain continues with no queueing behind unrelated work.
        """
        self.starting -= 1
        queue = self.ready
        tasks = self.plan.tasks
        done = 0
        while queue:
            done += 1
            if done % 64 == 0:
                # Long runs of instant tools would otherwise hold the loop: let the planner feed,
                # other runs and cancellation through now and then.
                await anyio.lowlevel.checkpoint()
                if not queue:
                    break
            task = queue.popleft()
            result = await _Eager(self.execute(task), self.ensure_worker)
            ready, skipped = self.scheduler.finish(task.id, result.status == "ok")
            self.record(result)
            for skipped_id, blocker in skipped:
                self.record_skip(tasks[skipped_id], blocker)
            if ready:
                now = self.now()
                for tid in reversed(ready):
                    self.ready_at[tid] = now
                    queue.appendleft(tasks[tid])

    async def execute(self, task: Task) -> TaskResult:
        """Resolve, de-duplicate, limit and call: the final result of one ready task."""
        tool = self.tools[task.tool]
        result = TaskResult(task.id, task.tool, "ok", ready=self.ready_at.pop(task.id, None))
        try:
            args, kwargs = task.resolved(self.values)
            kwargs = tool.validate(tool.bind(args, kwargs))
        except OrchestraError as exc:
            return self.fail(result, exc, task)
        except Exception as exc:  # a referenced value pydantic cannot take apart (cycles, raising hooks)
            return self.fail(result, _as_tool_error(exc, tool, task), task)
        key = None
        if self.ex.dedup and not tool.side_effects:
            key = _call_key(tool.name, kwargs)
            if key is not None:
                first = self.calls.get(key)
                if first is not None:
                    return await self.reuse(result, first)
                self.calls[key] = _Call(result)
        try:
            await self.attempt_all(tool, kwargs, result, task)
        except anyio.get_cancelled_exc_class():
            result.status = "cancelled"
            result.error = ToolError(f"task {task.id} was cancelled", tool=tool.name, task_id=task.id)
            result.end = self.now()
            self.record(result)
            raise
        finally:
            if key is not None:
                self.calls[key].finish()
        return result

    async def attempt_all(self, tool: Tool, kwargs: dict[str, Any], result: TaskResult, task: Task) -> None:
        """Call the tool under its limits, with timeout and retries; fill ``result``."""
        tool_limiter = self.limiters.get(tool.name)
        global_limiter = self.global_limiter
        # Per-tool limiter first: waiting for a busy tool must not hold a global slot idle.
        if tool_limiter is not None:
            await tool_limiter.acquire()
        try:
            if global_limiter is not None:
                await global_limiter.acquire()
            try:
                await self.attempts(tool, kwargs, result, task)
            finally:
                if global_limiter is not None:
                    global_limiter.release()
        finally:
            if tool_limiter is not None:
                tool_limiter.release()

    async def attempts(self, tool: Tool, kwargs: dict[str, Any], result: TaskResult, task: Task) -> None:
        """Up to ``1 + tool.retries`` attempts, each under the timeout; fill ``result``."""
        timeout = self.ex.timeout_for(tool)
        delay = self.ex.retry_delay
        result.start = self.now()
        if self.watched:
            span = Span(
                f"{task.id}. {tool.name}", "task", result.start, attrs={"task_id": task.id, "tool": tool.name}
            )
            self.open_spans[task.id] = self.trace.begin(span)
        error: OrchestraError | None = None
        for attempt in range(1, tool.retries + 2):
            result.attempts = attempt
            try:
                if timeout is None:
                    result.value = await tool.invoke(kwargs)
                    break
                # move_on_after, not fail_after: a TimeoutError raised by the tool itself is the
                # tool's failure, not our deadline.
                with anyio.move_on_after(timeout) as deadline:
                    result.value = await tool.invoke(kwargs)
                if not deadline.cancelled_caught:
                    break
                error = ToolError(
                    f"{tool.name} timed out after {timeout:g} s", tool=tool.name, task_id=task.id
                )
            except Exception as exc:
                error = _as_tool_error(exc, tool, task)
            if attempt <= tool.retries:
                log.info("task %d (%s) attempt %d failed, retrying: %s", task.id, tool.name, attempt, error)
            if attempt <= tool.retries and delay > 0:
                await self.ex.clock.sleep(delay * 2 ** (attempt - 1))
        else:
            self.fail(result, error or ToolError(f"{tool.name} failed", tool=tool.name), task)
            return
        result.end = self.now()

    async def reuse(self, result: TaskResult, first: _Call) -> TaskResult:
        """Wait for the identical earlier call and take its outcome (attempts stay 0)."""
        original = first.result
        result.start = self.now()
        await first.wait()
        result.status = original.status
        result.value = original.value
        result.error = original.error
        result.reused_from = original.task_id
        result.end = self.now()
        return result

    def fail(self, result: TaskResult, error: OrchestraError, task: Task) -> TaskResult:
        result.status = "error"
        if isinstance(error, ToolError) and error.task_id is None:
            error.task_id = task.id
        result.error = error
        result.end = self.now()
        return result

    def record(self, result: TaskResult) -> None:
        """Store a final result, make its value referable, trace it, tell the listener."""
        tid = result.task_id
        self.results[tid] = result
        if result.status == "ok":
            self.values[tid] = result.value
        start = result.start if result.start is not None else (result.ready or result.end or 0.0)
        attrs: dict[str, Any] = {
            "task_id": tid,
            "tool": result.tool,
            "status": result.status,
            "attempts": result.attempts,
        }
        if result.status == "ok":
            attrs["result"] = result.value  # made JSON when written (orchestra.tracefile.to_json)
        if result.reused_from is not None:
            attrs["reused_from"] = result.reused_from
        task = self.plan.tasks.get(tid)
        if task is not None and task.deps:
            attrs["deps"] = sorted(task.deps)
        error = None if result.error is None else str(result.error)
        span = self.open_spans.pop(tid, None) if self.watched else None
        if span is None:
            self.trace.add(Span(f"{tid}. {result.tool}", "task", start, result.end, attrs, error))
        else:
            span.attrs.update(attrs)
            span.end = result.end
            self.trace.end(span, error=error)
        if self.on_result is not None:
            self.on_result(result)

    def record_skip(self, task: Task, blocker: int) -> None:
        """Record that ``task`` can never run because ``blocker`` failed or was skipped."""
        # Name the root failure rather than nesting reasons, so a long chain's messages stay short.
        root = self.skip_root.get(blocker, blocker)
        self.skip_root[task.id] = root
        cause = self.results.get(root)
        failure = f"task {root} failed: {cause.error}" if cause is not None else f"task {root} did not finish"
        if root == blocker:
            why = f"depends on task {blocker}, which failed: {cause.error if cause else 'did not finish'}"
        else:
            why = f"depends on task {blocker}, which was skipped because {failure}"
        now = self.now()
        self.record(
            TaskResult(
                task.id,
                task.tool,
                "skipped",
                error=ToolError(why, tool=task.tool, task_id=task.id),
                end=now,
            )
        )

    def cancel_unfinished(self, reason: str | None = None) -> None:
        """Give every task of the plan that has no result a ``cancelled`` one (the run stopped)."""
        self.scheduler.cancel_pending()
        now = self.now()
        for task in self.plan.tasks.values():
            if task.id not in self.results:
                self.record(
                    TaskResult(
                        task.id,
                        task.tool,
                        "cancelled",
                        error=ToolError(
                            reason or "the run ended before this task finished",
                            tool=task.tool,
                            task_id=task.id,
                        ),
                        end=now,
                    )
                )


class _Call:
    """The first of a set of identical calls; later ones wait for it (the Event only if needed)."""

    __slots__ = ("done", "event", "result")

    def __init__(self, result: TaskResult) -> None:
        self.result = result
        self.done = False
        self.event: anyio.Event | None = None

    def finish(self) -> None:
        self.done = True
        if self.event is not None:
            self.event.set()

    async def wait(self) -> None:
        if self.done:
            return
        if self.event is None:
            self.event = anyio.Event()
        await self.event.wait()


class _Eager:
    """Await a coroutine, calling ``on_suspend`` each time it is about to really suspend.

    The coroutine runs in the awaiting task; what it yields to the event loop and what the loop
    sends or throws back are forwarded unchanged, so cancellation and both anyio backends work as
    for a plain ``await``.
    """

    __slots__ = ("coro", "on_suspend")

    def __init__(self, coro: Coroutine[Any, Any, TaskResult], on_suspend: Callable[[], None]) -> None:
        self.coro = coro
        self.on_suspend = on_suspend

    def __await__(self) -> Generator[Any, Any, TaskResult]:
        coro = self.coro
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                yielded = coro.send(value) if error is None else coro.throw(error)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            self.on_suspend()
            try:
                value = yield yielded
                error = None
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation: deliver it where the coroutine waits
                value, error = None, exc


def _as_tool_error(exc: Exception, tool: Tool, task: Task) -> ToolError:
    if isinstance(exc, ToolError):
        if exc.task_id is None:
            exc.task_id = task.id
        return exc
    if isinstance(exc, PlanError):
        return ToolError(as_text(exc, 2_000), tool=tool.name, task_id=task.id)
    # as_text: an exception whose __str__ raises, or is huge, still gives a message.
    error = ToolError(
        f"{tool.name} raised {type(exc).__name__}: {as_text(exc, 2_000)}", tool=tool.name, task_id=task.id
    )
    error.__cause__ = exc
    return error


_SCALARS = (str, int, float, bool, type(None))


class _NoKey(Exception):
    """The value is not plain data (or too big or deep): the call is not de-duplicated."""


_MAX_KEY_DEPTH = 64
_MAX_KEY_NODES = 10_000


def _freeze(value: Any, depth: int, budget: list[int]) -> Any:
    """A hashable form of plain data (JSON-like), keeping 1, 1.0 and True apart.

    Only exact builtin types are taken apart, so no user ``__hash__``/``__eq__``/``__iter__``
    ever runs; depth and size are bounded, so a self-referential or 5,000-deep value is
    refused (:class:`_NoKey`) instead of raising RecursionError out of the run.
    """
    budget[0] -= 1
    if depth > _MAX_KEY_DEPTH or budget[0] < 0:
        raise _NoKey
    kind = type(value)
    if kind in _SCALARS:
        return (kind, value)
    if kind is list or kind is tuple:
        return (kind, tuple(_freeze(v, depth + 1, budget) for v in value))
    if kind is dict:
        items = []
        for k, v in value.items():
            if type(k) not in _SCALARS:
                raise _NoKey
            items.append(((type(k).__name__, k), _freeze(v, depth + 1, budget)))
        return (dict, tuple(sorted(items, key=lambda kv: (kv[0][0], str(kv[0][1])))))
    raise _NoKey


def _call_key(tool_name: str, kwargs: dict[str, Any]) -> tuple[str, Any] | None:
    budget = [_MAX_KEY_NODES]
    try:
        # Validated kwargs come in the signature's order, so the top level needs no sorting.
        return (
            tool_name,
            tuple(
                (k, type(v), v) if type(v) in _SCALARS else (k, _freeze(v, 0, budget))
                for k, v in kwargs.items()
            ),
        )
    except _NoKey:
        return None
