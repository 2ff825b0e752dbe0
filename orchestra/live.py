"""The live view of a run: plan lines as the model streams them, tasks as they start and end, LLM
calls with their tokens, interrupts as they are delivered.

:class:`RunView` is a :class:`~orchestra.trace.TraceListener`. On a terminal it draws a rich
``Live`` display that updates in place; elsewhere (a pipe, a file, CI logs) it prints one plain
line per happening, as it happens, so the output of ``orchestra run | tee log`` shows the same
order of events. Either way, the user sees tasks start while the plan is still being written:
the point of the LLMCompiler executor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from orchestra.trace import Span, SpanEvent, Trace, TraceListener

__all__ = ["RunView", "short"]

_LLM_KINDS = frozenset({"plan", "join", "llm"})
_STATUS_STYLE = {"ok": "green", "error": "red", "skipped": "yellow", "cancelled": "yellow", "running": "cyan"}


def short(value: Any, limit: int = 60) -> str:
    """``value`` as one line of at most ``limit`` characters: a string as itself, anything else
    as JSON (as the trace file writes it, :func:`orchestra.tracefile.to_json`), not a Python repr."""
    if isinstance(value, str):
        text = value
    else:
        from orchestra.tracefile import to_json

        data = to_json(value)
        text = (
            data["$str"]
            if isinstance(data, dict) and set(data) == {"$str", "$type"}
            else json.dumps(data, ensure_ascii=False)
        )
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class _TaskRow:
    name: str
    status: str = "running"
    seconds: float | None = None
    result: str = ""


class RunView(TraceListener):
    """Shows a run as it goes (use as a context manager around the run).

    Args:
        console: where to draw.
        live: a rich Live display (True) or plain lines (False); None: Live on a terminal only.
    """

    def __init__(self, console: Console, *, live: bool | None = None) -> None:
        self.console = console
        self.live = console.is_terminal if live is None else live
        self.plan_lines: list[str] = []
        self.tasks: dict[int, _TaskRow] = {}
        self.calls: list[str] = []
        self.interrupts: list[str] = []
        self._origin: float | None = None
        self._display: Live | None = None

    # -- context -------------------------------------------------------------------------------

    def __enter__(self) -> RunView:
        if self.live:
            self._display = Live(
                get_renderable=self.render,
                console=self.console,
                auto_refresh=False,  # redrawn on each happening, in the event loop's thread only
                transient=False,
                redirect_stderr=True,
            )
            self._display.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._display is not None:
            self._display.refresh()
            self._display.stop()
            self._display = None

    # -- listener ------------------------------------------------------------------------------

    def _at(self, trace: Trace, t: float) -> float:
        if self._origin is None:
            self._origin = trace.origin
        return t - self._origin

    def on_event(self, trace: Trace, span: Span, event: SpanEvent) -> None:
        if event.name == "task" and "line" in event.attrs:
            line = str(event.attrs["line"])
            self.plan_lines.append(line)
            self._say(trace, event.time, "plan", line, "yellow")

    def on_start(self, trace: Trace, span: Span) -> None:
        if span.kind == "task":
            task_id = span.attrs.get("task_id")
            if isinstance(task_id, int):
                self.tasks[task_id] = _TaskRow(span.name)
            self._say(trace, span.start, "start", span.name, "cyan")

    def on_end(self, trace: Trace, span: Span) -> None:
        if span.kind == "task":
            self._task_ended(trace, span)
        elif span.kind in _LLM_KINDS:
            tokens = ""
            if "prompt_tokens" in span.attrs:
                tokens = f"{span.attrs['prompt_tokens']} prompt + {span.attrs.get('completion_tokens', 0)} completion tokens"
            line = f"{span.name}: {tokens or 'no usage'}, {span.duration or 0.0:.2f} s"
            if span.error:
                line += f" [failed: {short(span.error, 100)}]"
            self.calls.append(line)
            self._say(trace, span.end or span.start, "llm", line, "magenta")
        elif span.kind == "interrupt":
            value = span.attrs.get("value", span.attrs.get("task_ids", ""))
            line = f"{span.name}: {short(value, 60)}"
            self.interrupts.append(line)
            self._say(trace, span.start, "interrupt", line, "red")

    def _task_ended(self, trace: Trace, span: Span) -> None:
        status = str(span.attrs.get("status", "error" if span.error else "ok"))
        outcome = short(span.attrs.get("result", ""), 60) if status == "ok" else short(span.error or "", 80)
        task_id = span.attrs.get("task_id")
        row = _TaskRow(span.name, status, span.duration, outcome)
        if isinstance(task_id, int):
            self.tasks[task_id] = row
        seconds = f"{row.seconds:.2f} s" if row.seconds is not None else ""
        self._say(
            trace, span.end or span.start, "done", f"{span.name} {status} {seconds} → {outcome}", "green"
        )

    def _say(self, trace: Trace, t: float, label: str, text: str, style: str) -> None:
        if self.live:
            if self._display is not None:
                self._display.refresh()
            return
        line = Text(f"{self._at(trace, t):7.2f}s ", style="dim")
        line.append(f"{label:<10}", style=style)
        line.append(text)
        self.console.print(line, soft_wrap=True)

    # -- the Live display ----------------------------------------------------------------------

    def render(self) -> RenderableType:
        """The current state: plan lines, tasks, LLM calls, interrupts."""
        parts: list[RenderableType] = [Text("Plan (streaming)", style="bold")]
        parts += [Text(f"  {line}") for line in self.plan_lines] or [Text("  …", style="dim")]
        if self.tasks:
            table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
            for column in ("task", "status", "s", "result"):
                table.add_column(column, no_wrap=column != "result", overflow="ellipsis")
            for _, row in sorted(self.tasks.items()):
                seconds = "" if row.seconds is None else f"{row.seconds:.2f}"
                table.add_row(
                    Text(row.name),
                    Text(row.status, style=_STATUS_STYLE.get(row.status, "")),
                    seconds,
                    Text(row.result),
                )
            parts.append(table)
        if self.calls:
            parts.append(Text("LLM calls", style="bold"))
            parts += [Text(f"  {line}") for line in self.calls]
        if self.interrupts:
            parts.append(Text("Interrupts", style="bold"))
            parts += [Text(f"  {line}") for line in self.interrupts]
        return Group(*parts)
