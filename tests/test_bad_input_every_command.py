"""Every command, given what a new user gets wrong (a missing, empty or directory file, a
malformed line, a bad flag value, a closed port, a model the server does not serve), says so in
one line, exits 2 for a usage error or 1 for a failure, and prints no traceback. Each case runs
the real CLI as a subprocess against the simulator on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra.sim import SimConfig, SimProcess


@pytest.fixture(scope="module")
def sim() -> Iterator[SimProcess]:
    with SimProcess(SimConfig()) as server:
        yield server


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("inputs")
    (root / "empty.jsonl").write_text("")
    (root / "bad.jsonl").write_text("{broken\n")
    (root / "dir").mkdir()
    (root / "one.jsonl").write_text(json.dumps({"id": "a", "prompt": "x"}) + "\n")
    (root / "q.jsonl").write_text(json.dumps({"id": "a", "question": "x"}) + "\n")
    return root


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


# (name, args with {F} = the files folder, {S} = the simulator's URL, {C} = a closed port), exit code,
# and a piece of the one line.
CASES = [
    ("chat blank question", ["chat", "  "], 2, "blank"),
    ("chat unknown model", ["chat", "hi", "-e", "{S}", "--model", "nope"], 2, "does not serve model 'nope'"),
    ("chat endpoints file is a dir", ["chat", "hi", "--endpoints", "{F}/dir"], 2, "directory"),
    ("run bad flag value", ["run", "x", "--max-replans", "-1"], 2, "--max-replans"),
    ("run empty corpus", ["run", "x", "-e", "{S}", "--corpus", "{F}/empty.jsonl"], 2, "is empty"),
    ("run closed port", ["run", "2+3?", "-e", "{C}", "--model", "m"], 1, "connection failed"),
    (
        "batch empty input",
        ["batch", "run", "{F}/empty.jsonl", "-o", "{F}/o1.jsonl", "-e", "{S}"],
        2,
        "no rows",
    ),
    (
        "batch malformed line",
        ["batch", "run", "{F}/bad.jsonl", "-o", "{F}/o2.jsonl", "-e", "{S}", "-q"],
        1,
        "1 of 1 rows failed",
    ),
    ("batch missing -o", ["batch", "run", "{F}/one.jsonl"], 2, "Missing option '--output'"),
    ("batch merge missing", ["batch", "merge", "{F}/missing.jsonl", "-o", "{F}/m.jsonl"], 2, "not found"),
    ("ttc empty questions", ["ttc", "run", "{F}/empty.jsonl", "-e", "{S}"], 2, "no questions"),
    (
        "ttc unknown model",
        ["ttc", "run", "{F}/q.jsonl", "-e", "{S}", "--model", "nope", "-o", "{F}/t.jsonl"],
        2,
        "does not serve model 'nope'",
    ),
    (
        "ttc closed port",
        ["ttc", "run", "{F}/q.jsonl", "-e", "{C}", "--model", "m", "-o", "{F}/t2.jsonl"],
        1,
        "connection failed",
    ),
    (
        "bfcl score missing -c",
        ["bench", "bfcl", "score", "-r", "{F}/bad.jsonl"],
        2,
        "Missing option '--category'",
    ),
    ("swe grade empty predictions", ["bench", "swe", "grade", "-p", "{F}/empty.jsonl"], 2, "no predictions"),
    (
        "swe solve unknown model",
        ["bench", "swe", "solve", "-o", "{F}/p.jsonl", "-e", "{S}", "--model", "nope"],
        2,
        "does not serve model 'nope'",
    ),
    ("swe replay empty", ["bench", "swe", "replay", "{F}/empty.jsonl"], 2, "no model calls"),
    ("sim port out of range", ["sim", "serve", "--port", "-1"], 2, "--port"),
    ("trace show empty", ["trace", "show", "{F}/empty.jsonl"], 2, "not a trace file"),
    ("no such command", ["nope"], 2, "No such command 'nope'"),
]


@pytest.mark.parametrize(("name", "args", "code", "says"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_1_or_2(
    sim: SimProcess, files: Path, name: str, args: list[str], code: int, says: str
) -> None:
    closed = _closed_port()
    argv = [a.replace("{F}", str(files)).replace("{S}", sim.url).replace("{C}", closed) for a in args]
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "ORCHESTRA_ENDPOINTS")}
    done = subprocess.run(
        [sys.executable, "-m", "orchestra", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "NO_COLOR": "1", "COLUMNS": "100"},
        stdin=subprocess.DEVNULL,
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == code, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], done.stderr
