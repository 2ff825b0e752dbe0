"""Every row gets exactly one answer: generated ids never collide with real ones, a duplicate
gets its own error row naming both lines (issue: a valid row called ``line-3`` was dropped
because malformed line 3 had been given that id)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from orchestra.batch import BatchRow, BatchRunner, IterableSource, Journal, JsonlSource
from orchestra.chat import ChatRequest
from orchestra.testing import FunctionModel

Item = BatchRow | ChatRequest | str | dict[str, Any]


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_generated_ids_never_take_a_real_id(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        "\n".join(
            [
                json.dumps({"id": "a", "prompt": "x"}),
                json.dumps({"prompt": "no id: gets a generated one"}),  # line 2
                "{broken",  # line 3: malformed, gets a generated id
                json.dumps({"id": "line-3", "prompt": "a real row called line-3"}),
                json.dumps({"id": "line-2", "prompt": "a real row called line-2"}),
                json.dumps({"id": "line-3~1", "prompt": "even this one"}),
            ]
        )
        + "\n"
    )
    out = tmp_path / "out.jsonl"
    endpoint = FunctionModel(lambda request: "ok", name="e")
    stats = await BatchRunner({"e": endpoint}, journal=Journal(out)).run(JsonlSource(source))
    rows = {str(r["custom_id"]): r for r in _lines(out)}
    assert len(rows) == 6 == len(_lines(out))  # six rows in, six answers out, no id shared
    assert {"a", "line-3", "line-2", "line-3~1"} <= set(rows)
    for real in ("line-3", "line-2", "line-3~1"):
        assert rows[real]["error"] is None
    (malformed,) = [r for r in rows.values() if r["error"] and r["error"]["code"] == "invalid_input"]  # type: ignore[index]
    assert malformed["custom_id"] == "line-3~2" and malformed["error"]["line"] == 3  # type: ignore[index]
    assert "line-2~1" in rows and rows["line-2~1"]["error"] is None
    assert stats.ok == 5 and stats.invalid == 1
    # The same file gives the same ids again: a resume sends nothing.
    again = await BatchRunner({"e": endpoint}, journal=Journal(out)).run(JsonlSource(source))
    assert again.skipped == 6 and again.ok == 0


async def test_ids_generated_for_a_lazy_iterable_never_take_a_later_real_id(tmp_path: Path) -> None:
    # A generator is read once; the real rows called request-0 / request-1~1 come after the rows
    # whose ids are generated, so only knowing every real id first keeps them apart.
    def rows() -> Iterator[Item]:
        yield "no id: request-0 is taken, so request-0~1"
        yield {"prompt": "no id either: request-1"}
        yield {"id": "request-0", "prompt": "a real row called request-0"}
        yield {"custom_id": "request-0~1", "body": {"messages": [{"role": "user", "content": "x"}]}}
        yield ChatRequest.of("no id: request-4")

    out = tmp_path / "out.jsonl"
    endpoint = FunctionModel(lambda request: request.messages[-1].text, name="e")
    stats = await BatchRunner({"e": endpoint}, journal=Journal(out)).run(IterableSource(rows()))
    answers = {str(r["custom_id"]): r for r in _lines(out)}
    assert len(answers) == 5 == len(_lines(out)) and stats.ok == 5 and not stats.duplicates
    assert set(answers) == {"request-0~2", "request-1", "request-0", "request-0~1", "request-4"}
    body = answers["request-0"]["response"]["body"]  # type: ignore[index]
    assert body["choices"][0]["message"]["content"] == "a real row called request-0"
    # The same rows again give the same ids: a resume sends nothing.
    again = await BatchRunner({"e": endpoint}, journal=Journal(out)).run(IterableSource(rows()))
    assert again.skipped == 5 and again.ok == 0


def test_a_list_is_walked_for_its_ids_and_keeps_its_order() -> None:
    items: list[Item] = ["first", {"id": "request-0", "prompt": "real"}, "third"]
    ids = [row.custom_id for _, row in IterableSource(items).scan()]
    assert ids == ["request-0~1", "request-0", "request-2"]
    assert [row.custom_id for _, row in IterableSource(items).scan()] == ids  # stable
