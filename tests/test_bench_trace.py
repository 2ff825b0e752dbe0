"""``--trace FILE`` on every benchmark and ``ttc run``: real subprocesses against the simulator on
loopback (small limits), each trace file read back by ``orchestra trace show`` and drawn by
``orchestra trace plot``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestra.cli.main import app
from orchestra.sim import SimConfig, SimProcess

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
SHARED_BFCL = SHARED / "bfcl"
TASK = (
    Path(__file__).resolve().parents[1] / "benchmarks" / "swe" / "tasks" / "orchestra-examples__calendar-10"
)
SSTAR = {
    "id": "s1",
    "question": "```python\ndef add(a, b):\n    return a + b\n```",
    "entry_point": "add",
    "tests": [{"call": "add(1, 2)", "expected": "3"}],
}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimProcess]:
    """Answers with the question itself, quickly: a plan the agents cannot parse, code S* can run."""
    with SimProcess(SimConfig(content="echo", ttft=0.005, tokens_per_second=2000)) as process:
        yield process


def _model(sim: SimProcess) -> list[str]:
    return ["-e", sim.url, "-m", "sim-model"]


def _compiler(sim: SimProcess, tmp: Path) -> list[str]:
    return ["bench", "compiler", "-d", "movie", "-n", "1", "-s", "sequential,compiler", "--ttft", "0.005",
            "--tps", "2000", "--tool-latency", "0.02", "--data", str(SHARED / "llmcompiler")]  # fmt: skip


def _bfcl_latency(sim: SimProcess, tmp: Path) -> list[str]:
    return ["bench", "bfcl", "run", "-c", "parallel", "-n", "1", "-s", "sequential,compiler",
            "--ttft", "0.005", "--tps", "2000", "--data", str(SHARED_BFCL)]  # fmt: skip


def _bfcl_accuracy(sim: SimProcess, tmp: Path) -> list[str]:
    return ["bench", "bfcl", "run", "--mode", "accuracy", "-c", "simple_python", "-n", "1",
            "-s", "compiler", "--data", str(SHARED_BFCL), "-o", str(tmp / "acc"), *_model(sim)]  # fmt: skip


def _swe_solve(sim: SimProcess, tmp: Path) -> list[str]:
    return ["bench", "swe", "solve", "-o", str(tmp / "preds.jsonl"), "--tasks", str(TASK),
            "--max-steps", "2", *_model(sim)]  # fmt: skip


def _swe_grade(sim: SimProcess, tmp: Path) -> list[str]:
    return ["bench", "swe", "grade", "-p", "gold", "--tasks", str(TASK)]


def _ttc_bank(sim: SimProcess, tmp: Path) -> list[str]:
    return ["bench", "ttc", "bank", "-o", str(tmp / "bank.jsonl.gz"), "--one-digit", "1",
            "--two-digit", "0", "-k", "2", "--max-tokens", "8", *_model(sim)]  # fmt: skip


def _ttc_run(sim: SimProcess, tmp: Path) -> list[str]:
    (tmp / "q.jsonl").write_text(json.dumps(SSTAR) + "\n")
    return ["ttc", "run", str(tmp / "q.jsonl"), "--method", "s-star", "-k", "2", "--max-tokens", "64",
            "-o", str(tmp / "answers.jsonl"), *_model(sim)]  # fmt: skip


# command -> (its arguments, the span kinds its trace must hold beside the command's own)
CASES: dict[str, tuple[Callable[[SimProcess, Path], list[str]], set[str]]] = {
    "bench compiler": (_compiler, {"run", "llm", "plan", "task", "join"}),
    "bench bfcl run": (_bfcl_latency, {"run", "llm", "plan", "task", "join"}),
    "bench bfcl run --mode accuracy": (_bfcl_accuracy, {"run", "plan"}),
    "bench swe solve": (_swe_solve, {"run", "llm"}),
    "bench swe grade": (_swe_grade, {"test"}),
    "bench ttc bank": (_ttc_bank, {"llm"}),
    "ttc run": (_ttc_run, {"llm", "task"}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_trace_file_of_each_command_is_read_by_trace_show_and_plot(
    name: str, sim: SimProcess, tmp_path: Path
) -> None:
    if ("bfcl" in name or "compiler" in name) and not SHARED.is_dir():
        pytest.skip("the shared data copy is not present")
    arguments, kinds = CASES[name]
    trace = tmp_path / "trace.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "orchestra", *arguments(sim, tmp_path), "--trace", str(trace)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "120"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    header, *spans = (json.loads(line) for line in trace.read_text().splitlines())
    command = name.split(" --")[0]
    assert header["orchestra_trace"] == 1 and header["command"] == f"orchestra {command}"
    assert kinds | {"command"} <= {s["kind"] for s in spans}, {s["kind"] for s in spans}
    assert all(0 <= s["start"] <= s["end"] < 120 for s in spans)  # seconds since the start
    (root,) = [s for s in spans if s["kind"] == "command"]
    assert all(s["parent"] is not None for s in spans if s is not root)  # every span under the command
    for llm in (s for s in spans if s["kind"] in ("llm", "plan")):
        assert llm["attrs"]["request"]["messages"] and "prompt_tokens" in llm["attrs"]

    shown = CliRunner().invoke(app, ["trace", "show", str(trace)])
    assert shown.exit_code == 0, shown.output
    assert f"orchestra {command}" in shown.output
    if name == "ttc run":  # the S* tests ran in the sandbox as tool work, with their outputs
        assert "execute" in shown.output and 'ok: ["3"]' in shown.output
    pytest.importorskip("matplotlib")
    picture = tmp_path / "timeline.svg"
    plotted = CliRunner().invoke(app, ["trace", "plot", str(trace), "-o", str(picture)])
    assert plotted.exit_code == 0, plotted.output
    drawn = {int(i) for i in re.findall(r'<g id="span-(\d+)">', picture.read_text())}
    assert drawn == {s["id"] for s in spans}  # one element per span of the file
