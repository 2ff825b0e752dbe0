"""The python tool prints the value of a final bare expression, as a REPL does."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from orchestra.tools import python
from orchestra.tools._repl import show_final_value


def output_of(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", show_final_value(code)], capture_output=True, text=True)
    return done.stdout + done.stderr


def test_a_final_expression_is_displayed_like_the_repl() -> None:
    assert output_of("2**10") == "1024\n"
    assert output_of("x = 3\nx * 'ab'") == "'ababab'\n"
    assert output_of("import math; math.comb(10, 3)  # choose") == "120\n"
    assert output_of("(1,\n 2)") == "(1, 2)\n"
    assert output_of("print('once')") == "once\n"  # a None value is not echoed
    assert output_of("x = 5") == ""  # a final assignment shows nothing, as in the REPL
    assert output_of("if True:\n    7") == ""  # only a top-level expression


def test_code_that_does_not_parse_is_left_alone() -> None:
    assert show_final_value("def (:") == "def (:"


@given(st.integers(), st.integers())
def test_the_rewrite_keeps_the_line_of_every_statement(a: int, b: int) -> None:
    code = f"x = {a}\n\ny = {b}\nx + y"
    rewritten = show_final_value(code)
    assert rewritten.splitlines()[:3] == code.splitlines()[:3]
    assert len(rewritten.splitlines()) == len(code.splitlines())


async def test_the_python_tool_answers_an_expression() -> None:
    result = await python.call({"code": "2**10"})
    assert result["stdout"].strip() == "1024"
