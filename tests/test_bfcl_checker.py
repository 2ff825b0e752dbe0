"""BFCL's AST checker, tested against the ground truth itself and against broken answers.

The reference answer (every parameter's first acceptable value) must be valid in every
single-turn category, except the items listed below with the reason; each perturbation of it must
fail with BFCL's error type. The same answers scored by the official checker (loaded from the
wheel by ``python -m orchestra.benchmarks.bfcl.agreement``) agreed on all 22,030 verdicts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.benchmarks.bfcl import (
    CATEGORIES,
    Category,
    Item,
    check_item,
    load_category,
    standardize_string,
)
from orchestra.benchmarks.bfcl.answers import perturbations, reference_calls
from orchestra.benchmarks.bfcl.checker import check_calls, is_empty_output
from orchestra.benchmarks.bfcl.langtypes import java_value, js_value

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "bfcl"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="the shared BFCL copy is not present")

AST = [c for c in CATEGORIES.values() if c.kind == "ast"]

# Items whose first acceptable answer is not acceptable: the ground truth itself is at fault, and
# the official checker rejects the same answers with the same error type.
REFERENCE_EXCEPTIONS = {
    "simple_python_200": (
        "simple_function_checker:missing_required",
        "fuel_efficiency is required but its first acceptable value is '' (omitted)",
    ),
    "parallel_multiple_26": (
        "parallel_function_checker_no_order:cannot_find_match",
        "transactions' first acceptable value is [], which fails the nested type check of a list of dicts",
    ),
    "live_simple_106-63-0": (
        "simple_function_checker:missing_required",
        "auto_loan_payment_start is required but has no acceptable value at all ([])",
    ),
    "live_simple_112-68-0": (
        "simple_function_checker:missing_required",
        "acc_routing_start is required but has no acceptable value at all ([])",
    ),
    "live_multiple_144-56-0": (
        "simple_function_checker:missing_required",
        "perPage is required but its first acceptable value is '' (omitted)",
    ),
    "live_multiple_507-149-4": (
        "simple_function_checker:missing_required",
        "origin_airport is required but its first acceptable value is '' (omitted)",
    ),
    "live_multiple_834-178-9": (
        "simple_function_checker:missing_required",
        "track is required but its first acceptable value is '' (omitted)",
    ),
    "live_multiple_862-181-3": (
        "simple_function_checker:unexpected_param",
        "the possible answer names journey_start_time, which the function does not document",
    ),
    "live_multiple_964-207-0": (
        "simple_function_checker:missing_required",
        "statement is required but its first acceptable value is '' (omitted)",
    ),
    "simple_java_36": (
        "value_error:list/tuple",
        "Java ArrayList<String> values arrive as strings, but the answer lists 42 and True",
    ),
    "simple_java_64": (
        "value_error:dict_value",
        "the HashMap answer lists a string where a list of acceptable values belongs",
    ),
    "simple_java_65": (
        "value_error:list/tuple",
        "Java ArrayList<String> values arrive as strings, but the answer lists True",
    ),
}

# Perturbations that do not break the answer, because the possible answers accept them.
PERTURBATION_EXCEPTIONS = {
    ("parallel_116", "duplicate_call"): "both expected calls accept genotype 'AA', so a duplicate is correct",
}


@pytest.fixture(scope="module")
def items() -> dict[str, list[Item]]:
    return {c.name: load_category(c, SHARED) for c in CATEGORIES.values()}


@needs_shared
@pytest.mark.parametrize("category", [c.name for c in AST])
def test_the_reference_answer_is_valid_except_where_the_ground_truth_is_at_fault(
    items: dict[str, list[Item]], category: str
) -> None:
    failures = {}
    for item in items[category]:
        verdict = check_item(item, reference_calls(item))
        if not verdict.valid:
            failures[item.id] = verdict.error_type
    expected = {k: v[0] for k, v in REFERENCE_EXCEPTIONS.items() if k.rsplit("_", 1)[0] == category}
    expected |= {
        k: v[0] for k, v in REFERENCE_EXCEPTIONS.items() if "-" in k and k.startswith(category + "_")
    }
    assert failures == expected
    assert len(items[category]) >= 16


@needs_shared
@pytest.mark.parametrize("category", [c.name for c in AST])
def test_every_perturbation_fails_with_bfcls_error_type(items: dict[str, list[Item]], category: str) -> None:
    kinds: set[str] = set()
    wrong = []
    for item in items[category]:
        if item.id in REFERENCE_EXCEPTIONS:
            continue
        for p in perturbations(item):
            if (item.id, p.kind) in PERTURBATION_EXCEPTIONS:
                continue
            kinds.add(p.kind)
            verdict = check_item(item, p.calls)
            if verdict.valid or verdict.error_type != p.error_type:
                wrong.append((item.id, p.kind, p.error_type, verdict.error_type))
    assert wrong == []
    expected = {"wrong_type", "unknown_param", "wrong_name", "extra_call", "missing_call"}
    if CATEGORIES[category].language == "python":
        expected |= {"wrong_value", "missing_required"}
    if CATEGORIES[category].parallel:
        expected.add("duplicate_call")
    assert expected <= kinds


@needs_shared
def test_the_exceptions_are_real(items: dict[str, list[Item]]) -> None:
    by_id = {i.id: i for group in items.values() for i in group}
    for item_id, (error_type, _reason) in REFERENCE_EXCEPTIONS.items():
        assert check_item(by_id[item_id], reference_calls(by_id[item_id])).error_type == error_type
    item = by_id["parallel_116"]
    calls = reference_calls(item)
    assert check_item(item, [calls[0], calls[0], *calls[2:]]).valid


@needs_shared
def test_irrelevance_passes_without_a_call_and_relevance_needs_one(items: dict[str, list[Item]]) -> None:
    irrelevant, relevant = items["irrelevance"][0], items["live_relevance"][0]
    call = [{irrelevant.functions[0]["name"]: {}}]
    assert check_item(irrelevant, []).valid and check_item(irrelevant, [{}]).valid
    assert check_item(irrelevant, "I cannot help with that").valid
    assert check_item(irrelevant, call).error_type == "irrelevance_error:decoder_success"
    assert check_item(relevant, [{relevant.functions[0]["name"]: {"x": 1}}]).valid
    assert check_item(relevant, []).error_type == "relevance_error:decoder_failed"


# -- the rules, on small hand-made items --------------------------------------------------------

FUNCTION = {
    "name": "spotify.play",
    "parameters": {
        "type": "dict",
        "properties": {
            "artist": {"type": "string"},
            "duration": {"type": "float"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "options": {"type": "dict"},
            "loud": {"type": "boolean"},
        },
        "required": ["artist"],
    },
}
TRUTH = [
    {
        "spotify.play": {
            "artist": ["Taylor Swift"],
            "duration": [20.0, ""],
            "tags": [["Pop", "Live"], ""],
            "options": [{"shuffle": [True], "volume": [5, ""]}, ""],
            "loud": [False, ""],
        }
    }
]


def _item(category: str = "simple_python") -> Item:
    return Item("t_0", CATEGORIES[category], [[{"role": "user", "content": "q"}]], [FUNCTION], TRUTH)


@pytest.mark.parametrize(
    ("args", "error_type"),
    [
        ({"artist": "taylor swift"}, ""),  # case and spaces are normalised
        ({"artist": "Taylor-Swift", "duration": 20}, ""),  # an int where a float is expected
        ({"artist": "Taylor Swift", "tags": ["pop", "LIVE"]}, ""),
        ({"artist": "Taylor Swift", "options": {"shuffle": True}}, ""),  # volume may be omitted
        ({"artist": "Adele"}, "value_error:string"),
        ({"artist": "Taylor Swift", "duration": 21.0}, "value_error:others"),
        ({"artist": "Taylor Swift", "duration": "20"}, "type_error:simple"),
        ({"artist": "Taylor Swift", "loud": 0}, "type_error:simple"),  # a bool is not an int
        ({"artist": "Taylor Swift", "tags": ["Live", "Pop"]}, "value_error:list/tuple"),
        # BFCL checks item types only against list answers; "" (may be omitted) lets any items through
        ({"artist": "Taylor Swift", "tags": [1, 2]}, "value_error:list/tuple"),
        ({"artist": "Taylor Swift", "tags": "Pop"}, "type_error:simple"),
        ({"artist": "Taylor Swift", "options": {"shuffle": False}}, "value_error:dict_value"),
        ({"artist": "Taylor Swift", "options": {"repeat": True}}, "value_error:dict_key"),
        ({"duration": 20.0}, "simple_function_checker:missing_required"),
        ({"artist": "Taylor Swift", "volume": 3}, "simple_function_checker:unexpected_param"),
    ],
)
def test_the_rules_of_a_single_call(args: dict[str, object], error_type: str) -> None:
    verdict = check_item(_item(), [{"spotify.play": args}])
    assert (verdict.valid, verdict.error_type) == (error_type == "", error_type)


def test_a_wrong_name_and_a_wrong_count() -> None:
    assert check_item(_item(), [{"spotify_play": {"artist": "Taylor Swift"}}]).error_type == (
        "simple_function_checker:wrong_func_name"
    )
    assert check_item(_item(), []).error_type == "simple_function_checker:wrong_count"
    assert check_item(_item(), "play it").error_type == "ast_decoder:decoder_wrong_output_format"


def test_parallel_calls_match_in_any_order_but_each_only_once() -> None:
    truth = [{"f": {"x": [1]}}, {"f": {"x": [2]}}]
    function = {"name": "f", "parameters": {"properties": {"x": {"type": "integer"}}, "required": ["x"]}}
    parallel = Category("parallel")
    assert check_calls([function], [{"f": {"x": 2}}, {"f": {"x": 1}}], truth, parallel).valid
    verdict = check_calls([function], [{"f": {"x": 1}}, {"f": {"x": 1}}], truth, parallel)
    assert verdict.error_type == "parallel_function_checker_no_order:cannot_find_match"
    assert verdict.error[0].startswith("Could not find a matching function among index [1]")
    assert check_calls([function], [{"f": {"x": 1}}], truth, parallel).error_type == (
        "parallel_function_checker_no_order:wrong_count"
    )


def test_java_and_javascript_values_are_source_text() -> None:
    assert java_value("3.5f", "float") == 3.5 and java_value("12L", "long") == 12
    assert java_value("3.5", "float") == "3.5"  # not a Java float literal: stays text
    assert java_value('new ArrayList<>(Arrays.asList("a", "b"))', "ArrayList", "String") == ["a", "b"]
    assert java_value("new int[]{1, 2}", "Array", "integer") == [1, 2]
    assert java_value('new HashMap<String, Object>() {{ put("k", 1); }}', "HashMap") == {"k": 1}
    assert js_value("[1, 2]", "array", "integer") == [1, 2] and js_value("12n", "Bigint") == 12
    assert js_value("{a: 'x', b: [1]}", "dict") == {"a": "x", "b": [1]}
    function = {"name": "f", "parameters": {"properties": {"n": {"type": "integer"}}, "required": ["n"]}}
    java = Category("simple_java", language="java")
    assert check_calls([function], [{"f": {"n": "7"}}], [{"f": {"n": [7]}}], java).valid
    assert (
        check_calls([function], [{"f": {"n": 7}}], [{"f": {"n": [7]}}], java).error_type == "type_error:java"
    )


@given(st.text())
def test_standardize_string_is_idempotent_and_ignores_case_and_spacing(text: str) -> None:
    once = standardize_string(text)
    assert standardize_string(once) == once
    assert standardize_string(text.upper()) == standardize_string(text.lower()) or not text.isascii()
    assert standardize_string(" ".join(text)) == standardize_string(text)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)


@given(_JSON)
def test_any_output_gets_a_verdict_and_only_call_lists_are_checked(value: object) -> None:
    verdict = check_item(_item("parallel"), value)
    is_calls = isinstance(value, list) and all(
        isinstance(c, dict) and len(c) == 1 and isinstance(next(iter(c.values())), dict) for c in value
    )
    if not is_calls:
        assert verdict.error_type == "ast_decoder:decoder_wrong_output_format"
        assert is_empty_output(value)
    else:
        assert verdict.valid is False  # nothing random plays Taylor Swift
