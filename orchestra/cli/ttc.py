"""``orchestra ttc run``: answer a JSONL of questions with a test-time-compute method under one budget.

Input lines: ``{"id": ..., "question": ...}``; for ``s-star`` also ``"entry_point"`` and
``"tests": [{"call": "f(1)", "expected": "2"}]``. Output lines, written as each query finishes
(so a killed run resumes, skipping the ids already written): ``{"id", "method", "answer",
"certainty", "samples", "tokens", "calls", "units"}``. Thin: the work is in :mod:`orchestra.ttc`.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from orchestra.cli.observe import observed
from orchestra.cli.options import EndpointOpt, EndpointsFileOpt, ModelOpt, TraceOpt, VerboseOpt
from orchestra.errors import UsageError
from orchestra.text_files import cut_torn_line, json_lines, read_user_text

__all__ = ["app", "load_questions", "run_cmd"]

app = typer.Typer(help="Test-time compute: many samples per query under one budget.", no_args_is_help=True)


class Method(StrEnum):
    SC = "sc"
    CERTAINDEX = "certaindex"
    ADAPTIVE = "adaptive"
    BEST_OF_K = "best-of-k"
    S_STAR = "s-star"


@app.callback()
def _group() -> None:
    """Test-time compute: many samples per query under one budget."""


def load_questions(path: Path) -> list[dict[str, Any]]:
    """The questions of a JSONL file (each needs ``id`` and ``question``).

    Raises:
        UsageError: a missing or empty file, a line that is not a JSON object with both fields,
            or a repeated id.
    """
    if path.is_dir():
        raise UsageError(f"{path} is a directory, not a questions file")
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, row in json_lines(read_user_text(path), str(path)):
        if not isinstance(row, dict) or "question" not in row or "id" not in row:
            raise UsageError(f'{path}:{number}: needs an object with "id" and "question"')
        row["id"] = str(row["id"])
        if row["id"] in seen:
            raise UsageError(f"{path}:{number}: id {row['id']!r} appears twice")
        seen.add(row["id"])
        rows.append(row)
    if not rows:
        raise UsageError(f"{path}: no questions (the file is empty)")
    return rows


def _done_ids(out: Path) -> set[str]:
    if not out.exists():
        return set()
    done = set()
    for line in read_user_text(out, errors="replace").splitlines():
        try:
            done.add(str(json.loads(line)["id"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut by a kill: that query runs again
    return done


def _verifier(spec: str | None) -> Callable[[str], float]:
    if spec is None or ":" not in spec:
        raise UsageError(
            "best-of-k needs --verifier MODULE:FUNCTION (a function of the text returning a score)"
        )
    module, _, name = spec.partition(":")
    try:
        function = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"--verifier {spec}: {exc}") from exc
    return function  # type: ignore[no-any-return]


def _program(row: dict[str, Any], method: Method, k: int, max_tokens: int, verifier: str | None) -> Any:
    from orchestra.chat import ChatRequest
    from orchestra.ttc import BestOfK, EntropyCertainty, SelfConsistency, SStar
    from orchestra.ttc.sstar import PublicTest

    request = ChatRequest.of(str(row["question"]), max_tokens=max_tokens, temperature=0.8)
    qid = row["id"]
    if method is Method.SC:
        return SelfConsistency(request, k, query_id=qid)
    if method is Method.CERTAINDEX:
        return SelfConsistency(request, k, query_id=qid, stop=EntropyCertainty(0.7))
    if method is Method.ADAPTIVE:
        return SelfConsistency(request, k, query_id=qid, stop=EntropyCertainty(0.9))
    if method is Method.BEST_OF_K:
        return BestOfK(request, k, _verifier(verifier), query_id=qid)
    if "entry_point" not in row:
        raise UsageError(f'query {qid}: s-star needs "entry_point" (and "tests")')
    tests = [PublicTest(str(t["call"]), str(t["expected"])) for t in row.get("tests", [])]
    return SStar(request, str(row["entry_point"]), tests, n=k, query_id=qid)


@app.command("run")
def run_cmd(
    questions: Annotated[Path, typer.Argument(help='JSONL: one {"id", "question"} a line.')],
    method: Annotated[
        Method, typer.Option("--method", help="How each query spends its samples.")
    ] = Method.CERTAINDEX,
    budget: Annotated[
        int | None, typer.Option("--budget", min=1, help="Tokens for the whole run (prompt + completion).")
    ] = None,
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="Samples per query at most.")] = 8,
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", min=1, help="Completion bound of each sample.")
    ] = 256,
    min_samples: Annotated[
        int, typer.Option("--min-samples", min=0, help="Samples every query gets first.")
    ] = 1,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Units in flight at most.")] = 16,
    verifier: Annotated[
        str | None, typer.Option("--verifier", help="best-of-k: MODULE:FUNCTION scoring a text (1.0 passes).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Answers, one JSON line per query.")] = Path(
        "ttc-answers.jsonl"
    ),
    endpoint: EndpointOpt = None,
    model: ModelOpt = None,
    endpoints_file: EndpointsFileOpt = None,
    trace: TraceOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Answer every question with a test-time-compute method; resumes if killed.

    adaptive: one budget shared by all queries, each next sample to the query most likely to
    change its answer; certaindex: each query stops when its answers agree (1 − H/log n >= 0.7).

    Example: orchestra ttc run questions.jsonl --method certaindex --budget 200000 -k 16 --trace ttc.jsonl
    """
    with observed("ttc run", trace_file=trace, verbose=verbose):
        from orchestra.endpoints.config import resolve_specs
        from orchestra.endpoints.stack import connect
        from orchestra.endpoints.traced import TracedEndpoint
        from orchestra.ttc import Allocator, Budget, Lane, run, run_python

        rows = load_questions(questions)
        done = _done_ids(out)
        todo = [r for r in rows if r["id"] not in done]
        specs = resolve_specs(endpoint, model, endpoints_file)
        console = Console()
        if not todo:
            console.print(f"all {len(rows)} queries already answered in {out}")
            return
        shared = Budget(tokens=budget)
        adaptive = method is Method.ADAPTIVE
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())

        async def main() -> None:
            async with connect(specs, check_models=True) as conn:
                allocator = Allocator(
                    shared, [Lane(conn.default_model, max_in_flight=concurrency)], min_samples=min_samples
                )
                for row in todo:
                    allocator.add(row["id"], _program(row, method, k, max_tokens, verifier))
                written: set[str] = set()
                cut_torn_line(out)
                with out.open("a", encoding="utf-8") as sink, Progress(*columns, console=console) as progress:
                    task = progress.add_task(f"{method.value}: queries", total=len(todo))

                    def write(qid: str) -> None:
                        selection, usage = allocator.selection(qid), allocator.usage(qid)
                        line = {
                            "id": qid,
                            "method": method.value,
                            "answer": selection.answer,
                            "certainty": round(selection.certainty, 4),
                            "samples": usage.samples,
                            "tokens": usage.tokens,
                            "calls": usage.calls,
                            "units": usage.units,
                        }
                        sink.write(json.dumps(line) + "\n")
                        sink.flush()
                        written.add(qid)
                        progress.update(
                            task, advance=1, description=f"{method.value}: {shared.spent.tokens} tokens"
                        )

                    def on_finish(dispatch: Any, result: Any) -> None:
                        # Under a shared (adaptive) budget any query may get more later: write at the end.
                        if (
                            not adaptive
                            and dispatch.query_id not in written
                            and allocator.finished(dispatch.query_id)
                        ):
                            write(dispatch.query_id)

                    traced = TracedEndpoint(conn.default, model=conn.default_model)
                    await run(
                        allocator, {conn.default_model: traced}, code_runner=run_python, on_finish=on_finish
                    )
                    for row in todo:  # the rest: the budget ran out, or adaptive
                        if row["id"] not in written:
                            write(row["id"])

        anyio.run(main)
        console.print(
            f"{len(todo)} answers written to {out}; {shared.spent.tokens} tokens, {shared.spent.calls} calls"
        )
