"""The output-as-journal: torn tails, resume states, compaction to exactly-once, locking, merging."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra.batch.formats import dumps_row, error_row
from orchestra.batch.journal import Journal, iter_journal, merge_journals
from orchestra.errors import UsageError


def _ok(cid: str) -> dict[str, object]:
    return {"id": f"x-{cid}", "custom_id": cid, "response": {"status_code": 200, "body": {}}, "error": None}


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["custom_id"] for line in path.read_text().splitlines()]


def test_append_then_reopen_skips_done_rows(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    journal = Journal(out)
    assert journal.open().lines == 0
    journal.append([_ok("a"), error_row("b", "http_error", "400"), error_row("c", "server_error", "503")])
    journal.close()
    again = Journal(out)
    recovery = again.open()
    assert (recovery.lines, recovery.ok, recovery.failed, recovery.redo) == (3, 1, 1, 1)
    assert again.is_done("a") and again.is_done("b") and not again.is_done("c") and not again.is_done("z")
    again.close()
    retry_all = Journal(out, retry_failed=True)
    retry_all.open()
    assert retry_all.is_done("a") and not retry_all.is_done("b")
    retry_all.close()


def test_torn_last_line_is_cut_on_open(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(dumps_row(_ok("a")) + dumps_row(_ok("b"))[:17])
    journal = Journal(out)
    recovery = journal.open()
    assert recovery.truncated_bytes == 17 and recovery.lines == 1
    journal.append([_ok("b")])
    journal.close()
    assert _ids(out) == ["a", "b"]


def test_a_corrupt_complete_line_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(dumps_row(_ok("a")) + b"garbage\n" + dumps_row(_ok("b")))
    with pytest.raises(UsageError, match=r"out\.jsonl:2"):
        Journal(out).open()


def test_redone_row_leaves_one_line_after_compaction(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    first = Journal(out)
    first.open()
    first.append([_ok("a"), error_row("b", "timeout", "slow"), _ok("c")])
    first.close()
    second = Journal(out)
    second.open()
    assert not second.is_done("b")
    second.append([_ok("b")])
    assert second.needs_compaction
    assert second.compact() == 1
    second.close()
    assert sorted(_ids(out)) == ["a", "b", "c"]
    rows = {json.loads(line)["custom_id"]: json.loads(line) for line in out.read_text().splitlines()}
    assert rows["b"]["error"] is None
    assert not (tmp_path / "out.jsonl.compact.tmp").exists()


def test_a_crash_before_compaction_is_settled_by_the_next_run(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(dumps_row(error_row("b", "timeout", "slow")) + dumps_row(_ok("b")) + dumps_row(_ok("a")))
    journal = Journal(out)
    recovery = journal.open()
    assert journal.is_done("b") and recovery.ok == 2 and journal.needs_compaction
    journal.compact()
    journal.close()
    assert sorted(_ids(out)) == ["a", "b"]


def test_second_writer_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    first = Journal(out)
    first.open()
    with pytest.raises(UsageError, match="another batch run"):
        Journal(out).open()
    first.close()
    second = Journal(out)
    second.open()
    second.close()


def test_merge_keeps_each_id_once_and_prefers_ok(tmp_path: Path) -> None:
    a, b, dest = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "m.jsonl"
    a.write_bytes(dumps_row(_ok("x")) + dumps_row(error_row("y", "timeout", "t")) + dumps_row(_ok("z")))
    b.write_bytes(dumps_row(error_row("x", "timeout", "later")) + dumps_row(_ok("y")) + dumps_row(_ok("w")))
    assert merge_journals([a, b, tmp_path / "missing.jsonl"], dest) == 4
    rows = {r["custom_id"]: r for _, _, r in iter_journal(dest)}
    assert sorted(rows) == ["w", "x", "y", "z"]
    assert rows["x"]["error"] is None and rows["y"]["error"] is None
    assert merge_journals([dest, a], dest) == 4  # merging into a source is atomic and idempotent


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=8), st.data())
def test_a_crash_at_any_byte_resumes_to_exactly_once(
    tmp_path_factory: pytest.TempPathFactory, n: int, data
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("crash") / "out.jsonl"
    whole = b"".join(dumps_row(_ok(f"r{i}")) for i in range(n))
    cut = data.draw(st.integers(min_value=0, max_value=len(whole)))
    out.write_bytes(whole[:cut])  # what a SIGKILL in the middle of a write leaves
    journal = Journal(out)
    journal.open()
    missing = [f"r{i}" for i in range(n) if not journal.is_done(f"r{i}")]
    journal.append([_ok(cid) for cid in missing])
    journal.compact()
    journal.close()
    assert sorted(_ids(out)) == sorted(f"r{i}" for i in range(n))
    assert out.read_bytes().endswith(b"\n")
