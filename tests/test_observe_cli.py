"""Observing commands as a user runs them (real subprocesses, the simulator on loopback):
``--trace`` files and ``orchestra trace show``, ``--verbose`` logs, ``--json`` errors, and secrets
that never appear in any output."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from orchestra.sim import SimConfig, SimProcess

QUESTION = "What is 17 times 23?"
SECRET = "sk-obs-" + "".join(random.Random(7).choices("abcdefghijklmnopqrstuvwxyz0123456789", k=32))


def orchestra(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "orchestra", *args], capture_output=True, text=True, timeout=timeout, env=full
    )


def plan_script(path: Path) -> Path:
    """The simulator's answers for QUESTION: a streamed plan, then the joiner's decision."""
    lines = [
        {"match": "17 times 23", "once": True, "content": '1. calculator(expression="17*23")\n2. join()'},
        {
            "match": "17 times 23",
            "once": True,
            "content": '{"action": "finish", "answer": "17 times 23 is 391."}',
        },
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_run_writes_a_trace_file_that_trace_show_reads(tmp_path: Path) -> None:
    config = SimConfig(
        content="script", script=plan_script(tmp_path / "script.jsonl"), ttft=0.01, tokens_per_second=500
    )
    trace = tmp_path / "run.jsonl"
    with SimProcess(config) as sim:
        proc = orchestra(
            "run", QUESTION, "--tools", "calculator", "--planner", "text",
            "-e", sim.url, "-m", "sim-model", "--trace", str(trace),
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    header, *spans = (json.loads(line) for line in trace.read_text().splitlines())
    assert header["orchestra_trace"] == 1 and header["command"] == "orchestra run"
    by_kind: dict[str, list[dict]] = {}
    for span in spans:
        by_kind.setdefault(span["kind"], []).append(span)
    assert set(by_kind) == {"command", "run", "plan", "task", "join"}
    (task,) = by_kind["task"]
    assert task["attrs"]["result"] == 391  # the tool's value, as JSON (not a Python repr string)
    (plan,) = by_kind["plan"]
    assert plan["attrs"]["response"].startswith('1. calculator(expression="17*23")')
    assert QUESTION in plan["attrs"]["request"]["messages"][-1]["content"]
    assert all(0 <= s["start"] <= s["end"] < 30 for s in spans)  # seconds since the start
    shown = orchestra("trace", "show", str(trace))
    assert shown.returncode == 0, shown.stderr
    assert "orchestra run" in shown.stdout and "1. calculator" in shown.stdout and "ok: 391" in shown.stdout
    # The live view printed plain lines (stdout is not a TTY): the plan line, the task, the calls.
    assert "plan      1. calculator(expression='17*23')" in proc.stdout
    assert "done      1. calculator ok" in proc.stdout and "joiner:" in proc.stdout
    quiet = orchestra("trace", "show", str(tmp_path / "missing.jsonl"), "--json")
    assert quiet.returncode == 2
    assert json.loads(quiet.stdout)["error"]["type"] == "UsageError"


def test_run_json_times_are_seconds_since_the_start_as_in_the_trace_file(tmp_path: Path) -> None:
    config = SimConfig(
        content="script", script=plan_script(tmp_path / "script.jsonl"), ttft=0.01, tokens_per_second=500
    )
    trace = tmp_path / "run.jsonl"
    with SimProcess(config) as sim:
        proc = orchestra(
            "run", QUESTION, "--tools", "calculator", "--planner", "text",
            "-e", sim.url, "-m", "sim-model", "--json", "--trace", str(trace),
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    timed = [*out["tasks"], *out["model_calls"]]
    assert {s["kind"] for s in timed} == {"task", "plan", "join"}
    # Seconds since the command started (a raw monotonic value is the machine's uptime).
    assert all(0 <= s["start"] <= s["end"] < 30 for s in timed)
    assert all(0 <= e["time"] < 30 for s in timed for e in s.get("events", []))
    # The same zero as the trace file: the task has the same times in both.
    (task,) = out["tasks"]
    (in_file,) = [s for s in map(json.loads, trace.read_text().splitlines()[1:]) if s["kind"] == "task"]
    assert (task["start"], task["end"]) == (in_file["start"], in_file["end"])


def _first_request_fails_seed() -> int:
    """A fault seed under which the simulator fails the first request (5xx) and serves the second."""
    for seed in range(100):
        rng = random.Random(seed)
        if rng.random() < 0.5:
            rng.choice((500, 502, 503))
            if rng.random() >= 0.5:
                return seed
    raise AssertionError("no seed")


def test_verbose_shows_a_retry_with_its_reason_and_wait() -> None:
    config = SimConfig(error_rate=0.5, seed=_first_request_fails_seed(), completion_tokens=3)
    with SimProcess(config) as sim:
        proc = orchestra("chat", "hello", "-e", sim.url, "-m", "sim-model", "--verbose")
        plain = orchestra("chat", "hello", "-e", sim.url, "-m", "sim-model")
    assert proc.returncode == 0, proc.stderr
    log = " ".join(proc.stderr.split())
    assert "sim-model: retry 1 of 2 in" in log and "HTTP 50" in log
    assert "retry" not in plain.stderr  # without --verbose the user sees no log lines


def test_json_failure_is_one_error_object_and_a_nonzero_exit() -> None:
    with socket.socket() as s:  # a closed port on loopback: the endpoint is unreachable
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = orchestra("chat", "hello", "-e", f"http://127.0.0.1:{port}/v1", "-m", "m", "--json")
    assert proc.returncode == 1
    error = json.loads(proc.stdout)  # exactly one JSON object on stdout
    assert set(error) == {"error"}
    assert (
        error["error"]["type"] == "EndpointConnectionError"
        and "connection" in error["error"]["message"].lower()
    )
    usage = orchestra("run", QUESTION, "--tools", "teleport", "--json")
    assert usage.returncode == 2
    error = json.loads(usage.stdout)["error"]
    assert error["type"] == "UsageError" and "unknown tool(s): teleport" in error["message"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # click refuses it before the command runs
        (["run", "   "], "Invalid value for 'QUESTION': must not be empty or blank"),
        (["chat", "hi", "--no-such-flag"], "No such option: --no-such-flag"),
        (["bench", "swe", "replay", "missing.traj.json"], "missing.traj.json: no such file"),
    ],
)
def test_json_usage_errors_before_or_outside_the_command_body_are_one_object(
    args: list[str], message: str
) -> None:
    proc = orchestra(*args, "--json")
    assert proc.returncode == 2, proc.stderr
    assert json.loads(proc.stdout) == {"error": {"type": "UsageError", "message": message}}
    plain = orchestra(*args)  # without --json: click's usage text or our one line, on stderr
    assert plain.returncode == 2 and plain.stdout == "" and message[-20:] in plain.stderr


class _EchoKey(BaseHTTPRequestHandler):
    """Answers 401 quoting the key it was sent, as OpenAI's API does ("Incorrect API key provided")."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        key = self.headers.get("authorization", "").removeprefix("Bearer ")
        body = json.dumps(
            {"error": {"message": f"Incorrect API key provided: {key}. Authorization: Bearer {key}"}}
        )
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def echo_key_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoKey)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_an_api_key_never_appears_in_any_output(tmp_path: Path, echo_key_server: str) -> None:
    env = {"OPENAI_API_KEY": SECRET, "ORCHESTRA_LOG": "debug"}
    outputs: list[str] = []
    # A server that quotes the key back in its error: chat, run (plain and --json), batch run.
    for args in (
        ["chat", "hi", "-e", echo_key_server, "-m", "m", "-vv", "--trace", str(tmp_path / "chat.jsonl")],
        ["chat", "hi", "-e", echo_key_server, "-m", "m", "--json"],
        ["run", QUESTION, "--tools", "calculator", "--planner", "text", "-e", echo_key_server, "-m", "m",
         "--trace", str(tmp_path / "run.jsonl")],
        ["run", QUESTION, "--tools", "calculator", "--planner", "text", "-e", echo_key_server, "-m", "m", "--json"],
    ):  # fmt: skip
        proc = orchestra(*args, env=env)
        assert proc.returncode != 0
        outputs += [proc.stdout, proc.stderr]
    assert "Incorrect API key provided: [REDACTED]" in outputs[1]  # the error is shown, the key is not
    rows = tmp_path / "in.jsonl"
    rows.write_text(json.dumps({"custom_id": "a", "prompt": f"my key is {SECRET}"}) + "\n")
    proc = orchestra(
        "batch", "run", str(rows), "-o", str(tmp_path / "out.jsonl"), "-e", echo_key_server, "-m", "m",
        "--max-row-attempts", "1", "--trace", str(tmp_path / "batch.jsonl"), "-v",
    )  # fmt: skip
    outputs += [proc.stdout, proc.stderr]
    # A successful run whose prompt contains the key: the trace keeps the request, redacted.
    config = SimConfig(content="script", script=plan_script(tmp_path / "script.jsonl"))
    with SimProcess(config) as sim:
        proc = orchestra(
            "run", f"{QUESTION} (my key is {SECRET})", "--tools", "calculator", "--planner", "text",
            "-e", sim.url, "-m", "sim-model", "--trace", str(tmp_path / "ok.jsonl"), "--json", "-v",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        outputs += [proc.stdout, proc.stderr]
    files = [p for p in tmp_path.iterdir() if p.suffix == ".json" or p.name.endswith(".jsonl")]
    assert {"chat.jsonl", "run.jsonl", "batch.jsonl", "ok.jsonl", "out.summary.json"} <= {
        p.name for p in files
    }
    outputs += [p.read_text() for p in files if p.name not in ("in.jsonl", "script.jsonl")]
    leaks = [text for text in outputs if SECRET in text or SECRET[3:] in text]
    assert not leaks, leaks[0][:2000]
    assert "[REDACTED]" in (tmp_path / "ok.jsonl").read_text()
