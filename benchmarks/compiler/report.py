"""Rendering a :class:`~benchmarks.compiler.results.BenchResult`: a rich table and a JSON file."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from orchestra.benchmarks.compiler.results import ACCURACY_NOTE, BenchResult

__all__ = ["print_report", "render_table", "write_json"]


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def render_table(result: BenchResult) -> Table:
    """One line per strategy: latency, tokens, LLM calls, accuracy, speedup, bound ratios."""
    config = result.config
    title = (
        f"LLMCompiler benchmark: {config.get('dataset')} ({config.get('questions')} questions; "
        f"ttft {config.get('ttft')} s, {config.get('tokens_per_second')} tok/s, tool {config.get('tool_latency')} s)"
    )
    # No box, one word per header: all nine columns fit in 80 without cutting one.
    table = Table(title=title, box=None, pad_edge=False, header_style="bold")
    table.add_column("strategy", no_wrap=True)
    for column in ("median", "mean", "tokens", "calls", "accuracy", "speedup", "÷bound", "÷stream"):
        table.add_column(column, justify="right", no_wrap=True)
    for s in result.summary.values():
        table.add_row(
            s.strategy,
            f"{s.latency_median:.2f}",
            f"{s.latency_mean:.2f}",
            f"{s.tokens_mean:.0f}",
            f"{s.llm_calls_mean:.1f}",
            f"{s.accuracy:.0%}",
            _ratio(s.speedup),
            _ratio(s.bound_ratio),
            _ratio(s.stream_bound_ratio),
        )
    return table


def print_report(result: BenchResult, console: Console | None = None) -> None:
    """Print the table (and the bounds' meaning) to ``console``."""
    console = console or Console()
    console.print(render_table(result))
    failed = [f"{s.strategy} {s.errors}" for s in result.summary.values() if s.errors]
    if failed:
        console.print(f"questions that ended in an error (left out of the figures): {', '.join(failed)}")
    console.print(ACCURACY_NOTE, style="dim")
    console.print(
        "median, mean: seconds per question; tokens, calls: prompt + completion tokens and LLM calls per "
        "question. "
        "÷bound: compiler latency / (planner time to its first task + longest chain of tool latencies + "
        "joiner): the critical-path bound, the least time any strategy could take. ÷stream: the same, where no task starts before the "
        "planner has written its line (attainable when the plan streams longer than a tool runs).",
        style="dim",
    )


def write_json(result: BenchResult, path: str | Path) -> Path:
    """Write ``result.to_json()`` to ``path`` (parents created); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    return target
