"""The Berkeley Function Calling Leaderboard (BFCL v4), replayed: ``orchestra bench bfcl``.

- :mod:`~orchestra.benchmarks.bfcl.data`: the items and possible answers, read from the
  ``bfcl-eval`` wheel's zip (never installed), a local copy, or the cache;
- :mod:`~orchestra.benchmarks.bfcl.checker`: BFCL's AST checker, our own code, with BFCL's error
  types; :mod:`~orchestra.benchmarks.bfcl.langtypes`: its Java and JavaScript type rules;
- :mod:`~orchestra.benchmarks.bfcl.score`: scoring a results file made by anyone;
- :mod:`~orchestra.benchmarks.bfcl.answers`: the reference answer and its perturbations;
- :mod:`~orchestra.benchmarks.bfcl.tools`: function documents as tools (types, names, latency);
- :mod:`~orchestra.benchmarks.bfcl.oracle` and :mod:`~orchestra.benchmarks.bfcl.replay`: the
  latency replay of every strategy; :mod:`~orchestra.benchmarks.bfcl.accuracy`: accuracy runs;
- :mod:`~orchestra.benchmarks.bfcl.agreement`: agreement with the official checker (by hand).
"""

from __future__ import annotations

from orchestra.benchmarks.bfcl.answers import Perturbation, perturbations, reference_calls
from orchestra.benchmarks.bfcl.checker import (
    Verdict,
    check_calls,
    check_item,
    is_call_list,
    is_empty_output,
    standardize_string,
)
from orchestra.benchmarks.bfcl.data import (
    BFCL_VERSION,
    CATEGORIES,
    Category,
    DataSource,
    Item,
    load_category,
    open_source,
    parse_categories,
)
from orchestra.benchmarks.bfcl.oracle import Oracle, register_oracle

__all__ = [
    "BFCL_VERSION",
    "CATEGORIES",
    "Category",
    "DataSource",
    "Item",
    "Oracle",
    "Perturbation",
    "Verdict",
    "check_calls",
    "check_item",
    "is_call_list",
    "is_empty_output",
    "load_category",
    "open_source",
    "parse_categories",
    "perturbations",
    "reference_calls",
    "register_oracle",
    "standardize_string",
]
