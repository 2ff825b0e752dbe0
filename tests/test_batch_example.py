"""examples/batch_sim.py runs as a real process and shows a resumed batch with every row exactly once."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parent.parent / "examples" / "batch_sim.py"


def test_batch_example_resumes_to_exactly_once() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "first run: stopped after 20 results" in out
    assert "output: 61 rows, 61 distinct ids, 60 ok, 1 error" in out
    assert "error: invalid_input: line 7:" in out
    assert "q3 -> 'What is 3 + 3?'" in out
    on_disk = int(re.search(r"(\d+) rows already in the output", out).group(1))  # type: ignore[union-attr]
    resumed = int(re.search(r"resumed: (\d+) more results", out).group(1))  # type: ignore[union-attr]
    assert on_disk >= 20 and on_disk + resumed == 61
