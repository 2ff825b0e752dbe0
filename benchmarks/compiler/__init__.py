"""LLMCompiler's benchmarks (Movie Recommendation, HotpotQA comparison, ParallelQA) replayed against
the simulator with each execution strategy: ``orchestra bench compiler``.

- :mod:`~benchmarks.compiler.datasets`: the questions, from a path, a URL, the shared copy or a
  pinned download;
- :mod:`~benchmarks.compiler.workload`: each question's ideal tool-call DAG, its corpus and tools;
- :mod:`~benchmarks.compiler.script`: what an ideal model writes for each strategy (simulator script);
- :mod:`~benchmarks.compiler.bound`: the critical-path bounds;
- :mod:`~benchmarks.compiler.runner`: the runs; :mod:`~benchmarks.compiler.results` and
  :mod:`~benchmarks.compiler.report`: rows, summary, table and JSON.
"""

from __future__ import annotations

from orchestra.benchmarks.compiler.bound import LatencyParams, critical_path_bound, stream_bound
from orchestra.benchmarks.compiler.datasets import DATASET_FILES, Question, load_questions
from orchestra.benchmarks.compiler.report import print_report, render_table, write_json
from orchestra.benchmarks.compiler.results import (
    ACCURACY_NOTE,
    BenchResult,
    QuestionRow,
    StrategySummary,
    summarize,
)
from orchestra.benchmarks.compiler.runner import BenchConfig, prepare, run_benchmark, run_workloads
from orchestra.benchmarks.compiler.script import STRATEGIES, outputs, write_script
from orchestra.benchmarks.compiler.workload import Step, Workload, build_workload, build_workloads, make_tools

__all__ = [
    "ACCURACY_NOTE",
    "DATASET_FILES",
    "STRATEGIES",
    "BenchConfig",
    "BenchResult",
    "LatencyParams",
    "Question",
    "QuestionRow",
    "Step",
    "StrategySummary",
    "Workload",
    "build_workload",
    "build_workloads",
    "critical_path_bound",
    "load_questions",
    "make_tools",
    "outputs",
    "prepare",
    "print_report",
    "render_table",
    "run_benchmark",
    "run_workloads",
    "stream_bound",
    "summarize",
    "write_json",
    "write_script",
]
