"""The coding agent: its tools, a scripted model replaying gold patches end to end, and test votes.

Scripted models (``orchestra.testing.FunctionModel``) speak the ReAct planner's JSON; the tools,
checkouts, shells and graders are real.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.benchmarks.swe import (
    TEST_SCRIPT,
    GradeConfig,
    SolveConfig,
    edits_of_patch,
    example_predictions,
    example_tasks,
    grade_all,
    load_predictions,
    load_tasks,
    make_repo_tools,
    rank_candidates,
    solve_all,
    solve_task,
    write_predictions,
    write_traces,
)
from orchestra.chat import ChatRequest
from orchestra.errors import EndpointError, ToolError
from orchestra.testing import FunctionModel, ScriptedModel

STATS = "orchestra-examples__stats-5"


def _act(tool: str, **args: object) -> str:
    return json.dumps({"thought": f"use {tool}", "action": {"tool": tool, "args": args}})


def _finish(answer: str = "done") -> str:
    return _act("finish", answer=answer)


def _edit_steps(patch: str) -> list[str]:
    steps = []
    for edit in edits_of_patch(patch):
        if edit.create:
            steps.append(_act("create_file", path=edit.path, content=edit.new))
        else:
            steps.append(_act("edit_file", path=edit.path, old=edit.old, new=edit.new))
    return steps


def _scripted(scripts: dict[tuple[str, int], list[str]]) -> FunctionModel:
    """Answers each (task, sample seed) from its own script, in order."""
    used: dict[tuple[str, int], int] = {}

    def answer(request: ChatRequest) -> str:
        text = "\n".join(m.content or "" for m in request.messages)
        found = re.search(r"Task (\S+):", text)
        assert found, "the prompt names the task"
        key = (found.group(1), int(request.extra.get("seed", 0)))
        step = used.get(key, 0)
        used[key] = step + 1
        return scripts[key][step]

    return FunctionModel(answer)


def _tasks(*ids: str) -> list:
    return [t for t in load_tasks(example_tasks()) if t.instance_id in ids]


def test_a_scripted_model_writes_the_gold_patch_end_to_end(tmp_path: Path) -> None:
    """solve -> predictions JSONL -> grade: the agent's tools reproduce each gold patch."""
    tasks = _tasks("orchestra-examples__money-3", "orchestra-examples__wraptext-2", STATS)
    scripts = {}
    for task in tasks:
        first = edits_of_patch(task.patch)[0].path
        scripts[(task.instance_id, 0)] = [
            _act("view_file", path=first),
            _act("search", pattern="def ", path="."),
            *_edit_steps(task.patch),
            _act("shell", command="python -m pytest -q -p no:cacheprovider tests"),
            _finish(),
        ]
    model = _scripted(scripts)
    results = anyio.run(lambda: solve_all(tasks, model, SolveConfig(max_steps=12)))
    preds = write_predictions([r.prediction for r in results], tmp_path / "preds.jsonl")
    patches = {k: p.model_patch for k, p in load_predictions(preds).items()}
    reports = anyio.run(lambda: grade_all(tasks, patches, GradeConfig(timeout=60)))
    assert [r.resolved for r in reports] == [True, True, True]
    money = next(r for r in results if r.task.instance_id == "orchestra-examples__money-3")
    assert money.prediction.model_patch is not None and money.prediction.model_patch.count("diff --git") == 2
    # every LLM call and tool call is a span; tool spans carry their arguments
    trace = money.candidates[0].trace
    assert len(trace.of_kind("llm")) == 6
    tools = [s.attrs["tool"] for s in trace.of_kind("task")]
    assert tools == ["view_file", "search", "edit_file", "edit_file", "shell"]
    assert trace.of_kind("task")[0].attrs["args"] == {"path": "money/fmt.py"}
    assert "exit code" in trace.of_kind("task")[-1].attrs["result"]
    files = write_traces(results, tmp_path / "traces")
    assert len(files) == 3 and all(f.read_text().strip() for f in files)


