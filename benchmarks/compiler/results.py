"""The benchmark's results: one row per (strategy, question), and a summary per strategy.

Pure data and arithmetic (no I/O), so the summary is tested without running anything.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ACCURACY_NOTE", "BenchResult", "QuestionRow", "StrategySummary", "answers_match", "summarize"]

ACCURACY_NOTE = (
    "The simulator answers with scripted, ideal outputs (the dataset's answer), so accuracy here checks "
    "that each strategy carried the answer through end to end; it is not a measure of model quality."
)


@dataclass
class QuestionRow:
    """One question run with one strategy.

    Attributes:
        strategy: ``sequential``, ``parallel`` or ``compiler``.
        question_id: the dataset id.
        latency: wall-clock seconds of ``agent.run``.
        prompt_tokens: prompt tokens billed by the simulator, all LLM calls of the run.
        completion_tokens: completion tokens billed, all LLM calls.
        llm_calls: LLM requests made.
        tool_calls: tool tasks executed.
        answer: the agent's final answer.
        expected: the dataset's answer.
        correct: whether ``answer`` matches ``expected`` (see :func:`answers_match`).
        bound: the critical-path bound for this question (compiler's plan), seconds.
        stream_bound: the bound counting the time the planner takes to write each task, seconds.
        error: the error that ended the run, if any.
    """

    strategy: str
    question_id: str
    latency: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_calls: int = 0
    tool_calls: int = 0
    answer: str = ""
    expected: str = ""
    correct: bool = False
    bound: float = 0.0
    stream_bound: float = 0.0
    error: str | None = None


@dataclass
class StrategySummary:
    """Aggregates of one strategy over the questions.

    Attributes:
        strategy: the strategy.
        questions: rows counted.
        errors: rows that ended in an error (excluded from latency figures).
        latency_median: median seconds per question.
        latency_mean: mean seconds per question.
        tokens_mean: mean prompt + completion tokens per question.
        completion_tokens_mean: mean completion tokens per question.
        llm_calls_mean: mean LLM calls per question.
        accuracy: share of correct answers (see :data:`ACCURACY_NOTE`).
        speedup: sequential's median latency / this strategy's (None without a sequential run).
        bound_ratio: median of latency / critical-path bound per question.
        stream_bound_ratio: median of latency / stream-aware bound per question.
    """

    strategy: str
    questions: int
    errors: int
    latency_median: float
    latency_mean: float
    tokens_mean: float
    completion_tokens_mean: float
    llm_calls_mean: float
    accuracy: float
    speedup: float | None = None
    bound_ratio: float | None = None
    stream_bound_ratio: float | None = None


@dataclass
class BenchResult:
    """A whole benchmark run: its settings, its rows and the per-strategy summary."""

    config: dict[str, Any]
    rows: list[QuestionRow] = field(default_factory=list)
    summary: dict[str, StrategySummary] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: ``config``, ``note``, ``summary`` (by strategy) and ``rows``."""
        return {
            "config": self.config,
            "note": ACCURACY_NOTE,
            "summary": {name: asdict(s) for name, s in self.summary.items()},
            "rows": [asdict(r) for r in self.rows],
        }


def _normal(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


def answers_match(answer: str, expected: str) -> bool:
    """Whether ``answer`` states ``expected`` (case, punctuation and spacing ignored)."""
    got, want = _normal(answer), _normal(expected)
    return bool(want) and (got == want or f" {want} " in f" {got} ")


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def _summary(strategy: str, rows: Sequence[QuestionRow]) -> StrategySummary:
    ok = [r for r in rows if r.error is None]
    latencies = [r.latency for r in ok]
    bound = [r.latency / r.bound for r in ok if r.bound > 0]
    stream = [r.latency / r.stream_bound for r in ok if r.stream_bound > 0]
    return StrategySummary(
        strategy=strategy,
        questions=len(rows),
        errors=len(rows) - len(ok),
        latency_median=statistics.median(latencies) if latencies else 0.0,
        latency_mean=_mean(latencies),
        tokens_mean=_mean([r.prompt_tokens + r.completion_tokens for r in ok]),
        completion_tokens_mean=_mean([r.completion_tokens for r in ok]),
        llm_calls_mean=_mean([r.llm_calls for r in ok]),
        accuracy=sum(r.correct for r in rows) / len(rows) if rows else 0.0,
        bound_ratio=statistics.median(bound) if bound and strategy == "compiler" else None,
        stream_bound_ratio=statistics.median(stream) if stream and strategy == "compiler" else None,
    )


def summarize(rows: Iterable[QuestionRow]) -> dict[str, StrategySummary]:
    """One summary per strategy (in first-seen order), with the speedup over ``sequential``."""
    by_strategy: dict[str, list[QuestionRow]] = {}
    for row in rows:
        by_strategy.setdefault(row.strategy, []).append(row)
    summary = {name: _summary(name, group) for name, group in by_strategy.items()}
    base = summary.get("sequential")
    for item in summary.values():
        if base is not None and base.latency_median > 0 and item.latency_median > 0:
            item.speedup = base.latency_median / item.latency_median
    return summary
