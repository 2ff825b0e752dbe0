"""The CLI boundary: every exception that reaches it becomes one honest line and an exit code.

Exit codes are the same in every command:

- 0: done;
- 1: a failure (an endpoint, a tool, the local model, or rows that failed in a batch);
- 2: a usage error (a bad flag, a missing or unreadable file, a blank question, a model the
  endpoint does not serve);
- 130 / 143: interrupted by SIGINT (Ctrl-C) / SIGTERM (128 + the signal number, as shells do).

SIGTERM (what docker, systemd, Kubernetes and ``kill`` send) is Ctrl-C in every command
(:func:`handle_sigterm`): the command stops the way it stops on Ctrl-C, so what it finished is
kept (a batch's journal, ``ttc run``'s answers, ``bench bfcl --mode accuracy``'s rows) and a rerun
resumes; then one line, and 143. Python's default for SIGTERM is to die at once, with no line,
no flush and no cleanup.

Task groups (anyio) wrap what their tasks raise in an ``ExceptionGroup``; the user's mistake is a
leaf of that group, so the group is unwrapped here and its most telling leaf is reported. Every
message is printed as plain text, never as rich markup: an error quotes paths, TOML
(``[[endpoints]]``) and pip extras (``orchestra-runtime[ray]``) whose brackets markup would eat.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import IO

from orchestra.errors import OrchestraError, UsageError

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "exit_code",
    "handle_sigterm",
    "is_click_error",
    "leaves",
    "one_line",
    "primary",
    "report",
    "report_json",
    "terminated",
]

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM

_terminated = False  # a SIGTERM arrived: the interrupt it caused exits 143, not 130


def handle_sigterm() -> None:
    """From now on, SIGTERM interrupts this process as Ctrl-C does (then exits 143, not 130).

    The handler hands the signal to whatever handles SIGINT at that moment: inside ``anyio.run``
    that is asyncio's runner, which cancels the main task, so every task group unwinds, every
    ``finally`` runs (journals are flushed and closed) and a ``KeyboardInterrupt`` comes out;
    elsewhere ``KeyboardInterrupt`` is raised where the main thread is. Either way each command's
    own Ctrl-C handling runs, then :func:`report`. Only the main thread may install it.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _terminated
    _terminated = True
    on_sigint = signal.getsignal(signal.SIGINT)
    if callable(on_sigint) and on_sigint is not signal.default_int_handler:
        on_sigint(signal.SIGINT, frame)  # asyncio's runner: cancel the main task, then interrupt
        return
    raise KeyboardInterrupt  # also when SIGINT is ignored (a job started with & in a script)


def terminated() -> bool:
    """Whether a SIGTERM has arrived (the interrupt it caused is reported with exit code 143)."""
    return _terminated


# OS errors about a path the user named: a usage error, reported with the path and the reason.
_PATH_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def leaves(exc: BaseException) -> list[BaseException]:
    """The non-group exceptions inside ``exc`` (itself, if it is not a group), depth first."""
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for inner in exc.exceptions:
            out.extend(leaves(inner))
        return out
    return [exc]


def _rank(exc: BaseException) -> int:
    # The leaf that explains the failure best: an interrupt, then the user's mistake, then our own
    # errors, then anything else. Cancellation of siblings is a consequence, never the cause.
    if isinstance(exc, KeyboardInterrupt):
        return 0
    if isinstance(exc, (UsageError, *_PATH_ERRORS)):
        return 1
    if isinstance(exc, OrchestraError):
        return 2
    return 3


def primary(exc: BaseException) -> BaseException:
    """The one exception of ``exc`` (a group or not) that the user should be told about."""
    found = leaves(exc)
    return min(found, key=_rank) if found else exc


def exit_code(exc: BaseException) -> int:
    """The exit code for ``exc`` (unwrapping groups): see the module docstring."""
    exc = primary(exc)
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_TERMINATED if _terminated else EXIT_INTERRUPTED
    if isinstance(exc, (UsageError, *_PATH_ERRORS)):
        return EXIT_USAGE
    return EXIT_FAILURE


def one_line(exc: BaseException) -> str:
    """``exc`` as one line of plain text (groups unwrapped; OS errors say which path and why)."""
    exc = primary(exc)
    if isinstance(exc, IsADirectoryError) and exc.filename is not None:
        text = f"{exc.filename} is a directory, not a file"
    elif isinstance(exc, NotADirectoryError) and exc.filename is not None:
        text = f"{exc.filename}: a part of this path is a file, not a directory"
    elif isinstance(exc, FileNotFoundError) and exc.filename is not None:
        text = f"file not found: {exc.filename}"
    elif isinstance(exc, OSError) and exc.filename is not None:
        text = f"{exc.filename}: {exc.strerror or exc}"
    elif isinstance(exc, OrchestraError):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return " ".join(text.split()) or type(exc).__name__


def report_json(exc: BaseException, stream: IO[str] | None = None) -> int:
    """``--json``: print ``{"error": {"type", "message"}}`` for ``exc`` to ``stream`` (stdout), one
    line, secrets redacted, and return its exit code. A usage error click raised (a bad flag, a
    missing or invalid argument) is a ``UsageError`` with click's message and exit code 2."""
    import json

    from orchestra.redact import redact_value

    stream = stream or sys.stdout
    leaf = primary(exc)
    code = exit_code(exc)
    if isinstance(leaf, KeyboardInterrupt):
        body = {
            "type": "KeyboardInterrupt",
            "message": "interrupted by SIGTERM" if _terminated else "interrupted",
        }
    elif is_click_error(leaf):
        body = {"type": "UsageError", "message": leaf.format_message()}  # type: ignore[attr-defined]
        code = int(getattr(leaf, "exit_code", EXIT_USAGE))
    elif type(leaf).__name__ == "Abort":  # click's (or typer's) Ctrl-C at a prompt
        body, code = {"type": "KeyboardInterrupt", "message": "interrupted"}, EXIT_INTERRUPTED
    else:
        body = {"type": type(leaf).__name__, "message": one_line(leaf)}
    stream.write(json.dumps({"error": redact_value(body)}) + "\n")
    stream.flush()
    return code


def is_click_error(exc: BaseException) -> bool:
    """Whether ``exc`` is click's usage error (a bad flag or argument), from click itself or the
    copy typer vendors (``typer._click``), which are different classes."""
    return any(c.__name__ == "ClickException" for c in type(exc).__mro__)


def report(exc: BaseException, stream: IO[str] | None = None) -> int:
    """Print ``error: <one line>`` to ``stream`` (stderr) and return the exit code for ``exc``."""
    stream = stream or sys.stderr
    if isinstance(primary(exc), KeyboardInterrupt):
        stream.write("interrupted by SIGTERM\n" if _terminated else "interrupted\n")
    else:
        stream.write(f"error: {one_line(exc)}\n")
    stream.flush()
    return exit_code(exc)
