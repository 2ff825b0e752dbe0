"""Answers built from the possible answers: the reference answer, and perturbations of it.

:func:`reference_calls` takes every parameter's first acceptable value (``""`` first means the
parameter is omitted), recursing into nested dicts and lists of dicts, and writes Java and
JavaScript values back as source text. It is what an oracle model answers in the latency replay,
and, scored, it tests the checker against the ground truth itself. :func:`perturbations` breaks it
in the ways a model does (a wrong value, a wrong type, a missing or unknown parameter, a call too
many or too few, a wrong name, a duplicated call), each with the error type BFCL gives it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from orchestra.benchmarks.bfcl.data import Item
from orchestra.benchmarks.bfcl.langtypes import to_source

__all__ = ["Perturbation", "perturbations", "reference_calls"]

_OMIT = object()


def _first(values: Any) -> Any:
    if not isinstance(values, list):
        return values  # some nested answers hold the value itself, not a list of acceptable values
    if not values or values[0] == "":
        return _OMIT
    return _nested(values[0])


def _nested(value: Any) -> Any:
    if isinstance(value, dict):
        picked = {k: _first(v) for k, v in value.items()}
        return {k: v for k, v in picked.items() if v is not _OMIT}
    if isinstance(value, list):
        return [_nested(v) if isinstance(v, dict) else v for v in value]
    return value


def reference_calls(item: Item) -> list[dict[str, dict[str, Any]]]:
    """The ground truth's first acceptable answer, in BFCL's call form (BFCL names).

    Raises:
        ValueError: the item has no possible answers (irrelevance, relevance).
    """
    if item.ground_truth is None:
        raise ValueError(f"{item.id} has no possible answers")
    calls = []
    for expected in item.ground_truth:
        ((name, params),) = expected.items()
        document = item.function(name) or {}
        properties = document.get("parameters", {}).get("properties", {})
        args = {}
        for param, values in params.items():
            value = _first(values)
            if value is not _OMIT:
                args[param] = to_source(value, properties.get(param, {}), item.category.language)
        calls.append({name: args})
    return calls


@dataclass(frozen=True)
class Perturbation:
    """A broken answer and the error type BFCL gives it.

    Attributes:
        kind: ``wrong_value``, ``wrong_type``, ``missing_required``, ``unknown_param``,
            ``extra_call``, ``missing_call``, ``wrong_name`` or ``duplicate_call``.
        calls: the answer.
        error_type: the expected top-level error type.
    """

    kind: str
    calls: list[dict[str, dict[str, Any]]]
    error_type: str


def _broken_value(value: Any, language: str) -> tuple[Any, str] | None:
    if language != "python":
        return None
    if isinstance(value, str):
        return value + " zzz", "value_error:string"
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value + 7919, "value_error:others"
    return None


def _call_level(item: Item, error_type: str) -> str:
    """In parallel categories a broken call is one no expected call matches."""
    return "parallel_function_checker_no_order:cannot_find_match" if item.category.parallel else error_type


def _one_call_breaks(item: Item, calls: list[dict[str, dict[str, Any]]]) -> Iterator[Perturbation]:
    ((name, args),) = calls[0].items()
    language = item.category.language
    document = item.function(name) or {}
    required = [p for p in document.get("parameters", {}).get("required", []) if p in args]
    for param, value in args.items():
        broken = _broken_value(value, language)
        if broken is not None:
            out = copy.deepcopy(calls)
            out[0][name][param] = broken[0]
            yield Perturbation("wrong_value", out, _call_level(item, broken[1]))
            break
    if args:
        param = next(iter(args))
        out = copy.deepcopy(calls)
        document_type = document.get("parameters", {}).get("properties", {}).get(param, {}).get("type")
        collection = document_type in ("array", "tuple", "dict")
        out[0][name][param] = ("zzz" if collection else [[1]]) if language == "python" else 1
        sub = (
            "type_error:simple"
            if language == "python"
            else f"type_error:{'java' if language == 'java' else 'js'}"
        )
        yield Perturbation("wrong_type", out, _call_level(item, sub))
    if required:
        out = copy.deepcopy(calls)
        del out[0][name][required[0]]
        yield Perturbation(
            "missing_required", out, _call_level(item, "simple_function_checker:missing_required")
        )
    out = copy.deepcopy(calls)
    out[0][name]["zz_unknown_parameter"] = 1
    yield Perturbation("unknown_param", out, _call_level(item, "simple_function_checker:unexpected_param"))
    out = copy.deepcopy(calls)
    out[0] = {"zz_" + name: args}
    yield Perturbation("wrong_name", out, _call_level(item, "simple_function_checker:wrong_func_name"))


def _count_error(item: Item) -> str:
    if item.category.parallel:
        return "parallel_function_checker_no_order:wrong_count"
    if "multiple" in item.category.name:
        return "multiple_function_checker:wrong_count"
    return "simple_function_checker:wrong_count"


def perturbations(item: Item) -> Iterator[Perturbation]:
    """The broken versions of :func:`reference_calls` for ``item``, with BFCL's expected error types."""
    calls = reference_calls(item)
    yield from _one_call_breaks(item, calls)
    yield Perturbation("extra_call", [*calls, copy.deepcopy(calls[0])], _count_error(item))
    yield Perturbation("missing_call", calls[:-1], _count_error(item))
    if item.category.parallel and len(calls) > 1 and calls[0] != calls[1]:
        duplicate = [calls[0], copy.deepcopy(calls[0]), *calls[2:]]
        yield Perturbation(
            "duplicate_call", duplicate, "parallel_function_checker_no_order:cannot_find_match"
        )
