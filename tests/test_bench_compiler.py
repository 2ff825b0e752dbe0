"""``benchmarks/compiler`` and ``orchestra bench compiler``: datasets, workloads, bounds, runs.

Datasets are read from the shared copy, from files, and from a URL served by a starlette app on
127.0.0.1; runs go through the simulator over loopback with 20-50 ms latencies.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx2
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orchestra.benchmarks.compiler import datasets
from orchestra.benchmarks.compiler.bound import (
    LatencyParams,
    critical_path_bound,
    line_ready_times,
    stream_bound,
    token_count,
)
from orchestra.benchmarks.compiler.datasets import DEFAULT_BASE_URL, Question, load_questions
from orchestra.benchmarks.compiler.results import QuestionRow, answers_match, summarize
from orchestra.benchmarks.compiler.runner import BenchConfig, parse_strategies, run_benchmark, run_workloads
from orchestra.benchmarks.compiler.script import outputs, plan_text, write_script
from orchestra.benchmarks.compiler.workload import Step, build_workload, make_tools
from orchestra.chat import ChatRequest, Message
from orchestra.endpoints.openai import OpenAIEndpoint
from orchestra.errors import UsageError
from orchestra.planners.llmcompiler import parse_plan
from orchestra.sim import SimConfig, serve_sim

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "llmcompiler"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="the shared data copy is not present")


# -- a static file server on loopback -------------------------------------------------------------


class _Quiet(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


@contextlib.asynccontextmanager
async def serve_files(files: dict[str, bytes]) -> AsyncIterator[str]:
    """Serve ``files`` (name -> body) at ``http://127.0.0.1:PORT/data/<name>``; 404 otherwise."""

    async def get(request: Request) -> Response:
        body = files.get(request.path_params["name"])
        return (
            Response(body, media_type="application/json")
            if body is not None
            else Response("no", status_code=404)
        )

    app = Starlette(routes=[Route("/data/{name}", get)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    server = _Quiet(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        with anyio.fail_after(5):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
                await anyio.sleep(0.002)
        try:
            yield f"http://127.0.0.1:{port}/data/"
        finally:
            server.should_exit = True


# -- datasets -----------------------------------------------------------------------------------


@needs_shared
async def test_shared_copy_is_the_default_and_has_every_dataset() -> None:
    movie = await load_questions("movie")
    hotpot = await load_questions("hotpotqa", limit=5)
    parallel = await load_questions("parallelqa")
    assert (len(movie), len(hotpot), len(parallel)) == (500, 5, 113)
    assert movie[0].answer == "Austin Powers International Man of Mystery"
    assert hotpot[0].question == "Were Scott Derrickson and Ed Wood of the same nationality?"
    assert {q.branch for q in parallel} == {2, 3, 4, 5}
    assert movie[0].branch is None


@needs_shared
async def test_a_directory_or_a_file_path(tmp_path: Path) -> None:
    by_dir = await load_questions("parallelqa", SHARED, limit=3)
    by_file = await load_questions("parallelqa", SHARED / "parallelqa_dataset.json", limit=3)
    assert by_dir == by_file and [q.id for q in by_dir] == ["1", "2", "3"]
    own = tmp_path / "mine.json"
    own.write_text(json.dumps([{"id": 7, "question": "Q?", "answer": 42}]))
    assert await load_questions("hotpotqa", own) == [Question("7", "Q?", "42")]


async def test_a_url_served_on_loopback() -> None:
    rows = [
        {"id": "a", "question": "Is it?", "answer": "yes"},
        {"id": "b", "question": "Or?", "answer": "no"},
    ]
    files = {
        "hotpotqa_comparison.json": json.dumps(rows).encode(),
        "other.json": json.dumps(rows[:1]).encode(),
    }
    async with serve_files(files) as base:
        from_folder = await load_questions("hotpotqa", base)
        from_file = await load_questions("hotpotqa", base + "other.json")
        with pytest.raises(UsageError, match="HTTP 404"):
            await load_questions("movie", base)
    assert [q.id for q in from_folder] == ["a", "b"] and [q.id for q in from_file] == ["a"]


async def test_bad_sources_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"nope\.json"):
        await load_questions("movie", tmp_path / "nope.json")
    with pytest.raises(UsageError, match=r"must hold parallelqa_dataset\.json"):
        await load_questions("parallelqa", tmp_path)
    with pytest.raises(UsageError, match="unknown dataset 'imdb'"):
        await load_questions("imdb", tmp_path)
    broken = tmp_path / "broken.json"
    broken.write_text('{"question": 1}')
    with pytest.raises(UsageError, match="JSON list"):
        await load_questions("movie", broken)
    with pytest.raises(UsageError, match="--limit"):
        await load_questions("movie", broken, limit=0)
    with pytest.raises(UsageError, match="ConnectError"):
        await load_questions("movie", "http://127.0.0.1:9/data/")


async def test_without_a_local_copy_the_pinned_download_is_cached(tmp_path: Path, monkeypatch) -> None:
    requested: list[str] = []
    body = json.dumps([{"id": "1", "question": "Q", "answer": "A", "branch": 3}]).encode()

    def handler(request: httpx2.Request) -> httpx2.Response:
        requested.append(str(request.url))
        return httpx2.Response(200, content=body)

    monkeypatch.setattr(datasets, "default_source", lambda: None)
    monkeypatch.setenv("ORCHESTRA_CACHE", str(tmp_path))
    transport = httpx2.MockTransport(handler)
    first = await load_questions("parallelqa", transport=transport)
    second = await load_questions("parallelqa", transport=transport)
    assert first == second == [Question("1", "Q", "A", 3)]
    assert requested == [DEFAULT_BASE_URL + "parallelqa_dataset.json"]  # the second load used the cache
    assert "a00c9d35507507da70e8c637eee64efc8c1857ae" in DEFAULT_BASE_URL
    assert (tmp_path / "llmcompiler" / "parallelqa_dataset.json").read_bytes() == body


# -- workloads ----------------------------------------------------------------------------------

MOVIE = Question(
    "0",
    "Find a movie similar to Mission Impossible, The Silence of the Lambs, American Beauty, Star Wars Episode IV - "
    "A New Hope\nOptions:\nAustin Powers International Man of Mystery\nAlesha Popovich and Tugarin the Dragon\n"
    "In Cold Blood\nRosetta\n",
    "Austin Powers International Man of Mystery",
)
HOTPOT = Question("h", "Were Scott Derrickson and Ed Wood of the same nationality?", "yes")
PARALLEL = Question(
    "p",
    "If the Yangtze River were shortened by 10%, while the Volga River grew by 20% and the Mekong River was "
    "shortened by 15%, which among them would boast the greatest length?",
    "Yangtze River",
    3,
)


def test_movie_is_eight_independent_searches() -> None:
    w = build_workload("movie", MOVIE)
    assert [s.tool for s in w.steps] == ["search"] * 8 and all(not s.deps for s in w.steps)
    assert w.steps[3].args == ("Star Wars Episode IV - A New Hope",) and w.steps[7].args == ("Rosetta",)
    assert len(w.levels()) == 1 and w.longest_chain() == 1


def test_hotpotqa_is_two_independent_searches() -> None:
    w = build_workload("hotpotqa", HOTPOT)
    assert [s.args[0] for s in w.steps] == ["Scott Derrickson", "Ed Wood"]
    assert all(not s.deps for s in w.steps)


def test_parallelqa_is_branches_of_search_then_math_then_a_combining_math() -> None:
    w = build_workload("parallelqa", PARALLEL)
    assert [s.tool for s in w.steps] == ["search", "math"] * 3 + ["math"]
    assert [s.args[0] for s in w.searches] == ["Yangtze River", "Volga River", "Mekong River"]
    assert [s.deps for s in w.steps] == [(), (1,), (), (3,), (), (5,), (2, 4, 6)]
    assert w.steps[1].args == ("{0} * 1.1", ["$1"]) and w.longest_chain() == 3
    assert [len(level) for level in w.levels()] == [3, 3, 1]


async def test_the_plan_runs_on_the_real_tools_and_matches_the_concrete_calls() -> None:
    w = build_workload("parallelqa", PARALLEL)
    tools = {t.name: t for t in make_tools([w, build_workload("movie", MOVIE)])}
    tasks = [t for t in parse_plan(plan_text(w)) if not t.is_join]
    values: dict[int, object] = {}
    for task in tasks:  # in plan order, resolving references as the executor does
        args, kwargs = task.resolved(values)
        values[task.id] = await tools[task.tool].call(tools[task.tool].bind(args, kwargs))
    hits = values[1]
    assert isinstance(hits, list) and hits[0]["title"] == "Yangtze River"  # BM25 found the entity's document
    for step in w.steps:  # what a turn-by-turn model writes gives the same numbers
        if step.tool == "math":
            assert await tools["math"].call(step.arguments(concrete=True)) == pytest.approx(values[step.id])


# -- scripts, the simulator's `once` lines, and bounds -----------------------------------------


def test_strategy_outputs_have_the_expected_turns() -> None:
    w = build_workload("parallelqa", PARALLEL)
    assert len(outputs("compiler", w)) == 2
    assert len(outputs("sequential", w)) == len(w.steps) + 1
    assert len(outputs("parallel", w)) == 3 + 1
    first_batch = json.loads(outputs("parallel", w)[0]["content"])
    assert [c["args"]["query"] for c in first_batch["calls"]] == [
        "Yangtze River",
        "Volga River",
        "Mekong River",
    ]
    assert json.loads(outputs("compiler", w)[1]["content"]) == {"action": "finish", "answer": "Yangtze River"}
    with pytest.raises(UsageError):
        outputs("warp", w)


async def test_once_lines_script_a_conversation_in_order(tmp_path: Path) -> None:
    script = write_script("compiler", [build_workload("hotpotqa", HOTPOT)], tmp_path / "s.jsonl")
    async with serve_sim(SimConfig(content="script", script=script)) as sim:
        endpoint = OpenAIEndpoint(base_url=sim.url, model="m", api_key="x")
        ask = ChatRequest(messages=[Message(role="user", content=f"Question: {HOTPOT.question}")])
        first = await endpoint.complete(ask)
        second = await endpoint.complete(ask)
        with pytest.raises(Exception, match="no line matches"):
            await endpoint.complete(ask)  # both once-lines are used up
        await endpoint.aclose()
    assert first.text.startswith('1. search("Scott Derrickson")') and first.text.endswith("3. join()")
    assert json.loads(second.text)["answer"] == "yes"


def test_bounds_by_hand() -> None:
    params = LatencyParams(ttft=0.2, tokens_per_second=10, tool_latency=0.5)
    steps = [Step(1, "search", ("a",)), Step(2, "search", ("b",)), Step(3, "math", ("$1",), (1,))]
    plan = '1. search("a")\n2. search("b")\n3. math($1)\n4. join()'
    # tokens: "1." "search(a)" | "\n2." "search(b)" | "\n3." "math($1)" | "\n4." "join()"
    assert token_count(plan) == 8
    assert line_ready_times(plan, params) == pytest.approx([0.3, 0.5, 0.7, 0.9])
    joiner = '{"answer": "x"}'  # 2 tokens: 0.2 + 0.1
    assert critical_path_bound(steps, plan, joiner, params) == pytest.approx(0.3 + 1.0 + 0.3)
    # task 3 is written at 0.7, its dependency is done at 0.8, so it ends at 1.3; the plan ended at 0.9
    assert stream_bound(steps, plan, joiner, params) == pytest.approx(1.3 + 0.3)


def test_summary_speedup_and_accuracy() -> None:
    rows = [
        QuestionRow("sequential", "1", 4.0, llm_calls=9, answer="X", expected="x", correct=True),
        QuestionRow("sequential", "2", 6.0, llm_calls=9, answer="Y", expected="y", correct=True),
        QuestionRow("compiler", "1", 1.0, llm_calls=2, bound=0.8, stream_bound=0.9, correct=True),
        QuestionRow("compiler", "2", 2.0, llm_calls=2, bound=1.0, stream_bound=1.9, correct=False),
        QuestionRow("compiler", "3", 9.0, error="EndpointTimeout: slow"),
    ]
    summary = summarize(rows)
    assert summary["sequential"].speedup == pytest.approx(1.0)
    assert summary["compiler"].speedup == pytest.approx(5.0 / 1.5)
    assert summary["compiler"].errors == 1 and summary["compiler"].accuracy == pytest.approx(1 / 3)
    assert summary["compiler"].bound_ratio == pytest.approx((1.25 + 2.0) / 2)
    assert summary["sequential"].bound_ratio is None
    assert answers_match("The answer: Austin Powers.", "austin powers") and not answers_match("Austin", "")


def test_strategy_names_are_checked() -> None:
    assert parse_strategies("compiler, sequential,compiler") == ("compiler", "sequential")
    with pytest.raises(UsageError, match="warp"):
        parse_strategies("sequential,warp")


# -- end to end ------------------------------------------------------------------------------------

FAST = LatencyParams(ttft=0.03, tokens_per_second=400, tool_latency=0.05)


@needs_shared
async def test_a_small_run_compiler_beats_sequential() -> None:
    config = BenchConfig(dataset="movie", limit=2, latency=FAST)
    seen: list[str] = []
    result = await run_benchmark(config, on_row=lambda row: seen.append(row.strategy))
    assert seen == ["sequential"] * 2 + ["parallel"] * 2 + ["compiler"] * 2
    data = result.to_json()
    assert set(data) == {"config", "note", "summary", "rows"} and len(data["rows"]) == 6
    assert data["config"]["ttft"] == 0.03 and data["config"]["questions"] == 2
    for row in result.rows:
        assert row.error is None, row.error
        assert row.correct, (row.strategy, row.answer)
    calls = {s: result.summary[s].llm_calls_mean for s in result.summary}
    assert calls == {"sequential": 9, "parallel": 2, "compiler": 2}
    assert all(r.tool_calls == 8 for r in result.rows)
    compiler, sequential = result.summary["compiler"], result.summary["sequential"]
    assert compiler.latency_median < sequential.latency_median
    assert compiler.speedup is not None and compiler.speedup > 2.0
    assert compiler.bound_ratio is not None and compiler.bound_ratio >= 1.0


async def test_sequential_gets_every_turn_a_five_branch_question_needs() -> None:
    five = Question("q5", "Compare the Nile River, the Amazon River, the Yangtze River, the Volga River and the "
                    "Mekong River after each grew by 10%: which is longest?", "Nile River", 5)  # fmt: skip
    workload = build_workload("parallelqa", five)
    assert (
        len(workload.steps) == 11
    )  # 5 x (search, math) + the combining math: beyond the agent's default 8 turns
    config = BenchConfig(dataset="parallelqa", strategies=("sequential",), latency=FAST)
    result = await run_workloads([workload], config)
    (row,) = result.rows
    assert (row.error, row.tool_calls, row.llm_calls, row.correct) == (None, 11, 12, True)


@needs_shared
def test_cli_runs_as_a_subprocess(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    command = [
        sys.executable, "-m", "orchestra", "bench", "compiler", "--dataset", "hotpotqa", "--limit", "1",
        "--strategies", "sequential,compiler", "--ttft", "0.02", "--tps", "500", "--tool-latency", "0.02",
        "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={**os.environ, "COLUMNS": "200"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (
        "speedup" in done.stdout
        and "compiler" in done.stdout
        and "not a measure of model quality" in done.stdout
    )
    data = json.loads(out.read_text())
    assert set(data["summary"]) == {"sequential", "compiler"} and len(data["rows"]) == 2
    assert data["summary"]["sequential"]["speedup"] == pytest.approx(1.0)


def test_cli_bad_data_path_is_one_line() -> None:
    command = [
        sys.executable,
        "-m",
        "orchestra",
        "bench",
        "compiler",
        "--data",
        "/nonexistent/x.json",
        "--limit",
        "1",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "/nonexistent/x.json" in done.stderr and "Traceback" not in done.stderr
