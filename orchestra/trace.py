"""Traces: timed spans of a run (tasks, LLM calls), as JSONL and as a text timeline.

Spans live in a :class:`Trace`; the trace of the current run is found through a context variable
(openai-agents keeps spans in ``contextvars`` the same way), so code deep in a call stack can add
spans without a trace being threaded through every signature. Times come from an injected
:class:`~orchestra.clock.Clock`, so tests compare traces made with a fake clock.

The timeline draws one bar per span on a shared time axis: tasks that ran concurrently overlap
visibly, which is the point of the LLMCompiler executor.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from orchestra.clock import Clock, MonotonicClock

__all__ = ["Span", "Timeline", "Trace", "current_trace"]

_CURRENT: contextvars.ContextVar[Trace | None] = contextvars.ContextVar("orchestra_trace", default=None)

_KIND_STYLE = {"task": "cyan", "llm": "magenta", "plan": "yellow", "join": "green"}


@dataclass(slots=True)
class Span:
    """One timed piece of work.

    Attributes:
        name: what ran, e.g. ``"2. search"`` or ``"planner"``.
        kind: a category: ``task``, ``llm``, ``plan``, ``join`` ...
        start: clock time it began.
        end: clock time it ended (None while running).
        attrs: structured details (task id, attempts, status, tokens ...), JSON-serialisable.
        error: the error message when it failed.
    """

    name: str
    kind: str
    start: float
    end: float | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def duration(self) -> float | None:
        """``end - start`` in seconds, or None while running."""
        return None if self.end is None else self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "kind": self.kind,
            "start": self.start,
            "end": self.end,
            "attrs": self.attrs,
            "error": self.error,
        }


class Trace:
    """The spans of one run.

    Args:
        clock: where times come from (the real monotonic clock by default).
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or MonotonicClock()
        self.spans: list[Span] = []

    def add(self, span: Span) -> Span:
        """Record a span made elsewhere (the executor builds its own for speed)."""
        self.spans.append(span)
        return span

    @contextlib.contextmanager
    def span(self, name: str, kind: str = "span", **attrs: Any) -> Iterator[Span]:
        """Time the body as a span; an exception is recorded in ``error`` and re-raised."""
        span = Span(name, kind, self.clock.now(), attrs=attrs)
        self.spans.append(span)
        try:
            yield span
        except BaseException as exc:
            span.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            span.end = self.clock.now()

    @contextlib.contextmanager
    def activate(self) -> Iterator[Trace]:
        """Make this the current trace (see :func:`current_trace`) inside the block."""
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)

    def of_kind(self, kind: str) -> list[Span]:
        """The spans of one kind, in start order."""
        return sorted((s for s in self.spans if s.kind == kind), key=lambda s: s.start)

    def to_jsonl(self, path: str | Path) -> Path:
        """Write one JSON object per span; returns the path."""
        path = Path(path)
        with path.open("w", encoding="utf-8") as fh:
            for span in self.spans:
                fh.write(json.dumps(span.to_dict(), default=str) + "\n")
        return path

    @classmethod
    def from_jsonl(cls, path: str | Path) -> Trace:
        """Read a trace written by :meth:`to_jsonl`."""
        trace = cls()
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                trace.spans.append(Span(**json.loads(line)))
        return trace

    def timeline(self, *, width: int = 50, kinds: tuple[str, ...] | None = None) -> Timeline:
        """A rich renderable drawing the spans as bars on one time axis."""
        spans = [s for s in self.spans if kinds is None or s.kind in kinds]
        return Timeline(spans, width=width)

    def render_text(self, *, width: int = 50, kinds: tuple[str, ...] | None = None) -> str:
        """The timeline as plain text (no colour), e.g. for logs and tests."""
        console = Console(width=width + 60, color_system=None, record=True, file=io.StringIO())
        console.print(self.timeline(width=width, kinds=kinds))
        return console.export_text()


def current_trace() -> Trace | None:
    """The trace activated by the innermost :meth:`Trace.activate`, or None."""
    return _CURRENT.get()


class Timeline:
    """Spans as horizontal bars on a shared time axis (a rich renderable).

    Args:
        spans: what to draw; unfinished spans are drawn up to the latest time seen.
        width: characters for the time axis.
    """

    def __init__(self, spans: list[Span], *, width: int = 50) -> None:
        self.spans = sorted(spans, key=lambda s: (s.start, s.name))
        self.width = max(10, width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.spans:
            yield Text("(no spans)")
            return
        t0 = min(s.start for s in self.spans)
        t1 = max((s.end if s.end is not None else s.start) for s in self.spans)
        total = max(t1 - t0, 1e-9)
        scale = self.width / total
        table = Table(box=None, show_header=True, pad_edge=False)
        table.add_column("span", no_wrap=True)
        table.add_column(f"0 … {total * 1000:.0f} ms", no_wrap=True)
        table.add_column("ms", justify="right", no_wrap=True)
        for span in self.spans:
            end = span.end if span.end is not None else t1
            left = int((span.start - t0) * scale)
            length = max(1, round((end - span.start) * scale))
            left = min(left, self.width - 1)
            length = min(length, self.width - left)
            style = "red" if span.error else _KIND_STYLE.get(span.kind, "white")
            bar = Text(" " * left)
            bar.append("█" * length, style=style)
            bar.append(" " * (self.width - left - length))
            status = span.attrs.get("status")
            label = span.name + (f" [{status}]" if status and status != "ok" else "")
            table.add_row(Text(label), bar, f"{(end - span.start) * 1000:.0f}")  # Text: no markup
        yield table
