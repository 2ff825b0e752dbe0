"""Accuracy mode: an endpoint answers BFCL items with a strategy; calls are scored and journaled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestra.benchmarks.bfcl import load_category
from orchestra.benchmarks.bfcl.accuracy import AccuracyConfig, run_accuracy, summarize_rows
from orchestra.chat import ChatRequest, ToolCall
from orchestra.endpoints.openai import OpenAIEndpoint
from orchestra.errors import EndpointTimeout
from orchestra.planners import JSONPlanner, ParallelPlanner
from orchestra.sim import SimConfig, serve_sim
from orchestra.testing import FunctionModel, ScriptedModel

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "bfcl"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="the shared BFCL copy is not present")


def _script(tmp_path: Path) -> Path:
    """parallel_0 answered right (dotted name written as the tool name), parallel_1 with one call too few."""
    lines = [
        {"match": "Taylor Swift", "once": True, "tool_calls": [
            {"name": "spotify_play", "arguments": {"artist": "Taylor Swift", "duration": 20}},
            {"name": "spotify_play", "arguments": {"artist": "Maroon 5", "duration": 15}}]},
        {"match": "Taylor Swift", "once": True, "content": "Playing."},
        {"match": "electromagnetic", "once": True, "tool_calls": [
            {"name": "calculate_em_force", "arguments": {"b_field": 5, "area": 2, "d_time": 4}}]},
        {"match": "electromagnetic", "once": True, "content": "Done."},
    ]  # fmt: skip
    path = tmp_path / "script.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@needs_shared
async def test_calls_are_scored_in_bfcls_names_and_a_rerun_resumes(tmp_path: Path) -> None:
    items = load_category("parallel", SHARED, limit=2)
    config = AccuracyConfig(strategy="parallel", planner=lambda: ParallelPlanner(native=True))
    out = tmp_path / "run"
    async with serve_sim(SimConfig(content="script", script=_script(tmp_path))) as sim:
        async with OpenAIEndpoint(base_url=sim.url, model="sim-model") as endpoint:
            first = await run_accuracy(items[:1], endpoint, config, out)
            seen = []
            rows = await run_accuracy(items, endpoint, config, out, on_progress=lambda p: seen.append(p.done))
        requests = sim.stats.requests
    assert first["parallel_0"]["valid"] is True
    assert first["parallel_0"]["result"] == [
        {"spotify.play": {"artist": "Taylor Swift", "duration": 20}},
        {"spotify.play": {"artist": "Maroon 5", "duration": 15}},
    ]
    assert rows["parallel_1"]["valid"] is False
    assert rows["parallel_1"]["error_type"] == "parallel_function_checker_no_order:wrong_count"
    # One turn per item: the final turn's words are never scored, so it is not asked; and the
    # resumed run did not redo parallel_0.
    assert requests == 2
    assert seen == [1, 2]
    lines = (out / "rows.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["parallel_0", "parallel_1"]
    (summary,) = summarize_rows(items, rows)
    assert (summary.items, summary.correct, summary.errors, summary.accuracy) == (2, 1, 0, 0.5)


@needs_shared
async def test_an_endpoint_failure_is_recorded_as_an_error_and_run_again(tmp_path: Path) -> None:
    items = load_category("simple_python", SHARED, limit=1)
    config = AccuracyConfig(strategy="parallel", planner=lambda: ParallelPlanner(native=True))
    async with serve_sim(SimConfig(error_rate=1.0)) as sim:
        async with OpenAIEndpoint(base_url=sim.url, model="sim-model") as endpoint:
            rows = await run_accuracy(items, endpoint, config, tmp_path)
    assert rows["simple_python_0"]["error"]["code"] == "server_error"
    assert summarize_rows(items, rows)[0].errors == 1
    async with serve_sim(SimConfig(seed=1)) as sim:  # generated tool calls: a real, wrong answer
        async with OpenAIEndpoint(base_url=sim.url, model="sim-model") as endpoint:
            rows = await run_accuracy(items, endpoint, config, tmp_path)
    assert rows["simple_python_0"]["error"] is None
    assert rows["simple_python_0"]["result"][0].keys() == {"calculate_triangle_area"}
    assert len((tmp_path / "rows.jsonl").read_text().splitlines()) == 1  # compacted: one line per item


@needs_shared
async def test_a_call_that_breaks_the_schema_is_recorded_and_judged_not_refused(tmp_path: Path) -> None:
    lines = [
        {"match": "Taylor Swift", "once": True, "tool_calls": [
            {"name": "spotify_play", "arguments": {"artist": 5}},
            {"name": "spotify_play", "arguments": {"artist": "Maroon 5", "duration": 15, "loud": True}}]},
        {"match": "Taylor Swift", "once": True, "content": "Playing."},
    ]  # fmt: skip
    script = tmp_path / "script.jsonl"
    script.write_text("".join(json.dumps(line) + "\n" for line in lines))
    items = load_category("parallel", SHARED, limit=1)
    config = AccuracyConfig(strategy="parallel", planner=lambda: ParallelPlanner(native=True))
    async with serve_sim(SimConfig(content="script", script=script)) as sim:
        async with OpenAIEndpoint(base_url=sim.url, model="sim-model") as endpoint:
            rows = await run_accuracy(items, endpoint, config, tmp_path / "run")
    row = rows["parallel_0"]
    assert row["result"] == [
        {"spotify.play": {"artist": 5}},
        {"spotify.play": {"artist": "Maroon 5", "duration": 15, "loud": True}},
    ]
    assert row["llm_calls"] == 1  # no repair round: BFCL judges the first answer as written
    assert row["error_type"] == "parallel_function_checker_no_order:cannot_find_match"


@needs_shared
async def test_the_compiler_run_stops_before_its_joiner_and_a_repeat_is_not_a_call(tmp_path: Path) -> None:
    # SmolLM2 writes the one call simple_python_0 needs, then loops on it; the joiner's answer
    # would not be scored, so it is never asked.
    call = {"tool": "calculate_triangle_area", "args": {"base": 10, "height": 5}}
    model = ScriptedModel([json.dumps({"tasks": [call] * 6})])
    items = load_category("simple_python", SHARED, limit=1)
    config = AccuracyConfig(strategy="compiler", planner=JSONPlanner)
    rows = await run_accuracy(items, model, config, tmp_path)
    row = rows["simple_python_0"]
    assert row["result"] == [{"calculate_triangle_area": {"base": 10, "height": 5}}]
    assert (row["valid"], row["error"], row["llm_calls"]) == (True, None, 1)
    model.assert_all_used()  # exactly one request: the plan


@needs_shared
async def test_an_item_that_timed_out_under_load_is_run_again_in_the_same_run(tmp_path: Path) -> None:
    attempts: list[str] = []

    def answer(request: ChatRequest) -> object:
        attempts.append(request.messages[-1].content or "")
        if len(attempts) == 1:  # the machine was busy: the first request timed out
            return EndpointTimeout("local: no answer within 600 s", endpoint="local")
        return [ToolCall(name="calculate_triangle_area", arguments={"base": 10, "height": 5})]

    items = load_category("simple_python", SHARED, limit=1)
    config = AccuracyConfig(strategy="parallel", planner=lambda: ParallelPlanner(native=True))
    seen = []
    rows = await run_accuracy(items, FunctionModel(answer), config, tmp_path, on_progress=seen.append)
    assert len(attempts) == 2
    assert rows["simple_python_0"]["error"] is None and rows["simple_python_0"]["valid"] is True
    assert (seen[-1].done, seen[-1].errors, seen[-1].correct) == (1, 0, 1)
    (summary,) = summarize_rows(items, rows)
    assert (summary.items, summary.correct, summary.errors) == (1, 1, 0)


@needs_shared
async def test_retries_are_bounded_and_an_endpoint_failure_stays_unscored(tmp_path: Path) -> None:
    model = FunctionModel(lambda request: EndpointTimeout("busy", endpoint="f"))
    items = load_category("simple_python", SHARED, limit=1)
    config = AccuracyConfig(strategy="parallel", planner=lambda: ParallelPlanner(native=True), retries=1)
    rows = await run_accuracy(items, model, config, tmp_path)
    assert len(model.requests) == 2  # the first pass and one retry
    assert rows["simple_python_0"]["error"]["code"] == "server_error"
    assert summarize_rows(items, rows)[0].errors == 1


@needs_shared
async def test_a_plan_that_stays_invalid_is_a_wrong_answer_with_its_calls_counted(tmp_path: Path) -> None:
    # A weak model running into max_tokens inside a string: the repair round fails the same way.
    cut = '{"tasks": [{"tool": "calculate_triangle_area", "args": {"base": "1000000000'
    model = ScriptedModel([cut, cut])
    items = load_category("simple_python", SHARED, limit=1)
    rows = await run_accuracy(
        items, model, AccuracyConfig(strategy="compiler", planner=JSONPlanner), tmp_path
    )
    row = rows["simple_python_0"]
    assert (row["error"], row["valid"], row["result"], row["llm_calls"]) == (None, False, [], 2)
    assert "PlanError" in row["answer"]
