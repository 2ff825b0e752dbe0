"""Sample banks: many pre-generated samples per query, replayed to evaluate allocation policies.

A bank is gzip-compressed JSON Lines (``.jsonl.gz``). The first line is a header, every other
line one query::

    {"bank": {"model": "smollm2-135m", "endpoint": "local", "temperature": 0.8,
              "max_tokens": 32, "created": "2026-11-30T21:00:00Z", "generator": "..."}}
    {"id": "chain_sum-0", "question": "...", "answer": "7", "difficulty": "1-digit",
     "samples": [{"answer": "7", "correct": true, "prompt_tokens": 40,
                  "completion_tokens": 9, "text": "4 + 3 = 7"}, ...]}

``answer`` in a sample is the extracted, normalised answer (null when the text gave none);
``correct`` is the task's own scorer's verdict. A line may be appended at any time, so a bank
being built can be read (and resumed) while it grows; a torn last line is ignored.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from orchestra.errors import UsageError

__all__ = ["BankHeader", "BankQuery", "BankSample", "append_queries", "read_bank", "write_header"]


class BankHeader(BaseModel):
    """How a bank's samples were made."""

    model: str
    endpoint: str
    temperature: float
    max_tokens: int
    created: str = Field(description="ISO 8601 UTC time the bank was started.")
    generator: str = Field(description="What produced the questions (task names, seeds, prompt).")


class BankSample(BaseModel):
    """One replayable sample of a query."""

    answer: str | None
    correct: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0
    text: str = ""


class BankQuery(BaseModel):
    """One query with its reference answer and its samples."""

    id: str
    question: str
    answer: str
    difficulty: str | float | int | None = None
    samples: list[BankSample]

    @property
    def accuracy(self) -> float:
        """Fraction of samples that are correct (0.0 with no samples)."""
        return sum(s.correct for s in self.samples) / len(self.samples) if self.samples else 0.0


def _lines(path: Path) -> Iterator[str]:
    # A bank being built may end in a line cut by a kill (or an unflushed gzip member): stop there.
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            yield from f
    except (EOFError, gzip.BadGzipFile):
        return


def read_bank(path: Path | str) -> tuple[BankHeader, list[BankQuery]]:
    """Read a bank file.

    Raises:
        UsageError: the file is missing, not gzip JSONL, or its first line is not a bank header.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"bank {path}: no such file")
    header: BankHeader | None = None
    queries: list[BankQuery] = []
    number = 0
    try:
        for line in _lines(path):
            number += 1
            if not line.endswith("\n"):
                break  # torn last line
            data: Any = json.loads(line)
            if header is None:
                if not isinstance(data, dict) or "bank" not in data:
                    raise UsageError(f'bank {path}: line 1 is not a header {{"bank": {{...}}}}')
                header = BankHeader.model_validate(data["bank"])
            else:
                queries.append(BankQuery.model_validate(data))
    except (OSError, json.JSONDecodeError, ValidationError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0]
        raise UsageError(f"bank {path}: line {number}: {first}") from exc
    if header is None:
        raise UsageError(f"bank {path}: empty (no header line)")
    return header, queries


def write_header(path: Path | str, header: BankHeader) -> None:
    """Start a new bank file holding only ``header``."""
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(json.dumps({"bank": header.model_dump()}) + "\n")


def append_queries(path: Path | str, queries: Iterable[BankQuery]) -> None:
    """Append queries to a bank, as one gzip member (concatenated members are one valid gzip file)."""
    lines = "".join(q.model_dump_json() + "\n" for q in queries)
    if lines:
        with gzip.open(path, "at", encoding="utf-8") as f:
            f.write(lines)
