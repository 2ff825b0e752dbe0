"""Scoring a results file made by anyone: ``orchestra bench bfcl score``.

The results file is JSON lines, one item each: ``{"id": "parallel_0", "result": [{"spotify.play":
{"artist": "Taylor Swift", "duration": 20}}, ...]}`` — BFCL's decoded call form, with BFCL's
function names. A ``result`` that is a string is read as JSON when it is JSON (some tools write
the calls as text); anything that is not a list of calls counts as no call, as BFCL decides.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestra.benchmarks.bfcl.checker import Verdict, check_item
from orchestra.benchmarks.bfcl.data import Item
from orchestra.errors import UsageError
from orchestra.text_files import json_lines, read_user_text

__all__ = ["CategoryScore", "decode_result", "read_results", "score_items", "write_verdicts"]


@dataclass
class CategoryScore:
    """The verdicts of one category.

    Attributes:
        category: its name.
        verdicts: ``(item id, verdict)`` in item order, for the items that had a result.
        missing: ids of the category's items that had no result (not scored).
    """

    category: str
    verdicts: list[tuple[str, Verdict]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Items scored."""
        return len(self.verdicts)

    @property
    def correct(self) -> int:
        """Items whose calls are acceptable."""
        return sum(v.valid for _, v in self.verdicts)

    @property
    def accuracy(self) -> float:
        """``correct / total`` (0.0 when nothing was scored)."""
        return self.correct / self.total if self.total else 0.0

    def error_types(self) -> Counter[str]:
        """How often each error type occurred."""
        return Counter(v.error_type for _, v in self.verdicts if not v.valid)

    def to_json(self) -> dict[str, Any]:
        """The summary (no per-item verdicts)."""
        return {
            "category": self.category,
            "total": self.total,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "missing": len(self.missing),
            "error_types": dict(self.error_types().most_common()),
        }


def decode_result(result: Any) -> Any:
    """A result as the checker takes it: a JSON string is parsed, anything else kept as is."""
    if isinstance(result, str):
        try:
            return json.loads(result)
        except ValueError:
            return result
    return result


def read_results(path: str | Path) -> dict[str, Any]:
    """``{id: result}`` from a JSONL results file.

    Raises:
        UsageError: the file cannot be read, or a line is not ``{"id": ..., "result": ...}``.
    """
    target = Path(path)
    try:
        text = read_user_text(target)
    except OSError as exc:
        raise UsageError(f"results {target}: {exc.strerror or exc}") from exc
    results: dict[str, Any] = {}
    for number, row in json_lines(text, f"results {target}"):
        if not isinstance(row, dict) or not isinstance(row.get("id"), str) or "result" not in row:
            raise UsageError(f'results {target}, line {number}: expected {{"id": ..., "result": [...]}}')
        results[row["id"]] = decode_result(row["result"])
    return results


def score_items(category: str, items: Sequence[Item], results: dict[str, Any]) -> CategoryScore:
    """Check the result of every item of one category that has one."""
    score = CategoryScore(category)
    for item in items:
        if item.id not in results:
            score.missing.append(item.id)
            continue
        score.verdicts.append((item.id, check_item(item, results[item.id])))
    return score


def write_verdicts(scores: Iterable[CategoryScore], path: str | Path) -> Path:
    """Write ``{"id", "valid", "error_type", "error"}`` per scored item as JSONL."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as out:
        for score in scores:
            for item_id, verdict in score.verdicts:
                out.write(json.dumps(verdict.to_json(item_id), ensure_ascii=False, default=str) + "\n")
    return target
