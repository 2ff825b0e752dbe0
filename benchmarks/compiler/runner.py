"""Running the strategies on the same workload against the simulator, over real HTTP.

For each strategy: write the script of ideal outputs (:mod:`benchmarks.compiler.script`), start
a simulator subprocess with the stated latency (its own process, so the server does not share the
client's CPU or event loop — docs/design.md, simulator), point an :class:`~orchestra.agent.Agent` with
that strategy at it, and run the questions one at a time, timing each ``agent.run``. The tools are
the real BM25 search over the workloads' corpus and the benchmark's math tool, both with the
stated latency. Each row also carries the compiled plan's critical-path bounds
(:mod:`benchmarks.compiler.bound`).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import anyio

from orchestra._tool import Tool
from orchestra.agent import Agent, AgentResult
from orchestra.benchmarks.compiler.bound import LatencyParams, critical_path_bound, stream_bound
from orchestra.benchmarks.compiler.datasets import load_questions
from orchestra.benchmarks.compiler.results import BenchResult, QuestionRow, answers_match, summarize
from orchestra.benchmarks.compiler.script import STRATEGIES, joiner_output, plan_text, write_script
from orchestra.benchmarks.compiler.workload import Workload, build_workloads, make_tools
from orchestra.endpoints.openai import OpenAIEndpoint
from orchestra.errors import OrchestraError, UsageError
from orchestra.planners import default_planner
from orchestra.sim import SimConfig, SimProcess

__all__ = [
    "BenchConfig",
    "OnRow",
    "parse_strategies",
    "prepare",
    "run_benchmark",
    "run_strategy",
    "run_workloads",
]

OnRow = Callable[[QuestionRow], object]
"""Called after every question (progress bars)."""

_SIM_MODEL = "sim-model"


@dataclass(frozen=True)
class BenchConfig:
    """What to run.

    Attributes:
        dataset: ``movie``, ``hotpotqa`` or ``parallelqa``.
        strategies: the strategies, in the order they run.
        limit: the first ``limit`` questions (None: all).
        source: a path or URL of the data (None: shared copy, else download).
        latency: time to first token, tokens/s and tool latency.
        question_timeout: seconds one question may take before it counts as an error.
        concurrency: questions in flight at once.
    """

    dataset: str = "movie"
    strategies: tuple[str, ...] = STRATEGIES
    limit: int | None = 10
    source: str | None = None
    latency: LatencyParams = field(default_factory=LatencyParams)
    question_timeout: float = 120.0
    concurrency: int = 1

    def describe(self, questions: int) -> dict[str, Any]:
        """The settings as recorded in the JSON output."""
        return {
            "dataset": self.dataset,
            "strategies": list(self.strategies),
            "limit": self.limit,
            "questions": questions,
            "source": self.source,
            **asdict(self.latency),
            "question_timeout": self.question_timeout,
            "concurrency": self.concurrency,
        }


def parse_strategies(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"sequential,compiler"`` → ``("sequential", "compiler")``, validated.

    Raises:
        UsageError: empty, or an unknown strategy name.
    """
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    unknown = [n for n in names if n not in STRATEGIES]
    if not names or unknown:
        raise UsageError(
            f"unknown strategy {', '.join(unknown) or '(none given)'}; choose from: {', '.join(STRATEGIES)}"
        )
    return tuple(dict.fromkeys(names))


def _bounds(workload: Workload, params: LatencyParams) -> tuple[float, float]:
    plan, join = plan_text(workload), joiner_output(workload)
    return (
        critical_path_bound(workload.steps, plan, join, params),
        stream_bound(workload.steps, plan, join, params),
    )


def _make_agent(strategy: str, url: str, tools: list[Tool], max_turns: int) -> Agent:
    # The compiler uses LLMCompiler's numbered text planner (streamed), as in the paper; the step
    # strategies use orchestra's ReAct and parallel planners. max_turns must admit the longest
    # workload: ParallelQA's 5-branch questions take 11 ReAct turns (the agent's default cap is 8).
    endpoint = OpenAIEndpoint(base_url=url, model=_SIM_MODEL, api_key="sim")
    planner = default_planner(strategy, structured=False)
    return Agent(endpoint, tools, planner=planner, strategy=strategy, max_turns=max_turns)


