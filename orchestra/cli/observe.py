"""What every model-facing command does around its work: logging, the trace file, OpenTelemetry,
and errors in machine form.

A command wraps its body in :func:`observed`::

    with observed("run", trace_file=trace, verbose=verbose, as_json=as_json, listeners=[view]) as root:
        ...

which configures logging for ``-v`` / ``ORCHESTRA_LOG`` (the library only logs; handlers are set
here, at the edge), makes the command's root trace (traces made inside it, such as an agent
run's, report to the same listeners), writes ``--trace FILE`` as spans end, exports to
OpenTelemetry when the standard ``OTEL_*`` variables ask for it, and, with ``--json``, turns a
failure into one ``{"error": {...}}`` object on stdout and a non-zero exit.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from orchestra.cli.boundary import is_click_error
from orchestra.errors import OrchestraError, UsageError
from orchestra.redact import RedactFilter, redact, redact_value

if TYPE_CHECKING:
    from orchestra.trace import Trace, TraceListener

__all__ = ["EXIT_ERROR", "EXIT_USAGE", "configure_logging", "error_object", "observed"]

EXIT_ERROR = 1
EXIT_USAGE = 2
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure_logging(verbose: int = 0) -> int:
    """Send ``orchestra.*`` logs to stderr through rich: warnings by default, info with ``-v``,
    debug with ``-vv``; ``ORCHESTRA_LOG=debug|info|warning|error`` sets the level too (the more
    verbose of the two wins). Secrets are redacted from every line. Returns the level."""
    from rich.console import Console
    from rich.logging import RichHandler

    env = _LEVELS.get(os.environ.get("ORCHESTRA_LOG", "").strip().lower(), logging.WARNING)
    flag = logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING
    level = min(env, flag)
    logger = logging.getLogger("orchestra")
    for old in [h for h in logger.handlers if getattr(h, "_orchestra_cli", False)]:
        logger.removeHandler(old)
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    handler = RichHandler(console=console, show_path=False, markup=False, log_time_format="[%X]")
    handler.addFilter(RedactFilter())
    handler._orchestra_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    return level


def error_object(exc: BaseException) -> dict[str, Any]:
    """``{"error": {"type", "message", ...}}`` for an error: its structured fields when it has
    them (status, retry_after, endpoint, task_id, tool), secrets redacted."""
    body: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    for name in ("status", "retry_after", "endpoint", "task_id", "tool"):
        value = getattr(exc, name, None)
        if value is not None:
            body[name] = value
    return {"error": redact_value(body)}


def _exit_code(exc: BaseException) -> int:
    return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_ERROR


def _otel_listener() -> tuple[TraceListener | None, Any]:
    """An OpenTelemetry listener when the ``OTEL_*`` environment asks for export, else None."""
    from orchestra.otel import env_wants_export

    if not env_wants_export():
        return None, None
    from orchestra.otel import OTelListener, provider_from_env

    provider = provider_from_env()
    return OTelListener(provider.get_tracer("orchestra")), provider


@contextlib.contextmanager
def observed(
    command: str,
    *,
    trace_file: Path | None = None,
    verbose: int = 0,
    as_json: bool = False,
    listeners: Sequence[TraceListener] = (),
    **attrs: Any,
) -> Iterator[Trace]:
    """Run a command's body observed (see the module docstring); yields the command's root trace.

    Raises:
        typer.Exit: with ``--json``, after printing the error object; the exit code is 2 for a
            usage error, 1 otherwise.
        OrchestraError: without ``--json``, the body's error, its message redacted.
    """
    from orchestra.trace import Trace

    configure_logging(verbose)
    root = Trace(listeners=[])
    stack = contextlib.ExitStack()
    try:
        if trace_file is not None:
            from orchestra.tracefile import TraceFileWriter

            writer = TraceFileWriter(trace_file, root, command=redact(f"orchestra {command}"))
            stack.callback(writer.close)
            root.listeners.append(writer)
        otel, provider = _otel_listener()
        if otel is not None:
            stack.callback(provider.shutdown)  # flushes the batch exporter
            root.listeners.append(otel)
        root.listeners.extend(listeners)
        with stack, root.activate(), root.span(f"orchestra {command}", "command", **attrs):
            yield root
    except (typer.Exit, typer.Abort):
        raise  # the command chose its exit (batch: 1 when rows failed)
    except Exception as exc:
        if is_click_error(exc):
            raise  # a usage error click reports (as JSON at the boundary with --json)
        if as_json:
            sys.stdout.write(json.dumps(error_object(exc)) + "\n")
            sys.stdout.flush()
            raise typer.Exit(_exit_code(exc)) from None
        if isinstance(exc, OrchestraError) and exc.args:
            clean = redact(str(exc))
            if clean != str(exc):
                exc.args = (clean,)
        raise
