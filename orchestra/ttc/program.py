"""What a query's *program* is: it proposes units of work, observes their results, and selects.

The allocator (:mod:`orchestra.ttc.allocator`) runs many programs at once under one budget. A
program never does I/O: it hands out :class:`WorkUnit` s (a model request, or code to execute)
and is told each :class:`UnitResult`. The same program therefore runs on live endpoints, on a
replayed sample bank and under a scripted model, unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from orchestra.chat import ChatRequest

__all__ = ["Execution", "Program", "Selection", "UnitKind", "UnitResult", "WorkUnit"]


class UnitKind(StrEnum):
    """What a unit does; the kinds of the issue's allocator (all but ``EXECUTE`` call a model)."""

    SAMPLE = "sample"
    CONTINUE = "continue"
    PROBE = "probe"
    DEBUG = "debug"
    TEST_GENERATION = "test-generation"
    EXECUTE = "execute"
    JUDGE = "judge"


@dataclass(frozen=True)
class Execution:
    """Code to run in the sandbox: ``code`` defines things, then each of ``calls`` is evaluated.

    Attributes:
        code: Python source (a candidate program).
        calls: Python expressions to evaluate after it, e.g. ``"add(1, 2)"``; their ``repr`` (or
            the exception's type and message) is the output.
        timeout: seconds for the whole run.
    """

    code: str
    calls: tuple[str, ...]
    timeout: float = 5.0


@dataclass(frozen=True, eq=False)
class WorkUnit:
    """One unit of work a program asks for.

    Attributes:
        kind: what it is.
        request: the model request (None for ``EXECUTE``).
        execution: the code to run (only for ``EXECUTE``).
        value: the program's predicted gain from this unit (probability units; the allocator
            orders units by value per unit of cost).
        prefix: units with the same prefix prefer the same endpoint (prompt-cache reuse).
        tag: the program's own note, handed back in the result.
    """

    kind: UnitKind
    request: ChatRequest | None = None
    execution: Execution | None = None
    value: float = 1.0
    prefix: str | None = None
    tag: Any = None


@dataclass(frozen=True)
class UnitResult:
    """What came back from a unit.

    Attributes:
        unit: the unit.
        text: the model's answer, or for ``EXECUTE`` nothing ('').
        outputs: for ``EXECUTE``, one output per call (``repr`` or ``"Error: ..."``).
        prompt_tokens, completion_tokens: usage charged to the budget.
        dollars: cost charged to the budget.
        finish_reason: the model's (``"length"`` when cut by ``max_tokens``).
        error: the failure's message when the unit failed (nothing else is filled in then).
    """

    unit: WorkUnit
    text: str = ""
    outputs: tuple[str, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    dollars: float = 0.0
    finish_reason: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Selection:
    """A program's final answer.

    Attributes:
        answer: the normalised answer (or the selected text/code), None when there is none.
        certainty: the program's certainty in [0, 1].
        samples: model samples it used (units of kind SAMPLE, CONTINUE, DEBUG).
        details: method-specific extras (vote counts, scores, match results).
    """

    answer: str | None
    certainty: float
    samples: int
    details: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Program(Protocol):
    """One query's method: proposes work, observes results, says when it is done, selects."""

    def propose(self) -> Sequence[WorkUnit]:
        """Units to run now (the allocator may hold them back); empty while it waits for results."""
        ...

    def observe(self, result: UnitResult) -> None:
        """Take in the result of a unit it proposed."""
        ...

    @property
    def done(self) -> bool:
        """True once it needs no more work."""
        ...

    def select(self) -> Selection:
        """The final answer from what it has seen so far (valid at any time)."""
        ...
