"""Any value a tool returns is a result: carried, or a structured error for that task, never a crash."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from orchestra import Agent, tool
from orchestra.chat import ChatRequest
from orchestra.executor import OBSERVATION_CHARS, Executor
from orchestra.plan import Task
from orchestra.testing import FunctionModel


def _self_referential() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


def _deep(depth: int = 5_000) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def _cyclic_dict() -> dict[str, Any]:
    d: dict[str, Any] = {"name": "x"}
    d["self"] = d
    return d


class Hostile:
    """Every hook a runtime might call raises."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")

    def __hash__(self) -> int:
        raise RuntimeError("no hash")


class HostileList(list):  # type: ignore[type-arg]
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __iter__(self) -> Any:
        raise RuntimeError("no iter")


class BadError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")


VALUES: dict[str, Callable[[], Any]] = {
    "self-referential list": _self_referential,
    "5000-deep list": _deep,
    "self-referential dict": _cyclic_dict,
    "unserialisable object": object,
    "a set and bytes": lambda: {"s": {1, 2}, "b": b"\xff\x00"},
    "huge string": lambda: "x" * 5_000_000,
    "huge list": lambda: list(range(300_000)),
    "hostile object": Hostile,
    "list with hostile hooks": lambda: HostileList([1, 2]),
    "dict holding a hostile value": lambda: {1: Hostile()},
    "nan and inf": lambda: [float("nan"), float("inf")],
}


def _tools(make: Callable[[], Any]) -> list[Any]:
    @tool
    def produce() -> Any:
        """Return the value under test."""
        return make()

    @tool
    def consume(value: Any) -> str:
        """Take any value; say its type."""
        return type(value).__name__

    @tool
    def echo(text: str) -> str:
        """Return the text."""
        return text[:50]

    @tool
    def fail() -> str:
        """Raise an exception whose message cannot be printed."""
        raise BadError()

    return [produce, consume, echo, fail]


@pytest.mark.parametrize("name", list(VALUES))
async def test_any_returned_value_is_carried_or_a_structured_error(name: str) -> None:
    plan = [
        Task(1, "produce"),
        Task(2, "consume", ["$1"]),
        Task(3, "consume", ["$1"]),  # identical call: the de-duplication key must not crash
        Task(4, "echo", ["result: ${1}"]),
        Task(5, "fail"),
    ]
    with anyio.fail_after(30):
        results = await Executor(_tools(VALUES[name])).run(plan)
    assert set(results) == {1, 2, 3, 4, 5}
    assert results[1].status == "ok"
    for i in (2, 3, 4):
        assert results[i].status in ("ok", "error"), results[i]
        if results[i].status == "error":
            assert results[i].error is not None and str(results[i].error)
    assert results[5].status == "error" and "BadError" in str(results[5].error)
    for result in results.values():
        text = result.observation()
        assert isinstance(text, str) and len(text) <= OBSERVATION_CHARS + 100


async def test_a_run_of_the_agent_ends_with_an_answer_whatever_the_tool_returned() -> None:
    for name, make in VALUES.items():
        plans = iter(
            [
                json.dumps(
                    {"tasks": [{"tool": "produce", "args": {}}, {"tool": "consume", "args": {"value": "$1"}}]}
                ),
                json.dumps({"action": "finish", "answer": f"done {name}"}),
            ]
        )

        def answer(request: ChatRequest, plans: Any = plans) -> str:
            return str(next(plans))

        from orchestra.planners import JSONPlanner

        agent = Agent(FunctionModel(answer), _tools(make), planner=JSONPlanner())
        with anyio.fail_after(30):
            result = await agent.run("go")
        assert result.answer == f"done {name}", name
        json.dumps(result.trace.to_dicts())  # the trace serialises
