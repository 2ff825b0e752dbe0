"""Plans: a DAG of tool-call :class:`Task`\\ s, and its validation before dispatch.

A plan is what an LLMCompiler planner writes (``1. search("x")``, ``2. lookup($1)``, ``3. join()``)
or what a JSON planner returns. Tasks arrive one by one while the plan streams; :meth:`Plan.add`
validates each before it can be dispatched: the tool must exist, the arguments must fit its schema,
references must point to earlier tasks, ids must be unique. Every finding is a
:class:`~orchestra.errors.PlanError` phrased as repair feedback for the planner (which tool names
exist, which parameters, which task ids are available), instead of the KeyError or the silent hang
of the public implementations (docs/design.md, LLMCompiler defects).

Replanning keeps the same :class:`Plan`: :meth:`Plan.reopen` accepts another round of tasks after
``join()``, numbering continues, and earlier tasks (and their results) stay referable.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestra._tool import Tool
from orchestra.errors import PlanError, ToolError
from orchestra.references import Ref, Template, compile_refs, refs_in, render, resolve

__all__ = ["JOIN", "Plan", "Ref", "Task", "Template", "find_cycle", "resolve", "validate"]

JOIN = "join"
"""The reserved tool name that ends a plan (LLMCompiler's ``join()``)."""


@dataclass(frozen=True, slots=True)
class Task:
    """One step of a plan: call ``tool`` with ``args``/``kwargs`` once its dependencies are done.

    Strings in the arguments are compiled into references when the task is built (``"$1"`` →
    :class:`Ref`, ``"about ${1}"`` → :class:`Template`, ``"under $150"`` → text, ``"$$"`` → a
    literal ``$``; the rule is in :mod:`orchestra.references`), and ``deps`` is derived from them.

    Attributes:
        id: the task number, unique within a run (replans continue the numbering).
        tool: the tool name, or ``"join"`` for the end-of-plan marker.
        args: positional arguments.
        kwargs: keyword arguments.
        thought: the planner's ``Thought:`` line before this task, if any.
        deps: ids of the tasks this one references.
    """

    id: int
    tool: str
    args: list[Any] = field(default_factory=list, hash=False)
    kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    thought: str | None = field(default=None, compare=False, hash=False)
    deps: frozenset[int] = field(init=False, compare=False, hash=False)
    _pending_args: tuple[frozenset[int], frozenset[str]] = field(
        init=False, compare=False, hash=False, repr=False
    )
    """Positions and keywords whose values hold references (known only once those tasks ran)."""

    def __post_init__(self) -> None:
        args = compile_refs(list(self.args))
        kwargs = compile_refs(dict(self.kwargs))
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "kwargs", kwargs)
        deps: set[int] = set()
        positions: set[int] = set()
        keys: set[str] = set()
        for i, value in enumerate(args):
            ids = {r.task_id for r in refs_in(value)}
            if ids:
                positions.add(i)
                deps |= ids
        for key, value in kwargs.items():
            ids = {r.task_id for r in refs_in(value)}
            if ids:
                keys.add(key)
                deps |= ids
        object.__setattr__(self, "deps", frozenset(deps))
        object.__setattr__(self, "_pending_args", (frozenset(positions), frozenset(keys)))

    @property
    def is_join(self) -> bool:
        """Whether this is the ``join()`` marker that ends the plan."""
        return self.tool == JOIN

    def refs(self) -> Iterator[Ref]:
        """Every reference in the arguments, in order."""
        yield from refs_in(self.args)
        yield from refs_in(self.kwargs)

    def resolved(self, values: Mapping[int, Any]) -> tuple[list[Any], dict[str, Any]]:
        """The arguments with references replaced by the finished tasks' ``values``.

        Raises:
            PlanError: a referenced result is missing, or a path into it does not exist.
        """
        if not self.deps:
            return self.args, self.kwargs
        try:
            return resolve(self.args, values), resolve(self.kwargs, values)
        except PlanError as exc:
            raise PlanError(f"task {self.id}: {exc}", task_id=self.id) from None

    def __str__(self) -> str:
        parts = [render(a) for a in self.args]
        parts += [f"{k}={render(v)}" for k, v in self.kwargs.items()]
        return f"{self.id}. {self.tool}({', '.join(parts)})"


