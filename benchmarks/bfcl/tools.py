"""BFCL function documents as orchestra tools, and the calls they receive as BFCL calls.

BFCL documents functions with its own types (``dict``, ``float``, ``tuple``, ``any``; Java and
JavaScript types in those categories) and dotted names (``spotify.play``). OpenAI-style function
calling takes JSON schema and names matching ``^[a-zA-Z0-9_-]{1,64}$``, so — as BFCL's own OpenAI
handlers do — types are mapped to JSON schema (``dict`` → ``object``, ``float`` → ``number``,
``tuple`` → ``array``), dots become underscores, and Java/JavaScript parameters become strings of
source text with their type in the description. ``any`` carries no ``type`` here (BFCL writes
``string``), so a replayed value of any type passes the executor's argument check.

Each tool records the call it receives (BFCL's name, the arguments after references resolved)
and answers after a simulated latency: BFCL never executes single-turn calls, it scores them. So
the tools accept any arguments (:class:`RecordingTool`): a call with a missing parameter, an
unknown one or a value of another type (BFCL's "variable" answers pass a name such as
``"data['sales']"`` where a list is documented) is recorded as the model wrote it and judged by
the checker, instead of being refused before it runs and sent back to the model for repair,
which BFCL never does.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from orchestra._tool import Tool
from orchestra.benchmarks.bfcl.data import Item

__all__ = ["CallLog", "FunctionLatency", "RecordingTool", "make_tools", "parameters_schema", "tool_names"]

_TYPES = {
    "dict": "object",
    "object": "object",
    "float": "number",
    "number": "number",
    "double": "number",
    "integer": "integer",
    "long": "integer",
    "short": "integer",
    "byte": "integer",
    "string": "string",
    "String": "string",
    "char": "string",
    "boolean": "boolean",
    "bool": "boolean",
    "array": "array",
    "list": "array",
    "tuple": "array",
}
_HINTS = {
    "python": " Note that the provided function is in Python 3 syntax.",
    "java": " Note that the provided function is in Java 8 SDK syntax.",
    "javascript": " Note that the provided function is in JavaScript syntax.",
}
_BAD_NAME = re.compile(r"[^A-Za-z0-9_]")


def tool_names(item: Item) -> dict[str, str]:
    """``{tool name: BFCL name}`` for the item's functions: dots (and anything else a tool name
    cannot hold) become ``_``, and a clash gets a numeric suffix."""
    names: dict[str, str] = {}
    for function in item.functions:
        original = str(function["name"])
        base = _BAD_NAME.sub("_", original)
        if not base or base[0].isdigit():
            base = "f_" + base
        base = base[:60]
        name, suffix = base, 2
        while name in names or name == "join":
            name, suffix = f"{base}_{suffix}", suffix + 1
        names[name] = original
    return names


def _property(spec: Mapping[str, Any], language: str) -> dict[str, Any]:
    out = {k: v for k, v in spec.items() if k not in ("type", "items", "properties", "optional", "required")}
    kind = spec.get("type")
    description = str(spec.get("description", ""))
    if language != "python":
        # BFCL's Java/JavaScript handlers: every argument is source text; the type is told in words.
        out["type"] = "string"
        out["description"] = (
            f"{description} This is {language.title()} {kind} type parameter in string representation."
        )
        return out
    if kind in _TYPES:
        out["type"] = _TYPES[kind]
    if kind == "float":
        out["description"] = description + " This is a float type value."
    if isinstance(spec.get("items"), Mapping):
        out["items"] = _property(spec["items"], language)
    if isinstance(spec.get("properties"), Mapping):
        out["properties"] = {k: _property(v, language) for k, v in spec["properties"].items()}
    return out


def parameters_schema(function: Mapping[str, Any], language: str = "python") -> dict[str, Any]:
    """The JSON schema of a BFCL function's parameters (see the module docstring for the mapping)."""
    parameters = function.get("parameters") or {}
    properties = parameters.get("properties") or {}
    return {
        "type": "object",
        "properties": {name: _property(spec, language) for name, spec in properties.items()},
        "required": [r for r in parameters.get("required", []) if r in properties],
    }


@dataclass(frozen=True, eq=False)
class RecordingTool(Tool):
    """A tool whose schema guides the model but never refuses a call: the checker judges it."""

    def check(self, bound: Mapping[str, Any], *, unresolved: Iterable[str] = ()) -> None:
        """Accept any arguments (see the module docstring)."""

    def validate(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments as given."""
        return dict(args)


@dataclass
class CallLog:
    """The calls the tools of one item received, in BFCL's call form, in the order they started."""

    calls: list[dict[str, dict[str, Any]]] = field(default_factory=list)

    def record(self, name: str, args: Mapping[str, Any]) -> None:
        """Add one call (BFCL's function name, the arguments as received)."""
        self.calls.append({name: dict(args)})


class FunctionLatency:
    """Each function name's fixed latency, drawn once, seeded (AsyncLM's setup: 30–500 ms).

    Args:
        seed: the same seed gives every name the same latency in every run and strategy.
        low: shortest latency, seconds.
        high: longest latency, seconds.
    """

    def __init__(self, seed: int = 0, low: float = 0.03, high: float = 0.5) -> None:
        self.seed, self.low, self.high = seed, low, high

    def __call__(self, name: str) -> float:
        """Seconds a call of ``name`` takes."""
        return random.Random(f"{self.seed}:{name}").uniform(self.low, self.high)


def make_tools(
    item: Item, log: CallLog, *, latency: Callable[[str], float] | None = None
) -> tuple[list[Tool], dict[str, str]]:
    """One tool per function of ``item`` that records its calls into ``log``.

    Args:
        item: the BFCL item.
        log: where the calls go.
        latency: seconds each call of a BFCL function name takes (None: no wait).

    Returns:
        The tools, and ``{tool name: BFCL name}``.
    """
    names = tool_names(item)
    language = item.category.language
    tools: list[Tool] = []
    for tool_name, function in zip(names, item.functions, strict=True):
        original = names[tool_name]
        wait = latency(original) if latency is not None else 0.0

        async def run(args: dict[str, Any], _name: str = original, _wait: float = wait) -> str:
            log.record(_name, args)
            if _wait > 0:
                await anyio.sleep(_wait)
            return json.dumps({"function": _name, "status": "done"})

        description = str(function.get("description", "")) + _HINTS[language]
        tool = Tool.from_schema(
            tool_name, description, parameters_schema(function, language), run, unpack=False
        )
        tools.append(RecordingTool(**{f.name: getattr(tool, f.name) for f in dataclasses.fields(Tool)}))
    return tools, names
