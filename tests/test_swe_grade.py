"""Grading SWE-style tasks: the example tasks, the runner's timeouts, patches, readers and the CLI.

Real git, real pytest subprocesses, real files; the acceptance runs of the issue (gold 12/12,
empty 0/12, the half-fix partial, the infinite loop timed out with no process left) are here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest

from orchestra.benchmarks.swe import (
    RESOLVED_NO,
    RESOLVED_PARTIAL,
    GradeConfig,
    example_predictions,
    example_tasks,
    grade_all,
    grade_instance,
    load_predictions,
    load_tasks,
    make_run_report,
    predictions_for,
    snapshot,
)
from orchestra.benchmarks.swe._checkout import patched_paths
from orchestra.errors import UsageError

LOOP_TASK = "orchestra-examples__wraptext-2"
HALF_TASK = "orchestra-examples__stats-5"


def _git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t")
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    out = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", *args], cwd=cwd, env=env, check=True, capture_output=True
    )
    return out.stdout.decode()


def _diff(base: dict[str, str], change: dict[str, str], where: Path) -> str:
    """A git-format diff from ``base`` files to ``base`` updated with ``change``."""
    shutil.rmtree(where, ignore_errors=True)
    for rel, text in base.items():
        (where / rel).parent.mkdir(parents=True, exist_ok=True)
        (where / rel).write_text(text)
    _git(where, "init", "-q")
    _git(where, "add", "-A")
    _git(where, "commit", "-qm", "base")
    for rel, text in change.items():
        (where / rel).parent.mkdir(parents=True, exist_ok=True)
        (where / rel).write_text(text)
    _git(where, "add", "-A")
    return _git(where, "diff", "--cached", "HEAD")


def _make_task(
    root: Path,
    name: str,
    base: dict[str, str],
    gold: dict[str, str],
    tests: dict[str, str],
    f2p: list[str],
    p2p: list[str],
) -> Path:
    task = root / name
    for rel, text in base.items():
        (task / "repo" / rel).parent.mkdir(parents=True, exist_ok=True)
        (task / "repo" / rel).write_text(text)
    (task / "gold.patch").write_text(_diff(base, gold, root / "_scratch"))
    (task / "test.patch").write_text(_diff(base, tests, root / "_scratch"))
    (task / "problem.md").write_text("fix it\n")
    (task / "task.toml").write_text(
        f'instance_id = "{name}"\nrepo = "t/{name}"\nbase_commit = "x"\nversion = "1"\n'
        f"FAIL_TO_PASS = {json.dumps(f2p)}\nPASS_TO_PASS = {json.dumps(p2p)}\n"
    )
    return task


def _grade(tasks: list, source: str, **config: float) -> dict:
    preds = predictions_for(source, tasks)
    patches = {k: v.model_patch for k, v in preds.items()}
    reports = anyio.run(lambda: grade_all(tasks, patches, GradeConfig(**config)))  # type: ignore[arg-type]
    return make_run_report(reports, [t.instance_id for t in tasks])


# --- the example tasks -------------------------------------------------------------------------


def test_example_tasks_have_the_layout_and_the_required_kinds() -> None:
    tasks = load_tasks(example_tasks())
    assert len(tasks) >= 12
    for task_dir in sorted(p for p in example_tasks().iterdir() if p.is_dir()):
        assert {"task.toml", "repo", "problem.md", "test.patch", "gold.patch"} <= {
            p.name for p in task_dir.iterdir()
        }
    by_id = {t.instance_id: t for t in tasks}
    # one gold patch touches two files; one test patch adds a new test file
    assert any(len(patched_paths(t.patch)) == 2 for t in tasks)
    assert any("new file mode" in t.test_patch and t.test_patch.count("diff --git") == 1 for t in tasks)
    # base_commit names the repo/ tree exactly (a fixed-identity commit of its files)
    for task in tasks[:3]:

        async def commit_of(task=task) -> str:
            dest = Path(os.environ.get("TMPDIR", "/tmp")) / f"orchestra-test-{os.getpid()}-{task.instance_id}"
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(task.repo_path, dest)
            try:
                return await snapshot(dest)
            finally:
                shutil.rmtree(dest, ignore_errors=True)

        assert anyio.run(commit_of) == task.base_commit
    assert LOOP_TASK in by_id and HALF_TASK in by_id


@pytest.mark.slow
def test_gold_resolves_every_example_task() -> None:
    report = _grade(load_tasks(example_tasks()), "gold", timeout=60)
    assert report["resolved_instances"] == report["total_instances"] == 12
    assert report["error_ids"] == [] and report["unresolved_ids"] == []
    entry = report["instances"][HALF_TASK]
    assert set(entry) >= {
        "patch_is_None",
        "patch_exists",
        "patch_successfully_applied",
        "resolved",
        "tests_status",
    }
    assert entry["tests_status"]["FAIL_TO_PASS"]["failure"] == []


@pytest.mark.slow
def test_empty_patches_resolve_nothing_and_the_loop_times_out_cleanly() -> None:
    tasks = load_tasks(example_tasks())
    # The loop task gets a short timeout of its own; the machine may be loaded, so the rest get
    # a long one (a timeout at start-up would fail their PASS_TO_PASS tests).
    report = _grade([t for t in tasks if t.instance_id != LOOP_TASK], "empty", timeout=60)
    looped = _grade([t for t in tasks if t.instance_id == LOOP_TASK], "empty", timeout=10)
    report["instances"].update(looped["instances"])
    assert report["resolved_instances"] + looped["resolved_instances"] == 0
    assert report["partial_instances"] + looped["partial_instances"] == 0
    assert len(report["empty_patch_ids"] + looped["empty_patch_ids"]) == 12
    for task in tasks:  # every FAIL_TO_PASS fails on the base, every PASS_TO_PASS passes
        status = report["instances"][task.instance_id]["tests_status"]
        assert status["FAIL_TO_PASS"]["success"] == [], task.instance_id
        assert status["PASS_TO_PASS"]["failure"] == [], task.instance_id
    loop = report["instances"][LOOP_TASK]
    assert loop["timed_out"] and len(loop["timed_out_tests"]) == 2
    assert loop["resolution"] == RESOLVED_NO


def test_half_fix_grades_partial() -> None:
    tasks = [t for t in load_tasks(example_tasks()) if t.instance_id == HALF_TASK]
    report = _grade(tasks, str(example_predictions() / "half_fix.jsonl"), timeout=60)
    entry = report["instances"][HALF_TASK]
    assert entry["resolution"] == RESOLVED_PARTIAL and not entry["resolved"]
    assert report["partial_ids"] == [HALF_TASK] and report["unresolved_ids"] == [HALF_TASK]
    assert len(entry["tests_status"]["FAIL_TO_PASS"]["success"]) == 1


# --- timeouts kill the whole process group -----------------------------------------------------

_SPAWNER = textwrap.dedent(
    """
    import os, subprocess, sys

    def run(loop):
        child = subprocess.Popen([sys.executable, "-c", "import time\\nwhile True: time.sleep(0.05)"])
        with open(os.environ["ORCHESTRA_TEST_PIDS"], "a") as fh:
            fh.write(f"{child.pid}\\n")
        while loop:
            pass
        return 1
    """
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"  # a zombie is dead; only its parent's reaping is left


def _spawner_task(root: Path) -> Path:
    base = {
        "spawn.py": _SPAWNER.replace("loop):", "loop=True):"),
        "tests/test_ok.py": "def test_ok():\n    assert True\n",
    }
    tests = {"tests/test_spawn.py": "from spawn import run\n\n\ndef test_spawn():\n    assert run() == 1\n"}
    return _make_task(
        root,
        "t__spawn-1",
        base,
        {"spawn.py": _SPAWNER.replace("loop):", "loop=False):")},
        tests,
        ["tests/test_spawn.py::test_spawn"],
        ["tests/test_ok.py::test_ok"],
    )


@pytest.mark.parametrize("source", ["empty", "gold"])
def test_no_process_is_left_behind(source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that starts a child and then loops forever (empty) or returns (gold): the child dies too."""
    pids = tmp_path / "pids"
    monkeypatch.setenv("ORCHESTRA_TEST_PIDS", str(pids))
    tasks = load_tasks(_spawner_task(tmp_path / "tasks"))
    start = time.monotonic()
    report = _grade(tasks, source, timeout=10 if source == "empty" else 60)
    entry = report["instances"]["t__spawn-1"]
    assert entry["timed_out"] is (source == "empty")
    assert entry["resolved"] is (source == "gold")
    assert entry["tests_status"]["PASS_TO_PASS"]["success"] == ["tests/test_ok.py::test_ok"]
    children = [int(p) for p in pids.read_text().split()]
    assert children
    deadline = time.monotonic() + 3
    while any(_alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(_alive(p) for p in children), "a test's child process survived the run"
    assert time.monotonic() - start < 90


# --- patches -----------------------------------------------------------------------------------


def test_a_patch_that_does_not_apply_is_graded_not_raised() -> None:
    task = next(t for t in load_tasks(example_tasks()) if t.instance_id == "orchestra-examples__intervals-1")
    bad = "diff --git a/intervals/merge.py b/intervals/merge.py\n--- a/intervals/merge.py\n+++ b/intervals/merge.py\n@@ -1,2 +1,2 @@\n-no such line\n+x\n"
    report = anyio.run(grade_instance, task, bad, GradeConfig(timeout=30))
    assert report.patch_exists and not report.patch_successfully_applied and not report.resolved
    assert report.error is None and "does not apply" in report.log
    none = anyio.run(grade_instance, task, None, GradeConfig(timeout=30))
    assert none.patch_is_None and not none.patch_exists and not none.resolved


def test_a_model_patch_cannot_change_the_hidden_tests(tmp_path: Path) -> None:
    """The files the test patch touches are put back first, as the swebench harness does."""
    task = next(t for t in load_tasks(example_tasks()) if t.instance_id == "orchestra-examples__intervals-1")
    work = tmp_path / "w"
    shutil.copytree(task.repo_path, work)
    _git(work, "init", "-q")
    _git(work, "add", "-A")
    _git(work, "commit", "-qm", "b")
    test_file = work / "tests" / "test_merge.py"
    test_file.write_text(test_file.read_text() + "\n\ndef test_touching():\n    pass\n")
    cheat = task.patch + _git(work, "diff")
    report = anyio.run(grade_instance, task, cheat, GradeConfig(timeout=60))
    assert report.patch_successfully_applied and report.resolved
    only_cheat = anyio.run(grade_instance, task, _git(work, "diff"), GradeConfig(timeout=60))
    assert only_cheat.patch_successfully_applied and only_cheat.resolution == RESOLVED_NO


# --- SWE-bench instances -----------------------------------------------------------------------


def _calc_repo(repos: Path) -> str:
    clone = repos / "acme__calc"
    (clone / "calc").mkdir(parents=True)
    (clone / "calc" / "__init__.py").write_text("def add(a, b):\n    return a - b\n")
    (clone / "tests").mkdir()
    (clone / "tests" / "test_calc.py").write_text(
        "from calc import add\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n"
    )
    _git(clone, "init", "-q")
    _git(clone, "add", "-A")
    _git(clone, "commit", "-qm", "base")
    base = _git(clone, "rev-parse", "HEAD").strip()
    (clone / "calc" / "__init__.py").write_text("def add(a, b):\n    return a + b + 1000\n")  # a later commit
    _git(clone, "commit", "-qam", "later")
    return base


_GOLD = """diff --git a/calc/__init__.py b/calc/__init__.py
--- a/calc/__init__.py
+++ b/calc/__init__.py
@@ -1,2 +1,2 @@
 def add(a, b):
-    return a - b
+    return a + b
"""
_TESTS = """diff --git a/tests/test_calc.py b/tests/test_calc.py
--- a/tests/test_calc.py
+++ b/tests/test_calc.py
@@ -3,3 +3,7 @@ from calc import add
{blank}
 def test_zero():
     assert add(0, 0) == 0
+
+
+def test_add():
+    assert add(2, 3) == 5
""".replace("{blank}", " ")  # a context line for an empty line is one space


def _instance(iid: str, repo: str, base: str) -> dict:
    # SWE-bench's exact field format: the test lists are JSON-encoded strings.
    return {
        "repo": repo,
        "instance_id": iid,
        "base_commit": base,
        "patch": _GOLD,
        "test_patch": _TESTS,
        "problem_statement": "add() subtracts",
        "hints_text": "",
        "created_at": "2026-01-01T00:00:00Z",
        "version": "1.0",
        "FAIL_TO_PASS": '["tests/test_calc.py::test_add"]',
        "PASS_TO_PASS": '["tests/test_calc.py::test_zero"]',
        "environment_setup_commit": base,
    }


def test_swebench_jsonl_from_clones_and_bundles_with_a_missing_repo(tmp_path: Path) -> None:
    repos = tmp_path / "repos"
    base = _calc_repo(repos)
    path = tmp_path / "instances.jsonl"
    rows = [_instance("acme__calc-1", "acme/calc", base), _instance("ghost__gone-2", "ghost/gone", base)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tasks = load_tasks(path, repos)
    assert tasks[0].FAIL_TO_PASS == ("tests/test_calc.py::test_add",)
    assert tasks[0].PASS_TO_PASS == ("tests/test_calc.py::test_zero",) and tasks[0].version == "1.0"
    assert tasks[1].repo_error and "ghost__gone" in tasks[1].repo_error
    report = _grade(tasks, "gold", timeout=60)
    assert report["resolved_ids"] == ["acme__calc-1"] and report["error_ids"] == ["ghost__gone-2"]
    assert "ghost__gone" in report["instances"]["ghost__gone-2"]["error"]
    # the same repository as a bundle; the base commit is not the bundle's head
    bundles = tmp_path / "bundles"
    bundles.mkdir()
    _git(repos / "acme__calc", "bundle", "create", str(bundles / "acme__calc.bundle"), "--all")
    from_bundle = load_tasks(path, bundles)
    assert from_bundle[0].repo_kind == "bundle"
    assert _grade(from_bundle[:1], "gold", timeout=60)["resolved_instances"] == 1
    assert _grade(from_bundle[:1], "empty", timeout=60)["resolved_instances"] == 0


def test_instance_and_predictions_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"instance_id": "a", "repo": "o/n", "base_commit": "c", "FAIL_TO_PASS": "[1]"}) + "\n"
    )
    with pytest.raises(UsageError, match="FAIL_TO_PASS"):
        load_tasks(bad)
    bad.write_text('{"instance_id": "a"\n')
    with pytest.raises(UsageError, match=r"bad\.jsonl:1"):
        load_tasks(bad)
    preds = tmp_path / "p.json"
    preds.write_text(json.dumps({"x__y-1": {"model_name_or_path": "m", "model_patch": None}}))
    assert load_predictions(preds)["x__y-1"].model_patch is None
    with pytest.raises(UsageError, match="no such file"):
        load_predictions(tmp_path / "nope.jsonl")


# --- the command -------------------------------------------------------------------------------


def test_cli_grades_the_half_fix_and_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    task = example_tasks() / HALF_TASK
    cmd = [sys.executable, "-m", "orchestra", "bench", "swe", "grade", "--tasks", str(task)]
    done = subprocess.run(
        [*cmd, "--predictions", str(example_predictions() / "half_fix.jsonl"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "partial" in done.stdout and "resolved 0/1" in done.stdout
    report = json.loads(out.read_text())
    assert report["partial_ids"] == [HALF_TASK] and report["schema_version"] == 2
    bad = subprocess.run(
        [*cmd, "--predictions", str(tmp_path / "nope.jsonl")], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
