"""The planning protocols the agent is generic over, and the plan events they produce.

The core never imports ``planners/`` (docs/design.md, layout): the agent talks to a planner only
through the small protocols below, and ``planners/`` implements them. A planner is a prompt
builder plus a parser; it does no I/O (the agent calls the endpoint), so every planner is tested
by feeding it text.

- :class:`Planner` (the ``compiler`` strategy): a request for a whole plan, and an incremental
  :class:`PlanParser` that turns streamed text into :class:`~orchestra.plan.Task` events, so the
  executor starts tools while the plan is still being generated (LLMCompiler's streamed planner).
- :class:`Joiner`: after a plan ran, decide :class:`Finish` or :class:`Replan`.
- :class:`StepPlanner` (the ``sequential`` and ``parallel`` strategies): one turn's calls, or the
  final answer.
- :class:`InterruptPlanner` (the ``async`` strategy, AsyncLM): the opening messages of a CML
  conversation, the request of each turn, and the reader of one ``[CALL]`` frame's body.

Everything a planner needs to build a prompt is in one :class:`PlanContext`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from orchestra._tool import Tool
from orchestra.chat import ChatRequest, ChatResponse, Message
from orchestra.executor import TaskResult
from orchestra.plan import Task

__all__ = [
    "Decision",
    "Finish",
    "InterruptPlanner",
    "Joiner",
    "PlanContext",
    "PlanParser",
    "Planner",
    "Replan",
    "Round",
    "StepPlanner",
]


@dataclass(frozen=True)
class Finish:
    """The joiner's (or a step planner's) final answer.

    Attributes:
        answer: the answer text, whole (never cut at a parenthesis, unlike the public joiner).
        thought: the model's reasoning, when it gave one.
    """

    answer: str
    thought: str | None = None


@dataclass(frozen=True)
class Replan:
    """The joiner's request for another planning round.

    Attributes:
        reason: what is missing; shown to the planner in the next round.
        thought: the model's reasoning, when it gave one.
    """

    reason: str
    thought: str | None = None


Decision = Finish | Replan
"""What a joiner decides."""


@dataclass
class Round:
    """One planning round (or one turn of a step strategy) and what came of it.

    Attributes:
        tasks: the tasks planned in this round, in order (``join()`` excluded).
        text: the model's raw output for the plan.
        replan_reason: why the joiner asked for this round (None for the first).
        error: the plan error that ended this round early, if any (repair feedback).
    """

    tasks: list[Task] = field(default_factory=list)
    text: str = ""
    replan_reason: str | None = None
    error: str | None = None


@dataclass
class PlanContext:
    """Everything a planner or joiner may put in a prompt.

    Attributes:
        question: the user's question.
        tools: the tools available, in the order they should be listed.
        rounds: earlier rounds, oldest first (their results stay referable by id).
        results: every task result so far, by task id.
        next_id: the id the next planned task must take (numbering continues across rounds).
        feedback: repair feedback for the next plan request (a validation error), if any.
        replan_reason: the joiner's reason for the round being planned, if it is a replan.
        final: True when no further replan is allowed (the joiner must finish).
    """

    question: str
    tools: list[Tool]
    rounds: list[Round] = field(default_factory=list)
    results: dict[int, TaskResult] = field(default_factory=dict)
    next_id: int = 1
    feedback: str | None = None
    replan_reason: str | None = None
    final: bool = False

    @property
    def tasks(self) -> list[Task]:
        """Every task planned so far, in order."""
        return [t for r in self.rounds for t in r.tasks]

    def history(self) -> str:
        """Earlier tasks and their observations, one line each: ``2. search('x') -> ...``."""
        lines = []
        for task in self.tasks:
            result = self.results.get(task.id)
            seen = result.observation() if result is not None else "(no result)"
            lines.append(f"{task} -> {_short(seen)}")
        return "\n".join(lines)


def _short(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


@runtime_checkable
class PlanParser(Protocol):
    """An incremental parser of one streamed plan; correct at any chunk boundary."""

    def feed(self, text: str) -> list[Task]:
        """Consume the next chunk of model output; return the tasks it completed, in order.

        Raises:
            PlanError: the text cannot be a plan (the message is repair feedback).
        """
        ...

    def close(self) -> list[Task]:
        """The output ended: return the remaining tasks (a ``join()`` task ends the plan).

        Raises:
            PlanError: what was left cannot be parsed.
        """
        ...


@runtime_checkable
class Planner(Protocol):
    """A whole-plan planner (the ``compiler`` strategy): a request, and a parser for its answer."""

    def plan_request(self, context: PlanContext) -> ChatRequest:
        """The request that asks for the plan of the next round."""
        ...

    def parser(self, context: PlanContext) -> PlanParser:
        """A fresh parser for the answer to :meth:`plan_request`, numbering from ``context.next_id``."""
        ...


@runtime_checkable
class Joiner(Protocol):
    """Decides, once a plan ran, whether to answer or to plan again."""

    def join_request(self, context: PlanContext) -> ChatRequest:
        """The request that asks for the decision (only Finish allowed when ``context.final``)."""
        ...

    def parse_join(self, text: str, context: PlanContext) -> Decision:
        """The decision in the model's answer.

        Raises:
            PlanError: the answer is not a decision.
        """
        ...


@runtime_checkable
class StepPlanner(Protocol):
    """A turn-by-turn planner (``sequential``: one call a turn; ``parallel``: one batch a turn)."""

    def step_request(self, context: PlanContext) -> ChatRequest:
        """The request for the next turn, with every earlier call and observation in it."""
        ...

    def parse_step(self, response: ChatResponse, context: PlanContext) -> list[Task] | Finish:
        """The calls of this turn (numbered from ``context.next_id``), or the final answer.

        Raises:
            PlanError: the answer is neither (repair feedback).
        """
        ...


@runtime_checkable
class InterruptPlanner(Protocol):
    """The ``async`` strategy's planner (AsyncLM): CML prompts, and the reader of a call's body.

    ``mode`` is ``"turn"`` or ``"resume"`` (CML in the text: results arrive as ``[INTR]`` frames
    in a user message, or inside the model's own text) or ``"native"`` (the server's
    ``tool_calls``; results come back as tool messages).
    """

    def start(self, context: PlanContext, mode: str) -> list[Message]:
        """The opening messages: instructions with the tools, examples, the question."""
        ...

    def request(self, messages: list[Message], context: PlanContext, mode: str) -> ChatRequest:
        """The request that continues ``messages`` (CML modes stop on ``[INTR]`` and ``[TRAP]``)."""
        ...

    def parse_call(self, call_id: int, body: str, context: PlanContext) -> Task:
        """The task of one ``[CALL] body [END]`` frame (numbered ``call_id``).

        Raises:
            PlanError: the body is not a call; the message is repair feedback.
        """
        ...

    def answer(self, text: str) -> str:
        """The final answer in the model's last text (frames already removed)."""
        ...
