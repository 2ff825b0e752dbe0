"""``orchestra batch``: the command in-process, and a real process killed with SIGKILL and resumed."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestra.cli.batch import app
from orchestra.sim import SimConfig, SimProcess


@pytest.fixture(scope="module")
def sim() -> Iterator[SimProcess]:
    """One simulator process for the module (rate-limited only where a test's endpoints file says)."""
    with SimProcess(
        SimConfig(
            completion_tokens=4, rpm=300, window_seconds=1.0, models=["m", "alpha", "beta", "sim-model"]
        )
    ) as process:
        yield process


def _rows(path: Path, n: int, *, bad: tuple[int, ...] = ()) -> None:
    lines = []
    for i in range(n):
        if i in bad:
            lines.append('{"id": "broken"')
        else:
            lines.append(json.dumps({"id": f"r{i}", "prompt": f"question {i}", "params": {"max_tokens": 8}}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["custom_id"] for line in path.read_text(encoding="utf-8").splitlines()]


def test_run_writes_output_summary_and_exit_code(sim: SimProcess, tmp_path: Path) -> None:
    _rows(tmp_path / "in.jsonl", 32, bad=(3, 17))
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        app, ["run", str(tmp_path / "in.jsonl"), "-o", str(out), "--endpoint", sim.url, "--model", "m"]
    )
    assert result.exit_code == 1, result.output  # finished, but two rows failed
    assert sorted(_ids(out)) == sorted(
        [f"r{i}" for i in range(32) if i not in (3, 17)] + ["line-4", "line-18"]
    )
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["rows"] == {
        "input": 32,
        "ok": 30,
        "failed": 2,
        "invalid": 2,
        "unroutable": 0,
        "duplicates": 0,
        "left_for_resume": 0,
    }
    assert summary["endpoints"][sim.url]["rows_ok"] == 30 and summary["tokens"]["completion"] == 30 * 4
    assert "rows ok 30" in result.output and "summary:" in result.output
    # Run again: nothing left to send, the output is unchanged.
    before = out.read_bytes()
    again = CliRunner().invoke(
        app,
        [
            "run",
            str(tmp_path / "in.jsonl"),
            "-o",
            str(out),
            "-e",
            sim.url,
            "-m",
            "m",
            "--quiet",
            "--summary",
            str(tmp_path / "s2.json"),
        ],
    )
    assert again.exit_code == 1  # quiet: no table, only the one line that says why the exit is 1
    assert again.output == f"error: 2 of 32 rows failed; each has its error in {out}\n"
    assert out.read_bytes() == before
    assert json.loads((tmp_path / "s2.json").read_text())["this_run"]["skipped_already_done"] == 32


def test_endpoints_file_routes_by_model_and_reports_limits(sim: SimProcess, tmp_path: Path) -> None:
    (tmp_path / "endpoints.toml").write_text(
        f'[[endpoints]]\nname = "a"\nbase_url = "{sim.url}"\nmodel = "alpha"\nrpm = 250\nwindow = 1.0\n'
        f"input_price = 1.0\noutput_price = 2.0\n\n"
        f'[[endpoints]]\nname = "b"\nbase_url = "{sim.url}"\nmodel = "beta"\nmax_concurrency = 4\n',
        encoding="utf-8",
    )
    rows = [{"id": f"a{i}", "prompt": "x", "model": "alpha"} for i in range(10)]
    rows += [{"id": f"b{i}", "prompt": "y", "model": "beta"} for i in range(5)] + [
        {"id": "g", "prompt": "z", "model": "gamma"}
    ]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    args = [
        "run",
        str(tmp_path / "in.jsonl"),
        "-o",
        str(out),
        "--endpoints",
        str(tmp_path / "endpoints.toml"),
        "-q",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    rows_out = {json.loads(line)["custom_id"]: json.loads(line) for line in out.read_text().splitlines()}
    assert rows_out["g"]["error"]["code"] == "no_endpoint"
    assert (
        rows_out["a0"]["response"]["body"]["model"] == "alpha"
        and rows_out["b0"]["response"]["body"]["model"] == "beta"
    )
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["endpoints"]["a"]["rpm_limit"] == 250 and summary["endpoints"]["a"]["rows_ok"] == 10
    assert (
        summary["endpoints"]["b"]["concurrency_limit"] == 4 and summary["lanes"]["beta"]["concurrency"] == 4
    )
    assert summary["cost"] > 0 and summary["endpoints"]["b"]["cost"] == 0


def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["run", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "o.jsonl")])
    assert (
        missing.exit_code == 2 and "input not found" in missing.output and "Traceback" not in missing.output
    )
    (tmp_path / "in.jsonl").write_text('{"id": 1, "prompt": "x"}\n')
    bad_engine = runner.invoke(
        app, ["run", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "o.jsonl"), "--engine", "spark"]
    )
    assert bad_engine.exit_code == 2 and "--engine" in bad_engine.output
    no_model = runner.invoke(
        app,
        ["run", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "o.jsonl"), "-e", "http://127.0.0.1:9/v1"],
    )
    # No --model is fine when the server lists one model; this one cannot be reached: a failure.
    assert no_model.exit_code == 1 and "127.0.0.1:9" in no_model.output


