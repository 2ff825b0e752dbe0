"""``orchestra bench``: performance benchmarks of the runtime.

``orchestra bench compiler`` runs LLMCompiler's datasets (Movie Recommendation, HotpotQA
comparison, ParallelQA) with each execution strategy against the simulator and reports latency,
tokens, LLM calls and the speedup over ``sequential`` (DESIGN.md, Benchmarks). Thin: the work is
in :mod:`benchmarks.compiler`; this module turns flags into a config, shows progress, prints the
table and writes the JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import anyio
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from orchestra.cli import swe as swe_cmd

__all__ = ["app", "compiler"]

app = typer.Typer(help="Performance benchmarks of the runtime (against the simulator).", no_args_is_help=True)
app.add_typer(swe_cmd.app, name="swe")


@app.callback()
def _group() -> None:
    """Performance benchmarks of the runtime (against the simulator)."""


def _register_ttc() -> None:
    from orchestra.cli import bench_ttc

    app.add_typer(bench_ttc.app, name="ttc")


_register_ttc()


@app.command("compiler")
def compiler(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="movie, hotpotqa or parallelqa.")] = "movie",
    strategies: Annotated[
        str, typer.Option("--strategies", "-s", help="Comma-separated: sequential, parallel, compiler.")
    ] = "sequential,parallel,compiler",
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="Run the first N questions.")] = 10,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the results here as JSON.")] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Dataset directory, file or http(s) URL (default: ../shared/data/llmcompiler, "
            "else a download from the LLMCompiler repository).",
        ),
    ] = None,
    ttft: Annotated[
        float, typer.Option("--ttft", min=0.0, help="Simulated time to first token, seconds.")
    ] = 0.2,
    tps: Annotated[
        float, typer.Option("--tps", min=0.0, help="Simulated tokens per second (0 = instant).")
    ] = 50.0,
    tool_latency: Annotated[
        float, typer.Option("--tool-latency", min=0.0, help="Seconds every search/math call takes.")
    ] = 0.3,
) -> None:
    """Run LLMCompiler's datasets with each strategy against the simulator; print and save the results."""
    from orchestra.benchmarks.compiler.bound import LatencyParams
    from orchestra.benchmarks.compiler.report import print_report, write_json
    from orchestra.benchmarks.compiler.results import BenchResult
    from orchestra.benchmarks.compiler.runner import BenchConfig, parse_strategies, prepare, run_workloads

    config = BenchConfig(
        dataset=dataset,
        strategies=parse_strategies(strategies),
        limit=limit,
        source=data,
        latency=LatencyParams(ttft=ttft, tokens_per_second=tps, tool_latency=tool_latency),
    )
    console = Console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"{dataset}: starting", total=None)

        def advance(row: object) -> None:
            strategy = getattr(row, "strategy", "")
            progress.update(task, advance=1, description=f"{dataset}: {strategy}")

        async def main() -> BenchResult:
            workloads = await prepare(config)
            progress.update(task, total=len(workloads) * len(config.strategies))
            return await run_workloads(workloads, config, on_row=advance)

        result = anyio.run(main)
    print_report(result, console)
    if out is not None:
        console.print(f"results written to {write_json(result, out)}")


def _register_bfcl() -> None:
    from orchestra.cli.bench_bfcl import app as bfcl_app

    app.add_typer(bfcl_app, name="bfcl", help="BFCL v4: score results files, replay the benchmark.")


_register_bfcl()
