"""BFCL's AST checker, reimplemented: is a list of calls an acceptable answer to an item?

The rules and the verdicts are BFCL's (``bfcl_eval/eval_checker/ast_eval/ast_checker.py`` of
``bfcl-eval`` 2026.3.23), so a per-item output of ours reads like the official one:

- each parameter of the possible answer lists its acceptable values, and ``""`` among them means
  the parameter may be omitted;
- strings are compared after :func:`standardize_string` (case, spaces and ``,./-_*^`` ignored);
- an ``int`` is accepted where a ``float`` is expected (Python only); types are otherwise exact
  (a bool is not an int);
- lists are compared element-wise after standardising their strings, dicts key by key against
  lists of acceptable values, lists of dicts dict by dict in order;
- a value whose type differs from the documented one but matches the possible answer's type is a
  *variable* (``"x"`` for a float parameter) and is compared by equality;
- ``parallel`` categories match each expected call to exactly one call, in any order;
  ``multiple`` categories check the one call against the one expected; the others need exactly
  one call;
- irrelevance passes when no call is made, relevance when at least one is.

Error types are BFCL's strings (``value_error:string``, ``type_error:simple``,
``simple_function_checker:missing_required``, ``parallel_function_checker_no_order:cannot_find_match``
…), and so are the messages. Java and JavaScript values arrive as source text and are converted
by :mod:`~orchestra.benchmarks.bfcl.langtypes` first, as BFCL does.

Calls are in BFCL's decoded form: ``[{"spotify.play": {"artist": "Taylor Swift", "duration": 20}}]``
with BFCL's own function names (dots kept).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from orchestra.benchmarks.bfcl.data import Category, Item
from orchestra.benchmarks.bfcl.langtypes import JAVA_TYPES, JS_TYPES, NESTED_TYPES, java_value, js_value

__all__ = [
    "PYTHON_TYPES",
    "Verdict",
    "check_calls",
    "check_item",
    "is_call_list",
    "is_empty_output",
    "standardize_string",
]

PYTHON_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "float": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "any": str,
}
"""BFCL's Python type of each documented type (``any`` is checked as a string, as BFCL does)."""

_NESTED_CHECKED = ("array", "tuple")  # Python types whose items are type-checked too
_STANDARDIZE = re.compile(r"[ ,./\-_*^]")


@dataclass(frozen=True)
class Verdict:
    """The checker's answer for one item.

    Attributes:
        valid: the calls are acceptable.
        error_type: BFCL's error type (``""`` when valid).
        error: BFCL's error messages (strings, or dicts of per-candidate sub-errors for parallel).
    """

    valid: bool
    error_type: str = ""
    error: list[Any] = field(default_factory=list)

    def to_json(self, item_id: str) -> dict[str, Any]:
        """``{"id", "valid", "error_type", "error"}``, the per-item line of ``score --out``."""
        return {"id": item_id, "valid": self.valid, "error_type": self.error_type, "error": self.error}


_OK = Verdict(True)


def _fail(error_type: str, *errors: Any) -> Verdict:
    return Verdict(False, error_type, list(errors))


def standardize_string(text: str) -> str:
    """BFCL's normalisation: drop spaces and ``,./-_*^``, lower-case, single quotes to double."""
    return _STANDARDIZE.sub("", text).lower().replace("'", '"')


def is_call_list(output: Any) -> bool:
    """BFCL's format check: a list of ``{name: {param: value}}`` (one key each); ``[]`` passes."""
    if not isinstance(output, list):
        return False
    for call in output:
        if not isinstance(call, dict) or len(call) != 1 or not isinstance(next(iter(call.values())), dict):
            return False
    return True


def is_empty_output(output: Any) -> bool:
    """No function call: not in call form, ``[]``, or ``[{}]`` (BFCL's relevance rule)."""
    if not is_call_list(output):
        return True
    return len(output) == 0 or (len(output) == 1 and len(output[0]) == 0)


# -- types --------------------------------------------------------------------------------------


def _answer_type(values: Sequence[Any]) -> type | None:
    """The type of the first acceptable value that is not ``""`` (the 'may be omitted' marker)."""
    for value in values:
        if value != "":
            return type(value)
    return None


@dataclass
class _TypeCheck:
    valid: bool = True
    is_variable: bool = False
    error_type: str = "type_error:simple"
    error: list[Any] = field(default_factory=list)


def _check_type(
    param: str, value: Any, possible: Sequence[Any], described: str, expected: type, nested: type | None
) -> _TypeCheck:
    """BFCL's type check (nested types one level deep), including its *variable* rule."""
    result = _TypeCheck()
    answer_type = _answer_type(possible)
    is_variable = answer_type is not None and answer_type != expected
    if type(value) == expected:  # noqa: E721 (exact: a bool is not an int)
        if nested is None:
            result.is_variable = is_variable
            return result
        for candidate in possible:
            ok = True  # a candidate that is not a list ("") does not constrain the items
            if type(candidate) == list:  # noqa: E721
                for element in cast("list[Any]", value):
                    if not _check_type(param, element, candidate, str(nested), nested, None).valid:
                        ok = False
                        break
            if ok:
                return _TypeCheck(is_variable=is_variable)
        result.valid = False
        result.error = [
            f"Nested type checking failed for parameter {param!r}. Expected outer type {described} "
            f"with inner type {nested}. Parameter value: {value!r}."
        ]
        result.error_type = "type_error:nested"
    if answer_type is not None and type(value) == answer_type:  # noqa: E721
        result.is_variable = True
        return result
    result.valid = False
    result.error.append(
        f"Incorrect type for parameter {param!r}. Expected type {described}, got {type(value).__name__}. "
        f"Parameter value: {value!r}."
    )
    result.error_type = "type_error:simple"
    return result


