"""The ``orchestra`` command tree: every group and command, registered on one root.

Importing this module costs typer only. :func:`build` imports the command modules (which import
their heavy dependencies only inside their commands); given the command line, it imports just the
module of the command that runs, so ``orchestra batch run`` does not load the bench, trace or ttc
modules. :mod:`orchestra.cli.main` imports this module only when a command (not ``--version``) runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from orchestra.cli.help import new_app, polish

__all__ = ["build"]  # and ``app``, built on first access (module __getattr__)

# name -> (module under orchestra.cli, attribute, help for a group that has none of its own).
# Commands are functions; groups are typer apps. The order is the order of ``--help``.
_COMMANDS: dict[str, tuple[str, str, str | None]] = {
    "chat": ("chat", "chat", None),
    "run": ("run", "run", None),
    "demo": ("demo", "demo", None),
    "batch": ("batch", "app", None),
    "bench": ("bench", "app", None),
    "sim": ("sim", "app", None),
    "local": ("local", "app", None),
    "trace": ("trace", "app", "Read trace files written with --trace FILE: show, plot."),
    "ttc": ("ttc", "app", "Test-time compute: many samples per query under one budget."),
}

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


def _root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """orchestra's command line."""


def _app(names: list[str]) -> typer.Typer:
    """The root app with the commands ``names`` registered."""
    root = new_app(_HELP, name="orchestra")
    root.callback()(_root)
    for name in names:
        module_name, attribute, group_help = _COMMANDS[name]
        target = getattr(importlib.import_module(f"orchestra.cli.{module_name}"), attribute)
        if isinstance(target, typer.Typer):
            if group_help is None:
                root.add_typer(target, name=name)
            else:
                root.add_typer(target, name=name, help=group_help)
        else:
            root.command(name)(target)
    return root


def build(args: Sequence[str] | None = None) -> Any:
    """The ``orchestra`` click command tree, help polished (:func:`orchestra.cli.help.polish`).

    ``args``: the command line (without the program name). When its first word names a command,
    only that command is registered; otherwise (``--help``, a typo) all of them are, so help
    and "no such command" messages list every command.
    """
    first = next(iter(args or ()), None)
    names = [first] if first in _COMMANDS else list(_COMMANDS)
    return polish(typer.main.get_command(_app(names)))


def __getattr__(name: str) -> Any:
    # ``app``: the whole typer app, for typer's CliRunner in tests; built on first use.
    if name == "app":
        return _app(list(_COMMANDS))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
