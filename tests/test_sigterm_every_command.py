"""SIGTERM (docker, systemd, Kubernetes, ``kill``) stops every long-running command as Ctrl-C
does: what it finished is kept, one line is printed, and the exit code is 143 (130 for Ctrl-C).
Python's default was to die at once with no line (issue: ``orchestra bench ...`` and
``orchestra run`` did not handle SIGTERM). Each command runs as a real subprocess against the
simulator on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestra.sim import SimConfig, SimProcess

ORCHESTRA = [sys.executable, "-m", "orchestra"]


@pytest.fixture(scope="module")
def slow() -> Iterator[SimProcess]:
    """A server whose every answer takes 30 s: a command is surely mid-request when signalled."""
    with SimProcess(SimConfig(ttft=30.0)) as sim:
        yield sim


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "ORCHESTRA_ENDPOINTS")}
    return {**env, "NO_COLOR": "1", "COLUMNS": "100"}


def _signal_when(args: list[str], ready: Callable[[], bool], sig: int) -> tuple[int, str]:
    """Start ``orchestra ARGS``, send ``sig`` once ``ready()``, and return (exit code, stderr)."""
    proc = subprocess.Popen(
        [*ORCHESTRA, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
    )
    deadline = time.monotonic() + 60
    while not ready() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def _one_line(err: str, expected: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [expected], err  # one line: no traceback, no "Aborted!"


@pytest.mark.parametrize(
    "args",
    [
        ["run", "What is 2+3?", "-t", "calculator"],
        ["chat", "hi"],
        ["run", "What is 2+3?", "-t", "calculator", "--strategy", "async"],
    ],
    ids=["run", "chat", "run-async"],
)
def test_sigterm_stops_a_command_mid_request_with_one_line_and_143(slow: SimProcess, args: list[str]) -> None:
    before = slow.stats().requests
    code, err = _signal_when(
        [*args, "-e", slow.url, "--model", "sim-model"],
        lambda: slow.stats().requests > before,
        signal.SIGTERM,
    )
    assert code == 143
    _one_line(err, "interrupted by SIGTERM")


def test_ctrl_c_still_exits_130(slow: SimProcess) -> None:
    before = slow.stats().requests
    code, err = _signal_when(
        ["run", "What is 2+3?", "-t", "calculator", "-e", slow.url, "--model", "sim-model"],
        lambda: slow.stats().requests > before,
        signal.SIGINT,
    )
    assert code == 130
    _one_line(err, "interrupted")


def test_sigterm_during_the_model_check_of_a_batch_keeps_the_input_and_exits_143(tmp_path: Path) -> None:
    # The server takes 30 s to list its models: the batch is stopped before its first row.
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(json.dumps({"id": "a", "prompt": "x"}) + "\n")
    with SimProcess(SimConfig(ttft=30.0)) as sim:
        code, err = _signal_when(
            ["batch", "run", str(source), "-o", str(out), "-e", sim.url, "--model", "sim-model", "-q"],
            lambda: sim.stats().requests > 0 or out.exists(),
            signal.SIGTERM,
        )
    assert code == 143, err
    assert "Traceback" not in err and "interrupted" in err
    assert source.read_text() == json.dumps({"id": "a", "prompt": "x"}) + "\n"


def test_sigterm_keeps_the_answers_ttc_run_finished_and_a_rerun_resumes(tmp_path: Path) -> None:
    questions, out = tmp_path / "q.jsonl", tmp_path / "answers.jsonl"
    questions.write_text(
        "".join(json.dumps({"id": f"q{i}", "question": f"{i}+1?"}) + "\n" for i in range(40))
    )
    args = ["ttc", "run", str(questions), "--method", "sc", "-k", "2", "-o", str(out), "--concurrency", "2"]
    with SimProcess(SimConfig(ttft=0.05, content="echo")) as sim:
        args += ["-e", sim.url, "--model", "sim-model"]
        code, err = _signal_when(
            args, lambda: out.exists() and out.read_text().count("\n") >= 3, signal.SIGTERM
        )
        assert code == 143, err
        _one_line(err.split("\n", 1)[-1] if err.startswith("\r") else err, "interrupted by SIGTERM")
        kept = [json.loads(line)["id"] for line in out.read_text().splitlines()]
        assert 3 <= len(kept) < 40 and len(set(kept)) == len(kept)
        again = subprocess.run([*ORCHESTRA, *args], capture_output=True, text=True, timeout=120, env=_env())
        assert again.returncode == 0, again.stderr
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert sorted(ids) == sorted(f"q{i}" for i in range(40))  # each once: the kept ones not redone


def _lines(path: Path) -> int:
    return path.read_text().count("\n") if path.exists() else 0


def test_sigterm_keeps_the_tasks_swe_solve_finished_and_a_rerun_solves_only_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "preds.jsonl"
    args = ["bench", "swe", "solve", "-o", str(out), "-j", "1", "--max-steps", "2"]
    with SimProcess(SimConfig(ttft=0.2)) as sim:
        args += ["-e", sim.url, "--model", "sim-model"]
        code, err = _signal_when(args, lambda: _lines(out) >= 2, signal.SIGTERM)
        assert code == 143, err
        assert err.strip().splitlines()[-1] == "interrupted by SIGTERM" and "Traceback" not in err
        kept = [json.loads(line)["instance_id"] for line in out.read_text().splitlines()]
        assert 2 <= len(kept) < 12
        before = sim.stats().requests
        again = subprocess.run([*ORCHESTRA, *args], capture_output=True, text=True, timeout=300, env=_env())
        assert again.returncode == 0, again.stderr
        assert f"{len(kept)} tasks already solved" in again.stdout
        assert sim.stats().requests > before
    ids = [json.loads(line)["instance_id"] for line in out.read_text().splitlines()]
    assert len(ids) == 12 == len(set(ids)) and set(kept) <= set(ids)


def test_a_torn_last_line_is_cut_before_an_append(tmp_path: Path) -> None:
    from orchestra.text_files import cut_torn_line

    path = tmp_path / "answers.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b", "ans')  # killed mid-write
    cut_torn_line(path)
    assert path.read_text() == '{"id": "a"}\n'
    cut_torn_line(path)  # a whole file is left as it is
    assert path.read_text() == '{"id": "a"}\n'
    path.write_text('{"torn')
    cut_torn_line(path)
    assert path.read_text() == ""


BFCL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "bfcl"


@pytest.mark.skipif(not BFCL.is_dir(), reason="no shared BFCL data")
def test_sigterm_keeps_the_rows_a_bfcl_replay_finished(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    args = ["bench", "bfcl", "run", "--mode", "latency", "-c", "parallel", "-n", "40", "--ttft", "0.3"]
    args += ["--tps", "0", "--concurrency", "1", "--data", str(BFCL), "-o", str(tmp_path)]
    code, err = _signal_when(args, lambda: _lines(rows) >= 2, signal.SIGTERM)
    assert code == 143, err
    _one_line(err, "interrupted by SIGTERM")
    kept = [json.loads(line) for line in rows.read_text().splitlines()]
    assert 2 <= len(kept) < 160 and all("strategy" in r for r in kept)


COMPILER_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "llmcompiler"


@pytest.mark.skipif(not COMPILER_DATA.is_dir(), reason="no shared LLMCompiler data")
def test_sigterm_writes_the_rows_bench_compiler_finished(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    args = ["bench", "compiler", "-d", "hotpotqa", "-n", "40", "--ttft", "0.3", "-o", str(out)]
    args += ["--data", str(COMPILER_DATA)]
    proc = subprocess.Popen(
        [*ORCHESTRA, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
    )
    # No file grows while it runs (the results are one JSON at the end), so give it ~10 s: at
    # 0.3 s per model call, a few questions are done by then and most are not.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    stdout, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    _one_line(err, "interrupted by SIGTERM")
    written = json.loads(out.read_text())
    assert 0 < len(written["rows"]) < 120 and "finished rows written" in stdout
