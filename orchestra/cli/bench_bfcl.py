"""``orchestra bench bfcl``: the Berkeley Function Calling Leaderboard, scored and replayed.

Thin: the work is in :mod:`orchestra.benchmarks.bfcl`; this module turns flags into calls, shows
progress and prints the tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from orchestra.cli.help import new_app
from orchestra.cli.observe import observed
from orchestra.cli.options import (
    EndpointOpt,
    EndpointsFileOpt,
    ModelOpt,
    TpsOpt,
    TraceOpt,
    TtftOpt,
    VerboseOpt,
)

if TYPE_CHECKING:
    from rich.table import Table

    from orchestra.benchmarks.bfcl.replay import ReplayResult

__all__ = ["app", "run", "score"]

app = new_app("BFCL v4: score results files, replay the benchmark against endpoints.")

_DATA_HELP = (
    "BFCL data: a folder of BFCL_v4_*.json files, or the bfcl-eval wheel (default: a local copy, "
    "else the cached wheel, else `pip download --no-deps bfcl-eval==2026.3.23` into the cache)."
)


@app.callback()
def _group() -> None:
    """BFCL v4: score results files, replay the benchmark against endpoints."""


@app.command("score")
def score(
    category: Annotated[str, typer.Option("--category", "-c", help="Comma-separated categories (or 'all').")],
    results: Annotated[
        Path, typer.Option("--results", "-r", help='JSONL: {"id": ..., "result": [{name: {arg: value}}]}.')
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write {id, valid, error_type, error} per item here (JSONL)."),
    ] = None,
    data: Annotated[str | None, typer.Option("--data", help=_DATA_HELP)] = None,
) -> None:
    """Score a results file with BFCL's AST checker; print the accuracy per category.

    Example: orchestra bench bfcl score -c parallel -r results.jsonl -o verdicts.jsonl
    """
    from orchestra.benchmarks.bfcl.data import load_category, open_source, parse_categories
    from orchestra.benchmarks.bfcl.score import read_results, score_items, write_verdicts

    categories = parse_categories(category)
    answers = read_results(results)
    source = open_source(data)
    scores = [score_items(c.name, load_category(c, source), answers) for c in categories]
    known = {item_id for s in scores for item_id, _ in s.verdicts}
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"BFCL scores of {results.name}")
    for column, justify in (
        ("category", "left"),
        ("items", "right"),
        ("accuracy", "right"),
        ("top error", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for s in scores:
        top = s.error_types().most_common(1)
        shown = f"{top[0][0].rsplit(':', 1)[-1]} x{top[0][1]}" if top else "-"
        table.add_row(s.category, str(s.total), f"{s.accuracy:.1%}" if s.total else "no results", shown)
    console.print(table)
    for s in scores:
        if s.missing and s.verdicts:
            console.print(
                f"{s.category}: {len(s.missing)} item(s) had no result and were not scored", style="yellow"
            )
    stray = len(answers) - len(known)
    if stray:
        console.print(f"{stray} result(s) are not in the chosen categories and were ignored", style="yellow")
    if out is not None:
        console.print(f"verdicts written to {write_verdicts(scores, out)}")


def _default_strategies() -> str:
    from orchestra.benchmarks.bfcl.oracle import ORACLES
    from orchestra.errors import UsageError
    from orchestra.strategies import get_strategy

    usable = []
    for name in ORACLES:
        try:
            get_strategy(name)
        except UsageError:  # registered as a stub only (the async strategy before its issue lands)
            continue
        usable.append(name)
    return ",".join(usable)


def _latency_tables(result: ReplayResult) -> list[Table]:
    """One table per category (fits 80 columns)."""
    from rich.table import Table

    config = result.config
    timing = (
        f"ttft {config['ttft']} s, {config['tokens_per_second']:g} tok/s, "
        f"functions {config['latency_low'] * 1000:.0f}-{config['latency_high'] * 1000:.0f} ms"
    )
    tables: dict[str, Table] = {}
    for s in result.summary:
        table = tables.get(s.category)
        if table is None:
            table = Table(title=f"BFCL {s.category}: {s.items} items, latency replay ({timing})")
            table.add_column("strategy")
            for column in ("median s", "speedup", "bound s", "÷ bound", "calls ok"):
                table.add_column(column, justify="right")
            tables[s.category] = table
        speedup = "-" if s.speedup is None else f"{s.speedup:.2f}x"
        errors = f" ({s.errors} errors)" if s.errors else ""
        table.add_row(
            s.strategy + errors,
            f"{s.latency_median:.3f}",
            speedup,
            f"{s.bound_median:.3f}",
            f"{s.bound_ratio:.2f}",
            f"{s.valid}/{s.items}",
        )
    return list(tables.values())


def _write_rows(rows: list[Any], path: Path) -> None:
    import json
    from dataclasses import asdict

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(asdict(row), ensure_ascii=False) + "\n")


@app.command("run")
def run(
    category: Annotated[
        str, typer.Option("--category", "-c", help="Comma-separated categories with possible answers.")
    ] = "parallel,parallel_multiple",
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy", "-s", help="Comma-separated strategies (default: every one with an oracle)."
        ),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="latency: every strategy replays the ground truth against the simulator; "
            "accuracy: an endpoint answers with one strategy and its calls are scored.",
        ),
    ] = "latency",
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", help="The first N items of each category.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write rows.jsonl and summary.json here (accuracy default: bfcl-runs/STRATEGY; "
            "running again resumes).",
        ),
    ] = None,
    data: Annotated[str | None, typer.Option("--data", help=_DATA_HELP)] = None,
    ttft: TtftOpt = 0.2,
    tps: TpsOpt = 50.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the per-function latencies (30-500 ms).")] = 0,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Items in flight at once.")] = 4,
    endpoint: EndpointOpt = None,
    model: ModelOpt = None,
    endpoints: EndpointsFileOpt = None,
    trace: TraceOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Replay BFCL: latency of each strategy (simulator), or accuracy of an endpoint.

    Examples: orchestra bench bfcl run --mode latency --category parallel --limit 20;
    orchestra bench bfcl run --mode accuracy -c simple_python -s compiler -n 50 --trace bfcl.jsonl
    """
    with observed("bench bfcl run", trace_file=trace, verbose=verbose, mode=mode):
        if mode == "accuracy":
            _accuracy(
                category, strategy or "compiler", limit, out, data, concurrency, endpoint, model, endpoints
            )
        else:
            _latency(category, strategy, mode, limit, out, data, ttft, tps, seed, concurrency)


