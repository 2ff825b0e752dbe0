"""``orchestra trace``: read a trace file written with ``--trace FILE``.

``orchestra trace show FILE`` prints the spans (start, duration, kind, name, outcome) and the
timeline; ``orchestra trace plot FILE -o timeline.svg`` (or ``.png``, ``.html``) draws one lane
per concurrent activity with the critical path highlighted (needs the ``[plot]`` extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from orchestra.cli.observe import observed
from orchestra.cli.options import JsonOpt

if TYPE_CHECKING:
    from orchestra.trace import Span

__all__ = ["app", "plot", "show"]

app = typer.Typer(
    help="Read trace files written with --trace FILE: show the timeline, draw it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

FileArg = Annotated[Path, typer.Argument(help="A trace file (JSONL) written with --trace FILE.")]


@app.callback()
def _group() -> None:
    """Read trace files written with --trace FILE: show the timeline, draw it."""


def _outcome(span: Span) -> str:
    from orchestra.live import short

    if span.error:
        return f"error: {short(span.error, 70)}"
    a = span.attrs
    if "prompt_tokens" in a:
        return f"{a['prompt_tokens']} prompt + {a.get('completion_tokens', 0)} completion tokens"
    if span.kind == "task":
        return f"{a.get('status', 'ok')}: {short(a.get('result', ''), 60)}"
    if "status" in a:
        return str(a["status"])
    return ""


@app.command("show")
def show(
    file: FileArg,
    width: Annotated[int, typer.Option(min=10, help="Characters of the timeline's time axis.")] = 48,
    as_json: JsonOpt = False,
) -> None:
    """Print the spans of a trace file and its timeline.

    Example: orchestra run "What is 2+3?" --trace run.jsonl && orchestra trace show run.jsonl
    """
    import json
    import sys

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from orchestra.tracefile import read_trace

    with observed("trace show", as_json=as_json):
        loaded = read_trace(file)
    if as_json:
        body = {"header": loaded.header, "spans": loaded.trace.to_dicts()}
        sys.stdout.write(json.dumps(body) + "\n")
        return
    console = Console(highlight=False)
    header = loaded.header
    console.print(
        f"[bold]{header.get('command') or 'trace'}[/bold] started {header.get('started_at', '?')}, "
        f"{len(loaded.trace.spans)} spans",
        markup=True,
    )
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column, justify in (
        ("start s", "right"),
        ("dur s", "right"),
        ("kind", "left"),
        ("span", "left"),
        ("outcome", "left"),
    ):
        table.add_column(column, justify=justify, no_wrap=column != "outcome")  # type: ignore[arg-type]
    for span in loaded.trace.spans:
        duration = "" if span.end is None else f"{span.end - span.start:.3f}"
        table.add_row(f"{span.start:.3f}", duration, span.kind, Text(span.name), Text(_outcome(span)))
    console.print(table)
    console.print(loaded.trace.timeline(width=width))


@app.command("plot")
def plot(
    file: FileArg,
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="The picture: .svg, .png, or .html (one self-contained file)."),
    ],
    title: Annotated[str | None, typer.Option(help="A title (default: the traced command).")] = None,
) -> None:
    """Draw a trace file's timeline: one lane per concurrent activity, critical path highlighted.

    Example: orchestra demo --trace demo.jsonl && orchestra trace plot demo.jsonl -o demo.svg
    """
    import sys

    from orchestra.plot import plot_timeline
    from orchestra.tracefile import read_trace

    with observed("trace plot"):
        loaded = read_trace(file)
        written = plot_timeline(loaded.trace.spans, output, title=title or loaded.header.get("command"))
    sys.stderr.write(f"wrote {written}\n")