# -- values -------------------------------------------------------------------------------------


def _standard(value: Any) -> Any:
    return standardize_string(value) if type(value) == str else value  # noqa: E721


def _check_string(param: str, value: str, possible: Sequence[Any]) -> Verdict:
    accepted = [standardize_string(p) for p in possible if type(p) == str]  # noqa: E721
    if standardize_string(value) not in accepted:
        return _fail(
            "value_error:string",
            f"Invalid value for parameter {param!r}: {value!r}. Expected one of {list(possible)}. Case insensitive.",
        )
    return _OK


def _check_list(param: str, value: list[Any], possible: Sequence[Any]) -> Verdict:
    given = [_standard(v) for v in value]
    accepted = [[_standard(v) for v in candidate] for candidate in possible]
    if given not in accepted:
        return _fail(
            "value_error:list/tuple",
            f"Invalid value for parameter {param!r}: {value!r}. Expected one of {list(possible)}.",
        )
    return _OK


def _check_dict(param: str, value: Mapping[str, Any], possible: Sequence[Any]) -> Verdict:
    """A dict against candidate dicts of acceptable-value lists (one level, as BFCL's)."""
    verdict = _fail("dict_checker:unclear")
    for candidate in possible:
        if candidate == "":
            continue
        errors: list[Any] = []
        error_type = "dict_checker:unclear"
        ok = True
        for key, item in value.items():
            if key not in candidate:
                errors.append(f"Unexpected dict key parameter: '{key}'.")
                error_type, ok = "value_error:dict_key", False
                break
            accepted = [_standard(v) for v in candidate[key]]
            if _standard(item) not in accepted:
                errors.append(f"Invalid value for parameter {key!r}: {item!r}. Expected one of {accepted}.")
                error_type, ok = "value_error:dict_value", False
                break
        for key, values in candidate.items():
            if key not in value and "" not in values:
                errors.append(f"Missing dict key parameter: '{key}'.")
                error_type, ok = "value_error:dict_key", False
                break
        if ok:
            return _OK
        verdict = Verdict(False, error_type, errors)
    return verdict


def _check_dict_list(param: str, value: list[Any], possible: Sequence[Any]) -> Verdict:
    """A list of dicts against candidate lists, dict by dict in order."""
    verdict = _fail("list_dict_checker:unclear")
    for candidate in possible:
        if len(value) != len(candidate):
            verdict = _fail("value_error:list_dict_count", "Wrong number of dictionaries in the list.")
            continue
        ok = True
        for index, element in enumerate(value):
            verdict = _check_dict(param, element, [candidate[index]])
            if not verdict.valid:
                ok = False
                break
        if ok:
            return _OK
    return verdict


# -- one call -----------------------------------------------------------------------------------


def _convert(language: str, param: str, value: Any, spec: Mapping[str, Any]) -> tuple[Any, type, type | None]:
    """The value as the checker compares it, its expected type and nested type (raises _Reject)."""
    described = spec["type"]
    if language == "python":
        expected = PYTHON_TYPES[described]
        nested = PYTHON_TYPES[spec["items"]["type"]] if described in _NESTED_CHECKED else None
        return value, expected, nested
    table = JAVA_TYPES if language == "java" else JS_TYPES
    convert = java_value if language == "java" else js_value
    expected = table[described]
    if type(value) != str:  # noqa: E721 (Java/JS values are source text)
        raise _Reject(
            _fail(
                f"type_error:{'java' if language == 'java' else 'js'}",
                f"Incorrect type for parameter {param!r}. Expected type String, got {type(value).__name__}. "
                f"Parameter value: {value!r}.",
            )
        )
    if described in NESTED_TYPES:
        inner = spec["items"]["type"]
        return convert(value, described, inner), expected, table[inner]
    return convert(value, described), expected, None


class _Reject(Exception):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.error_type)
        self.verdict = verdict


def _check_value(
    param: str, value: Any, possible: list[Any], spec: Mapping[str, Any], language: str
) -> Verdict:
    try:
        value, expected, nested = _convert(language, param, value, spec)
    except _Reject as exc:
        return exc.verdict
    described = spec["type"]
    if described == "tuple" and type(value) == tuple:  # noqa: E721
        value = list(value)
    if language == "python" and described == "float" and type(value) == int:  # noqa: E721
        value = float(value)
    typed = _check_type(param, value, possible, described, expected, nested)
    if not typed.valid:
        return Verdict(False, typed.error_type, typed.error)
    if not typed.is_variable:
        if expected is dict:
            return _check_dict(param, value, possible)
        if expected is list and nested is dict:
            return _check_dict_list(param, value, possible)
        if expected is str:
            return _check_string(param, value, possible)
        if expected is list:
            return _check_list(param, value, possible)
    if value not in possible:
        return _fail(
            "value_error:others",
            f"Invalid value for parameter {param!r}: {value!r}. Expected one of {possible}.",
        )
    return _OK


