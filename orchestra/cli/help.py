"""How every ``orchestra`` command's ``--help`` reads: plain text, conventional, 80 columns.

- :func:`new_app` makes every command group with the same settings: plain help (rich markup
  would eat square brackets in help text, such as ``[[endpoints]]``), ``-h`` beside ``--help``,
  help on a bare group, and errors left to :mod:`orchestra.cli.boundary`.
- :func:`polish` rewrites the parameters of the built command tree so that the usage line reads
  ``orchestra chat [OPTIONS] PROMPT`` (typer writes ``{prompt}``), an option shows a metavar such as
  ``--max-tokens INTEGER`` rather than a type tag such as ``<int range> [x>=1]``, flags show no
  ``[default: False]``, and arguments carry no ``<str>`` tag. It swaps each parameter's class for a
  subclass that overrides only how it is displayed; parsing is untouched.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperArgument, TyperOption

__all__ = ["CONTEXT", "example", "new_app", "polish"]

CONTEXT: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 88}
"""Click context settings shared by every command."""

_TYPE_NAMES = {"int": "INTEGER", "float": "NUMBER", "str": "TEXT", "path": "PATH", "bool": "BOOLEAN"}


def new_app(help: str, **kwargs: Any) -> typer.Typer:
    """A command group with orchestra's settings (see the module docstring)."""
    settings: dict[str, Any] = {
        "help": help,
        "no_args_is_help": True,
        "pretty_exceptions_enable": False,
        "add_completion": False,
        "rich_markup_mode": None,
        "context_settings": CONTEXT,
    }
    settings.update(kwargs)
    return typer.Typer(**settings)


def example(*lines: str) -> str:
    """An ``Examples:`` block for a command's help, kept verbatim by the help formatter."""
    body = "\n".join(f"  {line}" for line in lines)
    return f"\n\nExamples:\n\n\b\n{body}"


def _metavar(param: TyperOption, ctx: Any) -> str:
    label = TyperOption.display_type_rich(param, ctx) or ""
    if "|" in label:  # a choice: show the choices themselves
        return label.strip("<>")
    bare = label.strip("<>").split(" ")[0].split("[")[0]
    return _TYPE_NAMES.get(bare, bare.upper() or "VALUE")


class _Option(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        if self.metavar is not None:
            return self.metavar
        return _metavar(self, ctx) + ("..." if self.nargs != 1 or self.multiple else "")

    def _get_number_range_help_str(self) -> str | None:
        return None  # the bounds are enforced with a clear message; the tag only adds noise

    def _get_default_string(self, *, ctx: Any, show_default_is_str: bool, default_value: Any) -> str:
        if show_default_is_str:  # typer would write "(0.0)"; a stated default reads as any other
            return str(self.show_default)
        return str(
            super()._get_default_string(ctx=ctx, show_default_is_str=False, default_value=default_value)
        )

    def _extract_default_help_str(self, *, ctx: Any) -> Any:
        if self.is_flag:
            return None  # "[default: False]" on a flag says nothing
        return super()._extract_default_help_str(ctx=ctx)


class _Argument(TyperArgument):
    def _name(self) -> str:
        return self.metavar or (self.name or "").upper()

    def _usage_display_name(self) -> str:
        name = self._name() if self.required else f"[{self._name()}]"
        return name + ("..." if self.nargs != 1 else "")

    def _rich_display_name(self) -> str:
        return self._name() + ("..." if self.nargs != 1 else "")

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def polish(command: Any) -> Any:
    """Make every parameter of ``command`` and its subcommands display as described above."""
    for param in getattr(command, "params", []):
        if type(param) is TyperOption:
            param.__class__ = _Option
        elif type(param) is TyperArgument:
            param.__class__ = _Argument
    for sub in getattr(command, "commands", {}).values():
        polish(sub)
    return command
