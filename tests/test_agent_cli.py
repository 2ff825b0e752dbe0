"""``orchestra run`` as a real subprocess: user mistakes are one-line errors; a real run on the embedded model."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def orchestra(*args: str, timeout: float = 100) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "orchestra", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "warp"], "unknown strategy"),
        (["--strategy", "async", "--async-mode", "warp"], "--async-mode must be turn, resume or native"),
        (["--strategy", "compiler", "--async-mode", "turn"], "--async-mode applies to --strategy async only"),
        (["--tools", "calculator,teleport"], "unknown tool(s): teleport"),
    ],
)
def test_mistakes_are_one_line_errors_before_any_model_starts(args, message):
    proc = orchestra("run", "What is 2+3?", *args, timeout=30)
    assert proc.returncode == 2  # a usage error, as in every command
    assert message in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.local_model
def test_run_compiler_on_the_embedded_model_as_json():
    proc = orchestra("run", "How long is the Nile?", "--tools", "search", "--max-replans", "0", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["strategy"] == "compiler" and out["llm_calls"] == 2
    assert out["plan"] and all(line.split(". ", 1)[1].startswith("search(") for line in out["plan"])
    assert all(span["attrs"]["status"] == "ok" for span in out["tasks"])
    assert out["answer"].strip()
