"""``calculator``: a safe arithmetic evaluator for planners.

LLMCompiler's own math tool hands a model-written expression to ``numexpr``/an LLM, and many
agent examples call ``eval``; either lets a planner (or a prompt injection in a search result it
read) run arbitrary code. This evaluator walks the ``ast`` of the expression and accepts only
numbers, the arithmetic operators, parentheses, and a whitelist of ``math`` functions and
constants. Every other node (names, attributes, subscripts, calls of anything else, lambdas,
comprehensions) is refused before anything runs.

Every function whose cost grows with its arguments' values is bounded *before* it runs: a long
integer computation holds the GIL in one C call, so no timeout, thread or Ctrl-C could stop it
afterwards (``round(1, -10**9)`` computes ``10**(10**9)``). Integers stay under
``_MAX_INT_BITS`` at every step, ``**`` is checked from the operands' sizes, ``round``'s
``ndigits`` and ``factorial``'s argument are range-checked. Non-finite values (``1e308*10``,
``1e309-1e309``) are errors, not ``inf``/``nan`` sent on as JSON.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from orchestra._tool import tool
from orchestra.errors import ToolError

__all__ = ["MAX_EXPRESSION_CHARS", "calculator", "evaluate"]

MAX_EXPRESSION_CHARS = 1_000
"""Longer inputs are refused: no arithmetic question needs more, and it bounds parse time."""

# An integer result is capped at this many bits (~3000 decimal digits, under CPython's
# 4300-digit str() limit), so a result can always be printed back to the planner.
_MAX_INT_BITS = 10_000
_MAX_FACTORIAL = 1_000

Number = int | float

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def _factorial(n: Number) -> int:
    if isinstance(n, float):
        if not n.is_integer():
            raise ValueError("factorial() only accepts integral values")
        n = int(n)
    if n > _MAX_FACTORIAL:
        raise ValueError(f"factorial() argument above {_MAX_FACTORIAL} is refused (result too large)")
    return math.factorial(n)


_MAX_NDIGITS = 400  # round(x, n) with |n| beyond this is refused (int x: 10**|n| is computed)


def _round(x: Number, ndigits: Number | None = None) -> Number:
    if ndigits is None:
        return round(x)
    if not isinstance(ndigits, int) or isinstance(ndigits, bool):
        raise ValueError("round() ndigits must be an integer")
    if abs(ndigits) > _MAX_NDIGITS:
        raise ValueError(f"round() ndigits beyond ±{_MAX_NDIGITS} is refused")
    return round(x, ndigits)


def _log(x: Number, base: Number | None = None) -> float:
    return math.log(x) if base is None else math.log(x, base)


_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "abs": abs,
    "round": _round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "cbrt": math.cbrt,
    "exp": math.exp,
    "log": _log,
    "ln": math.log,
    "log2": math.log2,
    "log10": math.log10,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "atan2": math.atan2,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
    "degrees": math.degrees,
    "radians": math.radians,
    "hypot": math.hypot,
    "floor": math.floor,
    "ceil": math.ceil,
    "trunc": math.trunc,
    "factorial": _factorial,
    "gcd": math.gcd,
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}


def evaluate(expression: str) -> Number:
    """Evaluate an arithmetic expression without executing any code.

    Args:
        expression: e.g. ``"2 * (3 + 4) ** 2 / sqrt(16)"``.

    Returns:
        The value, an ``int`` when every step stayed integral, else a ``float``.

    Raises:
        ToolError: the input is not arithmetic (names, attributes, calls outside the whitelist),
            is too long, or fails (division by zero, math domain error, a result too large).
    """
    if not isinstance(expression, str):
        raise ToolError(f"expected an expression string, got {type(expression).__name__}", tool="calculator")
    text = expression.strip()
    if not text:
        raise ToolError("empty expression", tool="calculator")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"expression longer than {MAX_EXPRESSION_CHARS} characters", tool="calculator")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        hint = " (use ** for powers, not ^)" if "^" in text else ""
        raise ToolError(
            f"not a valid arithmetic expression: {_short(text)}{hint}", tool="calculator"
        ) from exc
    try:
        return _eval(tree.body)
    except ToolError:
        raise
    except ZeroDivisionError as exc:
        raise ToolError(f"division by zero in {_short(text)}", tool="calculator") from exc
    except (ArithmeticError, ValueError, TypeError, RecursionError) as exc:
        raise ToolError(f"cannot evaluate {_short(text)}: {exc}", tool="calculator") from exc


def _refuse(node: ast.AST, what: str) -> ToolError:
    where = ast.unparse(node) if isinstance(node, ast.expr) else type(node).__name__
    return ToolError(f"{what} is not allowed in a calculator expression: {_short(where)}", tool="calculator")


def _short(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _eval(node: ast.AST) -> Number:
    if isinstance(node, ast.Constant):
        # bool is an int subclass; True/False, strings, bytes, None and complex are not arithmetic.
        if isinstance(node.value, int | float) and not isinstance(node.value, bool):
            return _checked(node.value)
        raise _refuse(node, f"the constant {node.value!r}")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        return _checked(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_eval(node.operand)))
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        raise ToolError(
            f"unknown name {node.id!r}; the only names are the constants {', '.join(_CONSTANTS)}",
            tool="calculator",
        )
    if isinstance(node, ast.Call):
        return _call(node)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitXor):
        raise ToolError("^ is not a power operator here; use ** for powers", tool="calculator")
    raise _refuse(node, type(node).__name__)


def _call(node: ast.Call) -> Number:
    if not isinstance(node.func, ast.Name):
        raise _refuse(node.func, "calling this")
    fn = _FUNCTIONS.get(node.func.id)
    if fn is None:
        raise ToolError(
            f"unknown function {node.func.id!r}; known functions: {', '.join(sorted(_FUNCTIONS))}",
            tool="calculator",
        )
    if node.keywords:
        raise _refuse(node, "a keyword argument")
    if any(isinstance(arg, ast.Starred) for arg in node.args):
        raise _refuse(node, "a starred argument")
    return _checked(fn(*(_eval(arg) for arg in node.args)))


def _check_power(base: Number, exponent: Number) -> None:
    """Refuse powers whose result would be astronomically large before computing them."""
    if isinstance(base, int) and isinstance(exponent, int):
        if exponent > 0 and abs(base) > 1 and (abs(base).bit_length() - 1) * exponent > _MAX_INT_BITS:
            raise ToolError(
                f"{base}**{exponent} is too large (results are limited to {_MAX_INT_BITS} bits)",
                tool="calculator",
            )
    # Float powers overflow to OverflowError by themselves; nothing to pre-check.


def _checked(value: Any) -> Number:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToolError(f"result {value!r} is not a real number", tool="calculator")
    if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        raise ToolError(f"result is too large (limited to {_MAX_INT_BITS} bits)", tool="calculator")
    if isinstance(value, float) and not math.isfinite(value):
        what = "overflows to infinity" if math.isinf(value) else "is not a number (nan)"
        raise ToolError(f"the value {what}; calculator results must be finite", tool="calculator")
    return value


@tool(name="calculator")
def calculator(expression: str) -> float | int:
    """Evaluate an arithmetic expression and return the number.

    Supports + - * / // % ** and parentheses, the constants pi, e, tau, and the functions
    sqrt, cbrt, exp, log (natural, or log(x, base)), log2, log10, sin, cos, tan, asin, acos, atan,
    atan2, sinh, cosh, tanh, degrees, radians, hypot, floor, ceil, trunc, abs, round, min, max,
    factorial, gcd.

    Args:
        expression: the arithmetic expression, e.g. "(1200 - 350) * 0.15" or "sqrt(2) * pi".
    """
    return evaluate(expression)
