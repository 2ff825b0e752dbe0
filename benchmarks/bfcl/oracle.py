"""The oracle: a model that answers every BFCL item with exactly its ground-truth calls, written
in each strategy's protocol, so the latency replay compares strategies on the same calls.

An :class:`Oracle` says which planner a strategy's agent uses and what the model writes, turn by
turn, for a list of calls; the replay serves those outputs from the simulator. The built-in ones:

- ``sequential`` (:class:`~orchestra.planners.ReActPlanner`): one ``{"thought", "action"}`` per
  call, each in its own turn, then ``finish``;
- ``parallel`` (:class:`~orchestra.planners.ParallelPlanner`, native): one turn whose answer holds
  every call as native ``tool_calls``, then the answer;
- ``compiler`` (:class:`~orchestra.planners.LLMCompilerPlanner`): the numbered plan
  ``1. f(x=1)`` … ``N. join()``, streamed, then the joiner's ``finish``.

- ``async`` (:class:`~orchestra.planners.AsyncLMPlanner`, ``turn`` mode): every call as a
  ``[CALL] ... [END]`` frame, then ``[TRAP][END]``; to an interrupt message it answers
  ``[TRAP][END]`` while a call is still running, else the answer (:data:`ASYNC_NATIVE` plays the
  ``native`` mode instead).

Other strategies plug in by name with :func:`register_oracle`; the replay runs every registered
strategy that has an oracle.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestra.errors import UsageError
from orchestra.planners import AsyncLMPlanner, LLMCompilerPlanner, ParallelPlanner, ReActPlanner
from orchestra.planning import InterruptPlanner, Planner, StepPlanner

__all__ = [
    "ANSWER",
    "ASYNC_NATIVE",
    "ORACLES",
    "Call",
    "Oracle",
    "Output",
    "escape_refs",
    "get_oracle",
    "register_oracle",
]

Call = tuple[str, dict[str, Any]]
"""One call: the tool name and its arguments."""

Output = dict[str, Any]
"""One model answer as a simulator script line: ``{"content": text}`` and/or ``{"tool_calls": [...]}``."""

ANSWER = "Done: every requested function was called."
"""What the oracle answers once its calls ran (BFCL scores the calls, not this text)."""


def escape_refs(value: Any) -> Any:
    """``$`` → ``$$`` in every string, so orchestra reads BFCL's ``"$5"`` as text, not a reference."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [escape_refs(v) for v in value]
    if isinstance(value, dict):
        return {k: escape_refs(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Oracle:
    """How the oracle plays one strategy.

    Attributes:
        planner: builds the planner the strategy's agent uses.
        outputs: the model's answers, in request order, for calls (tool names, escaped arguments).
        max_turns: the agent's turn cap for ``n`` calls (step strategies need one turn per batch).
        agent_options: other :class:`~orchestra.agent.Agent` fields.
    """

    planner: Callable[[], Planner | StepPlanner | InterruptPlanner | None]
    outputs: Callable[[Sequence[Call]], list[Output]]
    max_turns: Callable[[int], int] = lambda n: n + 1
    agent_options: dict[str, Any] = field(default_factory=dict)


def _sequential(calls: Sequence[Call]) -> list[Output]:
    turns: list[Output] = [
        {"content": json.dumps({"thought": "", "action": {"tool": name, "args": args}}, ensure_ascii=False)}
        for name, args in calls
    ]
    turns.append(
        {"content": json.dumps({"thought": "", "action": {"tool": "finish", "args": {"answer": ANSWER}}})}
    )
    return turns


def _parallel(calls: Sequence[Call]) -> list[Output]:
    batch = [{"name": name, "arguments": json.dumps(args, ensure_ascii=False)} for name, args in calls]
    return [{"tool_calls": batch}, {"content": ANSWER}]


def _literal(value: Any) -> str:
    # JSON is a Python literal to the LLMCompiler parser (true/false/null are accepted names).
    return json.dumps(value, ensure_ascii=False)


def plan_text(calls: Sequence[Call]) -> str:
    """The compiler's plan: one numbered call per line with keyword arguments, then ``join()``."""
    lines = [
        f"{k}. {name}({', '.join(f'{p}={_literal(v)}' for p, v in args.items())})"
        for k, (name, args) in enumerate(calls, start=1)
    ]
    lines.append(f"{len(calls) + 1}. join()")
    return "\n".join(lines)


def joiner_text() -> str:
    """The joiner's decision."""
    return json.dumps({"action": "finish", "answer": ANSWER})


def _compiler(calls: Sequence[Call]) -> list[Output]:
    return [{"content": plan_text(calls)}, {"content": joiner_text()}]


def cml_text(calls: Sequence[Call]) -> str:
    """The ``async`` strategy's first turn: every call as a CML frame, then a trap."""
    frames = [
        f"[CALL] {name}({', '.join(f'{p}={_literal(v)}' for p, v in args.items())}) [END]"
        for name, args in calls
    ]
    return "\n".join([*frames, "[TRAP][END]"])


def _async_turn(calls: Sequence[Call]) -> list[Output]:
    # The first turn is the item's own (matched by its tag). Later requests end with an interrupt
    # message, which carries no tag: the same model for every item (so concurrent items may share
    # these lines) waits while a call is still running and answers once every result is in.
    return [
        {"content": cml_text(calls)},
        {"match": "Still running:", "once": False, "content": "[TRAP][END]"},
        {"match": "[INTR]", "once": False, "content": ANSWER},
    ]


ASYNC_NATIVE = Oracle(
    AsyncLMPlanner, _parallel, max_turns=lambda n: 1, agent_options={"async_mode": "native"}
)
"""The ``async`` strategy in ``native`` mode: the parallel oracle's streamed ``tool_calls``, each
dispatched as its arguments close; results as tool messages on the next turn. Replay it with
``register_oracle("async", ASYNC_NATIVE)``."""

ORACLES: dict[str, Oracle] = {
    "sequential": Oracle(ReActPlanner, _sequential, max_turns=lambda n: n + 1),
    "parallel": Oracle(lambda: ParallelPlanner(native=True), _parallel, max_turns=lambda n: 1),
    "compiler": Oracle(LLMCompilerPlanner, _compiler, agent_options={"max_replans": 0}),
    # At most one [TRAP] turn per partial delivery, and each delivery brings at least one result.
    "async": Oracle(
        AsyncLMPlanner, _async_turn, max_turns=lambda n: n + 2, agent_options={"async_mode": "turn"}
    ),
}
"""The oracle of each strategy, by strategy name."""


def register_oracle(strategy: str, oracle: Oracle) -> None:
    """Let the replay run ``strategy`` (a name registered in :mod:`orchestra.strategies`)."""
    ORACLES[strategy] = oracle


def get_oracle(strategy: str) -> Oracle:
    """The oracle of ``strategy``.

    Raises:
        UsageError: the strategy has none.
    """
    if strategy not in ORACLES:
        raise UsageError(
            f"strategy {strategy!r} has no oracle for the BFCL latency replay; one is added with "
            f"orchestra.benchmarks.bfcl.register_oracle (have: {', '.join(ORACLES)})"
        )
    return ORACLES[strategy]
