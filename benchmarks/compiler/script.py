"""What an ideal model writes for each strategy, as simulator script lines.

For one workload (a question and its ideal DAG) each strategy's LLM calls are scripted in the
order the agent makes them, in the formats of orchestra's own planners:

- ``compiler`` (:class:`planners.LLMCompilerPlanner` + :class:`planners.JSONJoiner`): the numbered
  plan ``1. search("…")`` … ``N. join()``, streamed, then the joiner's
  ``{"action": "finish", "answer": …}``;
- ``sequential`` (:class:`planners.ReActPlanner`): one ``{"thought", "action"}`` per step in plan
  order, each written after the previous result was seen (so with concrete arguments), then
  ``finish``;
- ``parallel`` (:class:`planners.ParallelPlanner`): one batch per dependency level of the DAG (all
  independent calls of a level at once), then ``{"answer": …}``.

No strategy writes ``Thought:`` prose, so none is charged for reasoning text the others skip. Each
line is ``once`` and matches the question, so the simulator serves a question's turns in order
whatever the prompt around it (see :mod:`orchestra.sim.content`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from orchestra.benchmarks.compiler.workload import Workload
from orchestra.errors import UsageError

__all__ = [
    "STRATEGIES",
    "compiler_outputs",
    "joiner_output",
    "outputs",
    "parallel_outputs",
    "plan_text",
    "sequential_outputs",
    "write_script",
]

STRATEGIES = ("sequential", "parallel", "compiler")
"""The strategies this benchmark scripts (``async`` has its own benchmark)."""

Output = dict[str, Any]
"""One scripted answer: ``{"content": text}`` or ``{"content": ..., "tool_calls": [...]}``."""


def plan_text(workload: Workload) -> str:
    """The compiler's plan: one numbered call per line, then ``join()`` (the server stops at END_OF_PLAN)."""
    lines = [f"{step.id}. {step.call()}" for step in workload.steps]
    lines.append(f"{len(workload.steps) + 1}. join()")
    return "\n".join(lines)


def joiner_output(workload: Workload) -> str:
    """The joiner's decision: finish with the dataset's answer."""
    return json.dumps({"action": "finish", "answer": workload.answer})


def compiler_outputs(workload: Workload) -> list[Output]:
    """The planner's plan, then the joiner's decision."""
    return [{"content": plan_text(workload)}, {"content": joiner_output(workload)}]


def sequential_outputs(workload: Workload) -> list[Output]:
    """One ReAct action per step (concrete arguments: the results were seen), then ``finish``."""
    turns: list[Output] = []
    for step in workload.steps:
        action = {"tool": step.tool, "args": step.arguments(concrete=True)}
        turns.append({"content": json.dumps({"thought": "", "action": action})})
    final = {"tool": "finish", "args": {"answer": workload.answer}}
    turns.append({"content": json.dumps({"thought": "", "action": final})})
    return turns


def parallel_outputs(workload: Workload) -> list[Output]:
    """One batch of calls per dependency level (emulated JSON form), then the answer."""
    turns: list[Output] = []
    for level in workload.levels():
        calls = [{"tool": step.tool, "args": step.arguments(concrete=True)} for step in level]
        turns.append({"content": json.dumps({"calls": calls})})
    turns.append({"content": json.dumps({"answer": workload.answer})})
    return turns


_OUTPUTS = {"sequential": sequential_outputs, "parallel": parallel_outputs, "compiler": compiler_outputs}


def outputs(strategy: str, workload: Workload) -> list[Output]:
    """The scripted answers of ``strategy`` for ``workload``, in call order.

    Raises:
        UsageError: an unknown strategy.
    """
    if strategy not in _OUTPUTS:
        raise UsageError(f"unknown strategy {strategy!r}; choose from: {', '.join(STRATEGIES)}")
    return _OUTPUTS[strategy](workload)


def write_script(strategy: str, workloads: Iterable[Workload], path: str | Path) -> Path:
    """Write the simulator script (JSONL) for running ``workloads`` in order with ``strategy``."""
    target = Path(path)
    with target.open("w", encoding="utf-8") as out:
        for workload in workloads:
            for answer in outputs(strategy, workload):
                line = {"match": workload.question.question, "once": True, **answer}
                out.write(json.dumps(line) + "\n")
    return target
