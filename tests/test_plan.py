"""Plans: references, resolution, and validation findings phrased as repair feedback."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra import PlanError, tool
from orchestra.plan import Plan, Ref, Task, Template, find_cycle, resolve, validate
from orchestra.references import compile_refs, refs_in


@tool
def search(query: str, k: int = 3) -> list[str]:
    """Search."""
    return [query] * k


@tool
def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


TOOLS = [search, add]


# -- references -----------------------------------------------------------------------------------


def test_task_derives_dependencies_from_references() -> None:
    task = Task(3, "add", ["$1", "$2.total"], {})
    assert task.deps == frozenset({1, 2})
    assert task.args == [Ref(1), Ref(2, ("total",))]
    nested = Task(4, "search", [], {"query": ["x", {"deep": "$3[0]"}]})
    assert nested.deps == frozenset({3})
    assert nested.kwargs == {"query": ["x", {"deep": Ref(3, (0,))}]}


def test_whole_argument_reference_passes_the_object_itself() -> None:
    values = {1: {"items": [10, 20]}, 2: ["a", "b"]}
    assert resolve(compile_refs("$1"), values) is values[1]
    assert resolve(compile_refs("$1.items"), values) is values[1]["items"]
    assert resolve(compile_refs("$1.items[1]"), values) == 20
    assert resolve(compile_refs("$2[-1]"), values) == "b"
    assert resolve(compile_refs(" $2 "), values) is values[2]  # blanks around a lone reference
    assert resolve(compile_refs("${1['items']}"), values) == [10, 20]
    assert resolve(compile_refs(["$2", {"k": "$1.items"}]), values) == [["a", "b"], {"k": [10, 20]}]


def test_embedded_reference_is_interpolated_as_text() -> None:
    values = {1: "Paris", 2: {"n": 3}, 3: [1, 2]}
    assert resolve(compile_refs("capital: ${1}."), values) == "capital: Paris."
    assert resolve(compile_refs("${2.n} items"), values) == "3 items"
    assert resolve(compile_refs("list ${3} and ${1}x"), values) == "list [1, 2] and Parisx"
    assert resolve(compile_refs("$2"), values) == {"n": 3}


def test_dollar_escapes_and_plain_strings() -> None:
    assert compile_refs("costs $$5") == "costs $5"
    assert compile_refs("no refs here") == "no refs here"
    assert compile_refs("$ alone") == "$ alone"
    assert isinstance(compile_refs("a ${1} b"), Template)
    # Bare $-digits inside text are text (prices), never references.
    assert (
        compile_refs("is a coffee in Rome over $1 on average?") == "is a coffee in Rome over $1 on average?"
    )
    assert compile_refs("hotels under $150 a night") == "hotels under $150 a night"
    assert compile_refs("$$150") == "$150"  # the escape for a whole-value amount


def test_attribute_paths_read_objects_too() -> None:
    class Hit:
        title = "T"

    assert resolve(compile_refs("$1.title"), {1: Hit()}) == "T"


@pytest.mark.parametrize(
    ("text", "values", "message"),
    [
        ("$4", {1: 1, 2: 2}, r"\$4 refers to task 4, which has no result \(results available: \$1, \$2\)"),
        (
            "$1.name",
            {1: {"title": "x"}},
            r"\$1.name: the result of task 1 has no key 'name' \(keys: 'title'\)",
        ),
        ("$1[5]", {1: [1, 2]}, r"\$1\[5\]: index 5 is out of range; the value has 2 item"),
        ("$1[0]", {1: 7}, r"cannot index a int"),
        ("$1.real_name", {1: 7}, r"has no field 'real_name'"),
    ],
)
def test_bad_references_are_plan_errors_never_key_errors(
    text: str, values: dict[int, Any], message: str
) -> None:
    with pytest.raises(PlanError, match=message):
        resolve(compile_refs(text), values)


def test_task_resolution_error_names_the_task() -> None:
    task = Task(5, "search", ["$1.missing"])
    with pytest.raises(PlanError) as info:
        task.resolved({1: {}})
    assert info.value.task_id == 5
    assert str(info.value).startswith("task 5: $1.missing")


def test_task_renders_back_as_plan_text() -> None:
    task = Task(3, "search", ["about ${1} and $$5", "$2[0]"], {"k": 2})
    assert str(task) == "3. search('about ${1} and $$5', $2[0], k=2)"
    assert str(Task(4, "join")) == "4. join()"


# -- hypothesis: references survive a round trip, and resolution follows paths ---------------------

_keys = st.text(alphabet="abcxyz_", min_size=1, max_size=6).filter(str.isidentifier)
_plain = st.text(alphabet=st.characters(blacklist_characters="$", blacklist_categories=("Cs",)), max_size=8)
_refs = st.builds(
    Ref,
    st.integers(1, 30),
    st.lists(st.one_of(_keys, st.integers(-3, 5)), max_size=3).map(tuple),
)
_leaves = st.one_of(_plain, st.integers(), st.booleans(), st.none(), _refs)
_trees = st.recursive(
    _leaves,
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(_keys, kids, max_size=3)),
    max_leaves=12,
)


def _as_planner_text(value: Any) -> Any:
    """What a planner writes: references as ``$k...`` strings."""
    if isinstance(value, Ref):
        return str(value)
    if isinstance(value, list):
        return [_as_planner_text(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_planner_text(v) for k, v in value.items()}
    return value


def _collect_refs(value: Any) -> list[Ref]:
    if isinstance(value, Ref):
        return [value]
    if isinstance(value, list):
        return [r for v in value for r in _collect_refs(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _collect_refs(v)]
    return []


@settings(max_examples=200, deadline=None)
@given(_trees)
def test_compiling_planner_text_recovers_the_references(tree: Any) -> None:
    compiled = compile_refs(_as_planner_text(tree))
    assert compiled == tree
    assert list(refs_in(compiled)) == _collect_refs(tree)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_plain.filter(bool), _refs), min_size=1, max_size=6))
def test_templates_round_trip_through_text(parts: list[str | Ref]) -> None:
    merged: list[str | Ref] = []
    for part in parts:  # adjacent literals are one literal once written out
        if merged and isinstance(part, str) and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    if not any(isinstance(p, Ref) for p in merged) or len(merged) == 1:
        return  # plain text, or a lone whole-argument reference: covered above
    template = Template(tuple(merged))
    again = compile_refs(str(template))
    if isinstance(again, Ref):  # only blank text around one reference
        assert all(isinstance(p, Ref) or not p.strip() for p in merged)
    else:
        assert again == template


_json = st.recursive(
    st.one_of(st.integers(), st.text(max_size=4), st.none()),
    lambda kids: st.one_of(
        st.lists(kids, min_size=1, max_size=3), st.dictionaries(_keys, kids, min_size=1, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(_json, st.lists(st.integers(0, 10), max_size=4))
def test_resolution_follows_the_path_into_the_object(value: Any, choices: list[int]) -> None:
    path: list[str | int] = []
    expected = value
    for choice in choices:  # walk down a random existing path
        if isinstance(expected, list):
            index = choice % len(expected)
            path.append(index)
            expected = expected[index]
        elif isinstance(expected, dict):
            key = sorted(expected)[choice % len(expected)]
            path.append(key)
            expected = expected[key]
        else:
            break
    ref = Ref(7, tuple(path))
    assert resolve(compile_refs(str(ref)), {7: value}) is expected


# -- validation ------------------------------------------------------------------------------------


def _messages(plan: Plan, task: Task) -> list[str]:
    return [str(p) for p in plan.check(task)]


def test_valid_tasks_are_added_in_order() -> None:
    plan = Plan(TOOLS)
    plan.add(Task(1, "search", ["x"]))
    plan.add(Task(2, "add", ["$1.count", 2]))
    plan.add(Task(3, "join"))
    assert [t.id for t in plan] == [1, 2]
    assert plan.joined is not None and plan.next_id == 4
    assert plan.dependents(1) == [2]


def test_unknown_tool_lists_the_known_ones_and_a_close_match() -> None:
    plan = Plan(TOOLS)
    with pytest.raises(PlanError) as info:
        plan.add(Task(1, "serach", ["x"]))
    assert info.value.task_id == 1
    assert str(info.value) == (
        "task 1: unknown tool 'serach' (did you mean 'search'?); known tools: add, search, and join() to end the plan"
    )


@pytest.mark.parametrize(
    ("task", "fragment"),
    [
        (Task(1, "search", [], {"k": 2}), "missing required argument 'query'"),
        (Task(1, "search", ["x"], {"limit": 2}), "unexpected argument 'limit' (parameters: query, k)"),
        (Task(1, "search", ["x", 2, 3]), "takes at most 2 positional argument(s) (query, k), got 3"),
        (Task(1, "search", ["x"], {"k": "many"}), "argument 'k': Input should be a valid integer"),
        (Task(1, "search", ["x"], {"query": "y"}), "multiple values for argument 'query'"),
    ],
)
def test_bad_arguments_are_reported_with_the_expected_signature(task: Task, fragment: str) -> None:
    messages = _messages(Plan(TOOLS), task)
    assert len(messages) == 1
    assert fragment in messages[0]
    assert messages[0].startswith("task 1: search")
    assert messages[0].endswith("expected search(query: string, k: integer = 3)")


def test_arguments_holding_references_are_not_type_checked_yet() -> None:
    plan = Plan(TOOLS)
    plan.add(Task(1, "search", ["x"]))
    plan.add(Task(2, "add", ["$1", "total: ${1}"]))  # types are known only once task 1 ran


def test_self_forward_and_missing_references() -> None:
    plan = Plan(TOOLS)
    plan.add(Task(1, "search", ["x"]))
    plan.add(Task(3, "search", ["y"]))
    assert _messages(plan, Task(4, "search", ["$4"])) == [
        "task 4: $4 refers to the task itself; a task can only use results of tasks before it"
    ]
    assert _messages(plan, Task(4, "search", ["$6.x"])) == [
        "task 4: $6.x refers to task 6, which does not exist; a task can only use results of tasks "
        "before it (available: $1, $3); to write a dollar amount as a whole value, write $$6"
    ]
    assert _messages(plan, Task(4, "search", ["$2"])) == [
        "task 4: $2 refers to task 2, which does not exist; a task can only use results of tasks "
        "before it (available: $1, $3); to write a dollar amount as a whole value, write $$2"
    ]


def test_duplicate_ids_and_tasks_after_join() -> None:
    plan = Plan(TOOLS)
    plan.add(Task(1, "search", ["x"]))
    assert _messages(plan, Task(1, "search", ["y"])) == [
        "task 1: id 1 is already used; number new tasks from 2"
    ]
    assert _messages(plan, Task(0, "search", ["y"])) == ["task 0: task ids must be positive integers"]
    plan.add(Task(2, "join"))
    assert _messages(plan, Task(3, "search", ["y"])) == [
        "task 3: the plan already ended with join() at task 2; nothing may follow it"
    ]


def test_several_findings_are_combined_in_one_error() -> None:
    with pytest.raises(PlanError) as info:
        Plan(TOOLS).add(Task(2, "nope", ["$2"]))
    assert "unknown tool 'nope'" in str(info.value) and "refers to the task itself" in str(info.value)


def test_replanning_continues_numbering_and_keeps_earlier_ids_referable() -> None:
    plan = Plan(TOOLS)
    plan.add(Task(1, "search", ["x"]))
    plan.add(Task(2, "join"))
    plan.reopen()
    assert plan.next_id == 3
    plan.add(Task(3, "add", ["$1", 1]))
    assert _messages(plan, Task(2, "search", ["z"]))[0].startswith("task 2: id 2 is already used")
    # A new Plan for a later round, knowing the earlier results' ids.
    later = Plan(TOOLS, known=[1, 2, 3])
    later.add(Task(4, "search", ["$3"]))
    assert later.next_id == 5


def test_whole_plan_validation_reports_a_cycle_as_a_cycle() -> None:
    tasks = [
        Task(1, "search", ["$3"]),
        Task(2, "search", ["$1"]),
        Task(3, "search", ["$2"]),
        Task(4, "add", [1, 2]),
    ]
    problems = validate(tasks, TOOLS)
    assert [str(p) for p in problems] == [
        "tasks 1 -> 3 -> 2 -> 1 form a cycle: each waits for the next, so none can run; "
        "a task may only use results of tasks before it"
    ]
    assert problems[0].task_id == 1
    assert find_cycle(tasks) == [1, 3, 2]
    assert find_cycle(tasks[1:]) is None


def test_whole_plan_validation_collects_every_finding() -> None:
    tasks = [
        Task(1, "search", ["x"]),
        Task(1, "search", ["y"]),
        Task(2, "fly", []),
        Task(3, "add", ["$9", 1]),
        Task(4, "join"),
    ]
    problems = validate(tasks, TOOLS)
    assert [p.task_id for p in problems] == [1, 2, 3]
    assert validate([Task(1, "search", ["x"]), Task(2, "add", ["$1", 2]), Task(3, "join")], TOOLS) == []