def test_merge_command_keeps_each_id_once(tmp_path: Path) -> None:
    ok = {"id": "1", "custom_id": "x", "response": {"status_code": 200, "body": {}}, "error": None}
    err = {"id": "2", "custom_id": "x", "response": None, "error": {"code": "timeout", "message": "t"}}
    (tmp_path / "a.jsonl").write_text(json.dumps(ok) + "\n")
    (tmp_path / "b.jsonl").write_text(json.dumps(err) + "\n" + json.dumps({**ok, "custom_id": "y"}) + "\n")
    result = CliRunner().invoke(
        app, ["merge", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "-o", str(tmp_path / "m.jsonl")]
    )
    assert result.exit_code == 0 and "2 rows" in result.output
    assert sorted(_ids(tmp_path / "m.jsonl")) == ["x", "y"]
    assert (
        CliRunner()
        .invoke(app, ["merge", str(tmp_path / "zz.jsonl"), "-o", str(tmp_path / "m.jsonl")])
        .exit_code
        == 2
    )


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_gives_each_id_once(sim: SimProcess, tmp_path: Path) -> None:
    n = 600
    _rows(tmp_path / "in.jsonl", n)
    # 20 requests per 0.1 s (the simulator allows 300 a second): a steady ~200 rows a second, so
    # a run killed within 0.4 s of its first write leaves rows for the next one.
    (tmp_path / "endpoints.toml").write_text(
        f'[[endpoints]]\nname = "sim"\nbase_url = "{sim.url}"\nmodel = "m"\nrpm = 20\nwindow = 0.1\n',
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "orchestra.cli.batch", "run", str(tmp_path / "in.jsonl"), "-o", str(out)]
    command += ["--endpoints", str(tmp_path / "endpoints.toml"), "--quiet"]
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    kills = 0
    for _ in range(5):
        start_size = out.stat().st_size if out.exists() else 0
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.stat().st_size > start_size:
                break  # it is writing: kill it somewhere in the next 0.4 s
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.4))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        assert proc.returncode in (-signal.SIGKILL, 0, 1), proc.stderr.read().decode()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
        complete = out.read_bytes().split(b"\n")[:-1]  # a torn last line (no newline) is allowed here
        assert all(json.loads(line)["custom_id"] for line in complete)
    assert kills == 5, f"seed {seed}: a run finished before it could be killed"
    final = subprocess.run(command, capture_output=True, timeout=60)
    assert final.returncode == 0, final.stderr.decode()
    ids = _ids(out)
    assert out.read_bytes().endswith(b"\n")
    assert len(ids) == n and sorted(ids) == sorted(f"r{i}" for i in range(n)), f"seed {seed}"
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["rows"]["ok"] == n and summary["this_run"]["skipped_already_done"] > 0
