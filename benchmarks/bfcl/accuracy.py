"""Accuracy mode: a real endpoint answers BFCL items with one strategy; its calls are scored.

Each item becomes an agent run: the item's functions are the tools
(:mod:`~orchestra.benchmarks.bfcl.tools`: BFCL types as JSON schema, dotted names as BFCL's
OpenAI handlers write them), the strategy's planner asks the model in its protocol (native
``tool_calls``, orchestra's JSON plan, or the LLMCompiler text), and the calls the tools receive —
with BFCL's names restored — are scored by the checker. BFCL scores the model's first answer, so
the runs are short: ``parallel`` gets one batch turn, ``compiler`` no replanning, ``sequential`` a
few single-call turns. Once the first answer's calls have run, the run stops: the words the model
would write next (the joiner's answer, the final turn) are never scored, and on a slow local model
they cost as much as the plan.

Items run concurrently through the endpoint (its own limits apply). Every finished item is one
line of ``rows.jsonl`` — the run's journal (:class:`orchestra.batch.journal.Journal`: appended,
fsynced, torn tail cut), so a killed run resumes where it stopped. An item that failed for the
endpoint's sake (``error`` set: a timeout, a server error) is not a wrong answer: it is not scored,
and it is run again, within the run (``AccuracyConfig.retries`` more passes) and on resume. Each line
holds ``{"id", "result"}``, so ``orchestra bench bfcl score`` reads the file as it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

from orchestra.agent import Agent
from orchestra.batch.journal import Journal, iter_journal
from orchestra.benchmarks.bfcl.checker import check_item
from orchestra.benchmarks.bfcl.data import Item
from orchestra.benchmarks.bfcl.tools import CallLog, make_tools
from orchestra.chat import ChatRequest, ChatResponse
from orchestra.endpoints.base import Endpoint, WrapperEndpoint
from orchestra.errors import EndpointError, OrchestraError, UsageError
from orchestra.planning import Planner, StepPlanner
from orchestra.strategies import get_strategy
from orchestra.trace import Span, Trace, TraceListener

__all__ = [
    "AccuracyConfig",
    "AccuracyProgress",
    "AccuracySummary",
    "FirstAnswer",
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
        item_timeout: seconds one item may take (None: no limit). A guard against a hung
            endpoint, not a speed limit: a 135M model on two busy CPUs takes minutes per item, and
            the endpoint's own request timeouts already catch a server that stopped answering. An
            item past it counts as an endpoint failure (not scored) and is run again.
        retries: further passes over the items that failed for the endpoint's sake, after the
            others (machine load comes and goes; a user should not lose items to it).
    """

    strategy: str = "parallel"
    planner: Callable[[], Planner | StepPlanner] | None = None
    concurrency: int = 4
    sequential_turns: int = 4
    item_timeout: float | None = 1800.0
    retries: int = 2

    def __post_init__(self) -> None:
        get_strategy(self.strategy)
        if self.concurrency < 1:
            raise UsageError(f"--concurrency must be >= 1, got {self.concurrency}")
        if self.retries < 0:
            raise UsageError(f"retries must be >= 0, got {self.retries}")


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


class FirstAnswer(TraceListener):
    """Ends a run once BFCL's first answer is complete: its calls ran, and what comes next is words.

    ``compiler`` (no replanning) asks its joiner next; ``parallel`` (one batch turn) asks a final
    turn that offers no tools. Neither can add a call, and neither is scored, so the listener
    cancels ``scope`` when that LLM call begins. Other strategies run to their end.

    Args:
        strategy: the run's strategy.
        scope: the cancel scope around the run.
    """

    def __init__(self, strategy: str, scope: anyio.CancelScope) -> None:
        self.strategy = strategy
        self.scope = scope
        self.turns = 0
        self.stopped = False

    def on_start(self, trace: Trace, span: Span) -> None:
        """Cancel the run at the joiner (``compiler``) or at the second turn (``parallel``)."""
        if self.strategy == "parallel" and span.kind == "llm":
            self.turns += 1
        if (self.strategy == "compiler" and span.kind == "join") or self.turns > 1:
            self.stopped = True
            self.scope.cancel()


class _Checkpointed(WrapperEndpoint):
    """Yields to the event loop before each whole completion, so that a cancellation made just
    before it (by :class:`FirstAnswer`, as the LLM call's span opens) lands before the request is
    sent rather than after the server has spent the CPU on it."""

    async def complete(self, request: ChatRequest) -> ChatResponse:
        await anyio.lowlevel.checkpoint()
        return await self.inner.complete(request)


async def _run_item(item: Item, endpoint: Endpoint, config: AccuracyConfig) -> dict[str, Any]:
    log = CallLog()
    tools, _ = make_tools(item, log)
    row: dict[str, Any] = {"custom_id": item.id, "id": item.id, "category": item.category.name,
                           "strategy": config.strategy, "error": None}  # fmt: skip
    start = time.perf_counter()
    trace = Trace()
    stop = FirstAnswer(config.strategy, anyio.CancelScope())
    trace.listeners.append(stop)
    try:
        with anyio.fail_after(config.item_timeout), stop.scope:
            agent = _agent(_Checkpointed(endpoint), tools, config)
            result = await agent.run(item.prompt, trace=trace)
            row["answer"] = result.answer[:500]
        if stop.stopped:
            row["answer"] = "(not asked: BFCL scores the calls of the first answer)"
    except (EndpointError, TimeoutError) as exc:
        code = "timeout" if isinstance(exc, TimeoutError) else "server_error"
        row["error"] = {"code": code, "message": f"{type(exc).__name__}: {exc}"}
    except OrchestraError as exc:  # the model's plan stayed invalid: scored as what it called
        row["answer"] = f"({type(exc).__name__}: {exc})"[:500]
    row["latency"] = round(time.perf_counter() - start, 4)
    # Every LLM call made, repairs included; the one whose span opened the stop was never sent.
    row["llm_calls"] = sum(s.kind in ("plan", "join", "llm") for s in trace.spans) - stop.stopped
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
        limiter = anyio.CapacityLimiter(config.concurrency)
        failed: set[str] = set()  # items whose last row is an endpoint failure

        async def one(item: Item) -> None:
            async with limiter:
                row = await _run_item(item, endpoint, config)
            await anyio.to_thread.run_sync(journal.append, [row])
            if item.id not in failed:
                progress.done += 1
            if row["error"] is not None:
                failed.add(item.id)
            else:
                failed.discard(item.id)
                progress.correct += bool(row["valid"])
            progress.errors = len(failed)
            if on_progress is not None:
                on_progress(progress)

        for _pass in range(config.retries + 1):
            todo = [i for i in items if not journal.is_done(i.id)]
            if not todo:
                break
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