class Plan:
    """A growing DAG of validated tasks.

    Args:
        tools: the tools the planner may call (a mapping by name, or an iterable of tools).
        known: ids already used by an earlier run (their results stay referable).
    """

    def __init__(self, tools: Mapping[str, Tool] | Iterable[Tool] = (), *, known: Iterable[int] = ()) -> None:
        self.tools: dict[str, Tool] = (
            dict(tools) if isinstance(tools, Mapping) else {t.name: t for t in tools}
        )
        self.tasks: dict[int, Task] = {}
        self.known: set[int] = set(known)
        self._ids: set[int] = set(self.known)  # known | tasks, kept up to date: check() is O(task)
        self.joined: Task | None = None
        """The ``join()`` task that ended the current round, if it arrived."""

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks.values())

    def __len__(self) -> int:
        return len(self.tasks)

    @property
    def next_id(self) -> int:
        """The first id a new task (or a replan) should use."""
        last = max(self._ids, default=0)
        if self.joined is not None:
            last = max(last, self.joined.id)
        return last + 1

    def check(self, task: Task) -> list[PlanError]:
        """Every problem with adding ``task`` now, as repair feedback (empty when it is valid)."""
        return _check_task(task, self.tools, self._ids, self.joined)

    def add(self, task: Task) -> Task:
        """Validate ``task`` against the plan so far and append it (``join()`` ends the round).

        Raises:
            PlanError: the first problem found (all of them are in the message when several).
        """
        problems = self.check(task)
        if problems:
            raise _combine(problems)
        if task.is_join:
            self.joined = task
        else:
            self.tasks[task.id] = task
            self._ids.add(task.id)
        return task

    def reopen(self) -> None:
        """Accept another round of tasks after ``join()`` (replanning); numbering continues."""
        if self.joined is not None:
            self.known.add(self.joined.id)
            self._ids.add(self.joined.id)
        self.joined = None

    def dependents(self, task_id: int) -> list[int]:
        """Ids of the tasks that reference ``task_id`` directly."""
        return [t.id for t in self.tasks.values() if task_id in t.deps]

    def __str__(self) -> str:
        lines = [str(t) for t in self.tasks.values()]
        if self.joined is not None:
            lines.append(str(self.joined))
        return "\n".join(lines)


def validate(
    tasks: Iterable[Task], tools: Mapping[str, Tool] | Iterable[Tool], *, known: Iterable[int] = ()
) -> list[PlanError]:
    """Every problem of a whole plan given at once (a JSON planner's output), cycles included.

    Tasks are checked in order as :meth:`Plan.add` would, except that a cycle is reported as a
    cycle (the clearest feedback) rather than as the forward reference that closes it.

    Args:
        tasks: the plan.
        tools: the available tools.
        known: ids from earlier rounds, referable.
    """
    tasks = list(tasks)
    tool_map = dict(tools) if isinstance(tools, Mapping) else {t.name: t for t in tools}
    cycle = find_cycle(tasks)
    in_cycle = set(cycle or ())
    problems: list[PlanError] = []
    if cycle:
        path = " -> ".join(str(i) for i in [*cycle, cycle[0]])
        problems.append(
            PlanError(
                f"tasks {path} form a cycle: each waits for the next, so none can run; "
                "a task may only use results of tasks before it",
                task_id=cycle[0],
            )
        )
    seen: set[int] = set(known)
    planned = {t.id for t in tasks if not t.is_join}
    joined: Task | None = None
    for task in tasks:
        # A cycle's own edges are already reported as the cycle; do not repeat them as forward refs.
        ignore = in_cycle if task.id in in_cycle else frozenset()
        problems += _check_task(task, tool_map, seen, joined, ignore_forward=ignore, planned=planned)
        if task.is_join:
            joined = joined or task
        else:
            seen.add(task.id)
    return problems