def _latency(
    category: str,
    strategy: str | None,
    mode: str,
    limit: int | None,
    out: Path | None,
    data: str | None,
    ttft: float,
    tps: float,
    seed: int,
    concurrency: int,
) -> None:
    """``--mode latency``: every strategy replays the ground truth against the simulator."""
    import contextlib
    import json
    from dataclasses import asdict

    import anyio
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from orchestra.benchmarks.bfcl.data import load_category, open_source, parse_categories
    from orchestra.benchmarks.bfcl.replay import ReplayConfig, ReplayRow, run_replay
    from orchestra.errors import UsageError

    if mode != "latency":
        raise UsageError(f"unknown --mode {mode!r}; choose latency or accuracy")
    names = tuple(n.strip() for n in (strategy or _default_strategies()).split(",") if n.strip())
    config = ReplayConfig(
        strategies=names, ttft=ttft, tokens_per_second=tps, seed=seed, concurrency=concurrency
    )
    source = open_source(data)
    items = [item for c in parse_categories(category) for item in load_category(c, source, limit=limit)]
    from rich.console import Console

    console = Console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with contextlib.ExitStack() as stack:
        progress = stack.enter_context(Progress(*columns, console=console, transient=True))
        task = progress.add_task("replaying", total=len(items) * len(names))
        sink = None
        if out is not None:  # each row on disk as it finishes: an interrupted run keeps them
            out.mkdir(parents=True, exist_ok=True)
            sink = stack.enter_context((out / "rows.jsonl").open("w", encoding="utf-8"))

        def advance(row: ReplayRow) -> None:
            if sink is not None:
                sink.write(json.dumps(asdict(row), ensure_ascii=False) + "\n")
                sink.flush()
            progress.update(task, advance=1, description=f"{row.strategy} {row.category}")

        result = anyio.run(lambda: run_replay(items, config, on_row=advance))
    for table in _latency_tables(result):
        console.print(table)
    console.print(
        "speedup: median of sequential / median. bound: first call written + slowest call + one "
        "answer call. calls ok: the calls the tools received pass BFCL's checker.",
        style="dim",
    )
    if out is not None:
        _write_rows(result.rows, out / "rows.jsonl")
        (out / "summary.json").write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
        console.print(f"results written to {out}")


