"""Trace files: header, times relative to the start, JSON results, LLM requests and responses, round trip."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from orchestra import Agent, tool
from orchestra.planners import LLMCompilerPlanner
from orchestra.testing import FakeClock, ScriptedModel
from orchestra.trace import Span, Trace
from orchestra.tracefile import TraceFileWriter, read_trace, to_json, write_trace


@dataclasses.dataclass
class Point:
    x: int
    y: float


class Opaque:
    def __str__(self) -> str:
        return "opaque thing"


@tool
def lookup(name: str) -> dict[str, Any]:
    """Facts about NAME."""
    return {"name": name, "sizes": [1, 2.5], "point": Point(1, 2.0), "odd": Opaque()}


def test_values_become_json_and_the_rest_is_marked_as_a_string() -> None:
    assert to_json({"a": [1, 2.5, None, True], 3: (4,)}) == {"a": [1, 2.5, None, True], "3": [4]}
    assert to_json(Point(1, 2.0)) == {"x": 1, "y": 2.0}
    assert to_json(Opaque()) == {"$str": "opaque thing", "$type": "test_trace_file.Opaque"}
    assert to_json(math.inf) == {"$str": "inf", "$type": "builtins.float"}
    cycle: list[Any] = []
    cycle.append(cycle)
    json.dumps(to_json(cycle))  # deep or cyclic data ends in a marked string, not a RecursionError


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=20,
    )
)
def test_json_data_is_kept_as_it_is(value: Any) -> None:
    assert to_json(value) == value
    assert json.loads(json.dumps(to_json(value))) == value


async def test_an_agent_run_round_trips_through_a_trace_file(tmp_path: Path) -> None:
    model = ScriptedModel(
        [
            '1. lookup(name="Nile")\n2. lookup(name="Amazon")\n3. join()',
            '{"action": "finish", "answer": "done"}',
        ],
        chunk_chars=5,
    )
    path = tmp_path / "run.jsonl"
    root = Trace(listeners=[])
    writer = TraceFileWriter(path, root, command="orchestra run test")
    root.listeners.append(writer)
    with root.activate(), root.span("orchestra run", "command"):
        result = await Agent(model, [lookup], planner=LLMCompilerPlanner()).run("Which river is longer?")
    writer.close()

    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["orchestra_trace"] == 1 and header["command"] == "orchestra run test"
    started = datetime.fromisoformat(header["started_at"])
    assert abs(started.timestamp() - header["started_at_unix"]) < 1e-3
    loaded = read_trace(path)
    spans = {s.name: s for s in loaded.trace.spans}
    assert set(spans) == {
        "orchestra run",
        "agent run",
        "planner (round 1)",
        "1. lookup",
        "2. lookup",
        "joiner",
    }
    # Seconds from the start, not raw monotonic clock values.
    assert all(0 <= s.start <= (s.end or 0) < 60 for s in loaded.trace.spans)
    assert spans["orchestra run"].start < 0.1
    # Parents: command > agent run > planner / tasks / joiner.
    run_id = spans["agent run"].id
    assert spans["agent run"].parent == spans["orchestra run"].id
    assert {spans[n].parent for n in ("planner (round 1)", "1. lookup", "2. lookup", "joiner")} == {run_id}
    # A tool's result is JSON, with what cannot be JSON marked as a string.
    assert spans["1. lookup"].attrs["result"] == {
        "name": "Nile",
        "sizes": [1, 2.5],
        "point": {"x": 1, "y": 2.0},
        "odd": {"$str": "opaque thing", "$type": "test_trace_file.Opaque"},
    }
    # An LLM call holds its request and the raw response text; plan lines are events of the stream.
    planner = spans["planner (round 1)"]
    assert planner.attrs["response"] == '1. lookup(name="Nile")\n2. lookup(name="Amazon")\n3. join()'
    assert planner.attrs["request"]["messages"][-1]["role"] == "user"
    assert "Which river is longer?" in planner.attrs["request"]["messages"][-1]["content"]
    assert [e.attrs["line"] for e in planner.events] == [
        "1. lookup(name='Nile')",
        "2. lookup(name='Amazon')",
        "3. join()",
    ]
    assert spans["joiner"].attrs["response"] == '{"action": "finish", "answer": "done"}'
    assert spans["joiner"].attrs["completion_tokens"] > 0
    # What was in memory is what came back (times shifted to the file's zero).
    shift = root.origin
    for span in result.trace.spans:
        again = spans[span.name]
        assert again.kind == span.kind and again.error == span.error
        assert abs(again.start - (span.start - shift)) < 1e-5


def test_write_and_read_with_a_fake_clock_is_exact(tmp_path: Path) -> None:
    clock = FakeClock()
    trace = Trace(clock, listeners=[])
    with trace.span("planner", "plan", prompt_tokens=3) as span:
        clock.advance(0.25)
        trace.event(span, "task", line="1. search('x')")
    trace.add(Span("1. search", "task", 0.1, 0.4, {"task_id": 1, "result": Opaque()}))
    trace.mark("interrupt 1", "interrupt", task_id=1)
    again = read_trace(write_trace(trace, tmp_path / "t.jsonl")).trace
    assert [(s.name, s.kind, s.start, s.end) for s in again.spans] == [
        ("planner", "plan", 0.0, 0.25),
        ("1. search", "task", 0.1, 0.4),
        ("interrupt 1", "interrupt", 0.25, 0.25),
    ]
    assert again.spans[0].events[0].time == 0.25 and again.spans[0].events[0].attrs == {
        "line": "1. search('x')"
    }
    assert again.spans[1].attrs["result"] == {"$str": "opaque thing", "$type": "test_trace_file.Opaque"}


def test_a_bad_trace_file_is_a_one_line_usage_error(tmp_path: Path) -> None:
    from orchestra.errors import UsageError

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"orchestra_trace": 1}\nnot json\n')
    try:
        read_trace(bad)
    except UsageError as exc:
        assert str(exc).endswith("bad.jsonl:2: not a trace line (Expecting value: line 1 column 1 (char 0))")
    else:
        raise AssertionError("no error")


def test_to_json_never_raises_and_stays_small_on_hostile_values() -> None:
    from orchestra.tracefile import to_json

    wide: list[object] = [1]
    wide += [wide, wide, wide]  # cyclic with fan-out: walking it naively would never end

    class Hostile(list):  # type: ignore[type-arg]
        def __iter__(self):  # type: ignore[no-untyped-def]
            raise RuntimeError("no iter")

        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    out = to_json({"wide": wide, "hostile": Hostile([1]), "nan": float("nan")})
    text = json.dumps(out)  # JSON, whatever went in
    assert len(text) < 10_000
    assert out["hostile"]["$type"].endswith("Hostile") and out["nan"]["$str"] == "nan"
