"""Where the time of a run went: lanes of concurrent activity, the critical path, a text timeline.

Pure functions of a list of :class:`~orchestra.trace.Span` (no I/O): :func:`lanes` puts each
span in a lane so that spans of one lane never overlap (one lane per concurrent activity:
planner stream, tasks, joiner, interrupts ...); :func:`critical_path` follows, from the span that
ended last, what each span waited for. :class:`Timeline` draws the spans as text bars (a rich
renderable), :mod:`orchestra.plot` as a picture.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from orchestra.trace import Span

__all__ = ["CATEGORIES", "Lane", "Timeline", "critical_path", "lanes", "render_text"]

CATEGORIES = ("command", "run", "plan", "llm", "task", "join", "row", "interrupt")
"""Lane groups, top to bottom; spans of other kinds go below them, by kind."""
ENVELOPES = frozenset({"command", "run"})
"""Kinds that only contain other work: never on the critical path themselves."""
_KIND_STYLE = {"task": "cyan", "llm": "magenta", "plan": "yellow", "join": "green", "interrupt": "red"}
_LABEL = {"plan": "planner", "join": "joiner", "llm": "LLM", "row": "row"}
_TOLERANCE = 1e-3  # seconds: a span that ends this close before another starts may have released it


@dataclass
class Lane:
    """One row of the picture.

    Attributes:
        label: e.g. ``"planner"``, ``"task 2"``.
        kind: the span kind of its spans.
        spans: its spans, in start order, none overlapping.
    """

    label: str
    kind: str
    spans: list[Span]


def _end(span: Span, latest: float) -> float:
    return span.end if span.end is not None else latest


def lanes(spans: Iterable[Span]) -> list[Lane]:
    """Spans grouped by kind (in :data:`CATEGORIES` order), each group split into the fewest lanes
    in which no two spans overlap (greedy by start time, which is optimal for intervals)."""
    spans = list(spans)
    if not spans:
        return []
    latest = max(_end(s, s.start) for s in spans)
    kinds = sorted({s.kind for s in spans}, key=lambda k: (CATEGORIES.index(k) if k in CATEGORIES else 99, k))
    out: list[Lane] = []
    for kind in kinds:
        group: list[tuple[float, list[Span]]] = []  # (end of last span, spans)
        for span in sorted((s for s in spans if s.kind == kind), key=lambda s: (s.start, s.id)):
            free = next((i for i, (end, _) in enumerate(group) if end <= span.start + 1e-9), None)
            if free is None:
                group.append((_end(span, latest), [span]))
            else:
                group[free][1].append(span)
                group[free] = (_end(span, latest), group[free][1])
        label = _LABEL.get(kind, kind)
        for i, (_, members) in enumerate(group):
            out.append(Lane(label if len(group) == 1 else f"{label} {i + 1}", kind, members))
    return out


def critical_path(spans: Sequence[Span]) -> list[Span]:
    """The chain of spans that set the run's length, first to last.

    From the span that ended last (envelopes and instants aside), step to what it waited for: a
    task's dependencies when the trace names them (``attrs["deps"]``), else the planner stream
    that was running when it started (LLMCompiler dispatches a task as its plan line arrives),
    else the span that ended last before it started.
    """
    work = [s for s in spans if s.kind not in ENVELOPES and s.end is not None and s.end > s.start]
    if not work:
        return []
    by_task = {s.attrs.get("task_id"): s for s in work if s.kind == "task"}
    current = max(work, key=lambda s: (s.end or 0.0, -s.start))
    path = [current]
    seen = {current.id}
    while True:
        before = _waited_for(current, work, by_task)
        if before is None or before.id in seen:
            break
        path.append(before)
        seen.add(before.id)
        current = before
    return path[::-1]


def _waited_for(span: Span, work: list[Span], by_task: dict[object, Span]) -> Span | None:
    deps = [by_task[d] for d in span.attrs.get("deps") or () if d in by_task] if span.kind == "task" else []
    if deps:
        return max(deps, key=lambda s: s.end or 0.0)
    if span.kind == "task":
        streaming = [s for s in work if s.kind == "plan" and s.start <= span.start <= (s.end or 0.0)]
        if streaming:
            return max(streaming, key=lambda s: s.start)
    done = [s for s in work if s is not span and (s.end or 0.0) <= span.start + _TOLERANCE]
    return max(done, key=lambda s: (s.end or 0.0, s.start)) if done else None


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


def render_text(timeline: Timeline, *, width: int = 50) -> str:
    """A timeline as plain text (no colour)."""
    buffer = io.StringIO()
    Console(width=width + 60, color_system=None, file=buffer).print(timeline)
    return buffer.getvalue()
