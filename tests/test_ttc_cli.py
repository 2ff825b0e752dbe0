"""``orchestra ttc run`` against the simulator, and ``orchestra bench ttc`` on a small bank."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestra.cli.main import app
from orchestra.sim import SimConfig, SimProcess
from orchestra.ttc import BankHeader, BankQuery, BankSample, append_queries, write_header


@pytest.fixture(scope="module")
def echo_sim() -> Iterator[SimProcess]:
    """A simulator that answers with the question itself: '3 + 4 = 7' is answered 7, every time."""
    with SimProcess(SimConfig(content="echo")) as process:
        yield process


def _questions(path: Path, n: int) -> None:
    path.write_text(
        "".join(json.dumps({"id": f"q{i}", "question": f"{i} + 1 = {i + 1}"}) + "\n" for i in range(n))
    )


def test_ttc_run_answers_each_query_once_and_resumes(echo_sim: SimProcess, tmp_path: Path) -> None:
    questions, out = tmp_path / "q.jsonl", tmp_path / "out.jsonl"
    _questions(questions, 4)
    args = ["ttc", "run", str(questions), "--method", "certaindex", "-k", "8", "-o", str(out)]
    args += ["-e", echo_sim.url, "--model", "sim-model", "--max-tokens", "16"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == ["q0", "q1", "q2", "q3"]
    by_id = {r["id"]: r for r in rows}
    assert by_id["q2"]["answer"] == "3"
    assert all(r["samples"] == 2 and r["certainty"] == 1.0 and r["tokens"] > 0 for r in rows)  # stopped early
    _questions(questions, 5)  # one more question: only it runs
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()][4:] == ["q4"]


def test_ttc_run_never_spends_more_than_its_budget(echo_sim: SimProcess, tmp_path: Path) -> None:
    questions, out = tmp_path / "q.jsonl", tmp_path / "out.jsonl"
    _questions(questions, 6)
    args = ["ttc", "run", str(questions), "--method", "sc", "-k", "4", "--budget", "150", "-o", str(out)]
    args += ["-e", echo_sim.url, "--model", "sim-model", "--max-tokens", "8"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 6  # every query is reported, answered or not
    assert 0 < sum(r["tokens"] for r in rows) <= 150


def test_ttc_run_bad_input_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "no id"}\n')
    result = CliRunner().invoke(app, ["ttc", "run", str(bad)])
    assert result.exit_code != 0
    assert "needs an object" in str(result.exception) or "needs an object" in result.output


def test_bench_ttc_runs_offline_on_a_bank(tmp_path: Path) -> None:
    bank = tmp_path / "bank.jsonl.gz"
    write_header(
        bank,
        BankHeader(model="m", endpoint="e", temperature=1.0, max_tokens=8, created="now", generator="test"),
    )
    queries = []
    for i in range(6):  # query i: i of 8 samples right, the rest split between two wrong answers
        samples = [
            BankSample(
                answer="1" if j < i else str(2 + j % 2), correct=j < i, completion_tokens=3, text=f"x{j}"
            )
            for j in range(8)
        ]
        queries.append(BankQuery(id=f"q{i}", question=f"question {i}", answer="1", samples=samples))
    append_queries(bank, queries)
    out = tmp_path / "cmp.json"
    result = CliRunner().invoke(app, ["bench", "ttc", "--bank", str(bank), "--seeds", "5", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["allocator_check"] is True
    assert set(data["curves"]) == {"sc", "certaindex", "adaptive", "oracle"}
    assert len(data["curves"]["sc"]["accuracy"]) == 8
    assert (tmp_path / "cmp.png").stat().st_size > 1000
    # The oracle is an upper bound of every method at every budget it reaches.
    oracle = data["curves"]["oracle"]
    assert max(oracle["accuracy"]) >= max(data["curves"]["sc"]["accuracy"])
    knee = data["saved_at_equal_accuracy"]["oracle"]["knee"]
    assert knee["saved"] > 0 and knee["problems_low"] <= knee["saved"] <= knee["problems_high"]
    assert set(data["saved_at_equal_accuracy"]["adaptive"]) == {"knee", "k=4", "k=8"}

    # A slice of the bank (a held-out part) and Certaindex's minimum samples.
    part = tmp_path / "part.json"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "ttc",
            "--bank",
            str(bank),
            "--seeds",
            "3",
            "--problems",
            "2:",
            "--min-samples",
            "3",
            "--methods",
            "certaindex",
            "-o",
            str(part),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(part.read_text())
    assert data["queries"] == 4 and data["allocator_check"] is True
    assert min(data["curves"]["certaindex"]["mean_samples"]) >= 3
    bad = CliRunner().invoke(app, ["bench", "ttc", "--bank", str(bank), "--problems", "half"])
    assert bad.exit_code != 0 and "START:STOP" in (bad.output + str(bad.exception))


def test_the_shipped_bank_is_a_valid_bank_of_32_samples_a_problem() -> None:
    from orchestra.cli.bench_ttc import _default_bank
    from orchestra.ttc import normalize_answer, read_bank

    header, queries = read_bank(_default_bank())
    assert header.model == "smollm2-135m" and len(queries) >= 300
    assert len({q.id for q in queries}) == len(queries)
    # The first 164 problems hold repeated questions (1-digit sums are few); those added since
    # repeat neither them nor each other.
    first = {q.question for q in queries[:164]}
    later = [q.question for q in queries[164:]]
    assert len(set(later)) == len(later) and not first & set(later)
    assert all(len(q.samples) >= 32 for q in queries)
    for q in queries:
        for s in q.samples:
            assert s.answer is None or normalize_answer(s.answer) == s.answer
            assert s.completion_tokens > 0 and s.prompt_tokens > 0
            assert s.correct == (s.answer == normalize_answer(q.answer))
    accuracy = [q.accuracy for q in queries]
    assert min(accuracy) == 0.0 and max(accuracy) > 0.9  # spans hopeless to nearly always right
