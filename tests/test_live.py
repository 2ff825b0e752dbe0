"""The live run view: plan lines appear while the plan is still streaming, tasks start and end,
LLM calls show their tokens; Live on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

import anyio
from rich.console import Console

from orchestra import Agent, tool
from orchestra.live import RunView
from orchestra.planners import LLMCompilerPlanner
from orchestra.testing import ScriptedModel
from orchestra.trace import Span, SpanEvent, Trace, TraceListener

PLAN = '1. search(query="Eiffel Tower")\n2. search(query="Statue of Liberty")\n3. join()'


@tool
async def search(query: str) -> str:
    """Look QUERY up."""
    await anyio.sleep(0.01)
    return f"facts about {query}"


def slow_model() -> ScriptedModel:
    # ~70 chunks 3 ms apart: the plan takes ~0.2 s to stream.
    return ScriptedModel(
        [PLAN, '{"action": "finish", "answer": "The tower."}'], chunk_chars=2, chunk_delay=0.003
    )


class Probe(TraceListener):
    """Records, at each plan line, whether the plan was still streaming and what the view showed."""

    def __init__(self, view: RunView, shown: io.StringIO | None = None) -> None:
        self.view = view
        self.shown = shown
        self.seen: list[tuple[str, bool, str]] = []

    def _screen(self) -> str:
        if self.shown is not None:
            return self.shown.getvalue()
        console = Console(file=io.StringIO(), width=120, color_system=None)
        console.print(self.view.render())
        return console.file.getvalue()  # type: ignore[attr-defined]

    def on_event(self, trace: Trace, span: Span, event: SpanEvent) -> None:
        self.seen.append((str(event.attrs["line"]), span.end is None, self._screen()))


async def run_with(view: RunView, probe: Probe) -> None:
    root = Trace(listeners=[view, probe])
    with root.activate(), view:
        await Agent(slow_model(), [search], planner=LLMCompilerPlanner()).run("Which is taller?")


async def test_plain_lines_show_each_plan_line_before_the_plan_is_complete() -> None:
    out = io.StringIO()
    view = RunView(Console(file=out, width=120, color_system=None), live=False)
    probe = Probe(view, out)
    await run_with(view, probe)
    first_line, streaming, screen = probe.seen[0]
    assert first_line == "1. search(query='Eiffel Tower')"
    assert streaming  # the planner span had not ended ...
    assert "plan      1. search(query='Eiffel Tower')" in screen  # ... and the user saw the line
    assert "2. search" not in screen
    text = out.getvalue()
    # Task 1 started before the second plan line was written: tools run while the plan streams.
    assert text.index("start     1. search") < text.index("plan      2. search")
    assert "done      1. search ok" in text and "→ facts about Eiffel Tower" in text
    assert "planner (round 1): " in text and "completion tokens" in text
    assert "joiner: " in text


async def test_the_live_display_renders_plan_lines_while_streaming() -> None:
    console = Console(file=io.StringIO(), width=120, force_terminal=True, color_system=None)
    view = RunView(console)
    assert view.live  # a terminal gets the Live display
    probe = Probe(view)
    await run_with(view, probe)
    line, streaming, screen = probe.seen[0]
    assert streaming and "Plan (streaming)" in screen and line in screen
    final = Console(file=io.StringIO(), width=120, color_system=None)
    final.print(view.render())
    shown = final.file.getvalue()  # type: ignore[attr-defined]
    assert "1. search" in shown and "ok" in shown and "LLM calls" in shown and "joiner:" in shown


def test_interrupts_show_as_they_are_delivered() -> None:
    out = io.StringIO()
    view = RunView(Console(file=out, width=120, color_system=None), live=False)
    trace = Trace(listeners=[view])
    trace.mark("interrupt 2", "interrupt", task_id=2, value="Paris")
    assert "interrupt interrupt 2: Paris" in out.getvalue()


def test_results_are_shown_as_json_not_python_reprs() -> None:
    from orchestra.live import short

    assert short([{"id": "eiffel", "ok": True, "n": None}]) == '[{"id": "eiffel", "ok": true, "n": null}]'
    assert short("a  plain\nstring") == "a plain string" and short(391) == "391"
    assert short(object()).startswith("<object object at")  # not JSON: its string form
    assert short(list(range(100)), 20) == "[0, 1, 2, 3, 4, 5, …"
