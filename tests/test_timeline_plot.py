"""Lanes and the critical path (pure), and ``orchestra trace plot`` in each format."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestra.cli.main import app
from orchestra.testing import FakeClock
from orchestra.timeline import critical_path, lanes
from orchestra.trace import Span, Trace
from orchestra.tracefile import write_trace


def sample_trace() -> Trace:
    """An LLMCompiler-shaped run: tasks 1 and 2 start while the plan streams, 3 needs both."""
    clock = FakeClock()
    trace = Trace(clock, listeners=[])
    trace.add(Span("orchestra run", "command", 0.0, 2.0))
    trace.add(Span("agent run", "run", 0.05, 1.95))
    trace.add(Span("planner (round 1)", "plan", 0.1, 0.6, {"prompt_tokens": 50, "completion_tokens": 30}))
    trace.add(Span("1. search", "task", 0.2, 0.9, {"task_id": 1, "status": "ok"}))
    trace.add(Span("2. search", "task", 0.4, 1.3, {"task_id": 2, "status": "ok"}))
    trace.add(Span("3. calc", "task", 1.3, 1.4, {"task_id": 3, "status": "ok", "deps": [1, 2]}))
    trace.add(Span("4. search", "task", 0.5, 0.7, {"task_id": 4, "status": "error"}, "boom"))
    trace.add(Span("interrupt 1", "interrupt", 0.9, 0.9, {"task_id": 1}))
    trace.add(Span("joiner", "join", 1.4, 1.9, {"prompt_tokens": 80, "completion_tokens": 10}))
    return trace


def test_one_lane_per_concurrent_activity() -> None:
    rows = lanes(sample_trace().spans)
    labels = [lane.label for lane in rows]
    # three tasks overlap at 0.5-0.7 s (1, 2 and 4), so the tasks need three lanes; 3 reuses one.
    assert labels == ["command", "run", "planner", "task 1", "task 2", "task 3", "joiner", "interrupt"]
    for lane in rows:
        for a, b in zip(lane.spans, lane.spans[1:], strict=False):
            assert (a.end or 0) <= b.start
    assert sum(len(lane.spans) for lane in rows) == len(sample_trace().spans)


def test_the_critical_path_follows_what_each_span_waited_for() -> None:
    path = [s.name for s in critical_path(sample_trace().spans)]
    # joiner <- the last task to end (3) <- its later dependency (2) <- the plan streaming it.
    assert path == ["planner (round 1)", "2. search", "3. calc", "joiner"]


@pytest.mark.parametrize("suffix", ["svg", "png", "html"])
def test_trace_plot_writes_each_format(tmp_path: Path, suffix: str) -> None:
    pytest.importorskip("matplotlib")
    trace = sample_trace()
    source = write_trace(trace, tmp_path / "run.jsonl", command="orchestra run test")
    out = tmp_path / f"timeline.{suffix}"
    result = CliRunner().invoke(app, ["trace", "plot", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    if suffix == "png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
        return
    text = data.decode()
    ids = re.findall(r'<g id="span-(\d+)">', text)
    assert sorted(map(int, ids)) == sorted(s.id for s in trace.spans)  # one element per span
    assert "<title>3. calc (task)" in text  # each has a tooltip
    if suffix == "html":
        assert text.startswith("<!DOCTYPE html>") and "<svg" in text
        assert not re.search(r"(src|href)=\"https?:", text)  # self-contained: nothing fetched


def test_an_unknown_picture_format_is_a_usage_error(tmp_path: Path) -> None:
    source = write_trace(sample_trace(), tmp_path / "run.jsonl")
    result = CliRunner().invoke(app, ["trace", "plot", str(source), "-o", str(tmp_path / "x.gif")])
    assert result.exit_code != 0
    assert "use .svg, .png or .html" in str(result.exception) + result.output
