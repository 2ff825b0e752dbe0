"""The task-fetching executor: streaming dispatch, failures, limits, dedup, timeouts, cancellation.

Each test that could hang on a defect of the public LLMCompiler (a tool exception, a planner
exception) runs under ``anyio.fail_after`` so that a hang fails the test instead of stalling CI.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from orchestra import FakeClock, PlanError, ToolError, tool
from orchestra.executor import Executor, TaskResult
from orchestra.plan import Plan, Task
from orchestra.scheduler import Scheduler
from orchestra.trace import Span, Trace


async def _stream(*tasks: Task, gap: float = 0.0) -> AsyncIterator[Task]:
    for task in tasks:
        if gap:
            await anyio.sleep(gap)
        yield task


def _overlap(a: TaskResult, b: TaskResult) -> bool:
    assert a.start is not None and a.end is not None and b.start is not None and b.end is not None
    return a.start < b.end and b.start < a.end


# -- the pure scheduler ----------------------------------------------------------------------------


def test_scheduler_counts_dependencies_without_polling() -> None:
    s = Scheduler()
    assert s.add(1, []) == (True, None)
    assert s.add(2, []) == (True, None)
    assert s.add(3, [1, 2]) == (False, None)
    assert s.add(4, [3]) == (False, None)
    assert s.finish(1, ok=True) == ([], [])
    assert s.finish(2, ok=True) == ([3], [])
    assert s.finish(3, ok=True) == ([4], [])
    assert s.unfinished == 1
    assert s.add(5, [1, 4]) == (False, None)
    assert s.finish(4, ok=True) == ([5], [])


def test_scheduler_skips_every_dependent_of_a_failure_transitively() -> None:
    s = Scheduler(done=[10])
    for tid, deps in [(1, []), (2, [1]), (3, [2, 10]), (4, [3]), (5, [10]), (6, [1, 5])]:
        s.add(tid, deps)
    assert s.finish(1, ok=False) == ([], [(2, 1), (6, 1), (3, 2), (4, 3)])
    assert s.finish(5, ok=True) == ([], [])  # 6 was already skipped: it must not become ready
    assert s.add(7, [4]) == (False, 4)  # arriving after its dependency was skipped
    assert s.unfinished == 0


def test_scheduler_knows_earlier_failures() -> None:
    s = Scheduler(done=[1], failed=[2])
    assert s.add(3, [1]) == (True, None)
    assert s.add(4, [2]) == (False, 2)
    with pytest.raises(ValueError, match="unknown task 9"):
        s.add(5, [9])


# -- streaming dispatch ----------------------------------------------------------------------------


async def test_dependent_runs_before_the_plan_finishes_streaming() -> None:
    log: list[str] = []
    second_ran = anyio.Event()

    @tool
    async def step(name: str, after: Any = None) -> str:
        """Record a step."""
        log.append(f"run {name}")
        if name == "b":
            second_ran.set()
        return name

    async def planner() -> AsyncIterator[Task]:
        log.append("plan 1")
        yield Task(1, "step", ["a"])
        log.append("plan 2")
        yield Task(2, "step", ["b", "$1"])
        await second_ran.wait()  # the planner is still "generating" while task 2 runs
        log.append("plan done")
        yield Task(3, "join")

    with anyio.fail_after(5):
        results = await Executor([step]).run(planner())
    assert log == ["plan 1", "plan 2", "run a", "run b", "plan done"]
    assert results[2].value == "b"


async def test_independent_tasks_overlap_in_time() -> None:
    @tool
    async def fetch(x: int) -> int:
        """Take 20 ms."""
        await anyio.sleep(0.02)
        return x

    trace = Trace()
    results = await Executor([fetch], trace=trace).run(_stream(*(Task(i, "fetch", [i]) for i in range(1, 4))))
    assert all(r.ok for r in results.values())
    spans = trace.of_kind("task")
    assert len(spans) == 3
    assert max(s.start for s in spans) < min(s.end or 0 for s in spans)  # all three ran at once
    assert _overlap(results[1], results[3])


async def test_references_pass_objects_and_interpolate_text() -> None:
    seen: list[Any] = []

    @tool
    async def make() -> dict[str, Any]:
        """Make a record."""
        return {"items": [{"n": 1}, {"n": 2}], "title": "T"}

    @tool
    async def take(value: Any) -> Any:
        """Take anything."""
        seen.append(value)
        return value

    tasks = [
        Task(1, "make"),
        Task(2, "take", ["$1.items"]),
        Task(3, "take", ["$1.items[1]"]),
        Task(4, "take", ["title=${1.title}, count=${2[0].n}"]),
        Task(5, "take", [{"nested": ["$1.title"]}]),
    ]
    results = await Executor([make, take]).run(tasks)
    assert results[2].value == [{"n": 1}, {"n": 2}]
    assert results[2].value is results[1].value["items"]  # the object itself, not its text
    assert results[3].value == {"n": 2}
    assert results[4].value == "title=T, count=1"
    assert results[5].value == {"nested": ["T"]}


# -- failures always end the run -------------------------------------------------------------------


async def test_tool_exception_gives_an_error_result_and_skips_dependents() -> None:
    @tool
    async def ok(x: Any = None) -> str:
        """Succeed."""
        return "fine"

    @tool
    def broken(x: Any = None) -> str:
        """Fail."""
        raise ValueError("disk on fire")

    tasks = [
        Task(1, "ok"),
        Task(2, "broken", ["$1"]),
        Task(3, "ok", ["$2"]),
        Task(4, "ok", ["$3"]),
        Task(5, "ok", ["$1"]),
        Task(6, "join"),
    ]
    with anyio.fail_after(5):  # the public LLMCompiler hangs here forever
        results = await Executor([ok, broken]).run(_stream(*tasks))
    assert {i: r.status for i, r in results.items()} == {
        1: "ok",
        2: "error",
        3: "skipped",
        4: "skipped",
        5: "ok",
    }
    error = results[2].error
    assert isinstance(error, ToolError)
    assert (error.tool, error.task_id) == ("broken", 2)
    assert str(error) == "broken raised ValueError: disk on fire"
    assert isinstance(error.__cause__, ValueError)
    assert str(results[3].error) == "depends on task 2, which failed: broken raised ValueError: disk on fire"
    assert str(results[4].error) == (
        "depends on task 3, which was skipped because task 2 failed: broken raised ValueError: disk on fire"
    )
    assert results[3].attempts == 0
    assert results[4].observation().startswith("SKIPPED: depends on task 3")


async def test_planner_exception_ends_the_run_with_that_error() -> None:
    started = anyio.Event()
    cancelled: list[int] = []

    @tool
    async def slow(x: int) -> int:
        """Wait long."""
        started.set()
        try:
            await anyio.sleep(10)
        except anyio.get_cancelled_exc_class():
            cancelled.append(x)
            raise
        return x

    async def planner() -> AsyncIterator[Task]:
        yield Task(1, "slow", [1])
        yield Task(2, "slow", ["$1"])
        await started.wait()
        raise ConnectionError("planner stream dropped")

    results: dict[int, TaskResult] = {}
    with anyio.fail_after(5):  # LLMCompiler's stream hangs here
        with pytest.raises(ConnectionError, match="planner stream dropped"):
            await Executor([slow]).run(planner(), results)
    assert cancelled == [1]
    assert {i: r.status for i, r in results.items()} == {1: "cancelled", 2: "cancelled"}


async def test_invalid_task_in_the_stream_is_a_plan_error() -> None:
    @tool
    async def echo(x: Any) -> Any:
        """Echo."""
        return x

    results: dict[int, TaskResult] = {}
    with pytest.raises(PlanError) as info:
        await Executor([echo]).run([Task(1, "echo", [1]), Task(2, "echo", ["$7"])], results)
    assert info.value.task_id == 2
    assert "$7 refers to task 7, which does not exist" in str(info.value)
    with pytest.raises(PlanError, match=r"unknown tool 'ech'.*known tools: echo"):
        await Executor([echo]).run([Task(1, "ech", [1])])


async def test_bad_reference_path_at_run_time_is_a_plan_error_result() -> None:
    @tool
    async def make() -> dict[str, int]:
        """Make."""
        return {"a": 1}

    @tool
    async def use(v: Any) -> Any:
        """Use."""
        return v

    results = await Executor([make, use]).run(
        [Task(1, "make"), Task(2, "use", ["$1.b"]), Task(3, "use", ["$2"])]
    )
    assert results[2].status == "error"
    assert isinstance(results[2].error, PlanError)
    assert "task 2: $1.b: the result of task 1 has no key 'b'" in str(results[2].error)
    assert results[3].status == "skipped"


async def test_bad_argument_type_at_run_time_is_not_retried() -> None:
    calls = 0

    @tool
    async def text() -> str:
        """Text."""
        return "abc"

    @tool(retries=3)
    async def double(n: int) -> int:
        """Double."""
        nonlocal calls
        calls += 1
        return 2 * n

    results = await Executor([text, double]).run([Task(1, "text"), Task(2, "double", ["$1"])])
    assert results[2].status == "error"
    assert "argument 'n': Input should be a valid integer" in str(results[2].error)
    assert (calls, results[2].attempts) == (0, 0)


# -- timeouts, retries, limits ----------------------------------------------------------------------


async def test_timeout_then_retry_succeeds_and_attempts_are_recorded() -> None:
    attempts = 0

    @tool(timeout=0.02, retries=2)
    async def flaky() -> str:
        """Hang the first time."""
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await anyio.sleep(5)
        return "second time lucky"

    trace = Trace()
    results = await Executor([flaky], trace=trace).run([Task(1, "flaky")])
    assert results[1].ok and results[1].value == "second time lucky"
    assert results[1].attempts == 2
    assert trace.spans[0].attrs["attempts"] == 2


async def test_timeouts_exhaust_retries_into_an_error() -> None:
    @tool(timeout=0.01, retries=1)
    async def stuck() -> None:
        """Never answer."""
        await anyio.sleep(5)

    with anyio.fail_after(5):
        results = await Executor([stuck]).run([Task(1, "stuck")])
    assert results[1].status == "error"
    assert results[1].attempts == 2
    assert str(results[1].error) == "stuck timed out after 0.01 s"


async def test_a_timeout_error_raised_by_the_tool_is_its_own_failure() -> None:
    @tool
    async def sock() -> None:
        """Raise like a socket would."""
        raise TimeoutError("read timed out")

    @tool(timeout=5)
    async def sock_with_deadline() -> None:
        """Same, with a deadline of our own that does not expire."""
        raise TimeoutError("read timed out")

    results = await Executor([sock, sock_with_deadline]).run([Task(1, "sock"), Task(2, "sock_with_deadline")])
    assert str(results[1].error) == "sock raised TimeoutError: read timed out"
    assert str(results[2].error) == "sock_with_deadline raised TimeoutError: read timed out"


async def test_executor_timeout_override_and_retry_backoff_on_the_clock() -> None:
    failures = 0
    clock = FakeClock()

    @tool(retries=2)
    async def shaky() -> int:
        """Fail twice."""
        nonlocal failures
        failures += 1
        if failures < 3:
            raise OSError("transient")
        return failures

    ex = Executor([shaky], clock=clock, retry_delay=1.0, timeouts={"shaky": 3.0})
    assert ex.timeout_for(shaky) == 3.0
    results = await ex.run([Task(1, "shaky")])
    assert results[1].value == 3 and results[1].attempts == 3
    assert clock.now() == 3.0  # backoff slept 1 s then 2 s of the fake clock


async def test_per_tool_and_global_concurrency_limits_are_respected() -> None:
    running = {"a": 0, "b": 0, "all": 0}
    peak = {"a": 0, "b": 0, "all": 0}

    async def busy(kind: str) -> None:
        running[kind] += 1
        running["all"] += 1
        peak[kind] = max(peak[kind], running[kind])
        peak["all"] = max(peak["all"], running["all"])
        await anyio.sleep(0.005)
        running[kind] -= 1
        running["all"] -= 1

    @tool(concurrency=2)
    async def a(i: int) -> None:
        """Limited to 2."""
        await busy("a")

    @tool
    async def b(i: int) -> None:
        """Unlimited."""
        await busy("b")

    tasks = [Task(i, "a" if i % 2 else "b", [i]) for i in range(1, 13)]
    results = await Executor([a, b], max_concurrency=3).run(tasks)
    assert all(r.ok for r in results.values())
    assert peak["a"] == 2
    assert peak["all"] == 3


async def test_sync_tool_runs_in_a_thread_while_other_tasks_progress() -> None:
    ticks: list[float] = []

    @tool
    def blocking() -> str:
        """Sleep 50 ms in a worker thread."""
        time.sleep(0.05)
        return "woke"

    @tool
    async def ticker() -> int:
        """Tick every 2 ms."""
        for _ in range(10):
            await anyio.sleep(0.002)
            ticks.append(time.monotonic())
        return len(ticks)

    results = await Executor([blocking, ticker]).run([Task(1, "blocking"), Task(2, "ticker")])
    assert results[1].value == "woke" and results[2].value == 10
    assert results[1].start is not None and results[1].end is not None
    during = [t for t in ticks if results[1].start < t < results[1].end]
    assert len(during) >= 3  # the loop ran the ticker while the sync tool slept


# -- dedup, cancellation, replanning, results --------------------------------------------------------


async def test_identical_side_effect_free_calls_run_once() -> None:
    calls: list[str] = []

    @tool
    async def lookup(q: str) -> str:
        """Pure lookup."""
        calls.append(q)
        await anyio.sleep(0.005)
        return q.upper()

    @tool(side_effects=True)
    async def send(q: str) -> str:
        """Has effects."""
        calls.append(f"send {q}")
        return q

    tasks = [
        Task(1, "lookup", ["x"]),
        Task(2, "lookup", [], {"q": "x"}),
        Task(3, "lookup", ["y"]),
        Task(4, "send", ["x"]),
        Task(5, "send", ["x"]),
        Task(6, "lookup", ["$3"]),
        Task(7, "lookup", ["Y"]),  # same arguments as 6 once resolved
    ]
    results = await Executor([lookup, send]).run(_stream(*tasks))
    assert sorted(calls) == ["Y", "send x", "send x", "x", "y"]
    assert results[2].value == "X" and results[2].reused_from == 1 and results[2].attempts == 0
    # 7 was ready at once; 6 became ready only after 3, with the same resolved argument.
    assert results[7].reused_from is None and results[6].reused_from == 7 and results[6].value == "Y"
    assert results[5].reused_from is None


async def test_cancelling_the_run_cancels_running_and_waiting_tasks() -> None:
    cancelled = anyio.Event()

    @tool
    async def forever(x: Any = None) -> None:
        """Never finish."""
        try:
            await anyio.sleep(30)
        finally:
            cancelled.set()

    results: dict[int, TaskResult] = {}
    begin = time.monotonic()
    with anyio.move_on_after(0.05) as scope:
        await Executor([forever]).run(_stream(Task(1, "forever"), Task(2, "forever", ["$1"])), results)
    assert scope.cancelled_caught
    assert time.monotonic() - begin < 2
    assert cancelled.is_set()
    assert {i: r.status for i, r in results.items()} == {1: "cancelled", 2: "cancelled"}


async def test_replanning_keeps_earlier_results_referable() -> None:
    @tool
    async def num(n: int) -> int:
        """Number."""
        return n

    @tool
    async def plus(a: int, b: int) -> int:
        """Add."""
        return a + b

    ex = Executor([num, plus])
    plan = Plan(ex.tools)
    results = await ex.run([Task(1, "num", [2]), Task(2, "num", [3]), Task(3, "join")], plan=plan)
    assert plan.next_id == 4
    await ex.run([Task(4, "plus", ["$1", "$2"]), Task(5, "join")], results, plan=plan)
    assert results[4].value == 5
    assert str(plan) == "1. num(2)\n2. num(3)\n4. plus($1, $2)\n5. join()"
    # Without the plan object, the ids in ``results`` are what is known.
    with pytest.raises(PlanError, match="id 2 is already used; number new tasks from 5"):
        await ex.run([Task(2, "num", [9])], results)
    await ex.run([Task(6, "plus", ["$4", 1])], results)
    assert results[6].value == 6


async def test_join_ends_the_plan_and_closes_the_planner() -> None:
    closed = False

    @tool
    async def num(n: int) -> int:
        """Number."""
        return n

    async def planner() -> AsyncIterator[Task]:
        nonlocal closed
        try:
            yield Task(1, "num", [1])
            yield Task(2, "join")
            yield Task(3, "num", [3])
        finally:
            closed = True

    results = await Executor([num]).run(planner())
    assert list(results) == [1]
    assert closed


async def test_on_result_streams_results_as_they_finish() -> None:
    @tool
    async def wait(ms: int) -> int:
        """Sleep."""
        await anyio.sleep(ms / 1000)
        return ms

    send, receive = anyio.create_memory_object_stream[TaskResult](100)
    order: list[int] = []
    async with anyio.create_task_group() as tg:

        async def consume() -> None:
            async with receive:
                async for result in receive:
                    order.append(result.task_id)

        tg.start_soon(consume)
        async with send:
            await Executor([wait]).run(
                [Task(1, "wait", [30]), Task(2, "wait", [1])], on_result=send.send_nowait
            )
    assert order == [2, 1]


async def test_every_task_is_traced_with_times_and_status() -> None:
    @tool
    async def fine() -> int:
        """Fine."""
        await anyio.sleep(0.002)
        return 1

    @tool
    async def bad(x: Any = None) -> int:
        """Bad."""
        raise RuntimeError("no")

    trace = Trace()
    with trace.activate():
        await Executor([fine, bad]).run([Task(1, "fine"), Task(2, "bad", ["$1"]), Task(3, "fine")])
    spans = {s.attrs["task_id"]: s for s in trace.of_kind("task")}
    assert spans[1].attrs == {"task_id": 1, "tool": "fine", "status": "ok", "attempts": 1, "result": 1}
    assert spans[3].attrs.get("reused_from") == 1
    assert spans[2].error == "bad raised RuntimeError: no"
    assert all(s.end is not None and s.end >= s.start for s in spans.values())
    text = trace.render_text(width=30)
    assert "1. fine" in text and "2. bad" in text


async def test_executor_works_on_trio_too() -> None:
    pytest.importorskip("trio")

    @tool
    async def step(x: int) -> int:
        """Step."""
        await anyio.sleep(0.001)
        return x + 1

    async def main() -> dict[int, TaskResult]:
        return await Executor([step]).run(
            [Task(1, "step", [1]), Task(2, "step", ["$1"]), Task(3, "step", [5])]
        )

    results = await anyio.to_thread.run_sync(lambda: anyio.run(main, backend="trio"))
    assert [results[i].value for i in (1, 2, 3)] == [2, 3, 6]


def test_trace_spans_jsonl_and_timeline_with_a_fake_clock(tmp_path: Any) -> None:
    clock = FakeClock()
    trace = Trace(clock)
    with trace.span("planner", "llm", tokens=12):
        clock.advance(0.010)
    with pytest.raises(ValueError), trace.span("1. search", "task", task_id=1):
        clock.advance(0.020)
        raise ValueError("boom")
    trace.add(Span("2. search", "task", 0.012, 0.030, {"task_id": 2}))
    assert [(s.name, s.start, s.end) for s in trace.spans] == [
        ("planner", 0.0, 0.010),
        ("1. search", 0.010, 0.030),
        ("2. search", 0.012, 0.030),
    ]
    assert trace.spans[1].error == "ValueError: boom"
    path = trace.to_jsonl(tmp_path / "trace.jsonl")
    again = Trace.from_jsonl(path)
    assert again.to_dicts() == trace.to_dicts()
    lines = trace.render_text(width=30).splitlines()
    planner, first, second = (
        next(line for line in lines if line.startswith(n)) for n in ("planner", "1.", "2.")
    )
    assert planner.index("█") < first.index("█")  # the planner ran first
    # the two tasks overlap: their bars share columns on the time axis
    assert {i for i, c in enumerate(first) if c == "█"} & {i for i, c in enumerate(second) if c == "█"}


def test_overhead_benchmark_prints_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from orchestra.benchmarks.perf.executor_overhead import build_dag, main

    dag = build_dag(100)
    assert len(dag) == 100 and any(len(t.deps) > 1 for t in dag) and any(len(t.deps) == 1 for t in dag)
    main(["--tasks", "400", "--repeat", "1"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    figures = json.loads(lines[0])
    assert figures["tasks"] == 400 and figures["spans"] == 400
    assert figures["dispatch_p50_ms"] >= 0 and figures["overhead_us_per_task"] > 0
    assert set(figures["dispatch_p50_ms_by_edge"]) == {"chain", "fan_out", "fan_in"}
