"""``orchestra bench swe``: grade patches on SWE-style tasks, solve them with an agent, replay latency.

Thin: the work is in :mod:`orchestra.benchmarks.swe` (imported inside each command, since the
CLI is the composition root); this module turns flags into calls, shows a progress bar, prints
the table and writes the files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from orchestra.cli.observe import observed
from orchestra.cli.options import EndpointOpt, EndpointsFileOpt, ModelOpt, TraceOpt, VerboseOpt

__all__ = ["app", "grade", "replay", "solve"]

app = typer.Typer(
    help="SWE-style tasks: grade patches by hidden tests (no Docker), solve with an agent, replay latency.",
    no_args_is_help=True,
)

TasksOpt = Annotated[
    str | None,
    typer.Option(
        "--tasks",
        "-t",
        help="A folder of task directories, one task directory, or SWE-bench JSON/JSONL "
        "(default: the 12 example tasks shipped with orchestra).",
    ),
]
ReposOpt = Annotated[
    Path | None,
    typer.Option("--repos", help="Folder of local clones named owner__name (or owner__name.bundle)."),
]
TimeoutOpt = Annotated[
    float,
    typer.Option(
        "--timeout", min=0.1, help="Seconds one test run may take (then its process group is killed)."
    ),
]
ConcurrencyOpt = Annotated[
    int | None,
    typer.Option("--concurrency", "-j", min=1, help="Tasks at once (default: the number of cores)."),
]


@app.callback()
def _group() -> None:
    """SWE-style tasks: grade patches by hidden tests (no Docker), solve with an agent, replay latency.

    Example: orchestra bench swe grade --predictions gold --out report.json
    """


def _progress(console: Console) -> Progress:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=console, transient=True)


def load_tasks_option(tasks: str | None, repos: Path | None) -> list[Any]:
    """The tasks ``--tasks``/``--repos`` name (the shipped examples when ``--tasks`` is not given)."""
    from orchestra.benchmarks.swe import example_tasks, load_tasks

    return load_tasks(tasks if tasks is not None else example_tasks(), repos)


@app.command("grade")
def grade(
    predictions: Annotated[
        str,
        typer.Option(
            "--predictions",
            "-p",
            help="SWE-bench predictions (JSONL/JSON: instance_id, model_name_or_path, model_patch), "
            "'gold' (each task's own patch) or 'empty' (no change).",
        ),
    ] = "gold",
    tasks: TasksOpt = None,
    repos: ReposOpt = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the report JSON here.")] = None,
    timeout: TimeoutOpt = 60.0,
    concurrency: ConcurrencyOpt = None,
    run_id: Annotated[str, typer.Option("--run-id", help="A name for this run, kept in the report.")] = "",
    trace: TraceOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Grade a predictions file: apply each patch and the hidden tests, run them, report by SWE-bench's rules.

    Example: orchestra bench swe grade --predictions preds.jsonl --tasks tasks/ --out report.json
    """
    with observed("bench swe grade", trace_file=trace, verbose=verbose):
        _grade(predictions, tasks, repos, out, timeout, concurrency, run_id)


def _grade(
    predictions: str,
    tasks: str | None,
    repos: Path | None,
    out: Path | None,
    timeout: float,
    concurrency: int | None,
    run_id: str,
) -> None:
    from orchestra.benchmarks.swe import GradeConfig, grade_all, make_run_report, predictions_for
    from orchestra.benchmarks.swe._table import report_table

    loaded = load_tasks_option(tasks, repos)
    chosen = predictions_for(predictions, loaded)
    config = GradeConfig(timeout=timeout, concurrency=concurrency)
    patches = {iid: p.model_patch for iid, p in chosen.items()}
    wanted = sum(1 for t in loaded if t.instance_id in patches)
    console = Console()
    with _progress(console) as progress:
        bar = progress.add_task("grading", total=wanted)

        def done(report: Any) -> None:
            progress.update(bar, advance=1, description=f"graded {report.instance_id}")

        reports = anyio.run(lambda: grade_all(loaded, patches, config, on_done=done))
    models = sorted({p.model_name_or_path for p in chosen.values()})
    result = make_run_report(reports, [t.instance_id for t in loaded], run_id=run_id, model=", ".join(models))
    console.print(report_table(result))
    unknown = sorted(set(patches) - {t.instance_id for t in loaded})
    if unknown:
        console.print(f"[yellow]{len(unknown)} prediction(s) for unknown instances ignored[/yellow]")
    if out is not None:
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        console.print(f"report written to {out}")


