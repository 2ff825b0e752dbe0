"""The batch input the perf benchmarks share: ``rows`` short prompts, 8 tokens each."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["write_prompts"]


def write_prompts(path: Path, rows: int) -> None:
    """Write ``rows`` batch input lines (``{"id": "p<i>", "prompt", "params"}``) to ``path``."""
    with open(path, "w", encoding="utf-8") as out:
        for i in range(rows):
            row = {"id": f"p{i}", "prompt": f"Say something about {i}.", "params": {"max_tokens": 8}}
            out.write(json.dumps(row) + "\n")