def test_samples_vote_picks_the_candidate_every_test_agrees_with() -> None:
    """Four candidates: a wrong short fix, the gold fix, a half fix, and one that gives up.

    The gold patch is the longest, so only the votes can choose it.
    """
    (task,) = _tasks(STATS)
    half = json.loads((example_predictions() / "half_fix.jsonl").read_text())["model_patch"]
    wrong = "    counts = Counter(values)\n    return counts.most_common(1)[0][0]\n"
    wrong_new = "    counts = Counter(values)\n    return sorted(values)[0]\n"
    both = "from stats import median, mode\nassert median([1, 2, 3, 4]) == 2.5\nassert mode([3, 3, 1, 1, 2]) == 1\n"
    scripts = {
        (STATS, 0): [
            _act("edit_file", path="stats/describe.py", old=wrong, new=wrong_new),
            _act("create_file", path=TEST_SCRIPT, content=both),
            _finish(),
        ],
        (STATS, 1): [
            *_edit_steps(task.patch),
            _act("create_file", path=TEST_SCRIPT, content=both),
            _finish(),
        ],
        (STATS, 2): [
            *_edit_steps(half),
            _act(
                "create_file",
                path=TEST_SCRIPT,
                content="from stats import median\nassert median([4, 1, 3, 2]) == 2.5\n",
            ),
            _finish(),
        ],
        # gives up; its test passes on the unpatched base, so it must not vote
        (STATS, 3): [_act("create_file", path=TEST_SCRIPT, content="assert 1 + 1 == 2\n"), _finish("cannot")],
    }
    result = anyio.run(lambda: solve_task(task, _scripted(scripts), SolveConfig(samples=4)))
    assert result.ranking is not None
    assert result.ranking.voters == [0, 1, 2]
    assert result.ranking.votes == [0, 3, 1, 0]
    assert result.chosen == 1 and result.prediction.model_patch == result.candidates[1].patch
    lengths = [len(c.patch) for c in result.candidates]
    assert lengths[1] > lengths[0] and lengths[3] == 0
    assert TEST_SCRIPT not in (result.prediction.model_patch or "")
    assert (
        len(result.vote_trace.of_kind("test")) == 4 + 3 * 3
    )  # base x 4 tests, 3 non-empty patches x 3 voters
    (report,) = anyio.run(
        lambda: grade_all([task], {STATS: result.prediction.model_patch}, GradeConfig(timeout=60))
    )
    assert report.resolved


def test_rank_breaks_ties_by_shorter_patch_and_puts_empty_last() -> None:
    ranking = rank_candidates(
        ["", "long patch", "short"], {(1, 0): True, (2, 0): True, (0, 0): True}, {0: False}
    )
    assert ranking.order == [2, 1, 0] and ranking.votes == [1, 1, 1]
    nobody = rank_candidates(["a", "bb"], {}, {0: True})
    assert nobody.voters == [] and nobody.order == [0, 1]


@given(st.lists(st.text(alphabet="ab \n", max_size=12), min_size=1, max_size=6))
def test_edits_of_patch_never_crash(lines: list[str]) -> None:
    text = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n" + "\n".join(lines)
    for edit in edits_of_patch(text):
        assert edit.path == "x"


# --- the tools ----------------------------------------------------------------------------------


def _run(tool: object, **args: object) -> object:
    return anyio.run(lambda: tool.call(args))  # type: ignore[attr-defined]


def test_tools_stay_inside_the_checkout(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "a.py").write_text("x = 1\nx = 1\ny = 2\n")
    (tmp_path / "secret.txt").write_text("s")
    view, search, edit, create, _shell = make_repo_tools(root)
    assert "2: x = 1" in str(_run(view, path="pkg/a.py"))
    assert "pkg/a.py:3: y = 2" in str(_run(search, pattern=r"y\s*=", path="."))
    for bad in ("../secret.txt", "/etc/passwd", "pkg/../../secret.txt"):
        with pytest.raises(ToolError, match="outside"):
            _run(view, path=bad)
    with pytest.raises(ToolError, match="2 times"):
        _run(edit, path="pkg/a.py", old="x = 1", new="x = 3")
    _run(edit, path="pkg/a.py", old="y = 2", new="y = 3")
    _run(create, path="pkg/b.py", content="z = 0\n")
    assert (root / "pkg" / "a.py").read_text().endswith("y = 3\n") and (root / "pkg" / "b.py").exists()


def test_shell_is_scrubbed_timed_and_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    shell = make_repo_tools(root, shell_timeout=1.0)[-1]
    out = str(_run(shell, command='echo "key=[$OPENAI_API_KEY] home=$HOME"; pwd'))
    assert out.startswith("exit code 0") and "key=[]" in out and f"home={root}" in out
    assert str(root) in out.splitlines()[-1]
    slow = str(_run(shell, command="(sleep 30 & echo $! > child.pid; wait)"))
    assert slow.startswith("timed out after 1 s")
    pid = int((root / "child.pid").read_text())
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_a_run_that_fails_keeps_its_trace_and_the_prompt_lists_the_files() -> None:
    (task,) = _tasks(STATS)
    steps = [_act("view_file", path="nope.py"), EndpointError("model went away", status=400)]
    model = ScriptedModel(steps)
    result = anyio.run(lambda: solve_task(task, model, SolveConfig()))
    candidate = result.candidates[0]
    assert candidate.error is not None and "model went away" in candidate.error
    assert len(candidate.trace.of_kind("llm")) == 2 and len(candidate.trace.of_kind("task")) == 1
    view = candidate.trace.of_kind("task")[0]
    assert view.error is not None and "stats/describe.py" in view.error  # a guessed path gets the real ones
    assert "Files: " in (model.requests[0].messages[-1].content or "")
    assert result.prediction.model_patch == ""
