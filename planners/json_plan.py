"""The plan as one JSON object, requested with ``response_format`` (constrained decoding).

This is the weak-model path. SmolLM2-135M cannot follow the numbered text format reliably, but
with a JSON schema a server such as llama.cpp masks every token that would leave the schema, so
the model can only write ``{"tasks": [{"tool": <one of the tool names>, "args": {...}}]}``: tool
names are a ``const`` per ``anyOf`` branch and arguments are the tool's own (by default only the
required ones, fewer choices for a weak model). What is left to go wrong (a bad reference, a bad
value) is caught by plan validation and sent back as repair feedback by the agent.

Tasks are numbered by position (the first is ``context.next_id``), so the model never writes ids.
The plan still streams: :class:`JSONPlanParser` parses the growing text with pydantic-core's
partial JSON mode and emits a task as soon as the next one has begun (so it is complete), letting
the executor start tools before the plan is finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pydantic_core

from orchestra.chat import ChatRequest, Message
from orchestra.errors import PlanError
from orchestra.plan import Task
from orchestra.planning import Joiner, PlanContext
from planners.base import call_schema, json_response_format, parse_json, plan_prompt, task_from_call, tool_lines
from planners.joiner import JSONJoiner

__all__ = ["JSONPlanParser", "JSONPlanner", "plan_schema"]


def plan_schema(tools: list, *, max_tasks: int = 8, required_only: bool = True) -> dict[str, Any]:
    """``{"tasks": [call, ...]}`` with 1..``max_tasks`` calls of the given tools."""
    return {
        "type": "object",
        "properties": {
            "tasks": {
                "type": "array",
                "items": call_schema(tools, required_only=required_only),
                "minItems": 1,
                "maxItems": max_tasks,
            }
        },
        "required": ["tasks"],
        "additionalProperties": False,
    }


class JSONPlanParser:
    """Incremental parser of ``{"tasks": [...]}``: a task is emitted once the one after it begins.

    Args:
        first_id: the id of the first task.
    """

    def __init__(self, first_id: int = 1) -> None:
        self.first_id = first_id
        self._text = ""
        self._emitted = 0

    def feed(self, text: str) -> list[Task]:
        """Consume a chunk; return the tasks known to be complete."""
        self._text += text
        if "{" not in text and "," not in text:
            return []  # no new item can have started: skip the re-parse
        try:
            partial = pydantic_core.from_json(self._text, allow_partial=True)
        except ValueError:
            return []  # not parseable yet (or never: close() reports it)
        items = _items(partial)
        if items is None:
            return []
        return self._emit(items[: max(0, len(items) - 1)])

    def close(self) -> list[Task]:
        """The stream ended: parse the whole text strictly and emit the remaining tasks.

        Raises:
            PlanError: not JSON, or not ``{"tasks": [...]}``.
        """
        obj = parse_json(self._text, "plan")
        items = _items(obj)
        if items is None:
            raise PlanError('the plan must be a JSON object {"tasks": [{"tool": ..., "args": {...}}, ...]}')
        return self._emit(items)

    def _emit(self, items: list[Any]) -> list[Task]:
        tasks = []
        for index in range(self._emitted, len(items)):
            tasks.append(task_from_call(self.first_id + index, items[index]))
        self._emitted = max(self._emitted, len(items))
        return tasks


def _items(obj: Any) -> list[Any] | None:
    if isinstance(obj, dict) and isinstance(obj.get("tasks", []), list):
        return obj.get("tasks", [])
    if isinstance(obj, list):  # a bare list of calls is accepted too
        return obj
    return None


_SYSTEM = """You plan tool calls that answer a question. Tools:
{tools}
Answer with JSON: {{"tasks": [{{"tool": ..., "args": {{...}}}}, ...]}}.
Write one task per fact needed. Tasks run in parallel, so split a question about two things into two tasks.
Task {first} is written "${first}", the next one "${second}": an argument may use an earlier task's result that way.
Example, for "How long are the Nile and the Amazon?":
{{"tasks": [{{"tool": "{tool}", "args": {{"{param}": "Nile length"}}}}, {{"tool": "{tool}", "args": {{"{param}": "Amazon length"}}}}]}}"""


@dataclass
class JSONPlanner:
    """Asks for the whole plan as JSON constrained by a schema (the weak-model planner).

    Attributes:
        joiner: the joiner used with this planner by the ``compiler`` strategy.
        max_tasks: most tasks in one plan (the schema's ``maxItems``).
        required_only: put only required parameters in the schema (simpler for weak models).
        max_tokens: most tokens for one plan.
        temperature: sampling temperature.
        system: the system prompt template.
    """

    joiner: Joiner | None = None
    max_tasks: int = 6
    required_only: bool = True
    max_tokens: int = 320
    temperature: float | None = 0.0
    system: str = _SYSTEM

    def __post_init__(self) -> None:
        if self.joiner is None:
            self.joiner = JSONJoiner()

    def plan_request(self, context: PlanContext) -> ChatRequest:
        """The constrained request for the next round's plan."""
        tool, param = _example_call(context)
        system = self.system.format(
            tools=tool_lines(context.tools), first=context.next_id, second=context.next_id + 1, tool=tool, param=param
        )
        schema = plan_schema(context.tools, max_tasks=self.max_tasks, required_only=self.required_only)
        return ChatRequest(
            messages=[
                Message(role="system", content=system),
                Message(role="user", content=plan_prompt(context, numbering=False)),
            ],
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            response_format=json_response_format("plan", schema),
        )

    def parser(self, context: PlanContext) -> JSONPlanParser:
        """A fresh parser, numbering tasks from ``context.next_id``."""
        return JSONPlanParser(context.next_id)


def _example_call(context: PlanContext) -> tuple[str, str]:
    """A tool and string parameter for the prompt's example (the first tool that has one)."""
    tools = sorted(context.tools, key=lambda t: "search" not in t.name)  # a lookup reads best
    for tool in tools:
        for name, prop in tool.parameters.get("properties", {}).items():
            if prop.get("type") == "string" and name in tool.required:
                return tool.name, name
    return "search", "query"
