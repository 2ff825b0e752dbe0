"""Trajectory latency replay: the synthetic mini-swe-agent run, our own traces, the schedules' laws."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra.benchmarks.swe import (
    Action,
    Effects,
    Step,
    effects_of_command,
    example_trajectories,
    read_run,
    replay,
    replay_run,
)
from orchestra.clock import FakeClock
from orchestra.errors import UsageError
from orchestra.trace import Span, Trace

SYNTHETIC = example_trajectories() / "synthetic.traj.json"


def test_synthetic_trajectory_figures() -> None:
    """Worked by hand in the test's comments: only tool time of independent steps overlaps."""
    run = read_run(SYNTHETIC)
    assert run.format == "mini-swe-agent-1.1" and len(run.steps) == 8
    # the first call has no timestamp before it: 120 tokens at the others' 0.025 s/token
    assert run.steps[0].model_seconds == pytest.approx(3.0)
    assert run.steps[3].actions[0].effects.writes == {"src/shapes/area.py"}  # /testbed stripped
    assert run.steps[4].actions[0].effects.writes == {"repro.py"}
    result = replay_run(run)
    assert result.recorded == pytest.approx(30.4)
    # sequential: 21.0 model + 9.4 tool.
    # async: the three reads overlap the next calls; the sed waits for nothing it has not got;
    #   python repro.py waits for the heredoc (15.1); then pytest (18.6 -> 27.1); submit 28.8.
    # compiler: rounds [cat, cat, grep] [sed, heredoc] [python] [pytest] [submit] -> 29.4.
    # parallel: the same rounds, actions only after the whole turn is written -> 29.5.
    assert result.wall == pytest.approx(
        {"sequential": 30.4, "parallel": 29.5, "compiler": 29.4, "async": 28.8}
    )
    assert result.saving("async") == pytest.approx(1.6 / 30.4)


def test_our_own_trace_replays(tmp_path: Path) -> None:
    clock = FakeClock()
    trace = Trace(clock)
    t = 0.0

    def add(name: str, kind: str, seconds: float, **attrs: object) -> None:
        nonlocal t
        trace.add(Span(name, kind, t, t + seconds, dict(attrs)))
        t += seconds

    add("turn 1", "llm", 1.0)
    add("1. view_file", "task", 2.0, tool="view_file", args={"path": "a.py"})
    add("turn 2", "llm", 1.0)
    add("2. search", "task", 2.0, tool="search", args={"pattern": "x", "path": "lib"})
    add("turn 3", "llm", 1.0)
    add("3. edit_file", "task", 0.5, tool="edit_file", args={"path": "a.py", "old": "x", "new": "y"})
    add("turn 4", "llm", 1.0)
    path = trace.to_jsonl(tmp_path / "run.trace.jsonl")
    run = read_run(path)
    assert run.format == "orchestra-trace" and [len(s.actions) for s in run.steps] == [1, 1, 1, 0]
    result = replay_run(run)
    assert result.recorded == pytest.approx(8.5) and result.wall["sequential"] == pytest.approx(8.5)
    # async: turn 2 at 1-2 while the view runs (1-3), search 2-4; turn 3 writes the edit of a.py,
    # so it waits for the view: 3-4, edit 4-4.5; the answer waits for everything: 4.5-5.5
    assert result.wall["async"] == pytest.approx(5.5)
    # compiler: round [view, search] planned 0-2, view 1-3, search 2-4; [edit] planned 4-5, 5-5.5; answer 6.5
    assert result.wall["compiler"] == pytest.approx(6.5)


def test_commands_read_and_write_what_they_name() -> None:
    assert effects_of_command("cat a.py b.py").reads == {"a.py", "b.py"}
    assert effects_of_command("grep -n foo src/").reads == {"src"}
    sed = effects_of_command("sed -i 's/a/b/' x.py")
    assert sed.reads == sed.writes == {"x.py"}
    assert effects_of_command("echo hi > out.txt").writes == {"out.txt"}
    assert effects_of_command("cd pkg && cat mod.py").reads == {"pkg/mod.py"}
    assert effects_of_command("python -m pytest").writes == {"."}
    assert effects_of_command("echo done") == Effects()
    assert effects_of_command("cp a.py b.py").writes == {"b.py"}
    assert effects_of_command("cat 'unbalanced").writes == {"."}


@given(st.text(max_size=80))
def test_effects_of_any_text_never_crash(command: str) -> None:
    effects = effects_of_command(command, root="/testbed")
    assert "" not in effects.reads | effects.writes


_PATHS = ["a.py", "b.py", "pkg", "pkg/c.py", "."]


@st.composite
def _steps(draw: st.DrawFn) -> list[Step]:
    steps = []
    for _ in range(draw(st.integers(1, 7))):
        actions = []
        for k in range(draw(st.integers(0, 3))):
            reads = set(draw(st.lists(st.sampled_from(_PATHS), max_size=2)))
            writes = set(draw(st.lists(st.sampled_from(_PATHS), max_size=1)))
            actions.append(Action(f"a{k}", draw(st.floats(0, 5)), Effects(reads, writes)))
        steps.append(Step(draw(st.floats(0, 5)), tuple(actions)))
    return steps


@settings(max_examples=200)
@given(_steps())
def test_schedules_are_ordered_and_bounded(steps: list[Step]) -> None:
    result = replay(steps)
    wall, eps = result.wall, 1e-9
    assert wall["async"] <= wall["compiler"] + eps
    assert wall["compiler"] <= wall["parallel"] + eps
    assert wall["parallel"] <= wall["sequential"] + eps
    assert wall["async"] >= result.model_seconds - eps
    assert wall["sequential"] == pytest.approx(result.model_seconds + result.tool_seconds)


@given(st.lists(st.tuples(st.floats(0, 5), st.floats(0, 5)), min_size=1, max_size=6))
def test_a_chain_on_one_file_gains_nothing(times: list[tuple[float, float]]) -> None:
    steps = [Step(m, (Action("edit", a, Effects({"x.py"}, {"x.py"})),)) for m, a in times]
    wall = replay(steps).wall
    assert all(v == pytest.approx(wall["sequential"]) for v in wall.values())


def test_replay_command_prints_json_and_rejects_other_files(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "orchestra", "bench", "swe", "replay"]
    done = subprocess.run([*cmd, str(SYNTHETIC), "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)
    assert row["wall"]["async"] == 28.8 and row["saving"]["compiler"] == pytest.approx(0.0329, abs=1e-4)
    bad = tmp_path / "x.json"
    bad.write_text('{"messages": []}')
    with pytest.raises(UsageError, match="mini-swe-agent"):
        read_run(bad)
    other = subprocess.run([*cmd, str(tmp_path / "none.jsonl")], capture_output=True, text=True, timeout=60)
    assert other.returncode == 2 and "no such file" in other.stderr
