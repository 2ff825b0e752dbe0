"""Test-time compute: per-query programs, one allocator under a shared budget, selection.

A query runs as a :class:`Program` (best-of-k, self-consistency with Certaindex stopping, weighted
best-of-N, Dynasor-CoT probing, S* for code); the :class:`Allocator` decides which unit of which
query goes next, to which endpoint, within one :class:`Budget`; :func:`run` does the I/O. Sample
banks (:mod:`orchestra.ttc.bank`) replay real samples through a :class:`ReplayEndpoint`.
"""

from __future__ import annotations

from orchestra.ttc.allocator import Allocator, Dispatch, Lane, QueryUsage
from orchestra.ttc.answers import extract_answer, extract_number, normalize_answer
from orchestra.ttc.bank import BankHeader, BankQuery, BankSample, append_queries, read_bank, write_header
from orchestra.ttc.budget import Budget, Cost
from orchestra.ttc.certaindex import (
    EntropyCertainty,
    PosteriorCertainty,
    StoppingRule,
    entropy_certainty,
    posterior_certainty,
)
from orchestra.ttc.dynasor import DynasorCoT, has_hedge
from orchestra.ttc.estimators import Estimator, QueryState, contender_gain, pass_fail_gain, vote_flip_gain
from orchestra.ttc.program import Execution, Program, Selection, UnitKind, UnitResult, WorkUnit
from orchestra.ttc.replay import ReplayBank, ReplayEndpoint
from orchestra.ttc.runner import CodeRunner, drive, run
from orchestra.ttc.sampling import BestOfK, SelfConsistency, WeightedBestOfN
from orchestra.ttc.sandbox import run_python
from orchestra.ttc.sstar import SStar

__all__ = [
    "Allocator",
    "BankHeader",
    "BankQuery",
    "BankSample",
    "BestOfK",
    "Budget",
    "CodeRunner",
    "Cost",
    "Dispatch",
    "DynasorCoT",
    "EntropyCertainty",
    "Estimator",
    "Execution",
    "Lane",
    "PosteriorCertainty",
    "Program",
    "QueryState",
    "QueryUsage",
    "ReplayBank",
    "ReplayEndpoint",
    "SStar",
    "Selection",
    "SelfConsistency",
    "StoppingRule",
    "UnitKind",
    "UnitResult",
    "WeightedBestOfN",
    "WorkUnit",
    "append_queries",
    "contender_gain",
    "drive",
    "entropy_certainty",
    "extract_answer",
    "extract_number",
    "has_hedge",
    "normalize_answer",
    "pass_fail_gain",
    "posterior_certainty",
    "read_bank",
    "run",
    "run_python",
    "vote_flip_gain",
    "write_header",
]
