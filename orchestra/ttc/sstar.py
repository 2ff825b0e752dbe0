"""S* for code: parallel samples, sequential debugging, then selection by distinguishing inputs.

S* (Li et al., "S*: Test Time Scaling for Code Generation") in four phases, each a set of units:

1. **Sample** ``n`` candidate programs in parallel.
2. **Debug**: run each candidate on the public tests (``EXECUTE``, in the sandbox); a failing one
   is shown its failures and asked for a fix (``DEBUG``), for up to ``debug_rounds`` rounds.
3. **Generate inputs**: the model writes test calls (``TEST_GENERATION``); the surviving
   candidates (those passing the public tests, or all if none does) run on them, and candidates
   with identical outputs form one group.
4. **Judge**: group representatives are compared pairwise by the model, which sees both programs,
   the inputs and both outputs, in *both orders* (to cancel position bias). At most
   ``max_matches`` judge calls are made, and each is charged to the budget. The group with the
   most wins is selected (ties: the larger group, then the earlier).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from orchestra.chat import ChatRequest, Message
from orchestra.errors import UsageError
from orchestra.ttc.program import Execution, Selection, UnitKind, UnitResult, WorkUnit

__all__ = ["PublicTest", "SStar", "extract_code", "parse_calls"]

_FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|\Z)", re.DOTALL)


def extract_code(text: str) -> str:
    """The first fenced code block of ``text`` (a ```python block preferred), else the whole text."""
    blocks = _FENCE.findall(text)
    return (blocks[0] if blocks else text).strip() + "\n"


def parse_calls(text: str, entry_point: str, limit: int) -> list[str]:
    """Lines of ``text`` that are calls of ``entry_point`` (``f(1, 2)``; ``assert f(1) == 2`` gives ``f(1)``)."""
    calls: list[str] = []
    pattern = re.compile(rf"\b{re.escape(entry_point)}\s*\(")
    for line in text.splitlines():
        match = pattern.search(line)
        if not match:
            continue
        start, depth = match.start(), 0
        for i in range(match.end() - 1, len(line)):
            depth += {"(": 1, ")": -1}.get(line[i], 0)
            if depth == 0:
                call = line[start : i + 1]
                if call not in calls:
                    calls.append(call)
                break
        if len(calls) >= limit:
            break
    return calls


@dataclass(frozen=True)
class PublicTest:
    """A public test: ``call`` evaluated must have ``repr`` equal to ``expected``."""

    call: str
    expected: str


@dataclass
class _Candidate:
    code: str
    rounds: int = 0
    passed: bool | None = None
    failures: list[str] = field(default_factory=list)
    outputs: tuple[str, ...] = ()
    history: list[Message] = field(default_factory=list)


class SStar:
    """The S* program for one coding problem.

    Args:
        request: asks for the program (its messages are reused for debugging).
        entry_point: the function the tests call.
        tests: public tests.
        n: parallel samples.
        debug_rounds: fix attempts per failing candidate.
        inputs: generated test calls wanted.
        max_matches: judge calls at most (each order of a pair is one call).
        query_id: names the query.
        timeout: seconds per sandbox run.
        preamble: code run before each candidate (imports a candidate may leave out).

    Raises:
        UsageError: ``n`` < 1 or negative rounds/matches.
    """

    def __init__(
        self,
        request: ChatRequest,
        entry_point: str,
        tests: Sequence[PublicTest] = (),
        *,
        n: int = 4,
        debug_rounds: int = 1,
        inputs: int = 5,
        max_matches: int = 6,
        query_id: str = "q",
        timeout: float = 5.0,
        preamble: str = "",
    ) -> None:
        if n < 1 or debug_rounds < 0 or max_matches < 0 or inputs < 0:
            raise UsageError("SStar: need n >= 1 and non-negative rounds, inputs and matches")
        self.request = request
        self.entry_point = entry_point
        self.tests = tuple(tests)
        self.n = n
        self.debug_rounds = debug_rounds
        self.inputs = inputs
        self.max_matches = max_matches
        self.query_id = query_id
        self.timeout = timeout
        self.preamble = preamble
        self.candidates: list[_Candidate] = []
        self.calls: list[str] = []
        self.groups: list[list[int]] = []
        self.wins: dict[int, float] = {}
        self.matches = 0
        self.phase = "sample"
        self._outstanding = 0
        self._queue: list[WorkUnit] = []
        self._queue.extend(WorkUnit(UnitKind.SAMPLE, request, prefix=query_id) for _ in range(n))
        self._sampled = 0

    # -- the protocol ------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.phase == "done"

    def propose(self) -> Sequence[WorkUnit]:
        units, self._queue = self._queue, []
        self._outstanding += len(units)
        return units

    def observe(self, result: UnitResult) -> None:
        self._outstanding -= 1
        kind = result.unit.kind
        if kind in (UnitKind.SAMPLE, UnitKind.DEBUG):
            self._on_code(result)
        elif kind is UnitKind.EXECUTE:
            self._on_execution(result)
        elif kind is UnitKind.TEST_GENERATION:
            self.calls = [] if result.error else parse_calls(result.text, self.entry_point, self.inputs)
        elif kind is UnitKind.JUDGE:
            self._on_judge(result)
        if self._outstanding == 0 and not self._queue:
            self._advance()

    def select(self) -> Selection:
        if not self.candidates:
            return Selection(None, 0.0, 0)
        index = self._best()
        passing = sum(1 for c in self.candidates if c.passed)
        return Selection(
            self.candidates[index].code,
            passing / len(self.candidates),
            self._sampled,
            {"candidate": index, "groups": self.groups, "wins": self.wins, "matches": self.matches},
        )

    # -- phases ------------------------------------------------------------------------------

    def _test_unit(self, index: int) -> WorkUnit:
        code = self.preamble + self.candidates[index].code
        execution = Execution(code, tuple(t.call for t in self.tests), self.timeout)
        return WorkUnit(UnitKind.EXECUTE, execution=execution, tag=("test", index))

    def _on_code(self, result: UnitResult) -> None:
        self._sampled += 1
        code = extract_code(result.text) if result.error is None else ""
        if result.unit.kind is UnitKind.SAMPLE:
            self.candidates.append(_Candidate(code))
            index = len(self.candidates) - 1
        else:
            index = int(result.unit.tag)
            self.candidates[index].code = code or self.candidates[index].code
        if self.tests:
            self._queue.append(self._test_unit(index))
        else:
            self.candidates[index].passed = True

    def _on_execution(self, result: UnitResult) -> None:
        what, index = result.unit.tag
        candidate = self.candidates[index]
        outputs = result.outputs or tuple("Error: no output" for _ in result.unit.execution.calls)  # type: ignore[union-attr]
        if what == "inputs":
            candidate.outputs = outputs
            return
        candidate.failures = [
            f"{t.call} returned {out}, expected {t.expected}"
            for t, out in zip(self.tests, outputs, strict=False)
            if out != t.expected
        ]
        candidate.passed = not candidate.failures
        if not candidate.passed and candidate.rounds < self.debug_rounds:
            candidate.rounds += 1
            feedback = "Your code fails these tests:\n" + "\n".join(candidate.failures[:5])
            messages = [
                *self.request.messages,
                Message(role="assistant", content=f"```python\n{candidate.code}```"),
                Message(role="user", content=feedback + "\nFix it. Reply with the whole corrected function."),
            ]
            fix = self.request.model_copy(update={"messages": messages})
            self._queue.append(WorkUnit(UnitKind.DEBUG, fix, prefix=self.query_id, tag=index))

    def _survivors(self) -> list[int]:
        passing = [i for i, c in enumerate(self.candidates) if c.passed]
        return passing or list(range(len(self.candidates)))

    def _advance(self) -> None:
        survivors = self._survivors()
        distinct = {self.candidates[i].code for i in survivors}
        if self.phase == "sample":
            if len(distinct) <= 1 or self.inputs == 0:
                self.groups = [survivors]
                self.phase = "done"
                return
            self.phase = "inputs"
            self._queue.append(
                WorkUnit(UnitKind.TEST_GENERATION, self._input_request(), prefix=self.query_id)
            )
        elif self.phase == "inputs":
            if not self.calls:
                self.groups = [survivors]
                self.phase = "done"
                return
            self.phase = "run"
            for i in survivors:
                execution = Execution(
                    self.preamble + self.candidates[i].code, tuple(self.calls), self.timeout
                )
                self._queue.append(WorkUnit(UnitKind.EXECUTE, execution=execution, tag=("inputs", i)))
        elif self.phase == "run":
            by_output: dict[tuple[str, ...], list[int]] = {}
            for i in survivors:
                by_output.setdefault(self.candidates[i].outputs, []).append(i)
            self.groups = list(by_output.values())
            self.wins = {g[0]: 0.0 for g in self.groups}
            pairs = [(a[0], b[0]) for a, b in itertools.permutations(self.groups, 2)][: self.max_matches]
            if len(self.groups) <= 1 or not pairs:
                self.phase = "done"
                return
            self.phase = "judge"
            for first, second in pairs:
                self._queue.append(
                    WorkUnit(
                        UnitKind.JUDGE,
                        self._judge_request(first, second),
                        prefix=self.query_id,
                        tag=(first, second),
                    )
                )
        else:
            self.phase = "done"

    def _input_request(self) -> ChatRequest:
        task = self.request.messages[-1].content or ""
        ask = (
            f"{task}\n\nWrite {self.inputs} different test inputs for `{self.entry_point}` that would tell "
            f"a correct solution from a wrong one, one call per line, like {self.entry_point}(...). "
            "Only the calls."
        )
        return self.request.model_copy(update={"messages": [Message(role="user", content=ask)]})

    def _judge_request(self, a: int, b: int) -> ChatRequest:
        task = self.request.messages[-1].content or ""
        runs = "\n".join(
            f"{call}: A gives {oa}, B gives {ob}"
            for call, oa, ob in zip(
                self.calls, self.candidates[a].outputs, self.candidates[b].outputs, strict=False
            )
            if oa != ob
        )
        ask = (
            f"Problem:\n{task}\n\nProgram A:\n```python\n{self.candidates[a].code}```\n\n"
            f"Program B:\n```python\n{self.candidates[b].code}```\n\nThey differ on these inputs:\n{runs}\n\n"
            "Which program is correct? Answer with one letter: A or B."
        )
        return self.request.model_copy(
            update={"messages": [Message(role="user", content=ask)], "max_tokens": 8}
        )

    def _on_judge(self, result: UnitResult) -> None:
        self.matches += 1
        first, second = result.unit.tag
        verdict = re.search(r"\b([AB])\b", result.text or "")
        if result.error or verdict is None:
            self.wins[first] += 0.5
            self.wins[second] += 0.5
        else:
            self.wins[first if verdict.group(1) == "A" else second] += 1.0

    def _best(self) -> int:
        if not self.groups:
            survivors = self._survivors()
            return survivors[0]
        sizes = {g[0]: len(g) for g in self.groups}
        order = [g[0] for g in self.groups]
        return max(order, key=lambda r: (self.wins.get(r, 0.0), sizes[r], -order.index(r)))
