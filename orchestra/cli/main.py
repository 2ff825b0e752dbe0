"""The ``orchestra`` command. One module per command group; each calls the library.

User mistakes (bad flags, bad files, unreachable endpoints) end with a one-line message and a
non-zero exit code, never a traceback (STYLE.md, principle 6).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

import orchestra
from orchestra.cli import batch as batch_cmd
from orchestra.cli import bench as bench_cmd
from orchestra.cli import chat as chat_cmd
from orchestra.cli import demo as demo_cmd
from orchestra.cli import local as local_cmd
from orchestra.cli import run as run_cmd
from orchestra.cli import sim as sim_cmd
from orchestra.cli import ttc as ttc_cmd
from orchestra.errors import OrchestraError

__all__ = ["app", "main"]

app = typer.Typer(
    name="orchestra",
    help="Agentic LLM orchestration: DAG planning, concurrent tool execution, batch querying.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"orchestra {orchestra.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """orchestra's command line."""


app.command("chat")(chat_cmd.chat)
app.command("demo")(demo_cmd.demo)
app.command("run")(run_cmd.run)
app.add_typer(sim_cmd.app, name="sim", help="The simulated OpenAI-compatible server.")
app.add_typer(bench_cmd.app, name="bench", help="Benchmarks: strategies on LLMCompiler's datasets.")
app.add_typer(
    batch_cmd.app, name="batch", help="Batch querying: JSONL in, JSONL out, at the endpoints' rate limits."
)
app.add_typer(local_cmd.app, name="local", help="The embedded local model (llama.cpp + SmolLM2).")
app.add_typer(ttc_cmd.app, name="ttc", help="Test-time compute: many samples per query under one budget.")


def main() -> None:
    """Entry point of the ``orchestra`` script."""
    err = Console(stderr=True, highlight=False)
    try:
        app()
    except OrchestraError as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
