"""Per-test outcomes from our pytest plugin's log, in the swebench harness's vocabulary.

Pure: lines in, ``{nodeid: status}`` out. Statuses are swebench's ``TestStatus`` values:
``PASSED``, ``FAILED``, ``SKIPPED``, ``ERROR``, ``XFAIL``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["ERROR", "FAILED", "PASSED", "SKIPPED", "XFAIL", "TestLog", "parse_log"]

PASSED = "PASSED"
FAILED = "FAILED"
SKIPPED = "SKIPPED"
ERROR = "ERROR"
XFAIL = "XFAIL"


@dataclass
class TestLog:
    """What a (possibly killed) test run's log says.

    Attributes:
        statuses: each finished test's status by node id; a failed collection is ``ERROR`` under
            the collected file's or class's node id.
        unfinished: tests that started but never reported their outcome (the one a killed run
            was stuck in), in start order.
    """

    statuses: dict[str, str] = field(default_factory=dict)
    unfinished: list[str] = field(default_factory=list)


def _phase_status(when: str, outcome: str, xfail: bool) -> str | None:
    if when == "call":
        if outcome == "passed":
            return PASSED  # an xpass counts as a pass unless strict (then pytest reports failed)
        if outcome == "skipped":
            return XFAIL if xfail else SKIPPED
        return FAILED
    # setup / teardown / collect: only a failure or a skip says something.
    if outcome == "failed":
        return ERROR
    if outcome == "skipped":
        return XFAIL if xfail else SKIPPED
    return None


def parse_log(lines: Iterable[str]) -> TestLog:
    """Fold the plugin's JSON lines into one status per test.

    A line that is not a JSON object of the plugin's shape (a killed writer's torn last line,
    say) is ignored. An error in setup or teardown makes the test ``ERROR`` whatever its call did.
    """
    log = TestLog()
    started: dict[str, None] = {}
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        nodeid, when = record.get("nodeid"), record.get("when")
        if not isinstance(nodeid, str) or not isinstance(when, str):
            continue
        if when == "start":
            started[nodeid] = None
            continue
        outcome = record.get("outcome")
        if not isinstance(outcome, str):
            continue
        if when == "teardown":
            started.pop(nodeid, None)
        status = _phase_status(when, outcome, bool(record.get("xfail")))
        if status is None:
            continue
        if log.statuses.get(nodeid) == ERROR:
            continue
        log.statuses[nodeid] = status
    log.unfinished = [n for n in started if n not in log.statuses]
    return log
