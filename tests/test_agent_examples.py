"""Every ``examples/agent_*.py`` runs as a real subprocess and prints what it promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, *args: str, timeout: float = 100) -> str:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_every_agent_example_is_tested():
    assert sorted(p.name for p in EXAMPLES.glob("agent_*.py")) == ["agent_local.py", "agent_strategies.py"]


def test_agent_strategies_example_shows_the_compiler_speedup():
    out = run_example("agent_strategies.py")
    for strategy in ("sequential", "parallel", "compiler"):
        assert re.search(rf"{strategy}: \d+\.\d\d s, \d+ LLM calls, answer: Mount Everest", out), out
    speedup = float(re.search(r"speedup over sequential: (\d+\.\d)x", out).group(1))
    assert speedup >= 2.0  # four 0.2 s searches one per turn vs all at once


@pytest.mark.local_model
def test_agent_local_example_runs_on_the_embedded_model():
    out = run_example("agent_local.py", "Which is longer, the Nile or the Amazon?")
    assert re.search(r"^Plan:\n1\. search\(", out, re.M), out
    assert re.search(r"^Answer: .+", out, re.M)
    assert "2 LLM calls" in out
