"""Trajectory latency replay: a recorded agent run's wall time, recomputed under other strategies.

The recorded model and tool times are held fixed; only what may overlap changes. A run is a list
of :class:`Step`: one model call (seconds) and the actions it issued (each with its seconds and
the files it reads and writes, :mod:`._effects`). Action ``j`` depends on an earlier action ``i``
when ``i`` writes what ``j`` reads or writes, or reads what ``j`` writes; a step depends on the
steps whose actions its actions depend on. A step with no actions (the final answer) depends on
everything before it. The model is one conversation, so model calls never overlap each other.

- ``sequential`` (ReAct): every model call and action one after another (the sum);
- ``parallel`` (parallel function calling): consecutive independent steps form one turn; its
  model time is the steps' model times together, then its actions run concurrently;
- ``compiler`` (LLMCompiler): the same rounds, but the plan streams: each action starts as soon
  as the planner has written it and its dependencies are done; the next round is planned once
  the round's actions are done (the replanner sees their results);
- ``async`` (AsyncLM): the model writes the next call while earlier calls run, and waits only
  for the results the next call depends on.

Every schedule is at least the total model time and at least the dependency chain's length; all
of them equal ``sequential`` when every action depends on the one before. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from orchestra.benchmarks.swe._effects import Effects, overlap

__all__ = ["STRATEGIES", "Action", "Replay", "Step", "replay"]

STRATEGIES = ("sequential", "parallel", "compiler", "async")


@dataclass(frozen=True)
class Action:
    """One tool call or command: how long it took and the files it touched."""

    label: str
    seconds: float
    effects: Effects = field(default_factory=Effects)


@dataclass(frozen=True)
class Step:
    """One model call and the actions it issued (none: it answered)."""

    model_seconds: float
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True)
class Replay:
    """Wall time per strategy for one run.

    Attributes:
        wall: seconds by strategy name.
        model_seconds: total model time (a floor for every strategy).
        tool_seconds: total action time.
        steps: model calls.
        actions: actions.
        dependent_pairs: pairs of steps found dependent.
        recorded: the run's own wall time when known (timestamps), else None.
    """

    wall: dict[str, float]
    model_seconds: float
    tool_seconds: float
    steps: int
    actions: int
    dependent_pairs: int
    recorded: float | None = None

    def saving(self, strategy: str) -> float:
        """Fraction of ``sequential`` wall time ``strategy`` saves (0.25 = 25 % less)."""
        base = self.wall["sequential"]
        return 0.0 if base <= 0 else 1.0 - self.wall[strategy] / base

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "wall": {k: round(v, 3) for k, v in self.wall.items()},
            "saving": {k: round(self.saving(k), 4) for k in self.wall},
            "model_seconds": round(self.model_seconds, 3),
            "tool_seconds": round(self.tool_seconds, 3),
            "steps": self.steps,
            "actions": self.actions,
            "dependent_pairs": self.dependent_pairs,
            "recorded": None if self.recorded is None else round(self.recorded, 3),
        }


def _conflict(a: Effects, b: Effects) -> bool:
    return overlap(a.writes, b.reads | b.writes) or overlap(a.reads, b.writes)


def _step_deps(steps: Sequence[Step]) -> list[set[int]]:
    deps: list[set[int]] = []
    for j, step in enumerate(steps):
        if not step.actions:
            deps.append(set(range(j)))
            continue
        deps.append(
            {
                i
                for i in range(j)
                if not steps[i].actions
                or any(_conflict(a.effects, b.effects) for a in steps[i].actions for b in step.actions)
            }
        )
    return deps


def _action_deps_in_step(step: Step) -> list[set[int]]:
    return [
        {i for i in range(k) if _conflict(step.actions[i].effects, a.effects)}
        for k, a in enumerate(step.actions)
    ]


def _run_actions(step: Step, ready: float, after: list[float] | None = None) -> list[float]:
    """End times of one step's actions, each starting at ``ready`` (or ``after[k]``) and after its in-step deps."""
    ends: list[float] = []
    for k, (action, deps) in enumerate(zip(step.actions, _action_deps_in_step(step), strict=True)):
        start = max([after[k] if after else ready, *(ends[i] for i in deps)])
        ends.append(start + action.seconds)
    return ends


def _sequential(steps: Sequence[Step]) -> float:
    return sum(s.model_seconds + sum(a.seconds for a in s.actions) for s in steps)


def _async(steps: Sequence[Step], deps: list[set[int]]) -> float:
    model_free, step_end, wall = 0.0, [0.0] * len(steps), 0.0
    for j, step in enumerate(steps):
        start = max([model_free, *(step_end[i] for i in deps[j])])
        model_free = start + step.model_seconds
        ends = _run_actions(step, model_free)
        step_end[j] = max([model_free, *ends])
        wall = max(wall, step_end[j])
    return wall


def _rounds(steps: Sequence[Step], deps: list[set[int]]) -> list[list[int]]:
    rounds: list[list[int]] = []
    for j in range(len(steps)):
        if rounds and not (deps[j] & set(rounds[-1])) and steps[j].actions:
            rounds[-1].append(j)
        else:
            rounds.append([j])
    return rounds


def _batched(steps: Sequence[Step], deps: list[set[int]], *, streamed: bool) -> float:
    clock, step_end = 0.0, [0.0] * len(steps)
    for group in _rounds(steps, deps):
        planned = clock
        emitted: dict[int, float] = {}
        for j in group:
            planned += steps[j].model_seconds
            emitted[j] = planned
        ends_all = [planned]
        for j in group:
            ready = emitted[j] if streamed else planned
            # a step's actions also wait for the earlier steps they depend on (done: earlier rounds)
            ready = max([ready, *(step_end[i] for i in deps[j])])
            ends = _run_actions(steps[j], ready)
            step_end[j] = max([ready, *ends])
            ends_all.append(step_end[j])
        clock = max(ends_all)
    return clock


def replay(steps: Sequence[Step], *, recorded: float | None = None) -> Replay:
    """Recompute a run's wall time under each strategy (see the module docstring for the model)."""
    deps = _step_deps(steps)
    return Replay(
        wall={
            "sequential": _sequential(steps),
            "parallel": _batched(steps, deps, streamed=False),
            "compiler": _batched(steps, deps, streamed=True),
            "async": _async(steps, deps),
        },
        model_seconds=sum(s.model_seconds for s in steps),
        tool_seconds=sum(a.seconds for s in steps for a in s.actions),
        steps=len(steps),
        actions=sum(len(s.actions) for s in steps),
        dependent_pairs=sum(len(d) for d in deps),
        recorded=recorded,
    )
