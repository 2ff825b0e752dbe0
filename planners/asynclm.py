"""The ``async`` strategy's planner (AsyncLM, Gim et al.): CML prompts, few-shot examples, and the
reader of a ``[CALL]`` frame's body.

The model calls tools inside its own text and keeps writing while they run::

    [CALL] search("Nile length") [END]
    [CALL] search("Amazon length") [END]
    [TRAP][END]

and the runtime answers with ``[INTR] 1 [HEAD] 6650 km [END]``: in the next user message
(``turn`` mode) or inside the model's text, mid-generation (``resume`` mode). In ``native`` mode
the server's own ``tool_calls`` carry the calls and no CML is shown.

A call's body is read like a line of an LLMCompiler plan (:mod:`~orchestra.planners.llmcompiler`):
Python-literal arguments, positional or by name, ``$k`` for call ``k``'s result. With
``grammar=True`` each request carries a GBNF grammar (:func:`cml_grammar`) for servers that accept
one (llama.cpp), so even a 135M model writes only well-formed frames naming real tools.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestra.chat import ChatRequest, Message
from orchestra.cml import STOP
from orchestra.errors import PlanError
from orchestra.plan import Task
from orchestra.planners.base import tool_lines
from orchestra.planners.gbnf import cml_grammar
from orchestra.planners.llmcompiler import parse_plan
from orchestra.planning import PlanContext

__all__ = ["AsyncLMPlanner"]

_SYSTEM = """You answer questions with tools. Calls are asynchronous: a call runs while you keep writing.
Tools:
{tools}
How to call:
- Write [CALL] tool_name(arguments) [END]. Arguments are literals (strings in quotes, numbers, lists), positional or name=value.
- Calls are numbered 1, 2, 3, ... in the order you write them. $k stands for the result of call k: a call that uses $k waits for it, so you can write it at once.
- Inside a string, ${{k}} inserts the result of call k as text ("about ${{1}}"); any other $ is plain text ("under $150").
- Write every independent call first, one after another, before you wait.
- Results arrive as [INTR] k [HEAD] result [END]. Never write [INTR] yourself.
- To wait for results you need, write [TRAP][END].
- When you have the results you need, write the final answer as plain text, with no call."""

_SYSTEM_NATIVE = """You answer questions with tools. Call every tool whose result you need and that does
not depend on another call at once, in one turn. An argument may be "$k", the result of call k
(calls are numbered 1, 2, 3, ... in order); inside text write ${k}; any other $ is plain text ("$150").
When the results are enough, give the final answer."""

_EXAMPLE_Q = "Question: Which is taller, the Eiffel Tower or Big Ben? (an example: your tools may differ)"
_EXAMPLE_CALLS = (
    '[CALL] lookup("Eiffel Tower height") [END]\n[CALL] lookup("Big Ben height") [END]\n[TRAP][END]'
)
_EXAMPLE_INTR = (
    "[INTR] 1 [HEAD] The Eiffel Tower is 330 m tall. [END]\n[INTR] 2 [HEAD] Big Ben is 96 m tall. [END]"
)
_EXAMPLE_ANSWER = "The Eiffel Tower (330 m) is taller than Big Ben (96 m)."
_NAME = re.compile(r"\s*([A-Za-z_][\w.\-]*)\s*\(")
_ANSWER_PREFIX = re.compile(r"^\s*(?:final\s+)?answer\s*:\s*", re.I)


@dataclass
class AsyncLMPlanner:
    """CML prompts and call reading for the ``async`` strategy.

    Attributes:
        grammar: send a GBNF ``grammar`` with each CML request (llama.cpp; other servers reject the
            field): frames are then well-formed and name only real tools.
        examples: include the worked example as earlier turns of the conversation.
        max_tokens: most tokens of one turn (or of one resumed segment).
        temperature: sampling temperature.
        max_answer_chars: in the grammar, the longest run of answer text.
    """

    grammar: bool = False
    examples: bool = True
    max_tokens: int = 384
    temperature: float | None = 0.0
    max_answer_chars: int = 400

    def start(self, context: PlanContext, mode: str) -> list[Message]:
        """System prompt with the tools, the worked example (CML modes), then the question."""
        if mode == "native":
            return [
                Message(role="system", content=_SYSTEM_NATIVE),
                Message(role="user", content=f"Question: {context.question}"),
            ]
        # The same listing as every other planner: signatures, then each parameter's description.
        messages = [Message(role="system", content=_SYSTEM.format(tools=tool_lines(context.tools)))]
        if self.examples:
            if mode == "resume":  # interrupts arrive inside the model's own text
                shown = f"{_EXAMPLE_CALLS}\n{_EXAMPLE_INTR}\n{_EXAMPLE_ANSWER}"
                messages += [
                    Message(role="user", content=_EXAMPLE_Q),
                    Message(role="assistant", content=shown),
                ]
            else:
                messages += [
                    Message(role="user", content=_EXAMPLE_Q),
                    Message(role="assistant", content=_EXAMPLE_CALLS),
                    Message(role="user", content=_EXAMPLE_INTR),
                    Message(role="assistant", content=_EXAMPLE_ANSWER),
                ]
        messages.append(Message(role="user", content=f"Question: {context.question}"))
        return messages

    def request(self, messages: list[Message], context: PlanContext, mode: str) -> ChatRequest:
        """The next turn: CML modes stop on ``[INTR]``; native mode offers the tools' specs."""
        if mode == "native":
            return ChatRequest(
                messages=list(messages),
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                tools=None if context.final else [t.spec() for t in context.tools],
            )
        extra: dict[str, object] = {"stop": list(STOP)}
        if mode == "resume":
            # llama.cpp re-uses the cached prefix only when asked; vLLM and SGLang ignore the field.
            extra["cache_prompt"] = True
        if self.grammar:
            # A weak model under a grammar must look something up before it may answer.
            first = not context.results and not any(r.tasks for r in context.rounds)
            extra["grammar"] = cml_grammar(
                context.tools,
                allow_calls=not context.final,
                require_call=first,
                max_answer_chars=self.max_answer_chars,
            )
        return ChatRequest(
            messages=list(messages), max_tokens=self.max_tokens, temperature=self.temperature, extra=extra
        )

    def parse_call(self, call_id: int, body: str, context: PlanContext) -> Task:
        """The task of ``[CALL] body [END]``, e.g. ``search("x", k=2)`` or ``calculator("${1} * 2")``.

        Raises:
            PlanError: not exactly one ``tool(arguments)`` with literal arguments.
        """
        hint = f"write [CALL] tool_name(arguments) [END], e.g. [CALL] {_example(context)} [END]"
        # Tool names may be dashed (``get-weather``), which Python's call syntax
        # is not: read the call under a stand-in name and put the real one back.
        named = _NAME.match(body)
        name = named.group(1) if named else None
        if named and name and not name.isidentifier():
            body = "_tool(" + body[named.end() :]
        try:
            tasks = parse_plan(f"{call_id}. {body}", first_id=call_id)
        except PlanError as exc:
            message = str(exc).split(": ", 1)[-1] if str(exc).startswith(f"task {call_id}") else str(exc)
            raise PlanError(f"call {call_id}: {message}", task_id=call_id) from None
        if len(tasks) != 1 or tasks[0].is_join or tasks[0].id != call_id:
            raise PlanError(f"call {call_id}: cannot read {body[:80]!r}; {hint}", task_id=call_id)
        task = tasks[0]
        if name and task.tool == "_tool":
            task = Task(call_id, name, list(task.args), dict(task.kwargs), thought=task.thought)
        return task

    def answer(self, text: str) -> str:
        """The answer text, without a leading ``Answer:``."""
        return _ANSWER_PREFIX.sub("", text.strip(), count=1).strip()


def _example(context: PlanContext) -> str:
    if not context.tools:
        return 'search("x")'
    tool = context.tools[0]
    args = ", ".join(f'{name}="..."' for name in tool.param_names if name in tool.required)
    return f"{tool.name}({args})"
