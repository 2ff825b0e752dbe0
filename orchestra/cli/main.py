"""The ``orchestra`` command. One module per command group; each calls the library.

User mistakes (bad flags, bad files, unreachable endpoints) end with a one-line message and the
same exit code in every command, never a traceback (:mod:`orchestra.cli.boundary`).

Start-up is kept short: ``orchestra --version`` answers before typer or the runtime is imported,
and every command module imports its heavy dependencies (the HTTP stack, the batch runner, the
simulator) inside the command, so a command pays only for what it uses
(``benchmarks/perf/cli_startup.py`` measures it).
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``orchestra`` script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):  # the fast path: nothing but the version string
        from orchestra import __version__

        sys.stdout.write(f"orchestra {__version__}\n")
        return
    from orchestra.cli.boundary import (
        EXIT_INTERRUPTED,
        EXIT_TERMINATED,
        handle_sigterm,
        report,
        report_json,
        terminated,
    )

    # With --json every failure is one JSON object on stdout: also a bad flag or argument that
    # click refuses before the command runs, and an error a command raises outside observed().
    as_json = "--json" in (args[: args.index("--")] if "--" in args else args)

    handle_sigterm()  # before anything slow: a SIGTERM while importing is reported too
    interrupted: list[KeyboardInterrupt] = []
    try:
        from orchestra.cli.app import build  # inside: a Ctrl-C while importing is reported too

        command = build(args)
        invoke = command.invoke

        def noting_interrupts(ctx: Any) -> Any:
            try:
                return invoke(ctx)
            except KeyboardInterrupt as exc:  # typer turns it into a silent exit code 130
                interrupted.append(exc)
                raise

        command.invoke = noting_interrupts
        # Not standalone: click's usage errors come here, to be said in one line like the rest.
        result = command.main(args=args, prog_name="orchestra", standalone_mode=False)
        code = result if isinstance(result, int) and not isinstance(result, bool) else 0
        if interrupted:
            code = report_json(interrupted[0]) if as_json else report(interrupted[0])
        elif code == EXIT_INTERRUPTED and terminated():  # a command that reported it itself
            code = EXIT_TERMINATED
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException as exc:  # the boundary: every error becomes one line (one object with --json)
        if as_json:
            code = report_json(exc)
        else:
            code = _usage_error(exc) if _is_click_error(exc) else report(exc)
    _exit_now(code)


def _is_click_error(exc: BaseException) -> bool:
    # typer ships its own copy of click; its exceptions are the ones raised here.
    import typer
    from typer._click import exceptions

    return isinstance(exc, (exceptions.ClickException, typer.Abort))


def _usage_error(exc: BaseException) -> int:
    """A click error (a bad flag value, a missing option, an unknown command) as one line.

    click's own display is three lines (usage, a hint, the error); here the error comes first
    and the hint follows it on the same line. Asking for help with no arguments still shows it.
    """
    import typer
    from typer._click import exceptions

    from orchestra.cli.boundary import report

    if isinstance(exc, typer.Abort):  # end of input at a prompt: as Ctrl-C
        return report(KeyboardInterrupt())
    assert isinstance(exc, exceptions.ClickException)
    if isinstance(exc, exceptions.NoArgsIsHelpError):
        exc.show()
        return exc.exit_code
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None) if isinstance(exc, exceptions.UsageError) else None
    hint = f" (see '{ctx.command_path} -h')" if ctx is not None else ""
    sys.stderr.write(f"error: {message}{hint}\n")
    return exc.exit_code


def _exit_code(code: object) -> int:
    """``SystemExit.code`` as a process exit status, as the interpreter maps it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


def _exit_now(code: int) -> None:
    """Exit without the interpreter's teardown of every imported module.

    After a command that loaded the openai SDK (which the endpoints then used), that teardown
    (thousands of pydantic classes) took a third of a second between the last answer and the process's exit; nothing in it matters
    once the command is done. What a normal exit must still do is done first: the ``atexit``
    handlers (the embedded model's server, the shared event loop, logging) and the flush of
    stdout and stderr. The batch journal is written with ``os.write`` and fsynced, so no buffered
    data is left behind.
    """
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (orchestra ... | head) or a closed stream
            pass
    os._exit(code)


def __getattr__(name: str) -> Any:
    # ``orchestra.cli.main.app`` (the typer app, e.g. for typer's CliRunner) without making the
    # ``--version`` fast path import typer.
    if name == "app":
        from orchestra.cli.app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    main()
