"""BFCL data: read from a folder, from inside the wheel's zip, from the cache; offline errors."""

from __future__ import annotations

import json
import socket
import zipfile
from pathlib import Path

import pytest

from orchestra.benchmarks.bfcl import CATEGORIES, load_category, open_source, parse_categories
from orchestra.benchmarks.bfcl.data import BFCL_VERSION, pip_fetch
from orchestra.errors import UsageError

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "bfcl"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="the shared BFCL copy is not present")


def _wheel(folder: Path, categories: tuple[str, ...] = ("simple_python", "parallel", "irrelevance")) -> Path:
    """A wheel-shaped zip holding a few of the shared files under bfcl_eval/data/."""
    wheel = folder / f"bfcl_eval-{BFCL_VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name in categories:
            archive.write(SHARED / f"BFCL_v4_{name}.json", f"bfcl_eval/data/BFCL_v4_{name}.json")
            answer = SHARED / "possible_answer" / f"BFCL_v4_{name}.json"
            if answer.is_file():
                archive.write(answer, f"bfcl_eval/data/possible_answer/BFCL_v4_{name}.json")
    return wheel


@needs_shared
def test_every_single_turn_category_loads_with_its_answers() -> None:
    sizes = {c.name: len(load_category(c, SHARED)) for c in CATEGORIES.values()}
    assert sizes["simple_python"] == 400 and sizes["parallel"] == 200 and sizes["irrelevance"] == 240
    assert sizes["live_multiple"] == 1053 and sizes["simple_java"] == 100 and sizes["simple_javascript"] == 50
    item = load_category("parallel", SHARED, limit=1)[0]
    assert item.id == "parallel_0" and item.function("spotify.play") is not None
    assert item.ground_truth == [
        {"spotify.play": {"artist": ["Taylor Swift"], "duration": [20]}},
        {"spotify.play": {"artist": ["Maroon 5"], "duration": [15]}},
    ]
    assert "Taylor Swift" in item.prompt
    assert load_category("irrelevance", SHARED, limit=2)[1].ground_truth is None


@needs_shared
def test_the_wheel_is_read_as_a_zip_given_directly_or_found_in_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = _wheel(tmp_path)
    direct = load_category("parallel", wheel, limit=3)
    assert [i.id for i in direct] == ["parallel_0", "parallel_1", "parallel_2"]
    assert load_category("parallel", tmp_path, limit=1)[0].id == "parallel_0"  # a folder holding the wheel
    cache = tmp_path / "cache"
    (cache / "bfcl").mkdir(parents=True)
    wheel.rename(cache / "bfcl" / wheel.name)
    monkeypatch.setenv("ORCHESTRA_CACHE", str(cache))
    source = open_source(None, fetch=None, shared=False)
    assert str(source).endswith("!bfcl_eval/data/")
    assert len(load_category("simple_python", source)) == 400
    with pytest.raises(UsageError, match=r"BFCL_v4_multiple\.json is missing"):
        load_category("multiple", source)


def test_offline_the_error_names_both_ways_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a closed port on 127.0.0.1: the "index" is unreachable
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("ORCHESTRA_CACHE", str(tmp_path))
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{port}/simple")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "1")
    monkeypatch.setenv("PIP_NO_INPUT", "1")
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    with pytest.raises(UsageError) as caught:
        open_source(None, fetch=pip_fetch, shared=False)
    message = str(caught.value)
    assert "--data" in message and f"pip download --no-deps bfcl-eval=={BFCL_VERSION}" in message
    assert "\n" not in message


def test_bad_sources_and_names_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no BFCL data there"):
        open_source(tmp_path)
    (tmp_path / "BFCL_v4_simple_python.json").write_text('{"id": "simple_python_0"}\n')
    with pytest.raises(UsageError, match=r"possible_answer/BFCL_v4_simple_python\.json is missing"):
        load_category("simple_python", tmp_path)
    (tmp_path / "BFCL_v4_irrelevance.json").write_text('{"id": "irrelevance_0"}\nnot json\n')
    with pytest.raises(UsageError, match=":2: not valid JSON"):
        load_category("irrelevance", tmp_path)
    with pytest.raises(UsageError, match="unknown BFCL category multi_turn_base"):
        parse_categories("parallel,multi_turn_base")
    assert [c.name for c in parse_categories("parallel, multiple,parallel")] == ["parallel", "multiple"]
    assert len(parse_categories("all")) == len(CATEGORIES)
    with pytest.raises(UsageError, match="--limit must be >= 1"):
        load_category("parallel", tmp_path, limit=0)


@needs_shared
def test_score_cli_prints_accuracy_and_writes_bfcls_per_item_lines(tmp_path: Path) -> None:
    import subprocess
    import sys

    from orchestra.benchmarks.bfcl.answers import reference_calls

    items = load_category("parallel", SHARED, limit=4)
    results = tmp_path / "results.jsonl"
    rows = [{"id": i.id, "result": reference_calls(i)} for i in items[:3]]
    rows.append(
        {"id": items[3].id, "result": json.dumps(reference_calls(items[3])[:1])}
    )  # one call short, as text
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "verdicts.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "orchestra", "bench", "bfcl", "score", "-c", "parallel",
         "-r", str(results), "-o", str(out), "--data", str(SHARED)],
        capture_output=True, text=True, timeout=60, env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "75.0%" in done.stdout and "196 item(s) had no result" in done.stdout
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
    verdicts = [json.loads(line) for line in out.read_text().splitlines()]
    assert [v["valid"] for v in verdicts] == [True, True, True, False]
    assert verdicts[3] == {
        "id": "parallel_3",
        "valid": False,
        "error_type": "parallel_function_checker_no_order:wrong_count",
        "error": ["Wrong number of functions."],
    }
    bad = subprocess.run(
        [sys.executable, "-m", "orchestra", "bench", "bfcl", "score", "-c", "parallel", "-r", str(tmp_path / "nope")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "results" in bad.stderr
