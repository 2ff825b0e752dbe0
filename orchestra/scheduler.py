"""DAG readiness: which tasks may run now, and which can never run. Pure logic, no I/O, no time.

This is the bookkeeping core of the task-fetching unit. Each task keeps a count of dependencies
not yet finished, and each task keeps the list of its dependents; finishing a task decrements its
dependents' counters and returns those that reach zero. Readiness is thus known the instant a
dependency finishes, with O(dependents) work. The public LLMCompiler instead polls its task list
every 10 ms and LangGraph's version every 250 ms (docs/design.md), which adds up to that much latency
to every edge of the DAG.

A failed task makes all its dependents, transitively, unrunnable: they are reported as skipped,
each with the dependency that caused it, so that every task reaches a final state and a run can
always end (the public LLMCompiler leaves a failed task's dependents waiting forever).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Scheduler"]

_WAITING, _RUNNING, _OK, _FAILED, _SKIPPED = range(5)


class Scheduler:
    """Dependency counters and a dependents index over a growing set of tasks.

    Args:
        done: ids already finished successfully (an earlier round's results).
        failed: ids already failed or skipped in an earlier round.
    """

    __slots__ = ("_dependents", "_remaining", "_state")

    def __init__(self, done: Iterable[int] = (), failed: Iterable[int] = ()) -> None:
        self._state: dict[int, int] = dict.fromkeys(done, _OK)
        self._state.update(dict.fromkeys(failed, _FAILED))
        self._remaining: dict[int, int] = {}
        self._dependents: dict[int, list[int]] = {}

    def add(self, task_id: int, deps: Iterable[int]) -> tuple[bool, int | None]:
        """Register a task whose dependencies are all registered already.

        Returns:
            ``(ready, blocker)``: ``ready`` is True when it can run now; ``blocker`` is the id of a
            failed or skipped dependency when it never can (the task is then marked skipped).

        Raises:
            ValueError: the id is taken, or a dependency is unknown (plan validation prevents both).
        """
        state = self._state
        if task_id in state:
            raise ValueError(f"task {task_id} is already scheduled")
        remaining = 0
        for dep in deps:
            dep_state = state.get(dep)
            if dep_state is None:
                raise ValueError(f"task {task_id} depends on unknown task {dep}")
            if dep_state == _OK:
                continue
            if dep_state >= _FAILED:
                state[task_id] = _SKIPPED
                return False, dep
            remaining += 1
            dependents = self._dependents.get(dep)
            if dependents is None:
                self._dependents[dep] = [task_id]
            else:
                dependents.append(task_id)
        if remaining:
            state[task_id] = _WAITING
            self._remaining[task_id] = remaining
            return False, None
        state[task_id] = _RUNNING
        return True, None

    def finish(self, task_id: int, ok: bool) -> tuple[list[int], list[tuple[int, int]]]:
        """Mark a running task finished.

        Returns:
            ``(ready, skipped)``: the dependents that became ready (in the order they were added),
            and, when the task failed, every task that now can never run as ``(id, blocker)``
            pairs, in breadth-first order so that each blocker is reported before what it blocks.
        """
        self._state[task_id] = _OK if ok else _FAILED
        dependents = self._dependents.pop(task_id, None)
        if not dependents:
            return [], []
        if ok:
            ready = []
            remaining = self._remaining
            for dep in dependents:
                left = remaining.get(dep)
                if left is None:  # already skipped through another failed dependency
                    continue
                if left == 1:
                    del remaining[dep]
                    self._state[dep] = _RUNNING
                    ready.append(dep)
                else:
                    remaining[dep] = left - 1
            return ready, []
        return [], self._skip_from(task_id, dependents)

    def _skip_from(self, root: int, dependents: list[int]) -> list[tuple[int, int]]:
        skipped: list[tuple[int, int]] = []
        frontier = [(d, root) for d in dependents]
        while frontier:
            next_frontier = []
            for task_id, blocker in frontier:
                if self._state.get(task_id) != _WAITING:
                    continue
                self._state[task_id] = _SKIPPED
                self._remaining.pop(task_id, None)
                skipped.append((task_id, blocker))
                next_frontier += [(d, task_id) for d in self._dependents.pop(task_id, ())]
            frontier = next_frontier
        return skipped

    def cancel_pending(self) -> list[int]:
        """Mark every waiting or running task as failed (the run was cancelled); returns their ids."""
        pending = [t for t, s in self._state.items() if s in (_WAITING, _RUNNING)]
        for task_id in pending:
            self._state[task_id] = _FAILED
        self._remaining.clear()
        self._dependents.clear()
        return pending

    @property
    def unfinished(self) -> int:
        """How many registered tasks are waiting or running."""
        return sum(1 for s in self._state.values() if s in (_WAITING, _RUNNING))

    def is_ok(self, task_id: int) -> bool:
        """Whether the task finished successfully."""
        return self._state.get(task_id) == _OK
