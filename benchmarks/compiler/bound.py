"""The critical-path bound of a compiled plan: how fast any LLMCompiler runtime could answer.

Pure arithmetic over the simulator's latency model (time to first token, then one token per
``1/tokens_per_second``; a token is a whitespace-separated word with its leading whitespace, as
:mod:`orchestra.sim.content` streams it) and the tools' fixed latency. Two bounds:

- :func:`critical_path_bound` — the definition: the planner's time to its first complete
  task, plus the longest chain of tool latencies, plus the joiner's call;
- :func:`stream_bound` — the same, but no task can start before the planner has *written* it, so
  each task's earliest start is ``max(its line is complete, its dependencies are done)``, and the
  joiner waits for the plan's end. When the plan streams for longer than a tool runs (Movie: 8
  lines), this is the tighter, attainable bound; the first one is not attainable then.

Both ignore network and parsing overheads, so measured / bound >= 1; the gap is the runtime's cost.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from orchestra.benchmarks.compiler.workload import Step

__all__ = [
    "LatencyParams",
    "call_seconds",
    "critical_path_bound",
    "line_ready_times",
    "stream_bound",
    "token_count",
]

_TOKEN = re.compile(r"\s*\S+")  # the simulator's streaming unit (orchestra.sim.content._TOKEN)


@dataclass(frozen=True, slots=True)
class LatencyParams:
    """The simulated costs.

    Attributes:
        ttft: seconds from a request to its first token.
        tokens_per_second: decode speed after the first token (0 = infinite).
        tool_latency: seconds every tool call takes.
    """

    ttft: float = 0.2
    tokens_per_second: float = 50.0
    tool_latency: float = 0.3

    @property
    def step(self) -> float:
        """Seconds between two tokens."""
        return 1.0 / self.tokens_per_second if self.tokens_per_second > 0 else 0.0


def token_count(text: str) -> int:
    """Tokens the simulator streams (and bills) for ``text``."""
    return len(_TOKEN.findall(text))


def call_seconds(text: str, params: LatencyParams, *, extra_tokens: int = 0) -> float:
    """Seconds one LLM call answering ``text`` (plus ``extra_tokens``, e.g. tool-call arguments) lasts."""
    tokens = token_count(text) + extra_tokens
    return params.ttft + max(0, tokens - 1) * params.step


def line_ready_times(plan_text: str, params: LatencyParams) -> list[float]:
    """For each non-empty line of ``plan_text``, when its last character has been streamed."""
    times: list[float] = []
    position = 0
    tokens = [(m.end(), k) for k, m in enumerate(_TOKEN.finditer(plan_text))]
    for line in plan_text.splitlines(keepends=True):
        end = position + len(line.rstrip())
        position += len(line)
        if not line.strip():
            continue
        index = next(k for token_end, k in tokens if token_end >= end)
        times.append(params.ttft + index * params.step)
    return times


def _finish_times(steps: Sequence[Step], starts: Mapping[int, float], latency: float) -> dict[int, float]:
    done: dict[int, float] = {}
    for step in steps:  # plan order is topological: references point backwards
        ready = max([starts[step.id]] + [done[d] for d in step.deps])
        done[step.id] = ready + latency
    return done


def critical_path_bound(
    steps: Sequence[Step], plan_text: str, joiner_text: str, params: LatencyParams
) -> float:
    """Planner time to the first task + longest chain of tool latencies + the joiner call."""
    first = line_ready_times(plan_text, params)[0] if steps else 0.0
    chain = _finish_times(steps, {s.id: 0.0 for s in steps}, params.tool_latency)
    return first + max(chain.values(), default=0.0) + call_seconds(joiner_text, params)


def stream_bound(steps: Sequence[Step], plan_text: str, joiner_text: str, params: LatencyParams) -> float:
    """The earliest answer when each task starts once written and its dependencies are done.

    ``plan_text`` must hold one task per line, in the order of ``steps`` (other lines, such as
    ``Thought:`` or ``join()``, may follow a task but only task lines are matched to steps).
    """
    ready = line_ready_times(plan_text, params)
    task_lines = [t for t, line in zip(ready, [x for x in plan_text.splitlines() if x.strip()], strict=True)
                  if re.match(r"\s*\d+\s*\.", line) and "join(" not in line]  # fmt: skip
    starts = {s.id: task_lines[i] for i, s in enumerate(steps)}
    done = _finish_times(steps, starts, params.tool_latency)
    plan_end = ready[-1] if ready else params.ttft
    return max([plan_end, *done.values()]) + call_seconds(joiner_text, params)
