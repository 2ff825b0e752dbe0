"""How often our checker agrees with BFCL's own: ``python -m orchestra.benchmarks.bfcl.agreement``.

A one-off measurement, not a dependency: it loads ``ast_checker.py`` (and the few modules it
imports) out of a ``bfcl-eval`` wheel the user downloaded (``pip download --no-deps
bfcl-eval==2026.3.23``), with a stub in place of its model configuration (which would import
every model SDK), and scores the same answers with both checkers: for every item of every AST
category, the reference answer and each of its perturbations
(:mod:`~orchestra.benchmarks.bfcl.answers`); for irrelevance and relevance items, no call and one
call; for AST items also five seeded random edits of the reference answer (odd values, case and
punctuation changes, dropped parameters, swapped calls). It prints JSON: per category, how many verdicts agree on ``valid`` and on ``error_type``.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import random
import sys
import tempfile
import types
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from orchestra.benchmarks.bfcl.answers import perturbations, reference_calls
from orchestra.benchmarks.bfcl.checker import Verdict, check_item
from orchestra.benchmarks.bfcl.data import CATEGORIES, Item, cache_dir, load_category, open_source

__all__ = ["agreement", "load_official", "main"]

_STUB_MODEL = "orchestra-agreement"
_FUZZ = 5  # random edits of the reference answer per item


def load_official(wheel: Path, workdir: Path) -> Callable[[Item, Any], dict[str, Any]]:
    """BFCL's checker from ``wheel``, as a function ``(item, calls) -> {"valid", "error_type"}``.

    Only ``bfcl_eval/constants`` and ``bfcl_eval/eval_checker/ast_eval`` are extracted; the model
    configuration module is replaced by a stub whose one model keeps dotted names (our calls use
    BFCL's names as written).
    """
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.startswith(("bfcl_eval/constants/", "bfcl_eval/eval_checker/ast_eval/")):
                archive.extract(name, workdir)
    for package in ("bfcl_eval", "bfcl_eval/eval_checker"):
        (workdir / package / "__init__.py").touch()
    stub = types.ModuleType("bfcl_eval.constants.model_config")
    stub.MODEL_CONFIG_MAPPING = {_STUB_MODEL: types.SimpleNamespace(underscore_to_dot=False)}  # type: ignore[attr-defined]
    sys.modules["bfcl_eval.constants.model_config"] = stub
    sys.path.insert(0, str(workdir))
    checker = importlib.import_module("bfcl_eval.eval_checker.ast_eval.ast_checker")
    language = importlib.import_module("bfcl_eval.constants.enums").Language
    languages = {"python": language.PYTHON, "java": language.JAVA, "javascript": language.JAVASCRIPT}

    def official(item: Item, calls: Any) -> dict[str, Any]:
        result: dict[str, Any] = checker.ast_checker(
            item.functions, calls, item.ground_truth, languages[item.category.language],
            item.category.name, _STUB_MODEL,
        )  # fmt: skip
        return {
            "valid": bool(result["valid"]),
            "error_type": result.get("error_type", "") if not result["valid"] else "",
        }

    return official


_ODD_VALUES: list[Any] = ["", "x", "TRUE", 0, 1, -3, 2.5, 0.0, True, False, None, [], [1, "a"], {}, {"k": 1}]


def _fuzzed(item: Item, calls: list[dict[str, dict[str, Any]]], rng: random.Random) -> Any:
    """One random edit: a parameter's value replaced (odd value, case change, other parameter's
    value), a parameter dropped, or two calls swapped."""
    out = copy.deepcopy(calls)
    if not out:
        return out
    index = rng.randrange(len(out))
    args = next(iter(out[index].values()))
    choice = rng.random()
    if args and choice < 0.7:
        param = rng.choice(sorted(args))
        value = args[param]
        candidates = [*_ODD_VALUES, *(v for v in args.values())]
        if isinstance(value, str):
            candidates += [value.upper(), value.replace(" ", ""), value + ".", f"'{value}'"]
        if isinstance(value, list):
            candidates += [list(reversed(value)), value[:-1], [str(v) for v in value]]
        if isinstance(value, int | float) and not isinstance(value, bool):
            candidates += [str(value), float(value), int(value) + 1]
        args[param] = rng.choice(candidates)
    elif args and choice < 0.85:
        del args[rng.choice(sorted(args))]
    elif len(out) > 1:
        out[0], out[-1] = out[-1], out[0]
    return out


def _answers(item: Item) -> Iterator[tuple[str, Any]]:
    if item.category.kind != "ast":
        yield "no_call", []
        call: dict[str, dict[str, Any]] = {item.functions[0]["name"] if item.functions else "f": {}}
        yield "one_call", [call]
        return
    reference = reference_calls(item)
    yield "reference", reference
    for perturbation in perturbations(item):
        yield perturbation.kind, perturbation.calls
    rng = random.Random(item.id)
    for k in range(_FUZZ):
        yield f"fuzz_{k}", _fuzzed(item, reference, rng)


def _relevance_official(item: Item, calls: Any) -> dict[str, Any]:
    # BFCL's relevance runner (eval_runner.py) is a two-line rule around its decoder; our calls
    # are already decoded, so the rule is applied as written there.
    made = isinstance(calls, list) and len(calls) > 0 and not (len(calls) == 1 and len(calls[0]) == 0)
    valid = (not made) if item.category.kind == "irrelevance" else made
    kind = (
        "irrelevance_error:decoder_success"
        if item.category.kind == "irrelevance"
        else "relevance_error:decoder_failed"
    )
    return {"valid": valid, "error_type": "" if valid else kind}


def agreement(wheel: Path, data: str | None = None) -> dict[str, Any]:
    """Score every answer with both checkers; per category: answers, agreeing verdicts, differences."""
    source = open_source(data if data is not None else wheel)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bfcl-official-") as tmp:
        official = load_official(wheel, Path(tmp))
        for category in CATEGORIES.values():
            total = same_valid = same_type = 0
            differences: list[dict[str, Any]] = []
            for item in load_category(category, source):
                judge = official if category.kind == "ast" else _relevance_official
                for kind, calls in _answers(item):
                    ours: Verdict = check_item(item, calls)
                    theirs = judge(item, calls)
                    total += 1
                    same_valid += ours.valid == theirs["valid"]
                    same_type += ours.valid == theirs["valid"] and ours.error_type == theirs["error_type"]
                    if ours.valid != theirs["valid"] or ours.error_type != theirs["error_type"]:
                        differences.append({"id": item.id, "answer": kind, "ours": ours.error_type or "valid",
                                            "official": theirs["error_type"] or "valid"})  # fmt: skip
            out[category.name] = {
                "answers": total,
                "agree_valid": same_valid,
                "agree_error_type": same_type,
                "differences": differences[:20],
            }
    return out


def main(argv: list[str] | None = None) -> None:
    """``--wheel PATH`` (default: the cached wheel) ``[--data DIR]``; prints JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--wheel", type=Path, default=cache_dir() / "bfcl_eval-2026.3.23-py3-none-any.whl")
    parser.add_argument("--data", default=None, help="the items (default: read from the wheel)")
    args = parser.parse_args(argv)
    print(json.dumps(agreement(args.wheel, args.data), indent=2))


if __name__ == "__main__":
    main()
