"""``orchestra bench bfcl``: the Berkeley Function Calling Leaderboard, scored and replayed.

Thin: the work is in :mod:`orchestra.benchmarks.bfcl`; this module turns flags into calls, shows
progress and prints the tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["app", "score"]

app = typer.Typer(
    help="BFCL v4: score results files, replay the benchmark against endpoints.", no_args_is_help=True
)

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