def _accuracy_table(summaries: list[Any], strategy: str, endpoint: str) -> Table:
    from rich.table import Table

    table = Table(title=f"BFCL accuracy: {strategy} on {endpoint}")
    table.add_column("category")
    for column in ("items", "correct", "accuracy", "errors"):
        table.add_column(column, justify="right")
    table.add_column("top error")
    for s in summaries:
        top = max(s.error_types.items(), key=lambda kv: kv[1], default=None)
        table.add_row(
            s.category,
            str(s.items),
            str(s.correct),
            f"{s.accuracy:.1%}",
            str(s.errors),
            f"{top[0].rsplit(':', 1)[-1]} x{top[1]}" if top else "-",
        )
    return table


def _accuracy(
    category: str,
    strategy: str,
    limit: int | None,
    out: Path | None,
    data: str | None,
    concurrency: int,
    endpoint: str | None,
    model: str | None,
    endpoints: Path | None,
) -> None:
    """``--mode accuracy``: run the items on an endpoint with one strategy, journaled, then score."""
    import json
    from dataclasses import asdict

    import anyio
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from orchestra.benchmarks.bfcl.accuracy import (
        AccuracyConfig,
        AccuracyProgress,
        run_accuracy,
        summarize_rows,
    )
    from orchestra.benchmarks.bfcl.data import load_category, open_source, parse_categories
    from orchestra.cli.run import make_planner
    from orchestra.endpoints.config import resolve_specs
    from orchestra.endpoints.stack import connect
    from orchestra.errors import UsageError

    if "," in strategy:
        raise UsageError("--mode accuracy runs one strategy at a time; pass one --strategy")
    specs = resolve_specs(endpoint, model, endpoints)
    local = all(s.is_local for s in specs)
    config = AccuracyConfig(
        strategy=strategy, planner=lambda: make_planner(strategy, None, local=local), concurrency=concurrency
    )
    source = open_source(data)
    items = [item for c in parse_categories(category) for item in load_category(c, source, limit=limit)]
    folder = out or Path("bfcl-runs") / strategy
    from rich.console import Console

    console = Console()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("acc {task.fields[acc]}  errors {task.fields[errors]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"{strategy}: starting", total=len(items), acc="-", errors=0)

        def update(p: AccuracyProgress) -> None:
            progress.update(
                task, completed=p.done, acc=f"{p.accuracy:.1%}", errors=p.errors, description=strategy
            )

        async def main() -> dict[str, dict[str, Any]]:
            async with connect(specs, check_models=True) as conn:
                return await run_accuracy(items, conn.default, config, folder, on_progress=update)

        rows = anyio.run(main)
    summaries = summarize_rows(items, rows)
    name = ",".join(s.name for s in specs)
    console.print(_accuracy_table(summaries, strategy, name))
    summary = {
        "strategy": strategy,
        "endpoint": name,
        "categories": [{**asdict(s), "accuracy": s.accuracy} for s in summaries],
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    console.print(f"rows in {folder / 'rows.jsonl'} (running the same command again resumes)")
