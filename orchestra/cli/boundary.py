"""The CLI boundary: every exception that reaches it becomes one honest line and an exit code.

Exit codes are the same in every command:

- 0: done;
- 1: a failure (an endpoint, a tool, the local model, or rows that failed in a batch);
- 2: a usage error (a bad flag, a missing or unreadable file, a blank question, a model the
  endpoint does not serve);
- 130 / 143: interrupted by SIGINT (Ctrl-C) / SIGTERM (128 + the signal number, as shells do).

Task groups (anyio) wrap what their tasks raise in an ``ExceptionGroup``; the user's mistake is a
leaf of that group, so the group is unwrapped here and its most telling leaf is reported. Every
message is printed as plain text, never as rich markup: an error quotes paths, TOML
(``[[endpoints]]``) and pip extras (``orchestra-runtime[ray]``) whose brackets markup would eat.
"""

from __future__ import annotations

import sys
from typing import IO

from orchestra.errors import OrchestraError, UsageError

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "exit_code",
    "leaves",
    "one_line",
    "primary",
    "report",
]

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM

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
        return EXIT_INTERRUPTED
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


def report(exc: BaseException, stream: IO[str] | None = None) -> int:
    """Print ``error: <one line>`` to ``stream`` (stderr) and return the exit code for ``exc``."""
    stream = stream or sys.stderr
    if isinstance(primary(exc), KeyboardInterrupt):
        stream.write("interrupted\n")
    else:
        stream.write(f"error: {one_line(exc)}\n")
    stream.flush()
    return exit_code(exc)
