"""The ``orchestra`` command tree: every group and command, registered on one root.

Importing this module costs typer and the command modules, which import their heavy
dependencies only inside their commands. :mod:`orchestra.cli.main` imports it only when a command
(not ``--version``) runs.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from orchestra.cli import batch as batch_cmd
from orchestra.cli import bench as bench_cmd
from orchestra.cli import chat as chat_cmd
from orchestra.cli import demo as demo_cmd
from orchestra.cli import local as local_cmd
from orchestra.cli import run as run_cmd
from orchestra.cli import sim as sim_cmd
from orchestra.cli import trace as trace_cmd
from orchestra.cli import ttc as ttc_cmd
from orchestra.cli.help import new_app, polish

__all__ = ["app", "build"]

_HELP = """Agentic LLM orchestration: DAG planning, concurrent tool execution, batch querying.

With no --endpoint, commands use the endpoints file (--endpoints, $ORCHESTRA_ENDPOINTS,
or ~/.config/orchestra/endpoints.toml) if there is one, else OPENAI_BASE_URL (with
OPENAI_API_KEY) if set, else the embedded local model (downloaded once). Exit codes: 0 done,
1 failure, 2 usage error, 130/143 interrupted.

Examples:

\b
  orchestra chat "What is 2 + 3?"
  orchestra run "What is 15% of 80, plus 7?" --tools calculator
  orchestra sim serve --port 8787 &
  orchestra batch run in.jsonl -o out.jsonl -e http://127.0.0.1:8787/v1
"""


def _version(value: bool) -> None:
    if value:
        from orchestra import __version__

        print(f"orchestra {__version__}")
        raise typer.Exit()


app = new_app(_HELP, name="orchestra")


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """orchestra's command line."""


app.command("chat")(chat_cmd.chat)
app.command("run")(run_cmd.run)
app.command("demo")(demo_cmd.demo)
app.add_typer(batch_cmd.app, name="batch")
app.add_typer(bench_cmd.app, name="bench")
app.add_typer(sim_cmd.app, name="sim")
app.add_typer(local_cmd.app, name="local")
app.add_typer(trace_cmd.app, name="trace", help="Read trace files written with --trace FILE: show, plot.")
app.add_typer(ttc_cmd.app, name="ttc", help="Test-time compute: many samples per query under one budget.")


def build() -> Any:
    """The ``orchestra`` click command tree, help polished (:func:`orchestra.cli.help.polish`)."""
    return polish(typer.main.get_command(app))
