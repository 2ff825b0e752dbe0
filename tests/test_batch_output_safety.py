"""The output file never loses a byte: a file that is not our journal is refused untouched, the
output may not be the input, and a disk that fills up gives one line, a summary and a file that
resumes exactly once (issue: ``-o in.jsonl`` exited 0 after deleting the input's last line;
``-o notes.txt`` lost its last line; ENOSPC gave a 41-64-line traceback)."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestra.batch import Journal
from orchestra.cli.batch import app
from orchestra.errors import UsageError
from orchestra.sim import SimConfig, SimProcess


def _rows(path: Path, n: int, *, trailing_newline: bool = True) -> None:
    text = "\n".join(json.dumps({"id": f"r{i}", "prompt": f"q{i}"}) for i in range(n))
    path.write_text(text + ("\n" if trailing_newline else ""))


@pytest.fixture(scope="module")
def sim() -> SimProcess:
    with SimProcess(SimConfig(seed=3)) as server:
        yield server


def test_the_output_may_not_be_the_input(tmp_path: Path, sim: SimProcess) -> None:
    source = tmp_path / "in.jsonl"
    _rows(source, 5, trailing_newline=False)
    before = source.read_bytes()
    link = tmp_path / "link.jsonl"
    link.symlink_to(source)
    for output in (source, link):
        result = CliRunner().invoke(
            app, ["run", str(source), "-o", str(output), "--endpoint", sim.url, "--model", "sim-model"]
        )
        assert result.exit_code == 2, result.output
        assert "is the input" in result.output
        assert source.read_bytes() == before


@pytest.mark.parametrize(
    "content",
    [
        b"my notes\nsecond line without newline",
        b"one line, no newline",
        b'{"id": "r1", "prompt": "a request, not a result"}\n{"id": "r2", "prompt": "x"}',
        b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": []}}\n',
        b"\x00\x01\x02binary",
    ],
)
def test_a_file_that_is_not_a_journal_is_refused_untouched(
    tmp_path: Path, content: bytes, sim: SimProcess
) -> None:
    source = tmp_path / "in.jsonl"
    _rows(source, 3)
    notes = tmp_path / "notes.txt"
    notes.write_bytes(content)
    result = CliRunner().invoke(
        app, ["run", str(source), "-o", str(notes), "--endpoint", sim.url, "--model", "sim-model"]
    )
    assert result.exit_code == 2, result.output
    assert notes.read_bytes() == content
    with pytest.raises(UsageError):
        Journal(notes).open()
    assert notes.read_bytes() == content


def test_a_torn_tail_of_our_own_is_still_cut(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    row = {
        "id": "batch_req_1",
        "custom_id": "a",
        "response": None,
        "error": {"code": "timeout", "message": "x"},
    }
    whole = json.dumps(row, separators=(",", ":")) + "\n"
    out.write_text(whole + whole[:17])
    journal = Journal(out)
    recovery = journal.open()
    journal.close()
    assert recovery.truncated_bytes == 17 and out.read_text() == whole


def _limited_run(args: list[str], file_size_limit: int) -> subprocess.CompletedProcess[str]:
    """The CLI with files capped at ``file_size_limit`` bytes: writes past it fail (EFBIG), as on
    a full disk (ENOSPC), part of a write landing first."""

    def cap() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    return subprocess.run(
        [sys.executable, "-m", "orchestra", "batch", "run", *args],
        capture_output=True, text=True, timeout=120, preexec_fn=cap,
    )  # fmt: skip


def test_a_full_disk_gives_one_line_a_summary_and_a_file_that_resumes_exactly_once(
    tmp_path: Path, sim: SimProcess
) -> None:
    source = tmp_path / "in.jsonl"
    _rows(source, 300)
    out = tmp_path / "out.jsonl"
    args = [str(source), "-o", str(out), "--endpoint", sim.url, "--model", "sim-model", "-c", "20"]
    done = _limited_run([*args, "-q"], 40_000)  # about a third of the output fits
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "cannot write" in errors[0] and str(out) in errors[0], done.stderr
    assert "Traceback" not in done.stderr
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["output_error"] and 0 < summary["this_run"]["ok"] < 300
    assert 0 < out.stat().st_size <= 40_000
    again = subprocess.run(
        [sys.executable, "-m", "orchestra", "batch", "run", *args, "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    ids = [json.loads(line)["custom_id"] for line in out.read_text().splitlines()]
    assert sorted(ids) == sorted(f"r{i}" for i in range(300))  # every row exactly once


def test_an_unwritable_output_is_one_line(tmp_path: Path, sim: SimProcess) -> None:
    source = tmp_path / "in.jsonl"
    _rows(source, 3)
    out = tmp_path / "dir.jsonl"
    out.mkdir()  # root ignores permissions; a directory refuses writes for everyone
    result = CliRunner().invoke(
        app, ["run", str(source), "-o", str(out), "--endpoint", sim.url, "--model", "sim-model"]
    )
    assert result.exit_code == 2 and "is a directory" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert os.listdir(out) == []