def _check_one(
    function: Mapping[str, Any], call: Mapping[str, Any], expected: Mapping[str, Any], language: str
) -> Verdict:
    """BFCL's ``simple_function_checker``: one call against one expected call."""
    possible: Mapping[str, list[Any]] = next(iter(expected.values()))
    name = function["name"]
    details = function["parameters"]["properties"]
    if name not in call:
        return _fail(
            "simple_function_checker:wrong_func_name", f"Function name {name!r} not found in model output."
        )
    args = call[name]
    for param in function["parameters"].get("required", []):
        if param not in args:
            return _fail(
                "simple_function_checker:missing_required", f"Missing required parameter: {param!r}."
            )
    for param, value in args.items():
        if param not in details or param not in possible:
            return _fail("simple_function_checker:unexpected_param", f"Unexpected parameter: {param!r}.")
        verdict = _check_value(param, value, possible[param], details[param], language)
        if not verdict.valid:
            return verdict
    for param, values in possible.items():
        if param not in args and "" not in values:
            return _fail(
                "simple_function_checker:missing_optional",
                f"Optional parameter {param!r} not provided and not marked as optional.",
            )
    return _OK


def _describe(functions: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any]:
    found = next((f for f in functions if f.get("name") == name), None)
    if found is None:
        raise KeyError(f"the possible answer calls {name!r}, which the item does not document")
    return found


def _check_parallel(
    functions: Sequence[Mapping[str, Any]], calls: list[Any], expected: list[Any], language: str
) -> Verdict:
    """Each expected call matched by exactly one call, in any order."""
    if len(calls) != len(expected):
        return _fail("parallel_function_checker_no_order:wrong_count", "Wrong number of functions.")
    matched: set[int] = set()
    for index, wanted in enumerate(expected):
        function = _describe(functions, next(iter(wanted)))
        errors: list[Any] = []
        found = False
        for position, call in enumerate(calls):
            if position in matched:
                continue
            verdict = _check_one(function, call, wanted, language)
            if verdict.valid:
                matched.add(position)
                found = True
                break
            errors.append(
                {
                    f"Model Result Index {position}": {
                        "sub_error": verdict.error,
                        "sub_error_type": verdict.error_type,
                        "model_output_item": call,
                        "possible_answer_item": wanted,
                    }
                }
            )
        if not found:
            left = [p for p in range(len(calls)) if p not in matched]
            return _fail(
                "parallel_function_checker_no_order:cannot_find_match",
                f"Could not find a matching function among index {left} of model output for index {index} "
                f"of possible answers.",
                *errors,
            )
    return _OK


def check_calls(
    functions: Sequence[Mapping[str, Any]], calls: list[Any], expected: list[Any], category: Category
) -> Verdict:
    """BFCL's ``ast_checker`` for an item with possible answers.

    Args:
        functions: the item's function documents.
        calls: the decoded calls, ``[{name: {param: value}}]`` (BFCL names).
        expected: the possible answers.
        category: decides the matching (parallel: any order; multiple; simple) and the type rules.
    """
    language = category.language
    if category.parallel:
        return _check_parallel(functions, calls, expected, language)
    if "multiple" in category.name:
        if len(calls) != len(expected):
            return _fail("multiple_function_checker:wrong_count", "Wrong number of functions.")
        function = _describe(functions, next(iter(expected[0])))
        return _check_one(function, calls[0], expected[0], language)
    if len(calls) != 1:
        return _fail("simple_function_checker:wrong_count", "Wrong number of functions.")
    return _check_one(functions[0], calls[0], expected[0], language)


def check_item(item: Item, output: Any) -> Verdict:
    """Score one model output for ``item`` as BFCL does.

    Args:
        item: the item (its category decides the rule).
        output: the decoded calls ``[{name: {param: value}}, ...]``; anything else (text, None)
            counts as no call.

    Returns:
        The verdict; for AST categories an output not in call form is
        ``ast_decoder:decoder_wrong_output_format``.
    """
    kind = item.category.kind
    if kind == "irrelevance":
        if is_empty_output(output):
            return _OK
        return _fail(
            "irrelevance_error:decoder_success", "Valid syntax. Successfully decode AST when it should not."
        )
    if kind == "relevance":
        if not is_empty_output(output):
            return _OK
        return _fail(
            "relevance_error:decoder_failed", "Invalid syntax. Failed to decode AST when it should have."
        )
    if not is_call_list(output):
        return _fail(
            "ast_decoder:decoder_wrong_output_format",
            "Did not output in the specified format. Note: the model_result is wrapped in a string to ensure "
            "json serializability.",
        )
    assert item.ground_truth is not None
    return check_calls(item.functions, output, item.ground_truth, item.category)
