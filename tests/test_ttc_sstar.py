"""S* with a scripted model: only the generated, distinguishing inputs find the right candidate."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from orchestra.chat import ChatRequest
from orchestra.testing import FunctionModel
from orchestra.ttc import Allocator, Budget, Execution, Lane, SStar, run, run_python
from orchestra.ttc.sstar import PublicTest, extract_code, parse_calls

RIGHT = "def is_even(n):\n    return n % 2 == 0\n"
LOOKS_RIGHT = "def is_even(n):\n    return n in (0, 2, 4)\n"  # passes the public tests
WRONG = "def is_even(n):\n    return n % 2 == 1\n"  # fails them; its fix is LOOKS_RIGHT
TESTS = [PublicTest("is_even(2)", "True"), PublicTest("is_even(3)", "False")]


def _model(samples: Sequence[str]) -> FunctionModel:
    queue = list(samples)

    def answer(request: ChatRequest) -> str:
        text = request.messages[-1].content or ""
        if "fails these tests" in text:
            return f"```python\n{LOOKS_RIGHT}```"
        if "test inputs" in text:
            return "Here you go:\nis_even(2)\nassert is_even(10) == True\nis_even(7)"
        if "Program A" in text:
            # A judge that reads the execution results: is_even(10) must be True.
            program_a = text.split("Program A:")[1].split("Program B:")[0]
            return "A" if "% 2 == 0" in program_a else "B"
        return f"```python\n{queue.pop(0)}```"

    return FunctionModel(answer, name="m")


async def test_distinguishing_inputs_and_the_judge_pick_the_only_right_candidate() -> None:
    # The right program is the minority, and the first sample is wrong: neither the public tests,
    # nor a vote, nor taking the first sample would find it.
    model = _model([LOOKS_RIGHT, WRONG, RIGHT, LOOKS_RIGHT])
    program = SStar(ChatRequest.of("Write is_even(n).", max_tokens=64), "is_even", TESTS, n=4, max_matches=2)
    budget = Budget(tokens=100_000)
    allocator = Allocator(budget, [Lane("m")])
    allocator.add("q", program)
    await run(allocator, {"m": model}, code_runner=run_python)
    selection = allocator.selection("q")
    assert selection.answer == RIGHT
    assert program.calls == ["is_even(2)", "is_even(10)", "is_even(7)"]
    assert sorted(len(g) for g in program.groups) == [1, 3]  # grouped by outputs
    assert program.matches == 2  # both orders of the one pair, within the cap
    usage = allocator.usage("q")
    assert usage.units == {"sample": 4, "execute": 5 + 4, "debug": 1, "test-generation": 1, "judge": 2}
    # every model call, judges and test generation included, is charged
    assert budget.spent.calls == 4 + 1 + 1 + 2
    assert budget.spent.tokens == usage.tokens > 0


async def test_the_judge_cap_limits_the_matches() -> None:
    model = _model([LOOKS_RIGHT, RIGHT])
    program = SStar(ChatRequest.of("Write is_even(n)."), "is_even", TESTS, n=2, max_matches=1)
    allocator = Allocator(Budget(), [Lane("m")])
    allocator.add("q", program)
    await run(allocator, {"m": model}, code_runner=run_python)
    assert program.matches == 1


async def test_sandbox_reports_errors_and_timeouts_per_call() -> None:
    outputs = await run_python(Execution("def f(x):\n    return 10 // x\n", ("f(2)", "f(0)", "g(1)")))
    assert outputs[0] == "5"
    assert outputs[1].startswith("Error: ZeroDivisionError")
    assert outputs[2].startswith("Error: NameError")
    slow = await run_python(Execution("while True:\n    pass\n", ("1",), timeout=0.5))
    assert slow == ("Error: Timeout",)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("```python\nx = 1\n```", "x = 1\n"),
        ("x = 2", "x = 2\n"),
        ("see\n```\ny = 3\n```\n```python\nz\n```", "y = 3\n"),
    ],
)
def test_extract_code_takes_the_first_fenced_block(text: str, code: str) -> None:
    assert extract_code(text) == code


def test_parse_calls_keeps_whole_calls_of_the_entry_point() -> None:
    text = "f(1, (2, 3))\nassert f([4]) == 5\nprint(g(1))\nf(1, (2, 3))"
    assert parse_calls(text, "f", 5) == ["f(1, (2, 3))", "f([4])"]
