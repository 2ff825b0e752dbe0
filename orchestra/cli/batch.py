"""``orchestra batch``: a JSONL of requests in, a JSONL of results out, at the endpoints' rate limits.

``orchestra batch run IN.jsonl -o OUT.jsonl [--endpoint URL|local|NAME --model M | --endpoints FILE]``
sends every row and resumes by itself: run the same command again after a crash or Ctrl-C and
only the rows missing from OUT.jsonl are sent. ``orchestra batch merge`` joins shard outputs
(``--engine ray``) or any journals, keeping every ``custom_id`` exactly once.

Exit codes: 0 every row ok; 1 the run finished but some rows failed (see the summary), or it
stopped early because an endpoint is unusable (quota, key, model, unreachable) or the output
could not be written; 2 a usage error; 130 interrupted by Ctrl-C and 143 by SIGTERM (what docker,
systemd and Kubernetes send); run the same command again to resume.

Thin (STYLE.md, principle 10): the work is in :mod:`orchestra.batch`; this module turns flags into
endpoint specs, draws the progress and writes the summary.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from rich.console import Console
from rich.markup import escape

from orchestra.batch.formats import JsonlSource
from orchestra.batch.journal import Journal, merge_journals
from orchestra.batch.progress import ProgressView, live_progress, summary_table
from orchestra.batch.runner import BatchRunner, lane_concurrency
from orchestra.cli.options import EndpointOpt, EndpointsFileOpt, ModelOpt
from orchestra.endpoints.config import EndpointSpec, resolve_specs
from orchestra.errors import OrchestraError, OutputError, UsageError

__all__ = ["app", "merge", "run"]

app = typer.Typer(
    help="Batch querying: JSONL in, JSONL out, at the endpoints' rate limits, crash-safe.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

EXIT_FAILED_ROWS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143, as a shell reports a process killed by SIGTERM


@app.callback()
def _group() -> None:
    """Batch querying: JSONL in, JSONL out, at the endpoints' rate limits, crash-safe."""


def default_summary_path(output: Path) -> Path:
    """Where the summary goes unless ``--summary`` says: next to the output, ``OUT.summary.json``."""
    return output.with_name(output.stem + ".summary.json")


async def _run_local(
    specs: list[EndpointSpec],
    source: JsonlSource,
    journal: Journal,
    *,
    by_model: bool,
    concurrency: int,
    max_row_attempts: int,
    quiet: bool,
    console: Console,
    holder: dict[str, Any],
    row_deadline: float | None = None,
) -> None:
    from orchestra.endpoints.stack import connect

    async with connect(specs, initial_concurrency=concurrency) as conn:
        per_model = lane_concurrency(specs, concurrency)
        workers = {m: per_model.get(m, concurrency) for m in conn.pools}
        if len(workers) == 1 and "" in per_model:  # the local model: its name is known only now
            workers = {m: per_model[""] for m in conn.pools}
        runner = BatchRunner(
            conn.pools,
            by_model=by_model,
            concurrency=workers,
            journal=journal,
            max_row_attempts=max_row_attempts,
            row_deadline=row_deadline,
        )
        holder["runner"] = runner
        failure: Exception | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(_cancel_on_sigterm, group.cancel_scope, holder)
            try:
                if quiet:
                    await runner.run(source)
                else:
                    view = ProgressView(
                        runner.stats, runner.probe, expected=source.count_lines(), console=console
                    )
                    async with live_progress(view):
                        await runner.run(source)
            except Exception as exc:  # raised below, outside the group, so it is not wrapped in one
                failure = exc
            group.cancel_scope.cancel()  # the run is over: stop listening for SIGTERM
        if isinstance(failure, ExceptionGroup) and len(failure.exceptions) == 1:
            failure = failure.exceptions[0]  # e.g. the progress display's group around one error
        if failure is not None:
            raise failure


async def _cancel_on_sigterm(scope: anyio.CancelScope, holder: dict[str, Any]) -> None:
    """SIGTERM stops the run as Ctrl-C does: the journal stays consistent and the summary is written."""
    with anyio.open_signal_receiver(signal.SIGTERM) as signals:
        async for _ in signals:
            holder["terminated"] = True
            scope.cancel()
            return


def _finish(
    summary: dict[str, Any], path: Path, *, quiet: bool, console: Console, terminated: bool = False
) -> int:
    written = True
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:  # the disk that refused the output may refuse the summary too
        written = False
        console.print(
            f"[red]error:[/red] cannot write summary {escape(str(path))}: {escape(exc.strerror or str(exc))}"
        )
    if not quiet:
        console.print(summary_table(summary))
        if written:
            console.print(f"summary: {escape(str(path))}", highlight=False)
    if summary.get("output_error"):
        console.print(f"[red]error:[/red] {escape(summary['output_error'])}", soft_wrap=True)
        return EXIT_FAILED_ROWS
    if summary.get("interrupted"):
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    stopped = summary.get("stopped") or {}
    if stopped:
        left = summary["rows"].get("left_for_resume", 0)
        reasons = "; ".join(stopped.values())  # each names its endpoint pool
        console.print(
            f"[red]stopped:[/red] {escape(reasons)}; {left} rows left unsent, run the same command again to resume",
            soft_wrap=True,
        )
        return EXIT_FAILED_ROWS
    return EXIT_FAILED_ROWS if summary["rows"]["failed"] else 0


