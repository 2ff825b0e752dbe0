"""SWE-style benchmark replay: tasks, grading by hidden tests without Docker, a coding agent, replay.

- :func:`load_tasks` reads task directories or SWE-bench instances (:class:`SWETask`);
- :func:`grade_all` checks each out, applies the patch and the hidden tests, runs them with the
  local pytest under a process-group timeout and grades them by SWE-bench's rules;
- :func:`make_run_report` gives the swebench harness's report shape;
- :func:`solve_all` runs a coding agent (file tools and a shell, any strategy) and, with several
  samples, picks a patch by CodeMonkeys-style test votes;
- :func:`read_run` and :func:`replay` recompute a recorded run's wall time under each strategy.

The command is ``orchestra bench swe grade|solve|replay``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from orchestra.benchmarks.swe._checkout import CheckoutError, PatchResult, apply_patch, checkout, snapshot
from orchestra.benchmarks.swe._edits import Edit, edits_of_patch
from orchestra.benchmarks.swe._effects import Effects, effects_of_command, effects_of_tool
from orchestra.benchmarks.swe._grading import (
    RESOLVED_FULL,
    RESOLVED_NO,
    RESOLVED_PARTIAL,
    InstanceReport,
    make_run_report,
    resolution_status,
    tests_status,
)
from orchestra.benchmarks.swe._outcomes import TestLog, parse_log
from orchestra.benchmarks.swe._predictions import (
    Prediction,
    load_predictions,
    predictions_for,
    write_predictions,
)
from orchestra.benchmarks.swe._replay import STRATEGIES, Action, Replay, Step, replay
from orchestra.benchmarks.swe._repo_tools import TEST_SCRIPT, make_repo_tools
from orchestra.benchmarks.swe._runner import GradeConfig, grade_all, grade_instance
from orchestra.benchmarks.swe._selection import Ranking, rank_candidates
from orchestra.benchmarks.swe._solve import (
    Candidate,
    SolveConfig,
    SolveResult,
    solve_all,
    solve_task,
    task_prompt,
    write_traces,
)
from orchestra.benchmarks.swe._task import SWETask, load_instances, load_task_dir, load_tasks, parse_test_list
from orchestra.benchmarks.swe._testrun import TestRun, run_tests
from orchestra.benchmarks.swe._trajectory import Run, read_mini_swe_agent, read_orchestra_trace, read_run

__all__ = [
    "RESOLVED_FULL",
    "RESOLVED_NO",
    "RESOLVED_PARTIAL",
    "STRATEGIES",
    "TEST_SCRIPT",
    "Action",
    "Candidate",
    "CheckoutError",
    "Edit",
    "Effects",
    "GradeConfig",
    "InstanceReport",
    "PatchResult",
    "Prediction",
    "Ranking",
    "Replay",
    "Run",
    "SWETask",
    "SolveConfig",
    "SolveResult",
    "Step",
    "TestLog",
    "TestRun",
    "apply_patch",
    "checkout",
    "edits_of_patch",
    "effects_of_command",
    "effects_of_tool",
    "example_predictions",
    "example_tasks",
    "example_trajectories",
    "grade_all",
    "grade_instance",
    "load_instances",
    "load_predictions",
    "load_task_dir",
    "load_tasks",
    "make_repo_tools",
    "make_run_report",
    "parse_log",
    "parse_test_list",
    "predictions_for",
    "rank_candidates",
    "read_mini_swe_agent",
    "read_orchestra_trace",
    "read_run",
    "replay",
    "replay_run",
    "resolution_status",
    "run_tests",
    "snapshot",
    "solve_all",
    "solve_task",
    "task_prompt",
    "tests_status",
    "write_predictions",
    "write_traces",
]


def example_tasks() -> Path:
    """The folder of the example task directories shipped with orchestra."""
    return Path(str(resources.files(__package__) / "tasks"))


def example_predictions() -> Path:
    """The folder of example predictions files shipped with orchestra (e.g. ``half_fix.jsonl``)."""
    return Path(str(resources.files(__package__) / "predictions"))


def example_trajectories() -> Path:
    """The folder of the synthetic trajectories shipped with orchestra (``synthetic.traj.json``)."""
    return Path(str(resources.files(__package__) / "trajectories"))


def replay_run(run: Run) -> Replay:
    """:func:`replay` of a recorded run, keeping its own wall time for comparison."""
    return replay(run.steps, recorded=run.recorded)
