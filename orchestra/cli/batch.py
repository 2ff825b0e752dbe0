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
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from orchestra.cli.boundary import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_TERMINATED, report
from orchestra.cli.boundary import terminated as sigterm_arrived
from orchestra.cli.help import example, new_app
from orchestra.cli.observe import observed
from orchestra.cli.options import EndpointOpt, EndpointsFileOpt, JsonOpt, ModelOpt, TraceOpt, VerboseOpt
from orchestra.errors import UsageError
from orchestra.redact import redact_value

if TYPE_CHECKING:
    from rich.console import Console

    from orchestra.batch.formats import JsonlSource
    from orchestra.batch.journal import Journal
    from orchestra.endpoints.config import EndpointSpec

__all__ = ["app", "merge", "run"]

# Light at import (typer only): the batch runner, the endpoint stack (aiohttp) and rich are
# imported inside the commands, so other commands do not pay for them at start-up.
app = new_app("Batch querying: JSONL in, JSONL out, at the endpoints' rate limits, crash-safe.")

EXIT_FAILED_ROWS = EXIT_FAILURE


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
    from orchestra.batch.progress import ProgressView, live_progress
    from orchestra.batch.runner import BatchRunner, lane_concurrency
    from orchestra.endpoints.stack import connect

    async with connect(specs, initial_concurrency=concurrency, check_models=True) as conn:
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
            served=conn.served,
        )
        holder["runner"] = runner
        # SIGTERM stops the run as Ctrl-C does (orchestra.cli.boundary.handle_sigterm): the main
        # task is cancelled, the journal stays consistent, and _run writes the summary. A signal
        # receiver of the loop's own would, once closed, leave SIGTERM at its deadly default for
        # the compaction and the summary that follow.
        try:
            if quiet:
                await runner.run(source)
            else:
                view = ProgressView(
                    runner.stats, runner.probe, expected=source.count_lines(), console=console
                )
                async with live_progress(view):
                    await runner.run(source)
        except ExceptionGroup as group:
            if len(group.exceptions) == 1:  # e.g. the progress display's group around one error
                raise group.exceptions[0] from None
            raise


def _finish(
    summary: dict[str, Any],
    path: Path,
    *,
    quiet: bool,
    console: Console,
    terminated: bool = False,
    as_json: bool = False,
) -> int:
    from rich.markup import escape

    from orchestra.batch.progress import summary_table

    summary = redact_value(summary)
    written = True
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:  # the disk that refused the output may refuse the summary too
        written = False
        console.print(
            f"[red]error:[/red] cannot write summary {escape(str(path))}: {escape(exc.strerror or str(exc))}"
        )
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
    elif not quiet:
        console.print(summary_table(summary))
        if written:
            console.print(f"summary: {escape(str(path))}", highlight=False)
    if summary.get("output_error"):
        console.print(f"[red]error:[/red] {escape(summary['output_error'])}", soft_wrap=True)
        return EXIT_FAILED_ROWS
    if summary.get("interrupted"):
        done = summary["rows"].get("ok", 0) + summary["rows"].get("failed", 0)
        console.print(
            f"interrupted{' by SIGTERM' if terminated else ''}: {done} rows are in the output; "
            "run the same command again to resume",
            soft_wrap=True,
            markup=False,
        )
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
    failed = summary["rows"]["failed"]
    if failed:
        total = failed + summary["rows"].get("ok", 0)
        console.print(
            f"error: {failed} of {total} rows failed; each has its error in {summary.get('output')}",
            soft_wrap=True,
            markup=False,
        )
        return EXIT_FAILED_ROWS
    return 0


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
    trace: TraceOpt = None,
    verbose: VerboseOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    with observed("batch run", trace_file=trace, verbose=verbose, as_json=as_json):
        try:
            code = _run(
                input, output, endpoint, model, endpoints_file, concurrency, retry_failed, max_row_attempts,
                summary, quiet or as_json, engine, address, shards, console, row_deadline, as_json,
            )  # fmt: skip
        except Exception as exc:  # the boundary (also when this group runs on its own): one line
            if as_json:
                raise  # observed() prints it as one JSON object
            raise typer.Exit(report(exc)) from None
    raise typer.Exit(code)


