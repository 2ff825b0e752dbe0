"""ReAct (Yao et al., 2023): one action per turn, each observed before the next is chosen.

The ``sequential`` baseline LLMCompiler compares against. Each turn asks for
``{"thought": ..., "action": {"tool": ..., "args": {...}}}`` with a JSON schema whose ``finish``
branch carries the answer, so weak models cannot write an action that does not parse, and the
answer is never cut at a parenthesis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestra.chat import ChatRequest, ChatResponse, Message
from orchestra.errors import PlanError
from orchestra.plan import Task
from orchestra.planners.base import call_schema, json_response_format, parse_json, task_from_call, tool_lines
from orchestra.planning import Finish, PlanContext

__all__ = ["FINISH", "ReActPlanner", "finish_call_schema"]

FINISH = "finish"
"""The pseudo-tool whose ``answer`` argument ends the run."""

_SYSTEM = """You answer a question step by step with tools. Tools:
{tools}
- finish(answer: string): give the final answer.
Inside text, ${{k}} inserts the result of task k ("about ${{1}}"); any other $ is plain text ("under $150").
Each turn, call ONE tool (or finish) and answer with JSON:
{{"thought": "<short reasoning>", "action": {{"tool": "<name>", "args": {{...}}}}}}
An argument may be "$k", the result of task k."""


def finish_call_schema() -> dict[str, Any]:
    """The ``{"tool": "finish", "args": {"answer": ...}}`` branch of an action schema."""
    return {
        "type": "object",
        "properties": {
            "tool": {"const": FINISH},
            "args": {
                "type": "object",
                "properties": {"answer": {"type": "string"}},
                "required": ["answer"],
                "additionalProperties": False,
            },
        },
        "required": ["tool", "args"],
        "additionalProperties": False,
    }


def turn_prompt(context: PlanContext) -> str:
    """The user message of a turn: question, every earlier call with its observation, feedback."""
    parts = [f"Question: {context.question}"]
    history = context.history()
    parts.append("Done so far:\n" + history if history else "Nothing done yet.")
    if context.feedback:
        parts.append(f"Your previous answer was invalid: {context.feedback}")
    if context.final:
        parts.append("No more tool calls are allowed: finish now with the best answer.")
    else:
        parts.append(f"The next task is number {context.next_id}.")
    return "\n\n".join(parts)


@dataclass
class ReActPlanner:
    """One tool call per turn (the ``sequential`` strategy).

    Attributes:
        max_tokens: most tokens per turn.
        temperature: sampling temperature.
        required_only: only required parameters in the schema.
    """

    max_tokens: int = 256
    temperature: float | None = 0.0
    required_only: bool = False

    def step_request(self, context: PlanContext) -> ChatRequest:
        """The request for the next action."""
        branches = [finish_call_schema()]
        if not context.final:
            branches.insert(0, call_schema(context.tools, required_only=self.required_only))
        schema = {
            "type": "object",
            "properties": {"thought": {"type": "string"}, "action": {"anyOf": branches}},
            "required": ["thought", "action"],
            "additionalProperties": False,
        }
        return ChatRequest(
            messages=[
                Message(role="system", content=_SYSTEM.format(tools=tool_lines(context.tools))),
                Message(role="user", content=turn_prompt(context)),
            ],
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            response_format=json_response_format("action", schema),
        )

    def parse_step(self, response: ChatResponse, context: PlanContext) -> list[Task] | Finish:
        """The one task of this turn, or the final answer."""
        obj = parse_json(response.text, "action")
        if not isinstance(obj, dict) or not isinstance(obj.get("action"), dict):
            raise PlanError(
                "the answer has no action",
                hint='answer with {"thought": ..., "action": {"tool": ..., "args": {...}}}',
            )
        thought = obj.get("thought") if isinstance(obj.get("thought"), str) else None
        action = obj["action"]
        if action.get("tool") == FINISH:
            args = action.get("args") or {}
            answer = args.get("answer", "") if isinstance(args, dict) else ""
            return Finish(str(answer), thought)
        return [task_from_call(context.next_id, action, thought=thought)]
