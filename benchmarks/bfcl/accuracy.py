"""Accuracy mode: a real endpoint answers BFCL items with one strategy; its calls are scored.

Each item becomes an agent run: the item's functions are the tools
(:mod:`~orchestra.benchmarks.bfcl.tools`: BFCL types as JSON schema, dotted names as BFCL's
OpenAI handlers write them), the strategy's planner asks the model in its protocol (native
``tool_calls``, orchestra's JSON plan, or the LLMCompiler text), and the calls the tools receive —
with BFCL's names restored — are scored by the checker. BFCL scores the model's first answer, so
the runs are short: ``parallel`` gets one batch turn, ``compiler`` no replanning, ``sequential`` a
few single-call turns.

Items run concurrently through the endpoint (its own limits apply). Every finished item is one
line of ``rows.jsonl`` — the run's journal (:class:`orchestra.batch.journal.Journal`: appended,
fsynced, torn tail cut), so a killed run resumes where it stopped; items that failed for the
endpoint's sake (``error`` set) are run again. Each line holds ``{"id", "result"}``, so ``orchestra
bench bfcl score`` reads the file as it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from orchestra.agent import Agent
from orchestra.batch.journal import Journal, iter_journal
from orchestra.benchmarks.bfcl.checker import check_item
from orchestra.benchmarks.bfcl.data import Item
from orchestra.benchmarks.bfcl.tools import CallLog, make_tools
from orchestra.endpoints.base import Endpoint
from orchestra.errors import EndpointError, OrchestraError, UsageError
from orchestra.planning import Planner, StepPlanner
from orchestra.strategies import get_strategy

__all__ = [
    "AccuracyConfig",
    "AccuracyProgress",
    "AccuracySummary",
    "read_rows",
    "run_accuracy",
    "summarize_rows",
]


@dataclass(frozen=True)
class AccuracyConfig:
    """How to run.

    Attributes:
        strategy: the execution strategy.
        planner: builds the planner (None: the strategy's default).
        concurrency: items in flight at once (the endpoint's own limits still apply).
        sequential_turns: turns a ``sequential`` run may take (one call each).
        item_timeout: seconds one item may take before it counts as an endpoint failure.
    """

    strategy: str = "parallel"
    planner: Callable[[], Planner | StepPlanner] | None = None
    concurrency: int = 4
    sequential_turns: int = 4
    item_timeout: float = 300.0

    def __post_init__(self) -> None:
        get_strategy(self.strategy)
        if self.concurrency < 1:
            raise UsageError(f"--concurrency must be >= 1, got {self.concurrency}")


@dataclass
class AccuracyProgress:
    """Running counts, updated after every item (for a progress bar)."""

    total: int
    done: int = 0
    correct: int = 0
    errors: int = 0
    resumed: int = 0

    @property
    def accuracy(self) -> float:
        """Correct / scored so far (items that failed for the endpoint's sake are not scored)."""
        scored = self.done - self.errors
        return self.correct / scored if scored else 0.0


def _agent(endpoint: Endpoint, tools: list[Any], config: AccuracyConfig) -> Agent:
    options: dict[str, Any] = {"max_replans": 0}
    if config.strategy == "parallel":
        options["max_turns"] = 1  # one batch, then the final answer
    elif config.strategy == "sequential":
        options["max_turns"] = config.sequential_turns
    planner = config.planner() if config.planner is not None else None
    return Agent(endpoint, tools, planner=planner, strategy=config.strategy, **options)


async def _run_item(item: Item, endpoint: Endpoint, config: AccuracyConfig) -> dict[str, Any]:
    log = CallLog()
    tools, _ = make_tools(item, log)
    row: dict[str, Any] = {"custom_id": item.id, "id": item.id, "category": item.category.name,
                           "strategy": config.strategy, "error": None}  # fmt: skip
    start = time.perf_counter()
    try:
        with anyio.fail_after(config.item_timeout):
            result = await _agent(endpoint, tools, config).run(item.prompt)
        row["llm_calls"] = result.llm_calls
        row["answer"] = result.answer[:500]
    except (EndpointError, TimeoutError) as exc:
        code = "timeout" if isinstance(exc, TimeoutError) else "server_error"
        row["error"] = {"code": code, "message": f"{type(exc).__name__}: {exc}"}
    except OrchestraError as exc:  # the model's plan stayed invalid: scored as what it called
        row["answer"] = f"({type(exc).__name__}: {exc})"[:500]
    row["latency"] = round(time.perf_counter() - start, 4)
    row["result"] = log.calls
    verdict = check_item(item, log.calls)
    row.update(valid=verdict.valid, error_type=verdict.error_type, checker_error=verdict.error)
    return row


def read_rows(path: Path) -> dict[str, dict[str, Any]]:
    """The last line of each item in a ``rows.jsonl`` (what a finished or resumed run holds)."""
    if not path.is_file():
        return {}
    return {row["custom_id"]: row for _, _, row in iter_journal(path)}


async def run_accuracy(
    items: Sequence[Item],
    endpoint: Endpoint,
    config: AccuracyConfig,
    out: Path,
    *,
    on_progress: Callable[[AccuracyProgress], object] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run every item not already done in ``out/rows.jsonl``; returns the rows by id.

    Raises:
        UsageError: another run is writing the same folder.
    """
    journal = Journal(out / "rows.jsonl", retry_failed=True)
    journal.open()
    progress = AccuracyProgress(total=len(items))
    try:
        done = read_rows(journal.path)
        for item in items:
            row = done.get(item.id)
            if row is not None and journal.is_done(item.id):
                progress.done += 1
                progress.resumed += 1
                progress.correct += bool(row.get("valid"))
        if on_progress is not None:
            on_progress(progress)
        todo = [i for i in items if not journal.is_done(i.id)]
        limiter = anyio.CapacityLimiter(config.concurrency)

        async def one(item: Item) -> None:
            async with limiter:
                row = await _run_item(item, endpoint, config)
            await anyio.to_thread.run_sync(journal.append, [row])
            progress.done += 1
            if row["error"] is not None:
                progress.errors += 1
            else:
                progress.correct += bool(row["valid"])
            if on_progress is not None:
                on_progress(progress)

        async with anyio.create_task_group() as group:
            for item in todo:
                group.start_soon(one, item)
        journal.compact()
    finally:
        journal.close()
    return read_rows(journal.path)


@dataclass
class AccuracySummary:
    """One category's accuracy."""

    category: str
    items: int
    correct: int
    errors: int
    error_types: dict[str, int] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        """Correct / items scored (endpoint failures excluded)."""
        scored = self.items - self.errors
        return self.correct / scored if scored else 0.0


def summarize_rows(items: Sequence[Item], rows: dict[str, dict[str, Any]]) -> list[AccuracySummary]:
    """Per category, in the order of ``items``."""
    out: dict[str, AccuracySummary] = {}
    for item in items:
        row = rows.get(item.id)
        if row is None:
            continue
        summary = out.setdefault(item.category.name, AccuracySummary(item.category.name, 0, 0, 0))
        summary.items += 1
        if row.get("error"):
            summary.errors += 1
        elif row.get("valid"):
            summary.correct += 1
        else:
            kind = str(row.get("error_type"))
            summary.error_types[kind] = summary.error_types.get(kind, 0) + 1
    return list(out.values())
