"""The Ray engine: sharding, the shared limiter, and a real local Ray instance (``ray.init(num_cpus=2)``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from orchestra.batch.formats import JsonlSource, dumps_row
from orchestra.batch.journal import iter_journal
from orchestra.batch.ray_engine import (
    LimiterActor,
    ShardSource,
    SharedLimitedEndpoint,
    prepare_shards,
    shard_of,
    shard_paths,
)
from orchestra.chat import ChatRequest
from orchestra.cli.batch import app
from orchestra.errors import RateLimitError
from orchestra.sim import SimConfig, SimProcess
from orchestra.testing import FunctionModel


def _ok(cid: str) -> dict[str, object]:
    return {"id": f"x-{cid}", "custom_id": cid, "response": {"status_code": 200, "body": {}}, "error": None}


def _input(path: Path, n: int) -> None:
    rows = [json.dumps({"id": f"r{i}", "prompt": f"q{i}", "params": {"max_tokens": 8}}) for i in range(n)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_shards_partition_the_input_by_id(tmp_path: Path) -> None:
    _input(tmp_path / "in.jsonl", 50)
    seen: list[str] = []
    for k in range(3):
        source = ShardSource(JsonlSource(tmp_path / "in.jsonl"), k, 3)
        ids = [item.custom_id for _, item in source.scan()]
        assert all(shard_of(cid, 3) == k for cid in ids)
        seen += ids
        source.close()
    assert sorted(seen) == sorted(f"r{i}" for i in range(50))


def test_prepare_shards_splits_a_previous_output_and_reuses_live_shards(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"".join(dumps_row(_ok(f"r{i}")) for i in range(20)))
    paths = prepare_shards(out, 3)
    assert paths == shard_paths(out, 3) and all(p.exists() for p in paths)
    split = {row["custom_id"]: k for k, p in enumerate(paths) for _, _, row in iter_journal(p)}
    assert sorted(split) == sorted(f"r{i}" for i in range(20))
    assert all(shard_of(cid, 3) == k for cid, k in split.items())
    with open(paths[0], "ab") as handle:  # an interrupted run's progress, newer than out.jsonl
        handle.write(dumps_row(_ok("new")))
    assert prepare_shards(out, 3) == paths
    assert "new" in [row["custom_id"] for _, _, row in iter_journal(paths[0])]
    resharded = prepare_shards(out, 2)  # another shard count: everything is split again
    ids = sorted(row["custom_id"] for p in resharded for _, _, row in iter_journal(p))
    assert ids == sorted([f"r{i}" for i in range(20)] + ["new"])
    assert not paths[0].parent.joinpath(paths[0].name).exists()


async def test_one_shared_limiter_caps_every_endpoint_that_uses_it() -> None:
    limiter = LimiterActor(max_concurrency=3)
    in_flight = peak = 0

    async def answer(request: ChatRequest) -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await anyio.sleep(0.01)
        in_flight -= 1
        return "ok"

    workers = [SharedLimitedEndpoint(FunctionModel(answer, name=f"w{i}"), limiter) for i in range(2)]
    async with anyio.create_task_group() as group:
        for i in range(30):
            group.start_soon(workers[i % 2].complete, ChatRequest.of("x", max_tokens=4))
    assert peak == 3
    stats = limiter.stats()
    assert stats["granted"] == 30 and stats["released"] == 30 and stats["in_flight"] == 0


async def test_a_429_pauses_every_worker_of_the_shared_limiter() -> None:
    limiter = LimiterActor()
    calls = 0

    def answer(request: ChatRequest) -> object:
        nonlocal calls
        calls += 1
        exhausted = {"x-ratelimit-remaining-requests": "0"}  # a shared limit: it concerns every worker
        return (
            RateLimitError("slow down", status=429, retry_after=0.2, headers=exhausted)
            if calls == 1
            else "ok"
        )

    endpoint = SharedLimitedEndpoint(FunctionModel(answer, name="w"), limiter)
    with pytest.raises(RateLimitError):
        await endpoint.complete(ChatRequest.of("x"))
    assert limiter.stats()["paused_for"] > 0.1 and limiter.stats()["rate_limited"] == 1
    start = anyio.current_time()
    await SharedLimitedEndpoint(FunctionModel(answer, name="other"), limiter).complete(ChatRequest.of("y"))
    assert anyio.current_time() - start >= 0.15


@pytest.fixture
def ray_sim() -> Iterator[SimProcess]:
    with SimProcess(SimConfig(rpm=50, window_seconds=1.0, completion_tokens=4)) as sim:
        yield sim


@pytest.mark.slow
def test_ray_engine_shards_share_the_limit_and_merge_exactly_once(
    ray_sim: SimProcess, tmp_path: Path
) -> None:
    pytest.importorskip("ray")
    _input(tmp_path / "in.jsonl", 150)
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"".join(dumps_row(_ok(f"r{i}")) for i in range(30)))  # a previous run did these
    (tmp_path / "endpoints.toml").write_text(
        f'[[endpoints]]\nname = "sim"\nbase_url = "{ray_sim.url}"\nmodel = "sim-model"\nrpm = 50\nwindow = 1.0\n',
        encoding="utf-8",
    )
    args = [
        "run",
        str(tmp_path / "in.jsonl"),
        "-o",
        str(out),
        "--endpoints",
        str(tmp_path / "endpoints.toml"),
    ]
    trace = tmp_path / "trace.jsonl"
    result = CliRunner().invoke(
        app, [*args, "--engine", "ray", "--shards", "2", "--quiet", "--trace", str(trace)]
    )
    assert result.exit_code == 0, result.output
    ids = [row["custom_id"] for _, _, row in iter_journal(out)]
    assert sorted(ids) == sorted(f"r{i}" for i in range(150))
    assert not (tmp_path / "out.jsonl.shards").exists()
    served = ray_sim.stats()
    assert served.ok == 120  # the 30 rows already in the output were not sent again
    # Two workers, one limiter: the server never saw more than its limit in a window, and no 429.
    assert served.max_in_window(1.0) <= 50 and served.rate_limited == 0
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["shards"] == 2 and summary["rows"]["ok"] == 150
    assert summary["this_run"]["ok"] == 120 and summary["this_run"]["skipped_already_done"] == 30
    assert "_row_spans" not in summary
    # One row span per request the shards sent, under the command's span and inside its time.
    header, *spans = (json.loads(line) for line in trace.read_text().splitlines())
    (command,) = [s for s in spans if s["kind"] == "command"]
    assert header["command"] == "orchestra batch run"
    rows = [s for s in spans if s["kind"] == "row"]
    assert sorted(s["attrs"]["custom_id"] for s in rows) == sorted(f"r{i}" for i in range(30, 150))
    assert {s["attrs"]["shard"] for s in rows} == {0, 1} and len({s["id"] for s in spans}) == len(spans)
    assert all(s["parent"] == command["id"] and s["attrs"]["completion_tokens"] == 4 for s in rows)
    slack = 1.0  # the shards' wall clocks place their rows; the same machine's agree closely
    assert all(command["start"] - slack <= s["start"] <= s["end"] <= command["end"] + slack for s in rows)


# -- final errors and the model check (as a local run does them) --------------------------------


async def test_an_endpoint_one_shard_finds_unusable_fails_at_once_in_every_other_shard() -> None:
    from orchestra.batch.ray_engine import SharedRoutingPolicy
    from orchestra.endpoints.pool import EndpointPool
    from orchestra.errors import EndpointError, EndpointUnavailable

    limiter = LimiterActor()
    quota = EndpointError("wire: HTTP 429 insufficient_quota", status=429, code="insufficient_quota")
    shards = [FunctionModel(lambda request: quota, name="wire") for _ in range(2)]
    pools = [
        EndpointPool(
            [SharedLimitedEndpoint(e, limiter)],
            name="m",
            policy=SharedRoutingPolicy(["wire"], {"wire": limiter}),
        )
        for e in shards
    ]
    with pytest.raises(EndpointUnavailable, match="insufficient_quota"):
        await pools[0].complete(ChatRequest.of("x"))
    with pytest.raises(EndpointUnavailable, match="insufficient_quota") as caught:
        await pools[1].complete(ChatRequest.of("y"))  # the other shard: no request is sent
    assert len(shards[0].requests) == 1 and shards[1].requests == []
    assert not caught.value.retryable
    assert limiter.stats()["in_flight"] == 0  # every permit came back


@pytest.mark.slow
def test_ray_engine_stops_early_on_a_final_error_and_leaves_every_row_for_a_resume(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    from test_final_errors import OK, QUOTA
    from wire_server import WireServer, http

    models = http(200, {"object": "list", "data": [{"id": "m", "object": "model"}]})  # GET /models first

    from orchestra.batch.ray_engine import run_ray
    from orchestra.endpoints import EndpointSpec

    _input(tmp_path / "in.jsonl", 200)
    out = tmp_path / "out.jsonl"
    with WireServer([models, QUOTA]) as server:
        spec = EndpointSpec(name="wire", base_url=server.url, model="m")
        summary = run_ray(tmp_path / "in.jsonl", out, [spec], shards=2, num_cpus=2, concurrency=10)
        sent = len(server.requests)
    # The model list, then about one wave of the shared limit of 10 (a permit taken before the
    # actor heard of the error still goes): no shard burnt through its 100 rows.
    assert sent <= 21, sent
    assert (
        summary["rows"]["left_for_resume"] == 200 and summary["rows"]["ok"] == summary["rows"]["failed"] == 0
    )
    assert "insufficient_quota" in summary["stopped"]["m"]
    assert not out.exists() or out.read_text() == ""
    with WireServer([models, OK]) as server:  # the quota topped up: the resume sends every row once
        spec = EndpointSpec(name="wire", base_url=server.url, model="m")
        summary = run_ray(tmp_path / "in.jsonl", out, [spec], shards=2, num_cpus=2)
    ids = [row["custom_id"] for _, _, row in iter_journal(out)]
    assert sorted(ids) == sorted(f"r{i}" for i in range(200)) and summary["rows"]["ok"] == 200


def test_ray_engine_checks_the_model_before_starting_ray(ray_sim: SimProcess, tmp_path: Path) -> None:
    _input(tmp_path / "in.jsonl", 3)
    args = ["run", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), "-e", ray_sim.url]
    result = CliRunner().invoke(app, [*args, "--model", "gpt-4o", "--engine", "ray", "-q"])
    assert result.exit_code == 2, result.output
    assert "does not serve model 'gpt-4o'" in result.output
    assert ray_sim.stats().requests == 0  # the model list is not a completion; no row was sent


@pytest.mark.slow
def test_sigterm_stops_a_ray_run_keeping_the_shards_and_a_rerun_resumes(tmp_path: Path) -> None:
    # ray.init installs its own SIGTERM handler (sys.exit(15)); the engine keeps the CLI's, so a
    # SIGTERM cancels the shards, keeps their journals, and exits 143 with one line.
    pytest.importorskip("ray")
    import signal
    import subprocess
    import sys
    import time

    _input(tmp_path / "in.jsonl", 300)
    out = tmp_path / "out.jsonl"
    with SimProcess(SimConfig(ttft=0.5)) as sim:
        args = [sys.executable, "-m", "orchestra", "batch", "run", str(tmp_path / "in.jsonl"), "-o", str(out)]
        args += ["-e", sim.url, "--model", "sim-model", "--engine", "ray", "--shards", "2", "-c", "8", "-q"]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while sim.stats().ok < 20 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 143, err
        assert [line for line in err.splitlines() if line.strip() and "Token auth" not in line] == [
            "interrupted by SIGTERM"
        ]
        kept = sum(1 for p in shard_paths(out, 2) if p.exists() for _ in iter_journal(p))
        assert kept >= 20
        before = sim.stats().ok
        again = subprocess.run(args, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr
        assert sim.stats().ok - before == 300 - kept  # the kept rows were not sent again
    ids = [row["custom_id"] for _, _, row in iter_journal(out)]
    assert sorted(ids) == sorted(f"r{i}" for i in range(300))


def test_a_shards_endpoint_stack_is_the_local_one_with_the_limiter_shared() -> None:
    # The Ray twin once lacked the first-byte timeout (a hung request held its slot for the whole
    # timeout) and the spec's bound on a server's Retry-After.
    from orchestra.batch.ray_engine import _shard_lanes
    from orchestra.batch.stats import iter_stack
    from orchestra.endpoints import EndpointSpec
    from orchestra.endpoints.timeouts import FirstByteTimeout

    spec = EndpointSpec(name="a", base_url="http://127.0.0.1:9/v1", model="m", max_retry_after=5.0)
    lanes, _ = _shard_lanes([spec], {"a": LimiterActor()})
    kinds = [type(node).__name__ for node in iter_stack(lanes["m"])]
    assert kinds == [
        "RetryingEndpoint", "EndpointPool", "MeteredEndpoint", "SharedLimitedEndpoint",
        "FirstByteTimeout", "OpenAIEndpoint",
    ]  # fmt: skip
    shared = next(n for n in iter_stack(lanes["m"]) if isinstance(n, SharedLimitedEndpoint))
    assert shared.max_retry_after == 5.0 and isinstance(shared.inner, FirstByteTimeout)
