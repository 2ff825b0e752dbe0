"""Trace files: a run's spans as JSONL, written as they end, read back for ``orchestra trace``.

The first line is a header::

    {"orchestra_trace": 1, "started_at": "2026-11-30T20:41:07.123456+00:00", "started_at_unix": 1796...,
     "command": "orchestra run ..."}

and every further line is one span (:meth:`orchestra.trace.Span.to_dict`) whose ``start``, ``end``
and event ``time`` are seconds since ``started_at`` (not raw monotonic clock values, which mean
nothing outside the process). Attribute values are JSON: a tool's result is written as itself
(numbers, lists, objects), pydantic models and dataclasses as their fields, and anything else as
``{"$str": "<its str()>", "$type": "module.Class"}`` so a reader can tell it was not JSON. Secrets
are redacted (:mod:`orchestra.redact`) before anything is written.

Spans are written when they end, one flushed line each, so a run that crashes leaves every span
that finished before the crash; readers sort by ``start``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel

from orchestra.errors import UsageError
from orchestra.redact import redact_value
from orchestra.text_files import read_user_text
from orchestra.trace import Span, Trace, TraceListener

__all__ = ["TraceFile", "TraceFileWriter", "read_trace", "to_json", "write_trace"]

FORMAT_VERSION = 1
_MAX_DEPTH = 32


_MAX_NODES = 10_000


def to_json(value: Any) -> Any:
    """``value`` as JSON data: itself when it already is, fields of models and dataclasses, and
    ``{"$str": str(value), "$type": ...}`` for anything else (also for NaN/inf, cyclic, very deep or
    very large data, subclasses of the built-in containers, and objects whose methods raise).

    Never raises: a tool may return anything, and its trace must still be written.
    """
    budget = [_MAX_NODES]
    try:
        return _to_json(value, 0, set(), budget)
    except Exception:  # e.g. a model whose dump raises
        return _marked(value)


def _to_json(value: Any, depth: int, path: set[int], budget: list[int]) -> Any:
    kind = type(value)
    if value is None or kind in (str, int, bool):
        return value
    if kind is float:
        return value if math.isfinite(value) else _marked(value)
    budget[0] -= 1
    if depth > _MAX_DEPTH or budget[0] < 0 or id(value) in path:
        return _marked(value)
    # Only the exact built-in containers are walked: a subclass may override iteration to raise.
    if (
        kind in (dict, list, tuple, set, frozenset)
        or isinstance(value, BaseModel)
        or (dataclasses.is_dataclass(value) and not isinstance(value, type))
    ):
        path.add(id(value))
        try:
            return _walk(value, depth, path, budget)
        finally:
            path.discard(id(value))
    return _marked(value)


def _walk(value: Any, depth: int, path: set[int], budget: list[int]) -> Any:
    if type(value) is dict:
        return {
            (k if type(k) is str else _marked(k)["$str"]): _to_json(v, depth + 1, path, budget)
            for k, v in value.items()
        }
    if isinstance(value, BaseModel):
        return _to_json(value.model_dump(mode="json"), depth + 1, path, budget)
    if dataclasses.is_dataclass(value):
        return {
            f.name: _to_json(getattr(value, f.name), depth + 1, path, budget)
            for f in dataclasses.fields(value)
        }
    return [_to_json(v, depth + 1, path, budget) for v in value]


def _marked(value: Any) -> dict[str, str]:
    kind = type(value)
    try:
        text = str(value)
    except Exception:  # a broken __str__ must not lose the trace
        text = f"<unprintable {kind.__name__}>"
    return {"$str": text, "$type": f"{kind.__module__}.{kind.__qualname__}"}


def _header(trace: Trace, command: str | None) -> dict[str, Any]:
    return {
        "orchestra_trace": FORMAT_VERSION,
        "started_at": datetime.fromtimestamp(trace.wall_start, UTC).isoformat(),
        "started_at_unix": trace.wall_start,
        "command": command,
    }


def _span_line(span: Span, origin: float) -> str:
    return json.dumps(redact_value(span.to_dict(origin)), ensure_ascii=False)


class TraceFileWriter(TraceListener):
    """A listener that appends each span to a trace file as it ends.

    Args:
        path: the file (created or truncated).
        origin: a trace whose ``origin`` and ``wall_start`` are the file's zero and header time.
        command: the command line, for the header.
    """

    def __init__(self, path: str | Path, origin: Trace, *, command: str | None = None) -> None:
        self.path = Path(path)
        self.origin = origin.origin
        self._open: dict[int, Span] = {}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh: IO[str] | None = self.path.open("w", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write the trace file {path}: {exc.strerror or exc}") from exc
        self._write(json.dumps(redact_value(_header(origin, command))))

    def _write(self, line: str) -> None:
        if self._fh is not None:
            self._fh.write(line + "\n")
            self._fh.flush()

    def on_start(self, trace: Trace, span: Span) -> None:
        self._open[span.id] = span

    def on_end(self, trace: Trace, span: Span) -> None:
        self._open.pop(span.id, None)
        self._write(_span_line(span, self.origin))

    def close(self) -> None:
        """Write spans still open (their ``end`` is null) and close the file."""
        for span in list(self._open.values()):
            self._write(_span_line(span, self.origin))
        self._open.clear()
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def write_trace(trace: Trace, path: str | Path, *, command: str | None = None) -> Path:
    """Write every span of ``trace`` to ``path`` as a trace file; returns the path."""
    writer = TraceFileWriter(path, trace, command=command)
    for span in sorted(trace.spans, key=lambda s: s.start):
        writer._write(_span_line(span, trace.origin))
    writer.close()
    return writer.path


@dataclass
class TraceFile:
    """A trace file read back.

    Attributes:
        header: the header line (``started_at``, ``command`` ...).
        trace: its spans, times in seconds since the start (the trace's ``origin`` is 0).
    """

    header: dict[str, Any]
    trace: Trace


def read_trace(path: str | Path) -> TraceFile:
    """Read a trace file.

    Raises:
        UsageError: the file is missing or is not a trace file (the message says which line).
    """
    path = Path(path)
    try:
        text = read_user_text(path)
    except OSError as exc:
        raise UsageError(f"cannot read the trace file {path}: {exc.strerror or exc}") from exc
    trace = Trace(listeners=[])
    trace.origin = 0.0
    header: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if number == 1 and "orchestra_trace" in data:
                header = data
                trace.wall_start = float(data.get("started_at_unix", 0.0))
                continue
            span = Span.from_dict(data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UsageError(f"{path}:{number}: not a trace line ({exc})") from None
        trace.spans.append(span)
    if not header and not trace.spans:
        raise UsageError(f"{path}: not a trace file (it is empty)")
    trace.spans.sort(key=lambda s: s.start)
    return TraceFile(header, trace)