@app.command("solve")
def solve(
    out: Annotated[Path, typer.Option("--out", "-o", help="Write the predictions JSONL here.")],
    tasks: TasksOpt = None,
    repos: ReposOpt = None,
    endpoint: EndpointOpt = None,
    model: ModelOpt = None,
    endpoints: EndpointsFileOpt = None,
    strategy: Annotated[
        str, typer.Option("--strategy", "-s", help="sequential (ReAct), parallel or compiler.")
    ] = "sequential",
    samples: Annotated[
        int,
        typer.Option("--samples", "-k", min=1, help="Candidates per task, chosen by votes of their tests."),
    ] = 1,
    max_steps: Annotated[
        int, typer.Option("--max-steps", min=1, help="Most tool-calling turns per sample.")
    ] = 10,
    concurrency: Annotated[int, typer.Option("--concurrency", "-j", min=1, help="Tasks at once.")] = 2,
    trace_dir: Annotated[
        Path | None,
        typer.Option("--trace-dir", help="Also write each sample's trace to its own file in this folder."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="Solve the first N tasks.")
    ] = None,
    trace: TraceOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Solve tasks with a coding agent (file tools and a shell in a temporary checkout); write predictions.

    Each prediction is appended to OUT as its task is solved, so an interrupted run (Ctrl-C,
    SIGTERM) keeps them, and running the same command again solves only the tasks not in OUT.

    Example: orchestra bench swe solve --out preds.jsonl --samples 4 && orchestra bench swe grade -p preds.jsonl
    """
    with observed("bench swe solve", trace_file=trace, verbose=verbose):
        _solve(
            out,
            tasks,
            repos,
            endpoint,
            model,
            endpoints,
            strategy,
            samples,
            max_steps,
            concurrency,
            trace_dir,
            limit,
        )


def _solve(
    out: Path,
    tasks: str | None,
    repos: Path | None,
    endpoint: str | None,
    model: str | None,
    endpoints: Path | None,
    strategy: str,
    samples: int,
    max_steps: int,
    concurrency: int,
    trace_dir: Path | None,
    limit: int | None,
) -> None:
    from orchestra.benchmarks.swe import SolveConfig, solve_all, write_predictions, write_traces
    from orchestra.endpoints.config import resolve_specs
    from orchestra.endpoints.stack import connect
    from orchestra.strategies import get_strategy
    from orchestra.text_files import cut_torn_line

    get_strategy(strategy)
    specs = resolve_specs(endpoint, model, endpoints)
    loaded = load_tasks_option(tasks, repos)[:limit]
    kept = _kept_predictions(out)
    todo = [t for t in loaded if t.instance_id not in kept]
    name = specs[0].model or specs[0].name if specs else "orchestra"
    config = SolveConfig(
        strategy=strategy, samples=samples, max_steps=max_steps, concurrency=concurrency, model_name=str(name)
    )
    console = Console()
    if len(todo) < len(loaded):
        console.print(
            f"{len(loaded) - len(todo)} tasks already solved in {out}", markup=False, highlight=False
        )
    cut_torn_line(out)
    with _progress(console) as progress, out.open("a", encoding="utf-8") as sink:
        bar = progress.add_task("solving", total=len(todo))

        def done(result: Any) -> None:
            sink.write(json.dumps(result.prediction.to_dict()) + "\n")
            sink.flush()  # kept on disk now: an interrupt loses no solved task
            kept[result.task.instance_id] = result.prediction
            progress.update(bar, advance=1, description=f"solved {result.task.instance_id}")

        async def main() -> list[Any]:
            async with connect(specs, check_models=True) as conn:
                return await solve_all(todo, conn.default, config, on_done=done)

        results = anyio.run(main)
    for result in results:
        chosen = result.candidates[result.chosen]
        votes = "" if result.ranking is None else f" votes {result.ranking.votes} -> sample {result.chosen}"
        size = len(chosen.patch.splitlines())
        note = f" [red]{chosen.error}[/red]" if chosen.error else ""
        console.print(f"{result.task.instance_id}: {size} patch lines{votes}{note}", soft_wrap=True)
    write_predictions([kept[t.instance_id] for t in loaded if t.instance_id in kept], out)  # task order
    console.print(f"predictions written to {out}")
    if trace_dir is not None:
        console.print(f"{len(write_traces(results, trace_dir))} trace files written to {trace_dir}")


def _kept_predictions(out: Path) -> dict[str, Any]:
    """The predictions an earlier (perhaps interrupted) ``solve`` left in ``out``, by instance id.

    A line that does not parse (cut by a kill) is dropped: its task is solved again.
    """
    from orchestra.benchmarks.swe import Prediction
    from orchestra.text_files import read_user_text

    kept: dict[str, Any] = {}
    if not out.is_file():
        return kept
    for line in read_user_text(out, errors="replace").splitlines():
        try:
            record = json.loads(line)
            iid, patch = record["instance_id"], record.get("model_patch")
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(iid, str) and (patch is None or isinstance(patch, str)):
            kept[iid] = Prediction(iid, str(record.get("model_name_or_path", "")), patch)
    return kept


@app.command("replay")
def replay(
    runs: Annotated[
        list[Path] | None,
        typer.Argument(
            help="mini-swe-agent *.traj.json trajectories or orchestra *.trace.jsonl traces "
            "(default: the synthetic trajectory shipped with orchestra)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per run.")] = False,
) -> None:
    """Recompute recorded runs' wall time under each strategy, model and tool times held fixed.

    Actions that read or write the same files are dependent (docs/swe.md says how commands are
    read); the others may overlap under parallel, compiler and async.

    Example: orchestra bench swe replay run.traj.json traces/*.trace.jsonl
    """
    from rich.table import Table

    from orchestra.benchmarks.swe import STRATEGIES, example_trajectories, read_run, replay_run
    from orchestra.errors import UsageError

    runs = runs or sorted(example_trajectories().glob("*.traj.json"))
    missing = [str(p) for p in runs if not p.is_file()]
    if missing:
        raise UsageError(f"{', '.join(missing)}: no such file")
    console = Console()
    table = Table(title="Latency replay (seconds; saving vs sequential)", title_justify="left")
    for name in ("run", "steps", "model s", "tool s", *STRATEGIES):
        table.add_column(name, justify="left" if name == "run" else "right")
    replayed = 0
    for path in runs:
        try:
            run = read_run(path)
        except UsageError as exc:  # one bad or empty file does not end the others' replay
            if len(runs) == 1:
                raise
            Console(stderr=True).print(f"skipped: {exc}", style="yellow", markup=False, soft_wrap=True)
            continue
        replayed += 1
        result = replay_run(run)
        if as_json:
            print(json.dumps({"run": str(path), "format": run.format, **result.to_dict()}))
            continue
        walls = [
            f"{result.wall[s]:.1f}" + ("" if s == "sequential" else f" ({result.saving(s):.0%})")
            for s in STRATEGIES
        ]
        table.add_row(
            run.name, str(result.steps), f"{result.model_seconds:.1f}", f"{result.tool_seconds:.1f}", *walls
        )
    if not replayed:
        raise UsageError(f"none of the {len(runs)} files could be replayed (each is named above)")
    if not as_json:
        console.print(table)
