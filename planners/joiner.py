"""The joiner: after a plan ran, answer (:class:`Finish`) or ask for another round (:class:`Replan`).

LLMCompiler's joiner writes ``Action: Finish(answer)`` and its parser takes the text up to the
first ``)``, so ``Finish(Paris (France))`` answers ``Paris (France`` (docs/design.md, LLMCompiler).
Here the decision is requested as structured output (a JSON schema, which also constrains weak
models), and when a model answers in the text form anyway the answer runs to the *last* ``)``.

In the last allowed round (``context.final``) the schema only admits ``finish``, so ``max_replans``
is a true cap even for a model that would keep asking to replan.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pydantic_core

from orchestra.chat import ChatRequest, Message
from orchestra.errors import PlanError
from orchestra.planners.base import json_response_format, parse_json
from orchestra.planning import Decision, Finish, PlanContext, Replan

__all__ = ["JSONJoiner", "joiner_schema", "parse_decision"]

_TEXT_RE = re.compile(r"(Finish|Replan)\s*\((.*)\)", re.S | re.I)

_SYSTEM = """You answer a question from the results of tool calls, in JSON.
Finish with {{"action": "finish", "answer": ...}}{replan}. Keep the answer short."""
_REPLAN = """, or replan with {"action": "replan", "reason": ...} when the results cannot answer it"""
# One example turn: a weak model copies a template placeholder ("<the answer>") but follows an example.
_SHOT_USER = """Question: Which is longer, the Nile or the Amazon?

Results:
1. search(query='Nile') -> The Nile is about 6,650 kilometres long.
2. search(query='Amazon') -> The Amazon River is about 6,400 kilometres long."""
_SHOT_ANSWER = (
    '{"action": "finish", "answer": "The Nile (about 6,650 km) is longer than the Amazon (about 6,400 km)."}'
)


def joiner_schema(*, allow_replan: bool = True, max_chars: int | None = 300) -> dict[str, Any]:
    """The decision's JSON schema: ``finish`` with an answer, or (when allowed) ``replan`` with a reason.

    ``max_chars`` bounds the strings: under constrained decoding a weak model that starts repeating
    itself is then made to close the JSON instead of running into ``max_tokens`` mid-string.
    """
    text: dict[str, Any] = (
        {"type": "string"} if max_chars is None else {"type": "string", "maxLength": max_chars}
    )
    finish = {
        "type": "object",
        "properties": {"action": {"const": "finish"}, "answer": text},
        "required": ["action", "answer"],
        "additionalProperties": False,
    }
    if not allow_replan:
        return finish
    replan = {
        "type": "object",
        "properties": {"action": {"const": "replan"}, "reason": text},
        "required": ["action", "reason"],
        "additionalProperties": False,
    }
    return {"anyOf": [finish, replan]}


def parse_decision(text: str, *, allow_replan: bool = True) -> Decision:
    """Read a decision from JSON (``{"action": ...}``) or from ``Finish(...)`` / ``Replan(...)`` text.

    In the text form everything between the first ``(`` and the *last* ``)`` is kept, so an answer
    containing parentheses is whole.

    Raises:
        PlanError: neither form is there.
    """
    stripped = text.strip()
    if stripped.startswith(("{", "```")):
        try:
            obj = parse_json(stripped, "decision")
        except PlanError:
            obj = _salvage(stripped)  # cut off at max_tokens: keep what was written
        return _from_object(obj, allow_replan)
    match = _TEXT_RE.search(stripped)
    if match is None:
        raise PlanError(
            'the decision must be {"action": "finish", "answer": ...} or {"action": "replan", "reason": ...}'
        )
    kind, body = match.group(1).lower(), match.group(2).strip()
    if kind == "replan" and allow_replan:
        return Replan(body)
    return Finish(body)


def _salvage(text: str) -> Any:
    """A decision cut off mid-string (``max_tokens``), read with pydantic-core's partial JSON mode."""
    try:
        obj = pydantic_core.from_json(text, allow_partial="trailing-strings")
    except ValueError:
        raise PlanError("the decision is not valid JSON", hint="answer with JSON only") from None
    if not isinstance(obj, dict) or not (obj.get("answer") or obj.get("reason")):
        raise PlanError("the decision is incomplete JSON", hint="answer with a short JSON object")
    return obj


def _from_object(obj: Any, allow_replan: bool) -> Decision:
    if not isinstance(obj, dict) or obj.get("action") not in ("finish", "replan"):
        raise PlanError(f'the decision needs "action": "finish" or "replan", got {json.dumps(obj)[:120]}')
    thought = obj.get("thought") if isinstance(obj.get("thought"), str) else None
    if obj["action"] == "replan" and allow_replan:
        return Replan(str(obj.get("reason") or obj.get("answer") or ""), thought)
    answer = obj.get("answer", obj.get("reason", ""))
    return Finish(answer if isinstance(answer, str) else json.dumps(answer), thought)


@dataclass
class JSONJoiner:
    """A joiner that asks for its decision as JSON constrained by :func:`joiner_schema`.

    Attributes:
        max_tokens: most tokens for the decision.
        temperature: sampling temperature.
        structured: send ``response_format`` (turn off for servers that reject it; the text
            ``Finish(...)`` form is parsed too).
        examples: add one example turn (helps weak models).
        max_answer_chars: longest answer the schema allows (None: unbounded).
    """

    max_tokens: int = 256
    temperature: float | None = 0.0
    structured: bool = True
    examples: bool = True
    max_answer_chars: int | None = None

    def join_request(self, context: PlanContext) -> ChatRequest:
        """The request for a decision, with every task's result in it."""
        allow = not context.final
        system = _SYSTEM.format(replan=_REPLAN if allow else "")
        results = context.history() or "(no tool was called)"
        user = f"Question: {context.question}\n\nResults:\n{results}"
        return ChatRequest(
            messages=[
                Message(role="system", content=system),
                *(
                    [
                        Message(role="user", content=_SHOT_USER),
                        Message(role="assistant", content=_SHOT_ANSWER),
                    ]
                    if self.examples
                    else []
                ),
                Message(role="user", content=user),
            ],
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            response_format=(
                json_response_format(
                    "decision", joiner_schema(allow_replan=allow, max_chars=self.max_answer_chars)
                )
                if self.structured
                else None
            ),
        )

    def parse_join(self, text: str, context: PlanContext) -> Decision:
        """The decision in ``text``; a Replan in the final round is read as a Finish."""
        return parse_decision(text, allow_replan=not context.final)