@app.command("run")
def run(
    input: Annotated[
        Path, typer.Argument(help="Requests: OpenAI Batch API JSONL, or {id, prompt|messages} lines.")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Results JSONL; also the journal a rerun resumes from.")
    ],
    endpoint: EndpointOpt = None,
    model: ModelOpt = None,
    endpoints_file: EndpointsFileOpt = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            help="Requests in flight per endpoint that states no max_concurrency: the start and ceiling "
            "of its adaptive limit (cut on 429/503/timeouts, grown back while throughput grows).",
        ),
    ] = 100,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Also redo rows that ended in a final error.")
    ] = False,
    max_row_attempts: Annotated[
        int, typer.Option("--max-row-attempts", min=1, help="Sends per row after the endpoint's own retries.")
    ] = 3,
    row_deadline: Annotated[
        float | None,
        typer.Option(
            "--row-deadline",
            min=0.001,
            help="Seconds a row may take from its first send, retries and waits included; then it "
            "ends as a timeout error, which a rerun redoes (default: bounded by attempts only).",
        ),
    ] = None,
    summary: Annotated[
        Path | None, typer.Option("--summary", help="Summary JSON (default: OUT.summary.json).")
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No live display and no summary table.")
    ] = False,
    engine: Annotated[
        str, typer.Option("--engine", help="local (one process) or ray (shards over a Ray cluster).")
    ] = "local",
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster address (default: start a local one).")
    ] = None,
    shards: Annotated[
        int | None, typer.Option("--shards", min=1, help="Ray: input shards (default: the cluster's CPUs).")
    ] = None,
) -> None:
    """Send every row of IN.jsonl and write one result line per row to OUT.jsonl; resumes by itself."""
    console = Console(stderr=True, highlight=False)
    try:
        code = _run(
            input, output, endpoint, model, endpoints_file, concurrency, retry_failed, max_row_attempts,
            summary, quiet, engine, address, shards, console, row_deadline,
        )  # fmt: skip
    except OrchestraError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(EXIT_USAGE if isinstance(exc, UsageError) else 1) from None
    raise typer.Exit(code)


def _run(
    input: Path,
    output: Path,
    endpoint: str | None,
    model: str | None,
    endpoints_file: Path | None,
    concurrency: int,
    retry_failed: bool,
    max_row_attempts: int,
    summary: Path | None,
    quiet: bool,
    engine: str,
    address: str | None,
    shards: int | None,
    console: Console,
    row_deadline: float | None = None,
) -> int:
    if engine not in ("local", "ray"):
        raise UsageError(f"--engine must be 'local' or 'ray', got {engine!r}")
    if not input.is_file():
        raise UsageError(f"input not found: {input}")
    specs = resolve_specs(endpoint, model, endpoints_file)
    # Route rows by their model only when a whole endpoints file is in play; with --endpoint (or
    # --model) every row goes to that endpoint, under its own model if it names one.
    by_model = endpoint is None and endpoints_file is not None and model is None
    summary_path = summary or default_summary_path(output)
    if engine == "ray":
        from orchestra.batch.ray_engine import run_ray

        result = run_ray(
            input, output, specs, by_model=by_model, concurrency=concurrency, retry_failed=retry_failed,
            max_row_attempts=max_row_attempts, address=address, shards=shards,
        )  # fmt: skip
        return _finish(result, summary_path, quiet=quiet, console=console)
    holder: dict[str, Any] = {}
    source = JsonlSource(input)
    journal = Journal(output, retry_failed=retry_failed)
    try:
        journal.open(input)  # refuse a wrong output before connecting to anything
    except BaseException:
        source.close()
        raise
    try:
        anyio.run(
            lambda: _run_local(
                specs, source, journal, by_model=by_model, concurrency=concurrency,
                max_row_attempts=max_row_attempts, quiet=quiet, console=console, holder=holder,
                row_deadline=row_deadline,
            )
        )  # fmt: skip
    except KeyboardInterrupt:
        runner = holder.get("runner")
        if runner is None:
            return EXIT_INTERRUPTED
        runner.stats.interrupted = True
    except OutputError:
        if holder.get("runner") is None:
            raise
    runner = holder["runner"]
    terminated = bool(holder.get("terminated"))
    if terminated:
        runner.stats.interrupted = True
    result = runner.stats.summary(runner.probe, input=input, output=output)
    return _finish(result, summary_path, quiet=quiet, console=console, terminated=terminated)


@app.command("merge")
def merge(
    sources: Annotated[
        list[Path], typer.Argument(help="Journals to merge, earliest first (later ones win).")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The merged JSONL (may be one of the sources).")
    ],
) -> None:
    """Merge result files so that every custom_id appears exactly once (an ok row beats an error)."""
    console = Console(stderr=True, highlight=False)
    missing = [str(p) for p in sources if not p.exists()]
    if missing:
        console.print(f"[red]error:[/red] not found: {', '.join(missing)}")
        raise typer.Exit(EXIT_USAGE)
    try:
        lines = merge_journals(sources, output)
    except OrchestraError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(EXIT_USAGE) from None
    console.print(f"{output}: {lines} rows", highlight=False)


if __name__ == "__main__":
    app()
