"""The grade report as a rich table: one row per instance, then the totals."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

__all__ = ["report_table"]

_STYLE = {"RESOLVED_FULL": "green", "RESOLVED_PARTIAL": "yellow", "RESOLVED_NO": "red"}


def _outcome(entry: Mapping[str, Any]) -> tuple[str, str]:
    if entry["error"]:
        return "error", "magenta"
    if not entry["patch_successfully_applied"]:
        return "patch did not apply", "red"
    resolution = str(entry["resolution"])
    word = {"RESOLVED_FULL": "resolved", "RESOLVED_PARTIAL": "partial", "RESOLVED_NO": "unresolved"}
    text = word.get(resolution, resolution)
    if entry.get("timed_out"):
        text += " (timeout)"
    return text, _STYLE.get(resolution, "")


def _count(group: Mapping[str, list[str]]) -> str:
    total = len(group["success"]) + len(group["failure"])
    return f"{len(group['success'])}/{total}"


def report_table(report: Mapping[str, Any], *, title: str = "SWE grade") -> Table:
    """One row per graded instance (outcome, FAIL_TO_PASS and PASS_TO_PASS passing, seconds, error)."""
    table = Table(title=title, title_justify="left")
    for name, justify in (("instance", "left"), ("outcome", "left"), ("F2P", "right"), ("P2P", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("s", justify="right")
    table.add_column("note", overflow="fold")
    for iid, entry in report["instances"].items():
        text, style = _outcome(entry)
        status = entry["tests_status"]
        has_tests = bool(status) and entry["error"] is None
        table.add_row(
            iid,
            f"[{style}]{text}[/{style}]" if style else text,
            _count(status["FAIL_TO_PASS"]) if has_tests else "-",
            _count(status["PASS_TO_PASS"]) if has_tests else "-",
            f"{entry['duration']:.1f}",
            entry["error"] or ("empty patch" if not entry["patch_exists"] else ""),
        )
    table.caption = (
        f"resolved {report['resolved_instances']}/{report['submitted_instances']}, "
        f"partial {report['partial_instances']}, empty {report['empty_patch_instances']}, "
        f"errors {report['error_instances']}"
    )
    return table