def find_cycle(tasks: Iterable[Task]) -> list[int] | None:
    """One dependency cycle among ``tasks`` as a list of ids, or None (iterative DFS, no recursion)."""
    graph = {t.id: sorted(t.deps) for t in tasks if not t.is_join}
    color: dict[int, int] = {}  # 1 = on the stack, 2 = done
    for root in graph:
        if root in color:
            continue
        stack: list[tuple[int, Iterator[int]]] = [(root, iter(graph[root]))]
        color[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                color[node] = 2
                stack.pop()
            elif child in graph and color.get(child) == 1:
                ids = [n for n, _ in stack]
                return ids[ids.index(child) :]
            elif child in graph and child not in color:
                color[child] = 1
                stack.append((child, iter(graph[child])))
    return None


def _combine(problems: list[PlanError]) -> PlanError:
    if len(problems) == 1:
        return problems[0]
    return PlanError("; ".join(str(p) for p in problems), task_id=problems[0].task_id)


def _check_task(
    task: Task,
    tools: Mapping[str, Tool],
    seen: Iterable[int],
    joined: Task | None,
    *,
    ignore_forward: Iterable[int] = frozenset(),
    planned: Iterable[int] = frozenset(),
) -> list[PlanError]:
    """The findings for one task given the ids defined before it (``planned``: every id of the plan)."""
    seen = seen if isinstance(seen, (set, frozenset)) else set(seen)
    tid = task.id
    problems: list[PlanError] = []

    def problem(text: str) -> None:
        problems.append(PlanError(f"task {tid}: {text}", task_id=tid))

    if not isinstance(tid, int) or isinstance(tid, bool) or tid < 1:
        problem("task ids must be positive integers")
    if joined is not None:
        problem(f"the plan already ended with join() at task {joined.id}; nothing may follow it")
    if tid in seen:
        problem(f"id {tid} is already used; number new tasks from {max(seen) + 1}")
    if task.is_join:
        return problems
    if task.tool not in tools:
        known = ", ".join(sorted(tools)) or "none"
        close = difflib.get_close_matches(task.tool, list(tools), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problem(f"unknown tool {task.tool!r}{hint}; known tools: {known}, and join() to end the plan")
    if task.deps and (tid in task.deps or not task.deps <= seen):
        problems += _reference_problems(task, seen, ignore_forward, planned)
    if task.tool in tools:
        problems += _check_arguments(task, tools[task.tool])
    return problems


def _reference_problems(
    task: Task, seen: set[int] | frozenset[int], ignore_forward: Iterable[int], planned: Iterable[int]
) -> list[PlanError]:
    tid = task.id
    problems: list[PlanError] = []

    def problem(text: str) -> None:
        problems.append(PlanError(f"task {tid}: {text}", task_id=tid))

    for ref in task.refs():
        dep = ref.task_id
        if dep == tid:
            problem(f"{ref} refers to the task itself; a task can only use results of tasks before it")
        elif dep in seen or dep in ignore_forward:
            continue
        elif dep > tid and dep in planned:
            problem(
                f"{ref} refers to task {dep}, which comes later; a task can only use results of tasks before it"
            )
        else:
            avail = ", ".join(f"${i}" for i in sorted(seen)) or "none"
            problem(
                f"{ref} refers to task {dep}, which does not exist; a task can only use results of "
                f"tasks before it (available: {avail}); to write a dollar amount as a whole value, "
                f"write $${ref.task_id}"
            )
    return problems


def _check_arguments(task: Task, tool: Tool) -> list[PlanError]:
    positions, keys = task._pending_args
    try:
        bound = tool.bind(task.args, task.kwargs)
        names = tool.param_names
        unresolved = [names[i] for i in positions if i < len(names)]
        unresolved += keys
        tool.check(bound, unresolved=unresolved)
    except ToolError as exc:
        params = tool.signature()
        return [PlanError(f"task {task.id}: {exc} — expected {params}", task_id=task.id)]
    return []
