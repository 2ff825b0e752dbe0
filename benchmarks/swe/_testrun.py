"""Run named pytest tests in a working copy, in a process group that a timeout kills whole.

Without Docker the tests run with the local Python and pytest. A buggy program may loop forever
or start children of its own, so the run is a session leader (``start_new_session``) and the
whole process group is killed (SIGKILL) on timeout, and again after a normal exit in case a test
left a child running. Output goes to a file, never a pipe: a surviving grandchild holding a pipe
open would otherwise block the reader.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from orchestra.benchmarks.swe._outcomes import parse_log

__all__ = ["TestRun", "kill_group", "run_tests", "test_env"]

PLUGIN = "orchestra.benchmarks.swe._pytest_log"


@dataclass
class TestRun:
    """One pytest run.

    Attributes:
        statuses: status of every test that reported one (swebench's ``PASSED``, ``FAILED`` ...).
        timed_out: the run was killed at the timeout.
        unfinished: tests that started but did not finish (the one stuck at a timeout).
        returncode: pytest's exit code (None when killed).
        duration: wall seconds.
        output: pytest's console output (the tail of it when long).
    """

    statuses: dict[str, str] = field(default_factory=dict)
    timed_out: bool = False
    unfinished: list[str] = field(default_factory=list)
    returncode: int | None = None
    duration: float = 0.0
    output: str = ""


def test_env(log_path: Path | None = None) -> dict[str, str]:
    """The environment of a test run: the user's, minus what would change pytest's behaviour.

    ``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1`` keeps the plugins installed next to orchestra (asyncio,
    timeout ...) out of the task's tests; ``PYTEST_ADDOPTS`` and ``PYTHONPATH`` are dropped.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTHONPATH")}
    env.update(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0")
    if log_path is not None:
        env["ORCHESTRA_SWE_LOG"] = str(log_path)
    return env


def kill_group(pgid: int) -> None:
    """SIGKILL every process in group ``pgid``; a group already gone is fine."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


async def run_tests(
    workdir: Path,
    test_ids: Sequence[str],
    *,
    kill_after: float,
    python: str = sys.executable,
    output_limit: int = 20_000,
) -> TestRun:
    """Run ``test_ids`` (pytest node ids) in ``workdir``; kill the process group after ``kill_after`` s.

    Returns:
        The per-test statuses; tests that never reported are absent (graders count them failed).
    """
    run = TestRun()
    if not test_ids:
        return run
    log_path = workdir.parent / f"{workdir.name}.tests.jsonl"
    out_path = workdir.parent / f"{workdir.name}.tests.out"
    log_path.unlink(missing_ok=True)
    cmd = [python, "-m", "pytest", "-p", PLUGIN, "-p", "no:cacheprovider", "-rA", "--color=no", *test_ids]
    start = time.monotonic()
    with out_path.open("wb") as out:
        process = await anyio.open_process(
            cmd,
            cwd=workdir,
            env=test_env(log_path),
            stdin=None,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
        try:
            with anyio.move_on_after(kill_after) as scope:
                run.returncode = await process.wait()
            if scope.cancelled_caught:
                run.timed_out = True
                run.returncode = None
        finally:
            # Also after a normal exit: a test may have left a child running in the group.
            kill_group(process.pid)
            with anyio.CancelScope(shield=True):
                await process.wait()
                await process.aclose()
    run.duration = time.monotonic() - start
    text = out_path.read_text(encoding="utf-8", errors="replace")
    run.output = text if len(text) <= output_limit else "...\n" + text[-output_limit:]
    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines() if log_path.exists() else []
    parsed = parse_log(lines)
    run.statuses, run.unfinished = parsed.statuses, parsed.unfinished
    return run
