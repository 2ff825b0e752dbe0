"""A pytest plugin that writes one JSON line per test event to ``$ORCHESTRA_SWE_LOG``, as it happens.

Loaded with ``-p orchestra.benchmarks.swe._pytest_log`` (explicit, so it works under
``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``). Each line is flushed when written: when a test loops
forever and the run is killed, the lines of every test that finished are on disk, and the test
that started but never finished is known (its ``start`` line has no report).
"""

from __future__ import annotations

import json
import os
from typing import IO, Any

__all__ = ["pytest_collectreport", "pytest_runtest_logreport", "pytest_runtest_logstart"]

_out: IO[str] | None = None


def _write(record: dict[str, Any]) -> None:
    global _out
    if _out is None:
        path = os.environ.get("ORCHESTRA_SWE_LOG")
        if not path:
            return
        _out = open(path, "a", encoding="utf-8")  # held open for the run, flushed per line
    _out.write(json.dumps(record) + "\n")
    _out.flush()


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    """A test is about to run."""
    _write({"nodeid": nodeid, "when": "start"})


def pytest_runtest_logreport(report: Any) -> None:
    """One phase (setup, call, teardown) of a test finished."""
    _write(
        {
            "nodeid": report.nodeid,
            "when": report.when,
            "outcome": report.outcome,
            "xfail": bool(getattr(report, "wasxfail", None) is not None),
        }
    )


def pytest_collectreport(report: Any) -> None:
    """A file or class was collected; a failure here means its tests never ran."""
    if report.outcome == "failed":
        _write({"nodeid": report.nodeid, "when": "collect", "outcome": "failed", "xfail": False})
