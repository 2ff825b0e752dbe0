"""Planner implementations: prompt builders plus parsers that turn model output into plan events.

Each implements a protocol of :mod:`orchestra.planning` and does no I/O; the agent
(:class:`orchestra.agent.Agent`) calls the endpoint. Which to use:

- :class:`LLMCompilerPlanner`: the numbered text plan, streamed (strong models);
- :class:`JSONPlanner`: the plan as schema-constrained JSON (weak models such as the embedded one);
- :class:`ReActPlanner`: one call per turn (the ``sequential`` strategy);
- :class:`ParallelPlanner`: one batch of calls per turn (the ``parallel`` strategy);
- :class:`JSONJoiner`: Finish or Replan after a plan ran;
- :class:`AsyncLMPlanner`: CML calls and interrupts (the ``async`` strategy).
"""

from __future__ import annotations

from orchestra.planners.asynclm import AsyncLMPlanner
from orchestra.planners.base import (
    args_schema,
    call_schema,
    json_response_format,
    parse_json,
    plan_prompt,
    tool_lines,
)
from orchestra.planners.gbnf import cml_grammar
from orchestra.planners.joiner import JSONJoiner, joiner_schema, parse_decision
from orchestra.planners.json_plan import JSONPlanner, JSONPlanParser, plan_schema
from orchestra.planners.llmcompiler import END_OF_PLAN, LLMCompilerParser, LLMCompilerPlanner, parse_plan
from orchestra.planners.parallel import ParallelPlanner, batch_schema
from orchestra.planners.react import ReActPlanner

__all__ = [
    "END_OF_PLAN",
    "AsyncLMPlanner",
    "JSONJoiner",
    "JSONPlanParser",
    "JSONPlanner",
    "LLMCompilerParser",
    "LLMCompilerPlanner",
    "ParallelPlanner",
    "ReActPlanner",
    "args_schema",
    "batch_schema",
    "call_schema",
    "cml_grammar",
    "default_planner",
    "joiner_schema",
    "json_response_format",
    "parse_decision",
    "parse_json",
    "parse_plan",
    "plan_prompt",
    "plan_schema",
    "tool_lines",
]


def default_planner(
    strategy: str, *, structured: bool = True
) -> ReActPlanner | ParallelPlanner | JSONPlanner | LLMCompilerPlanner | AsyncLMPlanner:
    """The planner a strategy uses unless told otherwise.

    Args:
        strategy: ``sequential``, ``parallel``, ``compiler`` or ``async``.
        structured: for ``compiler``, the JSON planner (True: weak models, the embedded one) or the
            LLMCompiler text planner (False). For ``async``, whether CML is constrained by a GBNF
            grammar (llama.cpp's ``grammar`` field; other servers reject it).
    """
    if strategy == "async":
        return AsyncLMPlanner(grammar=structured)
    if strategy == "sequential":
        return ReActPlanner()
    if strategy == "parallel":
        return ParallelPlanner()
    return JSONPlanner() if structured else LLMCompilerPlanner()
