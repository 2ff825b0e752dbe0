"""The calculator: correct arithmetic, and nothing but arithmetic."""

from __future__ import annotations

import math

import pytest

from orchestra.errors import ToolError
from orchestra.tools._calculator import MAX_EXPRESSION_CHARS, calculator, evaluate


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("2 ** 3 ** 2", 512),  # right-associative
        ("-2 ** 2", -4),  # ** binds tighter than unary minus
        ("(-2) ** 2", 4),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("7 % 3", 1),
        ("10 - 4 - 3", 3),  # left-associative
        ("2 * (3 + (4 - 1)) / 3", 4.0),
        ("1_000 * 1.5e3", 1_500_000.0),
        ("+5 - -5", 10),
        ("2 ** -2", 0.25),
    ],
)
def test_arithmetic_and_precedence(expression: str, expected: float) -> None:
    result = evaluate(expression)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("sqrt(16) + abs(-3)", 7.0),
        ("log(e)", 1.0),
        ("log(8, 2)", 3.0),
        ("log10(1000)", 3.0),
        ("sin(pi / 2)", 1.0),
        ("cos(0) * tau", math.tau),
        ("round(3.14159, 2)", 3.14),
        ("min(4, 2, 8) + max(1, 9)", 11),
        ("floor(2.7) + ceil(2.1)", 5),
        ("factorial(5)", 120),
        ("hypot(3, 4)", 5.0),
        ("degrees(pi)", 180.0),
    ],
)
def test_whitelisted_functions_and_constants(expression: str, expected: float) -> None:
    assert evaluate(expression) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os')", "unknown function '__import__'"),
        ("(1).__class__", "Attribute is not allowed"),
        ("().__class__.__bases__[0].__subclasses__()", "not allowed"),
        ("abs.__call__(1)", "not allowed"),
        ("x + 1", "unknown name 'x'"),
        ("os", "unknown name 'os'"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("eval('1')", "unknown function 'eval'"),
        ("'a' * 3", "constant 'a'"),
        ("True + 1", "constant True"),
        ("[1, 2][0]", "not allowed"),
        ("lambda: 1", "Lambda"),
        ("1 < 2", "Compare"),
        ("sqrt(x=4)", "keyword argument"),
        ("max(*[1, 2])", "starred argument"),
        ("2 ^ 10", "use ** for powers"),
        ("1 +", "not a valid arithmetic expression"),
        ("", "empty expression"),
    ],
)
def test_refuses_everything_but_arithmetic(expression: str, message: str) -> None:
    with pytest.raises(ToolError) as info:
        evaluate(expression)
    assert message in str(info.value)
    assert info.value.tool == "calculator"


def test_code_is_never_executed(tmp_path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(ToolError):
        evaluate(f"__import__('os').system('touch {marker}')")
    with pytest.raises(ToolError):
        evaluate(f"open('{marker}', 'w')")
    assert not marker.exists()


@pytest.mark.parametrize("expression", ["9 ** 9 ** 9", "2 ** 100000", "10 ** 10 ** 10", "factorial(100000)"])
def test_huge_results_are_refused_quickly(expression: str) -> None:
    with pytest.raises(ToolError, match="too large"):
        evaluate(expression)


def test_big_but_reasonable_integers_are_exact() -> None:
    assert evaluate("2 ** 1000") == 2**1000
    assert evaluate("factorial(30)") == math.factorial(30)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("1 / 0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("sqrt(-1)", "math domain error"),
        ("log(0)", "math domain error"),
        ("exp(1000)", "cannot evaluate"),
        ("2.0 ** 100000", "cannot evaluate"),
        ("(-8) ** 0.5", "not a real number"),
        ("min()", "cannot evaluate"),
    ],
)
def test_math_errors_become_tool_errors(expression: str, message: str) -> None:
    with pytest.raises(ToolError) as info:
        evaluate(expression)
    assert message in str(info.value)


def test_long_and_deeply_nested_inputs_are_refused() -> None:
    with pytest.raises(ToolError, match="longer than"):
        evaluate("1+" * MAX_EXPRESSION_CHARS + "1")
    with pytest.raises(ToolError, match="not a valid"):
        evaluate("(" * 400 + "1" + ")" * 400)  # CPython's parser refuses > 200 nested parentheses


async def test_calculator_tool_schema_and_call() -> None:
    assert calculator.name == "calculator"
    assert calculator.parameters["required"] == ["expression"]
    assert calculator.parameters["properties"]["expression"]["type"] == "string"
    assert calculator.side_effects is False
    assert await calculator.call({"expression": "(1200 - 350) * 0.15"}) == pytest.approx(127.5)
    with pytest.raises(ToolError, match="unknown function"):
        await calculator.call({"expression": "__import__('os')"})
    with pytest.raises(ToolError, match="expression"):
        await calculator.call({})
