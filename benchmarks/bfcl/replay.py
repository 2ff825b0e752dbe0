"""Latency replay: every strategy makes the same ground-truth calls against the simulator.

For each strategy, an oracle (:mod:`~orchestra.benchmarks.bfcl.oracle`) writes the item's
reference calls (:func:`~orchestra.benchmarks.bfcl.answers.reference_calls`) in the strategy's
protocol; a simulator subprocess serves them over real HTTP with the stated time to first token
and tokens per second; an :class:`~orchestra.agent.Agent` with that strategy runs each item, and
each function answers after its own seeded latency (AsyncLM's setup: every function name draws one
latency between 30 and 500 ms). The calls the tools received are scored with BFCL's checker, so a
replay that lost or garbled a call shows up as an error, not as a fast run.

One simulator process serves every strategy, one strategy after the other. Items run
concurrently (``concurrency``), each timed on its own: the simulator has no queue, so one item's
latency does not include another's. Each line of the script carries the item's id and the
strategy as its match, and the question carries the same tag, so concurrent items never take each
other's answers.

The bound of an item is what the timing model allows any runtime: the time for the model to
write its first call, plus the slowest call (all single-turn BFCL calls are independent), plus
one answer call (:func:`item_bound`).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import anyio

from orchestra.agent import Agent
from orchestra.benchmarks.bfcl.answers import reference_calls
from orchestra.benchmarks.bfcl.checker import check_item
from orchestra.benchmarks.bfcl.data import Item
from orchestra.benchmarks.bfcl.oracle import Call, escape_refs, get_oracle, joiner_text, plan_text
from orchestra.benchmarks.bfcl.tools import CallLog, FunctionLatency, make_tools
from orchestra.benchmarks.compiler.bound import LatencyParams, call_seconds, line_ready_times
from orchestra.endpoints.openai import OpenAIEndpoint
from orchestra.errors import OrchestraError, UsageError
from orchestra.sim import SimConfig, SimProcess
from orchestra.strategies import get_strategy

__all__ = [
    "ReplayConfig",
    "ReplayRow",
    "ReplaySummary",
    "item_bound",
    "oracle_calls",
    "replay_strategy",
    "run_replay",
    "summarize",
    "write_script",
]

OnRow = Callable[["ReplayRow"], object]


@dataclass(frozen=True)
class ReplayConfig:
    """What to replay, and the timing model.

    Attributes:
        strategies: the strategies, in the order they run (each must have an oracle).
        ttft: simulated seconds to the first token.
        tokens_per_second: simulated decode speed (a token is a word).
        latency_low: shortest function latency, seconds.
        latency_high: longest function latency, seconds.
        seed: seed of the function latencies.
        concurrency: items in flight at once.
        item_timeout: seconds one item may take before it counts as an error.
    """

    strategies: tuple[str, ...] = ("sequential", "parallel", "compiler")
    ttft: float = 0.2
    tokens_per_second: float = 50.0
    latency_low: float = 0.03
    latency_high: float = 0.5
    seed: int = 0
    concurrency: int = 4
    item_timeout: float = 60.0

    def __post_init__(self) -> None:
        if not self.strategies:
            raise UsageError("no strategy to replay")
        for name in self.strategies:
            get_strategy(name)  # unknown, or the async stub: a one-line UsageError
            get_oracle(name)
        if not 0 <= self.latency_low <= self.latency_high:
            raise UsageError(f"function latency range {self.latency_low}..{self.latency_high} is empty")
        if self.concurrency < 1:
            raise UsageError(f"--concurrency must be >= 1, got {self.concurrency}")

    @property
    def params(self) -> LatencyParams:
        """The token timing, as the bound arithmetic takes it."""
        return LatencyParams(ttft=self.ttft, tokens_per_second=self.tokens_per_second)


@dataclass
class ReplayRow:
    """One item replayed with one strategy."""

    category: str
    item_id: str
    strategy: str
    latency: float
    bound: float
    llm_calls: int = 0
    tool_calls: int = 0
    valid: bool = False
    error_type: str = ""
    error: str | None = None


def oracle_calls(item: Item, names: dict[str, str]) -> list[Call]:
    """The item's reference calls as ``(tool name, escaped args)`` for an oracle to write."""
    tool_of = {bfcl: tool for tool, bfcl in names.items()}
    calls: list[Call] = []
    for call in reference_calls(item):
        ((name, args),) = call.items()
        calls.append((tool_of[name], escape_refs(args)))
    return calls


def item_bound(calls: Sequence[Call], latencies: Sequence[float], params: LatencyParams) -> float:
    """The model writes its first call, the slowest call runs, one answer call follows (seconds)."""
    if not calls:
        return call_seconds(joiner_text(), params)
    first = line_ready_times(plan_text(calls), params)[0]
    return first + max(latencies) + call_seconds(joiner_text(), params)


def _tag(item: Item, strategy: str) -> str:
    return f"[bfcl item {item.id} for {strategy}]"


def write_script(strategies: Sequence[str], items: Sequence[Item], path: Path) -> Path:
    """The simulator script: each strategy's oracle outputs for each item, matched by a tag."""
    with path.open("w", encoding="utf-8") as out:
        for strategy in strategies:
            oracle = get_oracle(strategy)
            for item in items:
                _, names = make_tools(item, CallLog())
                for answer in oracle.outputs(oracle_calls(item, names)):
                    line = {"match": _tag(item, strategy), "once": True, **answer}
                    out.write(json.dumps(line, ensure_ascii=False) + "\n")
    return path