def _row_from(
    strategy: str, workload: Workload, result: AgentResult, latency: float, bounds: tuple[float, float]
) -> QuestionRow:
    answer = result.answer or ""
    return QuestionRow(
        strategy=strategy,
        question_id=workload.question.id,
        latency=latency,
        prompt_tokens=result.usage.prompt_tokens,
        completion_tokens=result.usage.completion_tokens,
        llm_calls=result.llm_calls,
        tool_calls=len(result.trace.of_kind("task")),
        answer=answer,
        expected=workload.answer,
        correct=answers_match(answer, workload.answer),
        bound=bounds[0],
        stream_bound=bounds[1],
    )


async def run_strategy(
    strategy: str,
    workloads: Sequence[Workload],
    tools: list[Tool],
    config: BenchConfig,
    *,
    on_row: OnRow | None = None,
    workdir: Path,
) -> list[QuestionRow]:
    """Run ``workloads`` with ``strategy`` against a fresh simulator subprocess, ``config.concurrency``
    questions at a time (1: one after another, so each question's latency is its own)."""
    script = write_script(strategy, workloads, workdir / f"{strategy}.jsonl")
    params = config.latency
    sim_config = SimConfig(
        ttft=params.ttft, tokens_per_second=params.tokens_per_second, content="script", script=script
    )
    slots: list[QuestionRow | None] = [None] * len(workloads)
    limiter = anyio.CapacityLimiter(config.concurrency)

    async def one(index: int, workload: Workload, agent: Agent) -> None:
        async with limiter:
            bounds = _bounds(workload, params)
            start = time.perf_counter()
            try:
                with anyio.fail_after(config.question_timeout):
                    result = await agent.run(workload.question.question)
                row = _row_from(strategy, workload, result, time.perf_counter() - start, bounds)
            except (OrchestraError, TimeoutError) as exc:
                row = QuestionRow(strategy, workload.question.id, time.perf_counter() - start,
                                  expected=workload.answer, bound=bounds[0], stream_bound=bounds[1],
                                  error=f"{type(exc).__name__}: {exc}")  # fmt: skip
            slots[index] = row
            if on_row is not None:
                on_row(row)

    async with SimProcess(sim_config) as sim:
        agent = _make_agent(strategy, sim.url, tools, max_turns=max(len(w.steps) for w in workloads) + 1)
        try:
            # Each script line matches its own question, so questions may share the simulator.
            async with anyio.create_task_group() as group:
                for index, workload in enumerate(workloads):
                    group.start_soon(one, index, workload, agent)
        finally:
            await _close(agent)
    return [row for row in slots if row is not None]


async def _close(agent: Agent) -> None:
    await agent.endpoint.aclose()


async def run_workloads(
    workloads: Sequence[Workload], config: BenchConfig, *, on_row: OnRow | None = None
) -> BenchResult:
    """Run every strategy of ``config`` on ``workloads``; rows in strategy order, then the summary."""
    tools = make_tools(workloads, latency=config.latency.tool_latency)
    rows: list[QuestionRow] = []
    with tempfile.TemporaryDirectory(prefix="orchestra-bench-") as tmp:
        for strategy in config.strategies:
            rows += await run_strategy(strategy, workloads, tools, config, on_row=on_row, workdir=Path(tmp))
    return BenchResult(config=config.describe(len(workloads)), rows=rows, summary=summarize(rows))


async def prepare(config: BenchConfig) -> list[Workload]:
    """Load the dataset of ``config`` and build one workload per question.

    Raises:
        UsageError: bad dataset, source, limit or strategy.
    """
    parse_strategies(config.strategies)
    questions = await load_questions(config.dataset, config.source, limit=config.limit)
    return build_workloads(config.dataset, questions)


async def run_benchmark(config: BenchConfig, *, on_row: OnRow | None = None) -> BenchResult:
    """:func:`prepare` the workloads, then :func:`run_workloads`.

    Raises:
        UsageError: bad dataset, source, limit or strategy.
    """
    return await run_workloads(await prepare(config), config, on_row=on_row)
