"""Traces: timed spans of a run (runs, LLM calls, tasks, batch rows), and who listens to them.

Spans live in a :class:`Trace`; the trace of the current run is found through a context variable
(openai-agents keeps spans in ``contextvars`` the same way), so code deep in a call stack can add
spans without a trace being threaded through every signature. Times come from an injected
:class:`~orchestra.clock.Clock`, so tests compare traces made with a fake clock.

Listeners (:class:`TraceListener`) see spans start and end as the run goes: the live view of
``orchestra run`` (:mod:`orchestra.live`), the JSONL trace file (:mod:`orchestra.tracefile`) and the
OpenTelemetry export (:mod:`orchestra.otel`) are all listeners. A trace made while another is
active (an agent run inside a CLI command) reports to the same listeners, and its spans name the
enclosing span as their parent.

Span kinds used by orchestra: ``command`` (a CLI command), ``run`` (one agent run), ``plan`` (a
streamed planner call), ``join`` (a joiner call), ``llm`` (any other LLM call), ``task`` (a tool
call of the plan), ``row`` (one batch row), and ``interrupt`` (an instant: a result delivered to
a model in flight, made with :meth:`Trace.mark`). Events on a span (:meth:`Trace.event`) mark
moments inside it, e.g. each plan line as the planner streams it (event ``task``).
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestra.chat import ChatRequest
from orchestra.clock import Clock, MonotonicClock

if TYPE_CHECKING:
    from orchestra.timeline import Timeline

__all__ = [
    "Span",
    "SpanEvent",
    "Trace",
    "TraceListener",
    "add_global_listener",
    "current_span",
    "current_trace",
    "remove_global_listener",
    "request_record",
]

_CURRENT: contextvars.ContextVar[Trace | None] = contextvars.ContextVar("orchestra_trace", default=None)
_SPAN: contextvars.ContextVar[Span | None] = contextvars.ContextVar("orchestra_span", default=None)
_IDS = itertools.count(1)
_GLOBAL: list[TraceListener] = []


def _since(t: float, origin: float) -> float:
    return round(t - origin, 6)


def _parent_id() -> int | None:
    span = _SPAN.get()
    return None if span is None else span.id


@dataclass(slots=True)
class SpanEvent:
    """A moment inside a span.

    Attributes:
        name: what happened, e.g. ``"task"`` (a plan line was parsed).
        time: clock time (seconds).
        attrs: details, e.g. ``{"line": "1. search('x')"}``.
    """

    name: str
    time: float
    attrs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, origin: float) -> dict[str, Any]:
        """A dict with the same fields, ``time`` in seconds since ``origin`` (see :meth:`Span.to_dict`)."""
        return {"name": self.name, "time": _since(self.time, origin), "attrs": self.attrs}


@dataclass(slots=True)
class Span:
    """One timed piece of work.

    Attributes:
        name: what ran, e.g. ``"2. search"`` or ``"planner (round 0)"``.
        kind: a category (see the module docstring): ``task``, ``llm``, ``plan``, ``join`` ...
        start: clock time it began, seconds.
        end: clock time it ended (None while running).
        attrs: structured details (task id, status, tokens, request, response ...). Values may be
            any Python object; :func:`orchestra.tracefile.to_json` makes them JSON when written.
        error: the error message when it failed.
        id: unique in the process; children name it in ``parent``.
        parent: the id of the span that was current when this one was made (None at the top).
        events: moments inside the span, in time order.
    """

    name: str
    kind: str
    start: float
    end: float | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    id: int = field(default_factory=lambda: next(_IDS))
    parent: int | None = field(default_factory=_parent_id)
    events: list[SpanEvent] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        """``end - start`` in seconds, or None while running."""
        return None if self.end is None else self.end - self.start

    def to_dict(self, origin: float) -> dict[str, Any]:
        """A JSON-ready dict (attribute values made JSON by :func:`orchestra.tracefile.to_json`).

        Args:
            origin: the clock time that is zero in the output, normally the trace's
                :attr:`Trace.origin`: ``start``, ``end`` and event times are written as seconds
                since it (rounded to microseconds), since a raw monotonic clock value means
                nothing outside this process. Required, so no caller emits raw clock values.
        """
        from orchestra.tracefile import to_json

        out: dict[str, Any] = {
            "id": self.id,
            "parent": self.parent,
            "name": self.name,
            "kind": self.kind,
            "start": _since(self.start, origin),
            "end": None if self.end is None else _since(self.end, origin),
            "attrs": to_json(self.attrs),
            "error": self.error,
        }
        if self.events:
            out["events"] = [to_json(e.to_dict(origin)) for e in self.events]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Span:
        """The span :meth:`to_dict` described."""
        events = [SpanEvent(e["name"], e["time"], e.get("attrs", {})) for e in data.get("events", [])]
        return cls(
            data["name"],
            data["kind"],
            data["start"],
            data.get("end"),
            data.get("attrs", {}),
            data.get("error"),
            id=data.get("id") or next(_IDS),
            parent=data.get("parent"),
            events=events,
        )


class TraceListener:
    """Told about spans as a run goes; override what you need (every method does nothing here).

    Methods run in the event loop, synchronously: they must be quick and must not raise.
    """

    def on_start(self, trace: Trace, span: Span) -> None:
        """``span`` began (``span.end`` is None). Spans recorded only once finished skip this."""

    def on_end(self, trace: Trace, span: Span) -> None:
        """``span`` ended (or was recorded finished)."""

    def on_event(self, trace: Trace, span: Span, event: SpanEvent) -> None:
        """Something happened inside ``span``."""


def add_global_listener(listener: TraceListener) -> None:
    """Make every trace made from now on (with no active trace) report to ``listener``."""
    _GLOBAL.append(listener)


def remove_global_listener(listener: TraceListener) -> None:
    """Undo :func:`add_global_listener` (no error if it was not added)."""
    with contextlib.suppress(ValueError):
        _GLOBAL.remove(listener)


class Trace:
    """The spans of one run.

    Args:
        clock: where times come from (the real monotonic clock by default).
        listeners: who hears about spans; None: those of the active trace (see
            :meth:`activate`), else the global ones (:func:`add_global_listener`).

    Attributes:
        origin: clock time when the trace was made; trace files count seconds from it.
        wall_start: wall-clock time (Unix seconds) at ``origin``.
    """

    def __init__(self, clock: Clock | None = None, *, listeners: list[TraceListener] | None = None) -> None:
        self.clock: Clock = clock or MonotonicClock()
        self.spans: list[Span] = []
        self.origin = self.clock.now()
        self.wall_start = time.time()
        if listeners is None:
            active = _CURRENT.get()
            listeners = list(active.listeners) if active is not None else list(_GLOBAL)
        self.listeners: list[TraceListener] = listeners

    def start(self, name: str, kind: str = "span", **attrs: Any) -> Span:
        """Open a span now; close it with :meth:`end`."""
        span = Span(name, kind, self.clock.now(), attrs=attrs)
        return self.begin(span)

    def begin(self, span: Span) -> Span:
        """Record an open span made elsewhere and tell the listeners it started."""
        self.spans.append(span)
        for listener in self.listeners:
            listener.on_start(self, span)
        return span

    def end(self, span: Span, *, error: str | None = None) -> Span:
        """Close ``span`` now (unless it has an end already) and tell the listeners."""
        if span.end is None:
            span.end = self.clock.now()
        if error is not None:
            span.error = error
        for listener in self.listeners:
            listener.on_end(self, span)
        return span

    def add(self, span: Span) -> Span:
        """Record a finished span made elsewhere (the executor builds its own for speed); a span
        with no end yet is recorded as begun (:meth:`begin`): close it with :meth:`end`."""
        if span.end is None:
            return self.begin(span)
        self.spans.append(span)
        if self.listeners:
            for listener in self.listeners:
                listener.on_end(self, span)
        return span

    def event(self, span: Span, name: str, **attrs: Any) -> SpanEvent:
        """Record a moment inside ``span`` (e.g. a plan line as it streams)."""
        event = SpanEvent(name, self.clock.now(), attrs)
        span.events.append(event)
        for listener in self.listeners:
            listener.on_event(self, span, event)
        return event

    def mark(self, name: str, kind: str, **attrs: Any) -> Span:
        """Record an instant as a zero-length span, e.g. ``mark("interrupt 3", "interrupt", task_id=3)``."""
        now = self.clock.now()
        return self.add(Span(name, kind, now, now, attrs))

    @contextlib.contextmanager
    def span(self, name: str, kind: str = "span", **attrs: Any) -> Iterator[Span]:
        """Time the body as a span (the parent of spans made inside it); errors are recorded and re-raised."""
        span = self.start(name, kind, **attrs)
        token = _SPAN.set(span)
        error = None
        try:
            yield span
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            _SPAN.reset(token)
            self.end(span, error=error)

    @contextlib.contextmanager
    def activate(self) -> Iterator[Trace]:
        """Make this the current trace (see :func:`current_trace`) inside the block."""
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)

    def to_dicts(self, spans: Iterable[Span] | None = None) -> list[dict[str, Any]]:
        """``spans`` (default: all of this trace's) as JSON-ready dicts, times in seconds since
        this trace's :attr:`origin` (see :meth:`Span.to_dict`)."""
        return [s.to_dict(self.origin) for s in (self.spans if spans is None else spans)]

    def of_kind(self, kind: str) -> list[Span]:
        """The spans of one kind, in start order."""
        return sorted((s for s in self.spans if s.kind == kind), key=lambda s: s.start)

    def to_jsonl(self, path: str | Path) -> Path:
        """Write the trace file (a header line, then one span a line; see :mod:`orchestra.tracefile`)."""
        from orchestra.tracefile import write_trace

        return write_trace(self, path)

    @classmethod
    def from_jsonl(cls, path: str | Path) -> Trace:
        """Read a trace file written by :meth:`to_jsonl` or ``--trace`` (times relative to its start)."""
        from orchestra.tracefile import read_trace

        return read_trace(path).trace

    def timeline(self, *, width: int = 50, kinds: tuple[str, ...] | None = None) -> Timeline:
        """A rich renderable drawing the spans as bars on one time axis (``command``/``run``
        envelopes only when ``kinds`` names them)."""
        from orchestra.timeline import ENVELOPES, Timeline

        spans = [s for s in self.spans if (s.kind not in ENVELOPES if kinds is None else s.kind in kinds)]
        return Timeline(spans, width=width)

    def render_text(self, *, width: int = 50, kinds: tuple[str, ...] | None = None) -> str:
        """The timeline as plain text (no colour), e.g. for logs and tests."""
        from orchestra.timeline import render_text

        return render_text(self.timeline(width=width, kinds=kinds), width=width)


def request_record(request: ChatRequest) -> dict[str, Any]:
    """What a trace keeps of a request: messages and the parameters that were set."""
    record: dict[str, Any] = {"messages": [m.to_wire() for m in request.messages]}
    for key in ("model", "max_tokens", "temperature", "top_p", "response_format", "tools", "tool_choice"):
        value = getattr(request, key)
        if value is not None:
            record[key] = value
    if request.n != 1:
        record["n"] = request.n
    if request.extra:
        record["extra"] = dict(request.extra)
    return record


def current_trace() -> Trace | None:
    """The trace activated by the innermost :meth:`Trace.activate`, or None."""
    return _CURRENT.get()


def current_span() -> Span | None:
    """The span of the innermost :meth:`Trace.span` block, or None."""
    return _SPAN.get()
