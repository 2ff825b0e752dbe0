"""A GBNF grammar of one CML turn, so a weak model can only write well-formed frames.

llama.cpp's server constrains decoding to a ``grammar`` (GBNF) sent with the request. The grammar
here allows a turn to be: calls, one per line, each ``[CALL] tool(name=value, ...) [END]`` naming
a real tool with its required parameters in order (optional ones may follow), then either
``[TRAP][END]`` (wait) or a line of answer text. A value is a literal of the parameter's JSON type
or a ``$k`` reference. Tool and parameter names are spelled out as literals, so a 135M model cannot
invent a tool or a parameter; it can still choose badly, which repair feedback handles.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from orchestra._tool import Tool

__all__ = ["cml_grammar"]

_COMMON = r"""
ws-char ::= [ \t]
ref ::= "$" [1-9] [0-9]{0,3}
str ::= "\"" ( [^"\\\n\[] | "\\" ["\\nt] ){0,200} "\""
int ::= "-"? [0-9]{1,12}
num ::= "-"? [0-9]{1,12} ("." [0-9]{1,8})?
bool ::= "True" | "False"
null ::= "None"
list ::= "[" ( any ( ", " any ){0,15} )? "]"
dict ::= "{" ( str ": " any ( ", " str ": " any ){0,15} )? "}"
any ::= str | num | bool | null | list | dict | ref
"""


def cml_grammar(
    tools: Sequence[Tool],
    *,
    allow_calls: bool = True,
    require_call: bool = False,
    max_answer_chars: int = 400,
) -> str:
    """The GBNF of one turn over ``tools``.

    Args:
        tools: the tools the model may call.
        allow_calls: False for the last turn (only an answer is allowed).
        require_call: at least one call before the trap or answer (a first turn).
        max_answer_chars: the longest answer line.

    Returns:
        The grammar text; its start rule is ``root``.
    """
    answer = f"answer ::= [^\\[\\n] [^\\[\\n]{{0,{max(1, max_answer_chars - 1)}}}"
    if not allow_calls or not tools:
        return f"root ::= answer\n{answer}\n" + _COMMON
    least = 1 if require_call else 0
    lines = [
        f'root ::= ( call "\\n" ){{{least},12}} ( "[TRAP][END]" | answer )',
        'call ::= "[CALL] " ( ' + " | ".join(f"tool{i}" for i in range(len(tools))) + ' ) " [END]"',
        answer,
    ]
    for i, tool in enumerate(tools):
        lines.append(f"tool{i} ::= {_literal(tool.name + '(')} {_arguments(tool)} {_literal(')')}")
    return "\n".join(lines) + "\n" + _COMMON


def _arguments(tool: Tool) -> str:
    props: Mapping[str, Any] = tool.parameters.get("properties", {})
    required = [n for n in tool.param_names if n in tool.required and n in props]
    optional = [n for n in tool.param_names if n not in tool.required and n in props]
    required_part = ' ", " '.join(f"{_literal(n + '=')} {_value(props[n])}" for n in required)
    optional_parts = [f"{_literal(n + '=')} {_value(props[n])}" for n in optional]
    if required_part:
        tail = " ".join(f'( ", " {p} )?' for p in optional_parts)
        return f"{required_part} {tail}".strip()
    if not optional_parts:
        return ""
    first, *rest = optional_parts
    tail = " ".join(f'( ", " {p} )?' for p in rest)
    return f"( {first} {tail} )?"


def _value(prop: Mapping[str, Any]) -> str:
    """The value rule of one parameter: its JSON type's literal, or a reference."""
    if "enum" in prop and all(isinstance(v, (str, int, float)) for v in prop["enum"]):
        options = " | ".join(_literal(_python_literal(v)) for v in prop["enum"])
        return f"( {options} | ref )"
    kind = prop.get("type")
    rule = {
        "string": "str",
        "integer": "int",
        "number": "num",
        "boolean": "bool",
        "array": "list",
        "object": "dict",
    }.get(kind if isinstance(kind, str) else "", "any")
    return f"( {rule} | ref )"


def _python_literal(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    return '"' + re.sub(r'(["\\])', r"\\\1", text).replace("\n", "\\n") + '"'
