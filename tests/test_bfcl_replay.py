"""The latency replay: every strategy makes the ground-truth calls through the simulator over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestra.benchmarks.bfcl import load_category
from orchestra.benchmarks.bfcl.oracle import ORACLES, escape_refs, get_oracle, register_oracle
from orchestra.benchmarks.bfcl.replay import ReplayConfig, item_bound, run_replay, summarize
from orchestra.benchmarks.bfcl.tools import CallLog, FunctionLatency, make_tools, parameters_schema
from orchestra.benchmarks.compiler.bound import LatencyParams
from orchestra.cli.main import app
from orchestra.errors import UsageError
from orchestra.planning import StepPlanner
from orchestra.strategies import STRATEGIES, register_strategy, run_sequential

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "bfcl"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="the shared BFCL copy is not present")


def _items() -> list:  # type: ignore[type-arg]
    picked = load_category("parallel", SHARED, limit=2) + load_category("simple_python", SHARED, limit=1)
    # parallel_multiple_121 holds a "$" in a string: it must reach the tool as text, not a reference.
    return picked + load_category(
        "parallel_multiple", SHARED, ids=["parallel_multiple_121", "parallel_multiple_0"]
    )


@needs_shared
async def test_every_strategy_makes_exactly_the_ground_truth_calls() -> None:
    register_strategy("sequential_again", run_sequential, planner=StepPlanner,
                      description="a strategy registered later")  # fmt: skip
    register_oracle("sequential_again", get_oracle("sequential"))
    try:
        config = ReplayConfig(
            strategies=("sequential", "parallel", "compiler", "sequential_again"),
            ttft=0.0, tokens_per_second=0.0, latency_low=0.005, latency_high=0.01, item_timeout=30,
        )  # fmt: skip
        items = _items()
        result = await run_replay(items, config)
    finally:
        STRATEGIES.pop("sequential_again", None)
        ORACLES.pop("sequential_again", None)
    assert len(result.rows) == 4 * len(items)
    assert [(r.error, r.valid) for r in result.rows] == [(None, True)] * len(result.rows)
    by = {(r.strategy, r.item_id): r for r in result.rows}
    assert by[("parallel", "parallel_0")].llm_calls == 2  # one batch of native calls, then the answer
    assert by[("sequential", "parallel_0")].llm_calls == 3  # one call per turn, then finish
    assert by[("compiler", "parallel_0")].llm_calls == 2  # the plan, then the joiner
    assert all(r.tool_calls == len(i.ground_truth) for r in result.rows for i in items if i.id == r.item_id)
    summary = {(s.category, s.strategy): s for s in result.summary}
    assert summary[("parallel", "sequential")].speedup == 1.0
    assert summary[("parallel_multiple", "compiler")].valid == 2


@needs_shared
def test_function_latency_is_fixed_per_name_and_seeded() -> None:
    latency = FunctionLatency(seed=3)
    assert latency("spotify.play") == latency("spotify.play") == FunctionLatency(seed=3)("spotify.play")
    values = [latency(f"f{k}") for k in range(200)]
    assert 0.03 <= min(values) and max(values) <= 0.5 and len(set(values)) == 200
    assert FunctionLatency(seed=4)("spotify.play") != latency("spotify.play")


def test_the_bound_is_first_call_written_plus_slowest_call_plus_one_answer() -> None:
    params = LatencyParams(ttft=0.5, tokens_per_second=10.0)
    calls = [("f", {"x": 1}), ("g", {"y": "two words"})]
    # plan line "1. f(x=1)" is 2 tokens (0.5 + 0.1); the answer is 9 tokens (0.5 + 0.8)
    assert item_bound(calls, [0.2, 0.4], params) == pytest.approx(0.6 + 0.4 + 1.3)


@needs_shared
def test_bfcl_types_become_json_schema_and_dotted_names_become_tool_names() -> None:
    item = load_category("parallel", SHARED, limit=1)[0]
    log = CallLog()
    tools, names = make_tools(item, log)
    assert names == {"spotify_play": "spotify.play"}
    assert tools[0].parameters["properties"]["duration"]["type"] == "integer"
    schema = parameters_schema(
        {"name": "f", "parameters": {"type": "dict", "properties": {
            "a": {"type": "dict", "properties": {"b": {"type": "float"}}},
            "t": {"type": "tuple", "items": {"type": "string"}},
            "any": {"type": "any"}}, "required": ["a", "zz"]}}
    )  # fmt: skip
    assert schema["properties"]["a"]["type"] == "object"
    assert schema["properties"]["a"]["properties"]["b"]["type"] == "number"
    assert schema["properties"]["t"] == {"type": "array", "items": {"type": "string"}}
    assert "type" not in schema["properties"]["any"] and schema["required"] == ["a"]
    java = parameters_schema({"name": "f", "parameters": {"properties": {"n": {"type": "long"}}}}, "java")
    assert (
        java["properties"]["n"]["type"] == "string" and "Java long" in java["properties"]["n"]["description"]
    )
    assert escape_refs({"a": ["$5", 1]}) == {"a": ["$$5", 1]}


def test_a_strategy_without_an_oracle_or_categories_without_answers_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="no oracle"):
        get_oracle("interrupts")
    with pytest.raises(UsageError, match="unknown strategy"):
        ReplayConfig(strategies=("nope",))
    assert summarize([]) == []


@needs_shared
def test_the_cli_prints_one_table_per_category_within_80_columns(tmp_path: Path) -> None:
    args = ["bench", "bfcl", "run", "--mode", "latency", "-c", "parallel,parallel_multiple", "-n", "2",
            "--ttft", "0", "--tps", "0", "--data", str(SHARED), "-o", str(tmp_path)]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "BFCL parallel: 2 items" in result.output and "BFCL parallel_multiple: 2 items" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert len(rows) == 16 and all(r["valid"] for r in rows)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {s["strategy"] for s in summary["summary"]} == {"sequential", "parallel", "compiler", "async"}
    bad = CliRunner().invoke(app, [*args[:6], "irrelevance", "-n", "1", "--data", str(SHARED)])
    assert bad.exit_code != 0 and "needs possible answers" in str(bad.exception)
