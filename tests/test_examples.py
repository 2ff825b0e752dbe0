"""Every program in examples/ runs to completion as a real subprocess (STYLE.md: examples are tested)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))

# What each example must print: proof it did its job, not just that it exited 0.
EXPECT = {
    "chat_local.py": ["sample 1:", "usage:"],
    "chat_sim.py": ["answers: 60", "0 answered 429", "(limit 20)"],
}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for needle in EXPECT.get(path.name, []):
        assert needle in result.stdout, result.stdout
