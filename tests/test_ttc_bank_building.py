"""Building a bank from reasoning-gym problems: extraction, scoring, resume after a kill."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra.benchmarks.ttc.building import BankSpec, TaskSpec, build_bank, problems
from orchestra.chat import ChatRequest
from orchestra.errors import UsageError
from orchestra.testing import FunctionModel
from orchestra.ttc import read_bank

SPEC = BankSpec(
    tasks=(
        TaskSpec(
            "chain_sum", 3, "1-digit", {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}
        ),
        TaskSpec(
            "chain_sum", 2, "2-digit", {"min_terms": 2, "max_terms": 2, "min_digits": 2, "max_digits": 2}
        ),
    ),
    samples=4,
)


def _solver(request: ChatRequest) -> str:
    """Echoes the problem and solves it: '4 - 1 = 3' (the first number is the question's)."""
    expression = (request.messages[-1].content or "").rsplit(":", 1)[1].rstrip("= ").strip()
    return f"{expression} = {eval(expression)}"


async def test_bank_samples_are_extracted_scored_and_resumed(tmp_path: Path) -> None:
    path = tmp_path / "bank.jsonl.gz"
    model = FunctionModel(_solver, name="solver")
    progress: list[tuple[int, int]] = []
    added = await build_bank(
        path, model, SPEC, model="solver", on_progress=lambda d, t: progress.append((d, t))
    )
    assert added == 5 and progress[-1] == (5, 5)
    header, queries = read_bank(path)
    assert header.model == "solver" and header.max_tokens == SPEC.max_tokens
    assert all(len(q.samples) == 4 and q.accuracy == 1.0 for q in queries)
    assert {q.difficulty for q in queries} == {"1-digit", "2-digit"}
    assert all(s.answer == q.answer for q in queries for s in q.samples)
    # Interleaved: a bank cut short still holds both difficulties.
    assert [q.difficulty for q in queries][:2] == ["1-digit", "2-digit"]

    requests_before = len(model.requests)
    assert await build_bank(path, model, SPEC, model="solver") == 0  # resumed: nothing left
    assert len(model.requests) == requests_before
    with pytest.raises(UsageError, match="built with"):
        await build_bank(path, model, BankSpec(tasks=SPEC.tasks, temperature=0.1), model="solver")


def test_problem_ids_are_stable_when_counts_grow() -> None:
    small = [p[0:3] for p in problems(SPEC)]
    bigger = BankSpec(tasks=tuple(TaskSpec(t.name, t.count * 2, t.difficulty, t.config) for t in SPEC.tasks))
    grown = {p[0]: p[1:3] for p in problems(bigger)}
    assert all(grown[qid] == (question, answer) for qid, question, answer in small)


async def test_a_redrawn_question_is_not_added_twice_even_when_a_bank_grows(tmp_path: Path) -> None:
    # 40 draws of 1-digit sums hold 3 repeats (there are ~200 such questions); 10 hold none.
    config = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}

    def spec(count: int) -> BankSpec:
        return BankSpec(tasks=(TaskSpec("chain_sum", count, "1-digit", config),), samples=1)

    drawn = [p[1] for p in problems(spec(40))]
    assert len(set(drawn)) < len(drawn)
    path = tmp_path / "bank.jsonl.gz"
    model = FunctionModel(_solver, name="solver")
    assert await build_bank(path, model, spec(10), model="solver") == 10
    added = await build_bank(path, model, spec(40), model="solver")
    _, queries = read_bank(path)
    questions = [q.question for q in queries]
    assert len(set(questions)) == len(questions) == 10 + added == len(set(drawn))