async def _run_item(strategy: str, item: Item, url: str, config: ReplayConfig) -> ReplayRow:
    oracle = get_oracle(strategy)
    log = CallLog()
    latency = FunctionLatency(config.seed, config.latency_low, config.latency_high)
    tools, names = make_tools(item, log, latency=latency)
    calls = oracle_calls(item, names)
    bound = item_bound(calls, [latency(names[name]) for name, _ in calls], config.params)
    endpoint = OpenAIEndpoint(base_url=url, model="sim-model", api_key="sim")
    agent = Agent(
        endpoint,
        tools,
        planner=oracle.planner(),
        strategy=strategy,
        max_turns=oracle.max_turns(len(calls)),
        **oracle.agent_options,
    )
    row = ReplayRow(item.category.name, item.id, strategy, latency=0.0, bound=bound)
    start = time.perf_counter()
    try:
        with anyio.fail_after(config.item_timeout):
            result = await agent.run(f"{item.prompt}\n{_tag(item, strategy)}")
        row.latency = time.perf_counter() - start
        row.llm_calls, row.tool_calls = result.llm_calls, len(log.calls)
        verdict = check_item(item, log.calls)
        row.valid, row.error_type = verdict.valid, verdict.error_type
    except (OrchestraError, TimeoutError) as exc:
        row.latency = time.perf_counter() - start
        row.error = f"{type(exc).__name__}: {exc}"
    finally:
        await endpoint.aclose()
    return row


async def replay_strategy(
    strategy: str, items: Sequence[Item], config: ReplayConfig, url: str, *, on_row: OnRow | None = None
) -> list[ReplayRow]:
    """Replay ``items`` with ``strategy`` against the simulator at ``url`` serving :func:`write_script`'s
    script (rows in item order)."""
    rows: dict[int, ReplayRow] = {}
    limiter = anyio.CapacityLimiter(config.concurrency)

    async def one(index: int, item: Item) -> None:
        async with limiter:
            rows[index] = await _run_item(strategy, item, url, config)
        if on_row is not None:
            on_row(rows[index])

    async with anyio.create_task_group() as group:
        for index, item in enumerate(items):
            group.start_soon(one, index, item)
    return [rows[i] for i in range(len(items))]


@dataclass
class ReplaySummary:
    """One category and strategy.

    Attributes:
        latency_median: median seconds per item.
        speedup: median latency of ``sequential`` / this median (None without sequential).
        bound_median: median of the items' bounds, seconds.
        valid: items whose replayed calls the checker accepted.
    """

    category: str
    strategy: str
    items: int
    latency_median: float
    latency_mean: float
    bound_median: float
    speedup: float | None
    valid: int
    errors: int

    @property
    def bound_ratio(self) -> float:
        """Median latency / median bound (1.0 would be the bound itself)."""
        return self.latency_median / self.bound_median if self.bound_median else 0.0


def summarize(rows: Sequence[ReplayRow]) -> list[ReplaySummary]:
    """Per (category, strategy), in first-seen order; errored items count in ``errors`` only."""
    groups: dict[tuple[str, str], list[ReplayRow]] = {}
    for row in rows:
        groups.setdefault((row.category, row.strategy), []).append(row)
    medians = {
        key: statistics.median([r.latency for r in group if r.error is None] or [0.0])
        for key, group in groups.items()
    }
    out = []
    for (category, strategy), group in groups.items():
        ok = [r for r in group if r.error is None]
        median = medians[(category, strategy)]
        base = medians.get((category, "sequential"))
        out.append(
            ReplaySummary(
                category=category,
                strategy=strategy,
                items=len(group),
                latency_median=median,
                latency_mean=statistics.fmean([r.latency for r in ok]) if ok else 0.0,
                bound_median=statistics.median([r.bound for r in group]),
                speedup=base / median if base and median else None,
                valid=sum(r.valid for r in group),
                errors=len(group) - len(ok),
            )
        )
    return out


@dataclass
class ReplayResult:
    """Rows and summaries of one replay, and its settings."""

    config: dict[str, Any]
    rows: list[ReplayRow] = field(default_factory=list)
    summary: list[ReplaySummary] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The summary JSON (rows are written separately, one line each)."""
        return {
            "config": self.config,
            "summary": [{**asdict(s), "bound_ratio": s.bound_ratio} for s in self.summary],
        }


async def run_replay(
    items: Sequence[Item], config: ReplayConfig, *, on_row: OnRow | None = None
) -> ReplayResult:
    """Replay ``items`` (any categories with possible answers) with every strategy of ``config``.

    Raises:
        UsageError: an item without possible answers (irrelevance, relevance: nothing to replay).
    """
    plain = [i for i in items if i.ground_truth is None]
    if plain:
        raise UsageError(
            f"the latency replay needs possible answers; {plain[0].category.name} has none (choose AST categories)"
        )
    rows: list[ReplayRow] = []
    with tempfile.TemporaryDirectory(prefix="orchestra-bfcl-") as tmp:
        script = write_script(config.strategies, items, Path(tmp) / "oracle.jsonl")
        sim_config = SimConfig(
            ttft=config.ttft, tokens_per_second=config.tokens_per_second, content="script", script=script
        )
        async with SimProcess(sim_config) as sim:
            for strategy in config.strategies:  # one at a time: strategies do not share the CPU
                rows += await replay_strategy(strategy, items, config, sim.url, on_row=on_row)
    return ReplayResult(config=asdict(config), rows=rows, summary=summarize(rows))
