"""Every program in examples/ runs to completion as a real subprocess (STYLE.md: examples are tested)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
EXAMPLES = sorted((HERE.parent / "examples").glob("*.py"))

# Examples with a dedicated test that checks more than their output; not run twice.
DEDICATED = {
    "agent_local.py": "test_agent_examples.py",
    "agent_strategies.py": "test_agent_examples.py",
    "batch_sim.py": "test_batch_example.py",
}

# What each example must print: proof it did its job, not just that it exited 0.
EXPECT = {
    "chat_local.py": ["sample 1:", "usage:"],
    "chat_sim.py": ["answers: 60", "0 answered 429", "(limit 20)"],
}


def test_every_example_is_run_by_some_test() -> None:
    for name, test_file in DEDICATED.items():
        assert name in (HERE / test_file).read_text(), f"{test_file} does not run {name}"


@pytest.mark.parametrize("path", [p for p in EXAMPLES if p.name not in DEDICATED], ids=lambda p: p.name)
def test_example_runs(path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for needle in EXPECT.get(path.name, []):
        assert needle in result.stdout, result.stdout
