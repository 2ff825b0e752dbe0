"""Nothing a tool or a plan does can hang the process: bounded costs, daemon threads, deadlines."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator

import anyio
import pytest

from orchestra import Agent, DeadlineExceeded, ToolError, tool
from orchestra.chat import ChatRequest
from orchestra.executor import DEFAULT_RUN_TIMEOUT, DEFAULT_TASK_TIMEOUT, Executor
from orchestra.plan import Task
from orchestra.testing import FunctionModel
from orchestra.tools import calculator, evaluate

# Each of these once ran for minutes holding the GIL, or returned inf/nan as a "result".
COSTLY_OR_NON_FINITE = [
    "round(1, -10**9)",
    "round(10**3000, -10**6)",
    "round(1.5, 10**18)",
    "10**10**10",
    "(-7)**(10**8)",
    "9**9**9",
    "factorial(10**6)",
    "factorial(1e300)",
    "2**5000 * 2**5000 * 2**5000",
    "1e308*10",
    "1e309-1e309",
    "-1e309",
    "exp(10**4)",
    "1e308 + 1e308",
    "hypot(1e308, 1e308) * 10",
]


@pytest.mark.parametrize("expression", COSTLY_OR_NON_FINITE)
def test_calculator_refuses_unbounded_cost_and_non_finite_values_at_once(expression: str) -> None:
    started = time.monotonic()
    with pytest.raises(ToolError):
        evaluate(expression)
    assert time.monotonic() - started < 0.5


def test_calculator_still_rounds_and_powers_within_bounds() -> None:
    assert evaluate("round(123456, -2)") == 123500
    assert evaluate("round(2.5)") == 2
    assert evaluate("round(3.14159, 2)") == 3.14
    assert evaluate("2**100") == 2**100
    assert evaluate("1e308 * 1.5 / 2") == 1e308 * 1.5 / 2


_HUNG_TOOL_SCRIPT = """
import threading, time, anyio
from orchestra import tool
from orchestra.executor import Executor
from orchestra.plan import Task

@tool
def hang() -> str:
    '''Never returns.'''
    threading.Event().wait()
    return "never"

async def main():
    results = await Executor([hang], default_timeout=0.2).run([Task(1, "hang")])
    print(results[1].status, results[1].error, flush=True)

anyio.run(main)
"""


def test_a_timed_out_sync_tool_does_not_keep_the_process_alive() -> None:
    """Real subprocess: the run ends on time and the interpreter exits (no join of the thread)."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _HUNG_TOOL_SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("error hang timed out after 0.2 s")
    assert time.monotonic() - started < 30  # interpreter start-up dominates; a join would be forever


async def test_sync_tools_keep_context_and_exceptions() -> None:
    @tool
    def boom(x: int) -> int:
        """Fails."""
        raise ValueError(f"bad {x}")

    results = await Executor([boom]).run([Task(1, "boom", kwargs={"x": 3})])
    assert results[1].status == "error" and "ValueError: bad 3" in str(results[1].error)


def test_default_deadlines_are_set_and_overridable() -> None:
    executor = Executor([calculator])
    assert executor.default_timeout == DEFAULT_TASK_TIMEOUT == 120.0
    assert executor.run_timeout == DEFAULT_RUN_TIMEOUT == 600.0
    assert Executor([calculator], default_timeout=None, run_timeout=None).run_timeout is None
    agent = Agent(FunctionModel(lambda r: "x"), [calculator], planner=_json_planner())
    assert (agent.task_timeout, agent.run_timeout) == (DEFAULT_TASK_TIMEOUT, DEFAULT_RUN_TIMEOUT)


async def test_a_plan_stream_that_stalls_without_join_ends_at_the_run_deadline() -> None:
    async def stalls() -> AsyncIterator[Task]:
        yield Task(1, "calculator", kwargs={"expression": "6*7"})
        await anyio.sleep_forever()
        yield Task(2, "calculator", kwargs={"expression": "1"})  # never reached

    results: dict = {}
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match=r"0\.3 s"):
        await Executor([calculator], run_timeout=0.3).run(stalls(), results)
    assert time.monotonic() - started < 2.0
    assert results[1].status == "ok" and results[1].value == 42


async def test_a_hung_tool_is_cut_by_the_default_task_timeout_of_the_executor() -> None:
    @tool
    async def stuck() -> str:
        """Never returns."""
        await anyio.sleep_forever()
        return ""

    results = await Executor([stuck], default_timeout=0.1).run([Task(1, "stuck")])
    assert results[1].status == "error" and "timed out after 0.1 s" in str(results[1].error)


async def test_an_agent_whose_model_never_answers_ends_at_its_run_timeout() -> None:
    async def never(request: ChatRequest) -> str:
        await anyio.sleep_forever()
        return ""

    agent = Agent(FunctionModel(never), [calculator], planner=_json_planner(), run_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="run_timeout"):
        await agent.run("what is 6*7?")
    assert time.monotonic() - started < 2.0


def _json_planner() -> object:
    from orchestra.planners import JSONPlanner

    return JSONPlanner()
