"""``orchestra bench``: performance benchmarks of the runtime.

``orchestra bench compiler`` runs LLMCompiler's datasets (Movie Recommendation, HotpotQA
comparison, ParallelQA) with each execution strategy against the simulator and reports latency,
tokens, LLM calls and the speedup over ``sequential`` (docs/design.md, Benchmarks). Thin: the work is
in :mod:`benchmarks.compiler`; this module turns flags into a config, shows progress, prints the
table and writes the JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from orchestra.cli import swe as swe_cmd
from orchestra.cli.help import example, new_app
from orchestra.cli.observe import observed
from orchestra.cli.options import TpsOpt, TraceOpt, TtftOpt, VerboseOpt

__all__ = ["app", "compiler"]

app = new_app("Benchmarks of the runtime: strategies on LLMCompiler's datasets, against the simulator.")
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
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", metavar="NAME", help="movie, hotpotqa or parallelqa.")
    ] = "movie",
    strategies: Annotated[
        str,
        typer.Option(
            "--strategies", "-s", metavar="NAMES", help="Comma-separated: sequential, parallel, compiler."
        ),
    ] = "sequential,parallel,compiler",
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="Run the first N questions.")
    ] = 10,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            help="Questions in flight at once (1 keeps each question's latency its own).",
        ),
    ] = 1,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE", help="Write the results here as JSON.")
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            metavar="PATH|URL",
            help="Dataset directory, file or http(s) URL (default: a local copy if there is one, "
            "else a download from the LLMCompiler repository).",
        ),
    ] = None,
    ttft: TtftOpt = 0.2,
    tps: TpsOpt = 50.0,
    tool_latency: Annotated[
        float, typer.Option("--tool-latency", min=0.0, help="Seconds every search/math call takes.")
    ] = 0.3,
    trace: TraceOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Run LLMCompiler's datasets with each strategy against the simulator; print and save the results.

    Example: orchestra bench compiler -d movie -n 3 --trace bench.jsonl
    """
    with observed("bench compiler", trace_file=trace, verbose=verbose):
        _compiler(dataset, strategies, limit, out, data, ttft, tps, tool_latency, concurrency)


def _compiler(
    dataset: str,
    strategies: str,
    limit: int | None,
    out: Path | None,
    data: str | None,
    ttft: float,
    tps: float,
    tool_latency: float,
    concurrency: int = 1,
) -> None:
    import anyio
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from orchestra.benchmarks.compiler.bound import LatencyParams
    from orchestra.benchmarks.compiler.report import print_report, write_json
    from orchestra.benchmarks.compiler.results import BenchResult, summarize
    from orchestra.benchmarks.compiler.runner import BenchConfig, parse_strategies, prepare, run_workloads

    config = BenchConfig(
        dataset=dataset,
        strategies=parse_strategies(strategies),
        limit=limit,
        source=data,
        latency=LatencyParams(ttft=ttft, tokens_per_second=tps, tool_latency=tool_latency),
        concurrency=concurrency,
    )
    console = Console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    finished: list[Any] = []
    questions = [0]
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"{dataset}: starting", total=None)

        def advance(row: object) -> None:
            finished.append(row)
            strategy = getattr(row, "strategy", "")
            progress.update(task, advance=1, description=f"{dataset}: {strategy}")

        async def main() -> BenchResult:
            workloads = await prepare(config)
            questions[0] = len(workloads)
            progress.update(task, total=len(workloads) * len(config.strategies))
            return await run_workloads(workloads, config, on_row=advance)

        try:
            result = anyio.run(main)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: keep the rows that finished
            if out is not None and finished:
                partial = BenchResult(config.describe(questions[0]), finished, summarize(finished))
                console.print(
                    f"{len(finished)} finished rows written to {write_json(partial, out)}",
                    markup=False,
                    highlight=False,
                )
            raise
    print_report(result, console)
    if out is not None:
        console.print(f"results written to {write_json(result, out)}", markup=False, highlight=False)


compiler.__doc__ = (
    "Run LLMCompiler's datasets with each strategy against the simulator; print and save the results."
    + example(
        "orchestra bench compiler",
        "orchestra bench compiler -d hotpotqa -n 20 -c 4 -o results.json",
        "orchestra bench compiler -s sequential,compiler --ttft 0.5 --tool-latency 1",
    )
)


def _register_bfcl() -> None:
    from orchestra.cli.bench_bfcl import app as bfcl_app

    app.add_typer(bfcl_app, name="bfcl", help="BFCL v4: score results files, replay the benchmark.")


_register_bfcl()
