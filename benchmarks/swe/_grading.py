"""SWE-bench's grading rules and report shapes, as pure functions.

The rules are the swebench harness's (``get_eval_tests_report`` / ``get_resolution_status``):

- a test passes when its status is ``PASSED`` or ``XFAIL``; a test with no status failed;
- resolved (``RESOLVED_FULL``): every FAIL_TO_PASS and every PASS_TO_PASS test passes;
- partial (``RESOLVED_PARTIAL``): some FAIL_TO_PASS tests pass and every PASS_TO_PASS test passes;
- otherwise ``RESOLVED_NO``; an empty list counts as all passing.

The per-instance entry has swebench's keys (``patch_is_None``, ``patch_exists``,
``patch_successfully_applied``, ``resolved``, ``tests_status``) plus ours (``resolution``,
``timed_out``, ``error``, ``duration``); the run report has the harness's id lists and counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestra.benchmarks.swe._outcomes import PASSED, XFAIL

__all__ = [
    "RESOLVED_FULL",
    "RESOLVED_NO",
    "RESOLVED_PARTIAL",
    "InstanceReport",
    "make_run_report",
    "resolution_status",
    "tests_status",
]

RESOLVED_FULL = "RESOLVED_FULL"
RESOLVED_PARTIAL = "RESOLVED_PARTIAL"
RESOLVED_NO = "RESOLVED_NO"


def _passed(test: str, statuses: Mapping[str, str]) -> bool:
    return statuses.get(test) in (PASSED, XFAIL)


def tests_status(
    statuses: Mapping[str, str],
    fail_to_pass: Sequence[str],
    pass_to_pass: Sequence[str],
) -> dict[str, dict[str, list[str]]]:
    """swebench's ``tests_status``: for each list, the tests that now pass and those that do not.

    ``FAIL_TO_FAIL`` and ``PASS_TO_FAIL`` are kept (empty) for the same shape as the harness.
    """

    def split(tests: Sequence[str]) -> dict[str, list[str]]:
        return {
            "success": [t for t in tests if _passed(t, statuses)],
            "failure": [t for t in tests if not _passed(t, statuses)],
        }

    empty: dict[str, list[str]] = {"success": [], "failure": []}
    return {
        "FAIL_TO_PASS": split(fail_to_pass),
        "PASS_TO_PASS": split(pass_to_pass),
        "FAIL_TO_FAIL": dict(empty),
        "PASS_TO_FAIL": dict(empty),
    }


def _rate(group: Mapping[str, list[str]]) -> float:
    total = len(group["success"]) + len(group["failure"])
    return 1.0 if total == 0 else len(group["success"]) / total


def resolution_status(status: Mapping[str, Mapping[str, list[str]]]) -> str:
    """``RESOLVED_FULL``, ``RESOLVED_PARTIAL`` or ``RESOLVED_NO`` from a ``tests_status``."""
    f2p, p2p = _rate(status["FAIL_TO_PASS"]), _rate(status["PASS_TO_PASS"])
    if f2p == 1 and p2p == 1:
        return RESOLVED_FULL
    if 0 < f2p < 1 and p2p == 1:
        return RESOLVED_PARTIAL
    return RESOLVED_NO


@dataclass
class InstanceReport:
    """The grade of one instance (swebench's per-instance keys, plus ours).

    Attributes:
        instance_id: the instance.
        patch_is_None: the prediction's ``model_patch`` was null.
        patch_exists: the patch is not empty.
        patch_successfully_applied: the model patch and then the test patch applied.
        resolved: every FAIL_TO_PASS and PASS_TO_PASS test passed.
        resolution: ``RESOLVED_FULL`` / ``RESOLVED_PARTIAL`` / ``RESOLVED_NO``.
        tests_status: per list, the passing and failing tests.
        timed_out: a test run was killed at the timeout.
        timed_out_tests: the tests that were running when it was (they count as failed).
        error: why the instance could not be graded (missing repository ...), else None.
        duration: seconds spent on the instance.
        statuses: the raw status of every test that reported one.
        log: what went wrong applying a patch, or the tail of pytest's output.
    """

    instance_id: str
    patch_is_None: bool = False
    patch_exists: bool = False
    patch_successfully_applied: bool = False
    resolved: bool = False
    resolution: str = RESOLVED_NO
    tests_status: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    timed_out: bool = False
    timed_out_tests: list[str] = field(default_factory=list)
    error: str | None = None
    duration: float = 0.0
    statuses: dict[str, str] = field(default_factory=dict)
    log: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready per-instance entry."""
        return {
            "patch_is_None": self.patch_is_None,
            "patch_exists": self.patch_exists,
            "patch_successfully_applied": self.patch_successfully_applied,
            "resolved": self.resolved,
            "resolution": self.resolution,
            "tests_status": self.tests_status,
            "timed_out": self.timed_out,
            "timed_out_tests": self.timed_out_tests,
            "error": self.error,
            "duration": round(self.duration, 3),
        }


def make_run_report(
    reports: Iterable[InstanceReport],
    all_ids: Sequence[str],
    *,
    run_id: str = "",
    model: str = "",
) -> dict[str, Any]:
    """The run report in the shape of the swebench harness's ``make_run_report``.

    ``error_ids`` are instances that could not be graded; ``empty_patch_ids`` those whose patch
    was empty or null (their tests still ran: the entry shows the base failing). Instances with
    no prediction are ``incomplete_ids``. ``partial_ids`` (ours) lists RESOLVED_PARTIAL ones.
    """
    by_id = {r.instance_id: r for r in reports}
    submitted = [i for i in all_ids if i in by_id]
    errors = [i for i in submitted if by_id[i].error is not None]
    empty = [i for i in submitted if i not in errors and not by_id[i].patch_exists]
    completed = [i for i in submitted if i not in errors]
    resolved = [i for i in completed if by_id[i].resolved]
    unresolved = [i for i in completed if i not in empty and not by_id[i].resolved]
    partial = [i for i in completed if by_id[i].resolution == RESOLVED_PARTIAL]
    return {
        "total_instances": len(all_ids),
        "submitted_instances": len(submitted),
        "completed_instances": len(completed),
        "resolved_instances": len(resolved),
        "unresolved_instances": len(unresolved),
        "partial_instances": len(partial),
        "empty_patch_instances": len(empty),
        "error_instances": len(errors),
        "completed_ids": completed,
        "incomplete_ids": [i for i in all_ids if i not in by_id],
        "empty_patch_ids": empty,
        "submitted_ids": submitted,
        "resolved_ids": resolved,
        "unresolved_ids": unresolved,
        "partial_ids": partial,
        "error_ids": errors,
        "instances": {i: by_id[i].to_dict() for i in submitted},
        "run_id": run_id,
        "model_name_or_path": model,
        "schema_version": 2,
    }
