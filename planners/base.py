"""Pieces every planner shares: tool listings for prompts, JSON schemas of calls, JSON parsing.

The protocols themselves (:class:`~orchestra.planning.Planner`, ``Joiner``, ``StepPlanner``) live
in the core so that the agent never imports this package; these helpers only build prompts and
parse answers, with no I/O.

For weak models the schemas are the point: ``response_format`` with a JSON schema makes a server
such as llama.cpp constrain decoding to it, so a 135M model cannot name a tool that does not exist
(the tool name is a ``const`` per branch of an ``anyOf``) nor write an argument the tool lacks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pydantic_core

from orchestra._tool import Tool
from orchestra.errors import PlanError
from orchestra.plan import Task
from orchestra.planning import PlanContext

__all__ = [
    "args_schema",
    "call_schema",
    "json_response_format",
    "parse_json",
    "plan_prompt",
    "task_from_call",
    "tool_lines",
]


def tool_lines(tools: Iterable[Tool]) -> str:
    """The tools for a prompt: a signature line each, then one indented line per described parameter.

    ``- weather(city: string, unit: "celsius"|"fahrenheit" = "celsius"): Current weather.``
    ``    unit: temperature unit`` — allowed values, defaults and descriptions are all visible,
    whichever planner format the prompt is for.
    """
    lines = []
    for t in tools:
        lines.append(f"- {t.signature()}: {t.description or 'no description'}")
        lines += [f"    {line}" for line in t.parameter_lines()]
    return "\n".join(lines)


def args_schema(tool: Tool, *, required_only: bool = False) -> dict[str, Any]:
    """The JSON schema of a call's arguments, where any non-string value may also be a ``$k`` string.

    Args:
        tool: the tool.
        required_only: list only required parameters: fewer choices for a weak model.
    """
    props: dict[str, Any] = {}
    required = [n for n in tool.parameters.get("required", [])]
    for name, prop in tool.parameters.get("properties", {}).items():
        if required_only and name not in required:
            continue
        described = _with_default_in_description(prop)
        if prop.get("type") != "string":
            # A reference to an earlier result is written as a string ("$1") whatever the type.
            inner = {k: v for k, v in described.items() if k != "description"}
            wrapped: dict[str, Any] = {"anyOf": [inner, {"type": "string"}]}
            if "description" in described:
                wrapped["description"] = described["description"]
            described = wrapped
        props[name] = described
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


def _with_default_in_description(prop: Mapping[str, Any]) -> dict[str, Any]:
    """The property without ``default``/``title``, its default told in the description instead.

    ``strict`` structured-output modes do not take ``default``; the model must still see it.
    """
    out = {k: v for k, v in prop.items() if k not in ("default", "title")}
    if "default" in prop:
        note = f"(default: {json.dumps(prop['default'], default=str)})"
        out["description"] = f"{out['description']} {note}" if out.get("description") else note
    return out


def call_schema(tools: Sequence[Tool], *, required_only: bool = False) -> dict[str, Any]:
    """``{"tool": <name>, "args": {...}}`` with one ``anyOf`` branch per tool (the name is a const)."""
    branches = [
        {
            "type": "object",
            "properties": {"tool": {"const": t.name}, "args": args_schema(t, required_only=required_only)},
            "required": ["tool", "args"],
            "additionalProperties": False,
        }
        for t in tools
    ]
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def json_response_format(name: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAI ``response_format`` asking for output constrained to ``schema``."""
    return {"type": "json_schema", "json_schema": {"name": name, "schema": dict(schema), "strict": True}}


def parse_json(text: str, what: str, *, partial: bool = False) -> Any:
    """Parse a JSON answer, tolerating a Markdown code fence around it.

    Args:
        text: the model's answer.
        what: what it should be, for the error message.
        partial: accept JSON cut off at ``max_tokens`` (a trailing string is kept as written).

    Raises:
        PlanError: not JSON; the message says where, as repair feedback.
    """
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        if partial:
            try:
                return pydantic_core.from_json(body, allow_partial="trailing-strings")
            except ValueError:
                pass
        raise PlanError(
            f"the {what} is not valid JSON ({exc.msg} at character {exc.pos})", hint="answer with JSON only"
        ) from None


def task_from_call(task_id: int, call: Any, *, thought: str | None = None) -> Task:
    """A :class:`Task` from a ``{"tool": name, "args": {...}}`` object.

    Raises:
        PlanError: the object does not have that shape.
    """
    if not isinstance(call, Mapping) or not isinstance(call.get("tool"), str):
        raise PlanError(
            f'task {task_id}: expected an object {{"tool": name, "args": {{...}}}}, got {json.dumps(call)[:120]}',
            task_id=task_id,
        )
    args = call.get("args", {})
    if args is None:
        args = {}
    if not isinstance(args, Mapping):
        raise PlanError(f'task {task_id}: "args" must be an object of named arguments', task_id=task_id)
    return Task(task_id, call["tool"], kwargs=dict(args), thought=thought)


def plan_prompt(context: PlanContext, *, numbering: bool = True) -> str:
    """The user message of a plan request: question, earlier results, replan reason, feedback."""
    parts = [f"Question: {context.question}"]
    history = context.history()
    if history:
        parts.append("Tasks already done (their results can be used as $k):\n" + history)
    if context.replan_reason:
        parts.append(f"The previous plan was not enough: {context.replan_reason}")
    if context.feedback:
        parts.append(f"Your previous plan was invalid: {context.feedback}\nWrite a corrected plan.")
    if numbering and context.next_id > 1:
        parts.append(f"Number new tasks from {context.next_id}.")
    return "\n\n".join(parts)
