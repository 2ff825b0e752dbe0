"""Grade patches against tasks: check out, apply, run the hidden tests, grade; many at once.

The steps for one instance are the swebench harness's, without Docker: a fresh working copy at
``base_commit``; the model patch (a patch that does not apply is a graded outcome:
``patch_successfully_applied`` false, unresolved); the files the test patch touches put back to
``base_commit`` and the test patch applied; the FAIL_TO_PASS and PASS_TO_PASS tests run with the
local pytest under a timeout that kills the process group; then grading (:mod:`._grading`).
Instances run concurrently, at most one per core by default.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

from orchestra.benchmarks.swe._checkout import (
    CheckoutError,
    apply_patch,
    checkout,
    patched_paths,
    reset_paths,
)
from orchestra.benchmarks.swe._grading import InstanceReport, resolution_status, tests_status
from orchestra.benchmarks.swe._task import SWETask
from orchestra.benchmarks.swe._testrun import run_tests
from orchestra.errors import UsageError
from orchestra.trace import current_trace

__all__ = ["GradeConfig", "grade_all", "grade_instance", "workspace"]


@dataclass(frozen=True)
class GradeConfig:
    """How to grade.

    Attributes:
        timeout: seconds one test run may take before its process group is killed.
        concurrency: instances at once (None: the number of cores).
        python: the interpreter that runs pytest.
        max_runs: most pytest runs per instance: after a timeout, the tests that did not get to
            run are run again without the one that hung.
    """

    timeout: float = 60.0
    concurrency: int | None = None
    python: str = sys.executable
    max_runs: int = 3

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise UsageError(f"timeout must be > 0 seconds, got {self.timeout}")
        if self.concurrency is not None and self.concurrency < 1:
            raise UsageError(f"concurrency must be >= 1, got {self.concurrency}")

    @property
    def slots(self) -> int:
        """Instances that may run at once."""
        return self.concurrency or os.cpu_count() or 1


class workspace:  # lower case: used like tempfile.TemporaryDirectory
    """An async context manager for a temporary folder, removed (in a thread) on exit."""

    def __init__(self, prefix: str = "orchestra-swe-") -> None:
        self.prefix = prefix
        self.path = Path()

    async def __aenter__(self) -> Path:
        self.path = Path(tempfile.mkdtemp(prefix=self.prefix))
        return self.path

    async def __aexit__(self, *exc: object) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(self.path, ignore_errors=True))


async def grade_instance(task: SWETask, patch: str | None, config: GradeConfig) -> InstanceReport:
    """Grade one patch (None: the model gave none) on one task; never raises for the patch's faults."""
    report = InstanceReport(
        task.instance_id, patch_is_None=patch is None, patch_exists=bool(patch and patch.strip())
    )
    start = time.monotonic()
    try:
        async with workspace() as tmp:
            await _grade_in(task, patch or "", config, tmp / "repo", report)
    except CheckoutError as exc:
        report.error = str(exc)
    report.duration = time.monotonic() - start
    return report


async def _grade_in(
    task: SWETask, patch: str, config: GradeConfig, work: Path, report: InstanceReport
) -> None:
    commit = await checkout(task, work)
    model = await apply_patch(work, patch, name="model")
    tests = list(dict.fromkeys([*task.FAIL_TO_PASS, *task.PASS_TO_PASS]))
    if model.applied:
        await reset_paths(work, patched_paths(task.test_patch), commit)
        hidden = await apply_patch(work, task.test_patch, name="test")
        report.patch_successfully_applied = hidden.applied
        if not hidden.applied:
            report.log = "the test patch does not apply after the model patch:\n" + hidden.log
    else:
        report.log = "the model patch does not apply:\n" + model.log
    if report.patch_successfully_applied:
        await _run_named(work, tests, config, report)
    report.tests_status = tests_status(report.statuses, task.FAIL_TO_PASS, task.PASS_TO_PASS)
    report.resolution = resolution_status(report.tests_status)
    report.resolved = report.patch_successfully_applied and report.resolution == "RESOLVED_FULL"


async def _run_named(work: Path, tests: list[str], config: GradeConfig, report: InstanceReport) -> None:
    """Run the tests; after a timeout, run the ones that never got to run again without the stuck one.

    One test that loops forever would otherwise leave every test after it without a status, and
    a PASS_TO_PASS test would count as broken by the patch when it never ran.
    """
    remaining, logs = tests, []
    for _ in range(config.max_runs):
        run = await run_tests(work, remaining, kill_after=config.timeout, python=config.python)
        report.statuses.update(run.statuses)
        logs.append(run.output)
        if not run.timed_out:
            break
        report.timed_out = True
        report.timed_out_tests += run.unfinished
        logs.append(f"timed out after {config.timeout:g} s in {', '.join(run.unfinished) or '?'}")
        stuck = set(report.timed_out_tests)
        remaining = [t for t in remaining if t not in report.statuses and t not in stuck]
        if not remaining or not run.unfinished:
            break
    report.log = "\n".join(logs)


async def grade_all(
    tasks: Sequence[SWETask],
    patches: Mapping[str, str | None],
    config: GradeConfig,
    *,
    on_done: Callable[[InstanceReport], None] | None = None,
) -> list[InstanceReport]:
    """Grade every task that has a patch in ``patches``, at most ``config.slots`` at once.

    Returns:
        The reports in task order (tasks without a patch are left out).
    """
    limiter = anyio.CapacityLimiter(config.slots)
    results: dict[str, InstanceReport] = {}

    async def one(task: SWETask) -> None:
        async with limiter:
            trace = current_trace()  # a span each only when someone records (--trace, OTel)
            if trace is None:
                report = await grade_instance(task, patches[task.instance_id], config)
            else:
                with trace.span(f"grade {task.instance_id}", "test", instance_id=task.instance_id) as span:
                    report = await grade_instance(task, patches[task.instance_id], config)
                    span.attrs.update(status=report.resolution, timed_out=report.timed_out)
                    span.error = report.error
        results[task.instance_id] = report
        if on_done is not None:
            on_done(report)

    async with anyio.create_task_group() as tg:
        for task in tasks:
            if task.instance_id in patches:
                tg.start_soon(one, task)
    return [results[t.instance_id] for t in tasks if t.instance_id in results]
