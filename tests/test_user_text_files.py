"""Every file a user writes is read the same whatever editor wrote it: a UTF-8 byte-order mark
and CRLF line endings (Notepad, PowerShell, Excel's "CSV UTF-8") change nothing, and a file that
is not UTF-8 is one clear error naming it (issue: endpoint TOML files and simulator scripts
failed on a BOM). Each reader of a user's file is tried here on real files, one CLI command as
a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.batch import JsonlSource
from orchestra.benchmarks.bfcl.data import DataSource, load_category
from orchestra.benchmarks.bfcl.score import read_results
from orchestra.benchmarks.compiler.datasets import parse_questions
from orchestra.benchmarks.swe._predictions import load_predictions
from orchestra.benchmarks.swe._task import read_json_records
from orchestra.benchmarks.swe._trajectory import read_run
from orchestra.cli.ttc import load_questions
from orchestra.endpoints.config import load_endpoints
from orchestra.errors import UsageError
from orchestra.sim import SimConfig, SimProcess
from orchestra.sim.content import load_script
from orchestra.text_files import read_user_text, user_text
from orchestra.tools import load_corpus
from orchestra.tracefile import read_trace

BOM = b"\xef\xbb\xbf"


def _windows(text: str) -> bytes:
    """``text`` as a Windows editor saves it: a BOM, then CRLF line endings."""
    return BOM + text.replace("\n", "\r\n").encode("utf-8")


def _both(tmp_path: Path, name: str, text: str) -> tuple[Path, Path]:
    (tmp_path / "plain").mkdir(exist_ok=True)
    (tmp_path / "windows").mkdir(exist_ok=True)
    plain, windows = tmp_path / "plain" / name, tmp_path / "windows" / name
    plain.write_bytes(text.encode("utf-8"))
    windows.write_bytes(_windows(text))
    return plain, windows


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_a_bom_and_any_line_endings_decode_to_the_same_text(text: str) -> None:
    body = text.lstrip("\ufeff")
    expected = body.replace("\r\n", "\n").replace("\r", "\n")
    # The Windows form is made from the expected text: CRLF-ing a body that already holds a lone
    # CR before a LF ("\r\n" -> "\r\r\n") rightly reads as two line breaks.
    for data in (body.encode(), BOM + body.encode(), BOM + expected.replace("\n", "\r\n").encode()):
        assert user_text(data, "f") == expected


def test_a_file_that_is_not_utf8_is_one_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes("name = 'caf\xe9'\n".encode("latin-1"))
    with pytest.raises(UsageError, match=r"latin1\.toml: not UTF-8 text \(byte 0xe9 at offset 11\)"):
        read_user_text(path)
    with pytest.raises(UsageError, match=r"endpoints file .*latin1\.toml: not UTF-8"):
        load_endpoints(path)


ENDPOINTS = '[[endpoints]]\nname = "a"\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\nrpm = 60\n'
SCRIPT = '{"match": "hello", "content": "hi there"}\n\n{"content": "fallback"}\n'
TRACE = (
    '{"orchestra_trace": 1, "started_at_unix": 0}\n'
    '{"id": 1, "name": "plan", "kind": "plan", "start": 0.0, "end": 1.0}\n'
)
QUESTIONS = '{"id": "q1", "question": "2+2?"}\n{"id": "q2", "question": "3+3?"}\n'
CORPUS = '{"id": "d1", "title": "T", "text": "alpha beta"}\n{"id": "d2", "text": "gamma"}\n'
PREDICTIONS = '{"instance_id": "x__y-1", "model_name_or_path": "m", "model_patch": "diff"}\n'
RESULTS = '{"id": "simple_python_0", "result": [{"f": {"a": 1}}]}\n'
DATASET = '[{"question": "What is 2+2?", "answer": "4"}]'


def _same(reader: Callable[[Path], Any], plain: Path, windows: Path) -> Any:
    expected = reader(plain)
    assert reader(windows) == expected
    return expected


@pytest.mark.parametrize(
    ("name", "text", "reader"),
    [
        ("endpoints.toml", ENDPOINTS, load_endpoints),
        ("script.jsonl", SCRIPT, load_script),
        ("questions.jsonl", QUESTIONS, load_questions),  # ttc run
        ("corpus.jsonl", CORPUS, load_corpus),  # search --corpus
        ("passages.txt", "# Title\r\n\r\nfirst passage\n\nsecond passage\n", load_corpus),
        (
            "predictions.jsonl",
            PREDICTIONS,
            lambda p: {k: v.to_dict() for k, v in load_predictions(p).items()},
        ),
        ("instances.json", f"[{PREDICTIONS.strip()}]", read_json_records),  # swe --tasks
        ("results.jsonl", RESULTS, read_results),  # bench bfcl score
        ("trace.jsonl", TRACE, lambda p: [s.name for s in read_trace(p).trace.spans]),
    ],
)
def test_each_reader_of_a_users_file_ignores_a_bom_and_crlf(
    tmp_path: Path, name: str, text: str, reader: Callable[[Path], Any]
) -> None:
    plain, windows = _both(tmp_path, name, text)
    assert _same(reader, plain, windows)  # read, and not empty


def test_a_corpus_folders_titles_survive_a_bom(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_bytes(_windows("# Alpha notes\n\nbody text\n"))
    (doc,) = load_corpus(tmp_path / "docs")  # the title is a "# ..." first line
    assert doc.title == "Alpha notes" and not doc.text.startswith("\ufeff")


def test_a_swe_trajectory_and_a_compiler_dataset_ignore_a_bom(tmp_path: Path) -> None:
    _, windows = _both(tmp_path, "run.jsonl", TRACE.replace('"plan", "kind": "plan"', '"llm", "kind": "llm"'))
    assert read_run(windows).steps
    assert parse_questions(BOM + DATASET.encode(), "d")[0].answer == "4"
    assert parse_questions("\ufeff" + DATASET, "d")[0].answer == "4"


def test_bfcl_data_files_ignore_a_bom(tmp_path: Path) -> None:
    shared = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "bfcl"
    if not shared.is_dir():
        pytest.skip("no shared BFCL data")
    folder = tmp_path / "bfcl"
    (folder / "possible_answer").mkdir(parents=True)
    for relative in ("BFCL_v4_simple_python.json", "possible_answer/BFCL_v4_simple_python.json"):
        lines = (shared / relative).read_text(encoding="utf-8").splitlines()[:3]
        (folder / relative).write_bytes(_windows("\n".join(lines) + "\n"))
    items = load_category("simple_python", DataSource(folder), fetch=None)
    assert [i.id for i in items] == [json.loads(line)["id"] for line in lines]


def test_a_batch_input_with_a_bom_and_crlf_keeps_every_row(tmp_path: Path) -> None:
    _, windows = _both(tmp_path, "in.jsonl", '{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": "y"}\n')
    rows = [row for _, row in JsonlSource(windows).scan()]
    assert [r.custom_id for r in rows] == ["a", "b"] and rows[1].request.messages[0].text == "y"


def test_the_cli_reads_a_windows_endpoints_file_and_sim_script(tmp_path: Path) -> None:
    script = tmp_path / "script.jsonl"
    script.write_bytes(_windows(SCRIPT))
    with SimProcess(SimConfig(content="script", script=str(script))) as sim:
        endpoints = tmp_path / "endpoints.toml"
        endpoints.write_bytes(
            _windows(f'[[endpoints]]\nname = "sim"\nbase_url = "{sim.url}"\nmodel = "sim-model"\n')
        )
        done = subprocess.run(
            [sys.executable, "-m", "orchestra", "chat", "hello", "--endpoints", str(endpoints)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    assert "hi there" in done.stdout


def test_json_lines_numbers_lines_skips_blanks_and_names_the_bad_one() -> None:
    from orchestra.text_files import json_lines, user_text

    text = user_text(b'\xef\xbb\xbf{"a": 1}\r\n\r\n[2]\r\n', "f.jsonl")
    assert list(json_lines(text, "f.jsonl")) == [(1, {"a": 1}), (3, [2])]
    with pytest.raises(UsageError, match=r"^f\.jsonl:2: not valid JSON \(Expecting value"):
        list(json_lines('{"a": 1}\nnot json\n', "f.jsonl"))
