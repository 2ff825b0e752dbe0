"""Errors that no wait fixes are final on the first answer; a batch stops early and leaves its
rows for a resume (issue: an ``insufficient_quota`` 429 was retried 18 times per row, and 300
rows against a closed port took 78 s and 5,400 connection attempts). The server is a socket on
127.0.0.1 sending OpenAI's exact error bodies (OpenAI API reference, "Error codes")."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from wire_server import WireServer, completion, http

from orchestra.batch import BatchRunner, Journal, JsonlSource
from orchestra.chat import ChatRequest
from orchestra.endpoints import EndpointSpec, Meter, connect
from orchestra.errors import EndpointUnavailable

QUOTA = http(
    429,
    {
        "error": {
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    },
    {"retry-after": "20", "x-ratelimit-remaining-requests": "0"},
)
BAD_KEY = http(
    401,
    {
        "error": {
            "message": "Incorrect API key provided: sk-***.",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    },
)
NO_MODEL = http(
    404,
    {
        "error": {
            "message": "The model `gpt-9` does not exist",
            "type": "invalid_request_error",
            "code": "model_not_found",
        }
    },
)
OK = http(200, completion({"role": "assistant", "content": "fine"}))


def _rows(path: Path, n: int) -> None:
    path.write_text("".join(json.dumps({"id": f"r{i}", "prompt": f"q{i}"}) + "\n" for i in range(n)))


@pytest.mark.parametrize(
    ("reply", "code"),
    [(QUOTA, "insufficient_quota"), (BAD_KEY, "invalid_api_key"), (NO_MODEL, "model_not_found")],
)
async def test_a_final_error_is_final_on_the_first_answer(reply: bytes, code: str) -> None:
    with WireServer([reply]) as server:
        spec = EndpointSpec(name="wire", base_url=server.url, model="m")
        async with connect([spec]) as conn:
            with pytest.raises(EndpointUnavailable) as caught:
                await conn.default.complete(ChatRequest.of("hello"))
            with pytest.raises(EndpointUnavailable):  # and every later call, without a request
                await conn.default.complete(ChatRequest.of("again"))
        assert len(server.requests) == 1
    assert caught.value.code == code and not caught.value.retryable
    assert "wire" in str(caught.value)


async def test_a_pool_falls_back_from_a_disabled_member() -> None:
    with WireServer([QUOTA]) as broke, WireServer([OK]) as fine:
        specs = [
            EndpointSpec(name="broke", base_url=broke.url, model="m"),
            EndpointSpec(name="fine", base_url=fine.url, model="m"),
        ]
        async with connect(specs) as conn:
            for i in range(6):
                assert (await conn.default.complete(ChatRequest.of(f"q{i}"))).text == "fine"
            pool = conn.default.inner  # type: ignore[attr-defined]
            assert pool.policy.disabled() == {"broke": pytest.approx(pool.policy.disabled()["broke"])}
            assert "insufficient_quota" in pool.policy.disabled()["broke"]
        assert len(broke.requests) == 1


async def test_a_batch_stops_early_and_leaves_its_rows_for_a_resume(tmp_path: Path) -> None:
    _rows(tmp_path / "in.jsonl", 300)
    out = tmp_path / "out.jsonl"
    with WireServer([QUOTA]) as server:
        spec = EndpointSpec(name="wire", base_url=server.url, model="m")
        async with connect([spec], meter=Meter()) as conn:
            runner = BatchRunner(conn.pools, concurrency=20, journal=Journal(out))
            stats = await runner.run(JsonlSource(tmp_path / "in.jsonl"))
        sent = len(server.requests)
    assert sent <= 20  # the first wave only: nothing was retried, the file was not burnt through
    assert stats.left == 300 and stats.failed == 0 and stats.ok == 0
    assert "insufficient_quota" in stats.stopped["m"]
    assert out.read_text() == ""  # every row is left for a resume
    # With the quota topped up, the resume sends every row once.
    with WireServer([OK]) as server:
        spec = EndpointSpec(name="wire", base_url=server.url, model="m")
        async with connect([spec]) as conn:
            stats = await BatchRunner(conn.pools, journal=Journal(out)).run(
                JsonlSource(tmp_path / "in.jsonl")
            )
        assert len(server.requests) == 300
    assert stats.ok == 300
    assert sorted(json.loads(line)["custom_id"] for line in out.read_text().splitlines()) == sorted(
        f"r{i}" for i in range(300)
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed when the socket is: nothing listens there


def test_300_rows_against_a_closed_port_end_fast_with_the_rows_left(tmp_path: Path) -> None:
    _rows(tmp_path / "in.jsonl", 300)
    out = tmp_path / "out.jsonl"
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    start = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestra",
            "batch",
            "run",
            str(tmp_path / "in.jsonl"),
            "-o",
            str(out),
            "--endpoint",
            url,
            "--model",
            "m",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - start
    # The bound is 15 s for the whole command; on a loaded machine importing the openai
    # SDK alone can take seconds, so the bound here leaves room for that.
    assert elapsed < 30, elapsed
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    # The command asks the endpoint which models it serves before it sends a row, so a closed
    # port is one line at that point; the batch engine's own fail-fast is tested below.
    assert len(lines) == 1 and "connection failed" in lines[0] and "Errno 111" in lines[0], done.stderr
    assert not out.exists() or out.read_text() == ""  # every row is left for a resume


async def test_the_batch_engine_gives_up_on_an_endpoint_never_reached(tmp_path: Path) -> None:
    _rows(tmp_path / "in.jsonl", 300)
    out = tmp_path / "out.jsonl"
    spec = EndpointSpec(name="closed", base_url=f"http://127.0.0.1:{_closed_port()}/v1", model="m")
    start = time.monotonic()
    async with connect([spec], meter=Meter()) as conn:
        stats = await BatchRunner(conn.pools, concurrency=20, journal=Journal(out)).run(
            JsonlSource(tmp_path / "in.jsonl")
        )
    assert time.monotonic() - start < 15
    assert stats.left == 300 and stats.failed == 0 and stats.ok == 0
    assert "never reached" in stats.stopped["m"] and "Errno 111" in stats.stopped["m"]
    assert out.read_text() == ""
