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

A weak model decoding greedily loops: once the schema lets it write another task, SmolLM2-135M
writes its last task again until ``maxItems`` (measured on BFCL: a one-call question gets the same
call 2 to 6 times, with or without example turns showing one-call plans; BFCL scores that as a
wrong call count, and every repeat costs its tokens). An exact repeat of an earlier task of the
same plan (same tool, same arguments) therefore ends the plan (``stop_at_repeat``): the parser
emits ``join()`` in its place, the executor stops reading, and the stream is closed, so the rest
of the loop is never generated. Ending the plan, rather than skipping the repeat, keeps numbering
by position intact: nothing after the repeat can refer to a task that was dropped. A plan that
truly needs two identical calls (two draws of a random number) must turn it off.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pydantic_core

from orchestra._tool import Tool
from orchestra.chat import ChatRequest, Message
from orchestra.errors import PlanError
from orchestra.plan import JOIN, Task
from orchestra.planners.base import (
    call_schema,
    json_response_format,
    parse_json,
    plan_prompt,
    task_from_call,
    tool_lines,
)
from orchestra.planners.joiner import JSONJoiner
from orchestra.planning import Joiner, PlanContext

__all__ = ["JSONPlanParser", "JSONPlanner", "example_turns", "plan_schema"]


def plan_schema(tools: list[Tool], *, max_tasks: int = 8, required_only: bool = True) -> dict[str, Any]:
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
        stop_at_repeat: end the plan (emit ``join()``) at the first task that repeats an earlier
            one exactly; see the module docstring.
    """

    def __init__(self, first_id: int = 1, *, stop_at_repeat: bool = False) -> None:
        self.first_id = first_id
        self.stop_at_repeat = stop_at_repeat
        self._text = ""
        self._emitted = 0
        self._seen: set[str] = set()
        self.repeated = False
        """Whether the plan was ended at a repeated task."""

    def feed(self, text: str) -> list[Task]:
        """Consume a chunk; return the tasks known to be complete."""
        if self.repeated:
            return []  # the plan ended at a repeat: whatever follows is the loop
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
        if self.repeated:
            return []
        obj = parse_json(self._text, "plan")
        items = _items(obj, strict=True)
        if items is None:
            raise PlanError('the plan must be a JSON object {"tasks": [{"tool": ..., "args": {...}}, ...]}')
        return self._emit(items)

    def _emit(self, items: list[Any]) -> list[Task]:
        tasks = []
        for index in range(self._emitted, len(items)):
            task = task_from_call(self.first_id + index, items[index])
            if self.stop_at_repeat:
                key = json.dumps([task.tool, items[index].get("args")], sort_keys=True, default=str)
                if key in self._seen:
                    self.repeated = True
                    tasks.append(Task(task.id, JOIN))
                    break
                self._seen.add(key)
            tasks.append(task)
        self._emitted = max(self._emitted, len(items))
        return tasks


def _items(obj: Any, *, strict: bool = False) -> list[Any] | None:
    if isinstance(obj, dict) and isinstance(tasks := obj.get("tasks", None if strict else []), list):
        return tasks
    if isinstance(obj, list):  # a bare list of calls is accepted too
        return obj
    return None


_SYSTEM = """You plan tool calls that answer a question. Tools:
{tools}
Reply with JSON {{"tasks": [{{"tool": ..., "args": {{...}}}}, ...]}}: one task per thing the question asks about.
Tasks run in parallel; tasks are numbered from {first}.
An argument may be "$k" as the whole value: the result of an earlier task k ("$k.field", "$k[0]" reach into it).
To put a result inside text, write ${{k}}: "compare ${{1}} with ${{2}}". Any other $ in text is plain text: "hotels under $150"."""

# Few-shot turns, by tool name: SmolLM2-135M copies a single inline example verbatim, but follows
# the pattern of example turns (measured on the embedded model; see the demo). They show plans of
# one call and of two, so that the number of tasks follows the question, not the examples.
_SHOTS: dict[str, list[tuple[str, list[str]]]] = {
    "search": [
        ("How tall is Mount Fuji?", ["Mount Fuji height"]),
        ("How long are the Nile and the Amazon?", ["Nile", "Amazon"]),
        ("When were Paris and Rome founded?", ["Paris", "Rome"]),
    ],
    "calculator": [("What is 6*7?", ["6*7"]), ("What are 12*7 and 5+9?", ["12*7", "5+9"])],
}


def example_turns(tools: list[Tool]) -> list[Message]:
    """Example question/plan turns for the tools at hand (none for tools without examples)."""
    messages: list[Message] = []
    for tool in tools:
        param = next(
            (n for n in tool.required if tool.parameters["properties"].get(n, {}).get("type") == "string"),
            None,
        )
        if param is None or tool.name not in _SHOTS or len(tool.required) != 1:
            continue
        for question, values in _SHOTS[tool.name]:
            plan = {"tasks": [{"tool": tool.name, "args": {param: v}} for v in values]}
            messages.append(Message(role="user", content=f"Question: {question}"))
            messages.append(Message(role="assistant", content=json.dumps(plan)))
    return messages


@dataclass
class JSONPlanner:
    """Asks for the whole plan as JSON constrained by a schema (the weak-model planner).

    Attributes:
        joiner: the joiner used with this planner by the ``compiler`` strategy.
        max_tasks: most tasks in one plan (the schema's ``maxItems``).
        required_only: put only required parameters in the schema (simpler for weak models).
        max_tokens: most tokens for one plan.
        temperature: sampling temperature.
        examples: add few-shot example turns for the tools that have some (search, calculator).
        system: the system prompt template (``{tools}``, ``{first}``).
        stop_at_repeat: end the plan at a task that exactly repeats an earlier one (a weak
            model's greedy loop; see the module docstring). False keeps identical calls.
    """

    joiner: Joiner | None = None
    max_tasks: int = 6
    required_only: bool = True
    max_tokens: int = 320
    temperature: float | None = 0.0
    examples: bool = True
    system: str = _SYSTEM
    stop_at_repeat: bool = True

    def __post_init__(self) -> None:
        if self.joiner is None:
            # Bounded answers: a weak model that starts repeating itself must close the JSON.
            self.joiner = JSONJoiner(max_answer_chars=200)

    def plan_request(self, context: PlanContext) -> ChatRequest:
        """The constrained request for the next round's plan."""
        system = self.system.format(tools=tool_lines(context.tools), first=context.next_id)
        shots = example_turns(context.tools) if self.examples else []
        schema = plan_schema(context.tools, max_tasks=self.max_tasks, required_only=self.required_only)
        return ChatRequest(
            messages=[
                Message(role="system", content=system),
                *shots,
                Message(role="user", content=plan_prompt(context, numbering=False)),
            ],
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            response_format=json_response_format("plan", schema),
        )

    def parser(self, context: PlanContext) -> JSONPlanParser:
        """A fresh parser, numbering tasks from ``context.next_id``."""
        return JSONPlanParser(context.next_id, stop_at_repeat=self.stop_at_repeat)
