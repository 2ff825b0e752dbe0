"""The value of a program's final bare expression, printed as a REPL prints it.

``python(code="2**10")`` should answer ``1024``, as the interactive interpreter and notebooks do;
without this the program prints nothing and a model that wrote an expression sees no result.
"""

from __future__ import annotations

import ast

__all__ = ["show_final_value"]


def show_final_value(code: str) -> str:
    """``code`` with its last top-level statement, if a bare expression, passed to ``sys.displayhook``.

    ``sys.displayhook`` is what the REPL calls: it prints the ``repr`` and skips ``None`` (so a
    final ``print(...)`` call is not echoed twice). Everything else, line numbers included, is left
    as written; code that does not parse is returned unchanged (the run reports the SyntaxError).
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return code
    last = tree.body[-1]
    if last.end_lineno is None or last.end_col_offset is None:
        return code
    lines = code.splitlines(keepends=True)
    first, end = lines[last.lineno - 1].encode(), lines[last.end_lineno - 1].encode()
    before = "".join(lines[: last.lineno - 1]) + first[: last.col_offset].decode()
    segment = ast.get_source_segment(code, last.value)
    if segment is None:
        return code
    rest = end[last.end_col_offset :].decode() + "".join(lines[last.end_lineno :])
    return f"{before}__import__('sys').displayhook(({segment})){rest}"
