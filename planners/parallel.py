"""Parallel function calling: one batch of calls per turn (OpenAI's ``parallel_tool_calls``).

The ``parallel`` strategy LLMCompiler compares against (1.35x slower than LLMCompiler in the
paper). Against an endpoint with native function calling the request carries ``tools`` and the
answer's ``tool_calls`` are the batch. llama.cpp serving SmolLM2 returns no ``tool_calls``, so the
same request also carries a JSON schema (``{"calls": [...]}`` or ``{"answer": ...}``) as
``response_format``: the content is then the batch, emulated by constrained decoding. Under that
schema a weak model decoding greedily repeats its last call until ``maxItems``; as in the JSON
plan (:mod:`~orchestra.planners.json_plan`), the emulated batch ends at its first exact repeat.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from orchestra._tool import Tool
from orchestra.chat import ChatRequest, ChatResponse, Message
from orchestra.errors import PlanError
from orchestra.plan import Task
from orchestra.planners.base import call_schema, json_response_format, parse_json, task_from_call, tool_lines
from orchestra.planners.react import turn_prompt
from orchestra.planning import Finish, PlanContext

__all__ = ["ParallelPlanner", "batch_schema"]

_SYSTEM = """You answer a question with tools. Tools:
{tools}
Each turn, call every tool whose result you need and that does not depend on another call of
this turn, all at once. When the results are enough, give the final answer.
Write the values you read in the results; a $ in text is plain text ("hotels under $150").{emulated}"""
_EMULATED = """
Answer with JSON: {"calls": [{"tool": "<name>", "args": {...}}, ...]} or {"answer": "<final answer>"}."""


def batch_schema(
    tools: list[Tool], *, max_calls: int = 8, final: bool = False, max_answer_chars: int | None = None
) -> dict[str, Any]:
    """``{"calls": [...]}`` (1..max_calls) or ``{"answer": ...}``; only the answer when ``final``."""
    text: dict[str, Any] = {"type": "string"}
    if max_answer_chars is not None:
        text["maxLength"] = max_answer_chars
    answer = {
        "type": "object",
        "properties": {"answer": text},
        "required": ["answer"],
        "additionalProperties": False,
    }
    if final:
        return answer
    calls = {
        "type": "object",
        "properties": {
            "calls": {"type": "array", "items": call_schema(tools), "minItems": 1, "maxItems": max_calls}
        },
        "required": ["calls"],
        "additionalProperties": False,
    }
    return {"anyOf": [calls, answer]}


@dataclass
class ParallelPlanner:
    """One batch of tool calls per turn (the ``parallel`` strategy).

    Attributes:
        native: True: native ``tools`` only; False: emulated with a JSON schema only; None (default):
            both in one request, so whichever the endpoint supports is used.
        max_calls: most calls in one batch (emulated mode).
        max_tokens: most tokens per turn.
        temperature: sampling temperature.
        max_answer_chars: longest emulated answer (a weak model that repeats itself must stop).
        stop_at_repeat: end an emulated batch at its first call that exactly repeats an earlier
            one (a weak model's greedy loop); native ``tool_calls`` are kept as the server sent them.
    """

    native: bool | None = None
    max_calls: int = 8
    max_tokens: int = 384
    temperature: float | None = 0.0
    max_answer_chars: int | None = 500
    stop_at_repeat: bool = True

    def step_request(self, context: PlanContext) -> ChatRequest:
        """The request for the next batch (no tools offered in the final turn)."""
        emulate = self.native is not True
        system = _SYSTEM.format(tools=tool_lines(context.tools), emulated=_EMULATED if emulate else "")
        schema = batch_schema(
            context.tools,
            max_calls=self.max_calls,
            final=context.final,
            max_answer_chars=self.max_answer_chars,
        )
        offer_tools = self.native is not False and not context.final
        return ChatRequest(
            messages=[
                Message(role="system", content=system),
                Message(role="user", content=turn_prompt(context)),
            ],
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            tools=[t.spec() for t in context.tools] if offer_tools else None,
            response_format=json_response_format("batch", schema) if emulate else None,
        )

    def parse_step(self, response: ChatResponse, context: PlanContext) -> list[Task] | Finish:
        """This turn's batch of tasks (numbered from ``context.next_id``), or the final answer."""
        message = response.choices[0].message if response.choices else None
        if message is not None and message.tool_calls:
            tasks = []
            for offset, call in enumerate(message.tool_calls):
                try:
                    args = json.loads(call.arguments or "{}")
                except json.JSONDecodeError as exc:
                    raise PlanError(f"the arguments of call {call.name} are not JSON: {exc.msg}") from None
                tasks.append(task_from_call(context.next_id + offset, {"tool": call.name, "args": args}))
            return tasks
        text = response.text
        if self.native is True or not text.strip().startswith(("{", "```")):
            return Finish(text.strip())
        obj = parse_json(text, "batch", partial=True)  # an answer cut at max_tokens is kept
        if isinstance(obj, dict) and obj.get("calls"):
            if not isinstance(obj["calls"], list):
                raise PlanError('"calls" must be a list of {"tool": ..., "args": {...}}')
            tasks = [task_from_call(context.next_id + i, c) for i, c in enumerate(obj["calls"])]
            return _until_repeat(tasks) if self.stop_at_repeat else tasks
        if isinstance(obj, dict) and "answer" in obj:
            return Finish(str(obj["answer"]))
        raise PlanError(
            "the answer is neither tool calls nor a final answer",
            hint='answer with {"calls": [...]} or {"answer": "..."}',
        )


def _until_repeat(tasks: list[Task]) -> list[Task]:
    """The tasks before the first one that repeats an earlier one (same tool, same arguments)."""
    seen: set[str] = set()
    for index, task in enumerate(tasks):
        key = json.dumps([task.tool, task.args, task.kwargs], sort_keys=True, default=str)
        if key in seen:
            return tasks[:index]
        seen.add(key)
    return tasks
