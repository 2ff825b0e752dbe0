"""The Berkeley Function Calling Leaderboard (BFCL v4), replayed: ``orchestra bench bfcl``.

- :mod:`~orchestra.benchmarks.bfcl.data`: the items and possible answers, read from the
  ``bfcl-eval`` wheel's zip (never installed), a local copy, or the cache;
- :mod:`~orchestra.benchmarks.bfcl.checker`: BFCL's AST checker, our own code, with BFCL's error
  types; :mod:`~orchestra.benchmarks.bfcl.langtypes`: its Java and JavaScript type rules;
- :mod:`~orchestra.benchmarks.bfcl.score`: scoring a results file made by anyone.
"""

from __future__ import annotations

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

__all__ = [
    "BFCL_VERSION",
    "CATEGORIES",
    "Category",
    "DataSource",
    "Item",
    "Verdict",
    "check_calls",
    "check_item",
    "is_call_list",
    "is_empty_output",
    "load_category",
    "open_source",
    "parse_categories",
    "standardize_string",
]