run.__doc__ = (
    "Send every row of INPUT and write one result line per row to OUTPUT; a rerun resumes.\n\n"
    "Exit codes: 0 every row ok; 1 some rows failed, or the run stopped early (an unusable "
    "endpoint, an unwritable output); 2 a usage error; 130 Ctrl-C, 143 SIGTERM (run the same "
    "command again to resume)."
    + example(
        "orchestra batch run in.jsonl -o out.jsonl -e http://127.0.0.1:8787/v1",
        "export OPENAI_BASE_URL=https://api.openai.com/v1 OPENAI_API_KEY=sk-...",
        "orchestra batch run in.jsonl -o out.jsonl   # every row to OPENAI_BASE_URL",
        "orchestra batch run in.jsonl -o out.jsonl --endpoints endpoints.toml -c 50",
    )
)


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
    as_json: bool = False,
) -> int:
    import anyio

    from orchestra.batch.formats import JsonlSource
    from orchestra.batch.journal import Journal
    from orchestra.endpoints.config import endpoints_file_in_use, resolve_specs
    from orchestra.errors import OutputError

    if engine not in ("local", "ray"):
        raise UsageError(f"--engine must be 'local' or 'ray', got {engine!r}")
    _check_input(input)
    _check_has_rows(input)
    specs = resolve_specs(endpoint, model, endpoints_file)
    if all(s.is_local for s in specs) and all(s.model is None for s in specs):
        _check_rows_for_local(input)
    # Route rows by their model only when a whole endpoints file is in play (--endpoints,
    # ORCHESTRA_ENDPOINTS or the default file); with --endpoint (or --model, or OPENAI_BASE_URL)
    # every row goes to that endpoint, under its own model if it names one.
    by_model = endpoint is None and model is None and endpoints_file_in_use(endpoints_file) is not None
    summary_path = summary or default_summary_path(output)
    if engine == "ray":
        from orchestra.batch.ray_engine import run_ray

        result = run_ray(
            input, output, specs, by_model=by_model, concurrency=concurrency, retry_failed=retry_failed,
            max_row_attempts=max_row_attempts, address=address, shards=shards,
        )  # fmt: skip
        return _finish(result, summary_path, quiet=quiet, console=console, as_json=as_json)
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
            raise  # before the first row: nothing to summarise; the boundary prints the line
        runner.stats.interrupted = True
    except OutputError:
        if holder.get("runner") is None:
            raise
    runner = holder["runner"]
    terminated = sigterm_arrived()
    if terminated:
        runner.stats.interrupted = True
    result = runner.stats.summary(runner.probe, input=input, output=output)
    return _finish(result, summary_path, quiet=quiet, console=console, terminated=terminated, as_json=as_json)


@app.command("merge")
def merge(
    sources: Annotated[
        list[Path], typer.Argument(help="Journals to merge, earliest first (later ones win).")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The merged JSONL (may be one of the sources).")
    ],
) -> None:
    from orchestra.batch.journal import merge_journals

    try:
        for source in sources:
            _check_input(source)
        lines = merge_journals(sources, output)
    except Exception as exc:  # the boundary: one line, the same exit codes as everywhere
        raise typer.Exit(report(exc)) from None
    print(f"{output}: {lines} rows")


merge.__doc__ = (
    "Merge result files so that every custom_id appears exactly once (an ok row beats an error)."
    + example("orchestra batch merge shard-0.jsonl shard-1.jsonl -o results.jsonl")
)


def _check_input(path: Path) -> None:
    """A readable file, or a usage error that says what is wrong with it."""
    if path.is_dir():
        raise UsageError(f"{path} is a directory, not a JSONL file")
    if not path.exists():
        raise UsageError(f"input not found: {path}")


def _check_has_rows(path: Path) -> None:
    """A usage error for an input with nothing but blank space (an empty file is a mistake)."""
    with open(path, "rb") as handle:
        while block := handle.read(1 << 16):
            if block.replace(b"\xef\xbb\xbf", b"").strip():
                return
    raise UsageError(f"{path} has no rows (the file is empty)")


def _check_rows_for_local(path: Path) -> None:
    """Refuse, before the embedded model is started (or downloaded), rows that ask for another model.

    llama.cpp answers any model name with its own; rows naming gpt-4o-mini must not be answered
    by SmolLM2 because no endpoint was configured. Only the first row is read here; the router
    turns any later row naming another model into an error row (never a substitute answer).
    """
    from orchestra.batch.formats import BatchRow, parse_line
    from orchestra.endpoints.local import check_local_model

    with open(path, "rb") as lines:
        for number, raw in enumerate(lines, 1):
            row = parse_line(raw, number)
            if isinstance(row, BatchRow):
                try:
                    check_local_model(row.model)
                except UsageError as exc:
                    raise UsageError(f"{path}:{number}: {exc}") from None
                return


if __name__ == "__main__":
    app()
