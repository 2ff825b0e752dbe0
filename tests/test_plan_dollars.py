"""Plan text means what the model meant: dollar amounts, the end marker, missing tasks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra import PlanError, tool
from orchestra.plan import Plan, Task, validate
from orchestra.planners import JSONPlanner, LLMCompilerPlanner, ParallelPlanner, ReActPlanner
from orchestra.planners.base import task_from_call
from orchestra.planners.llmcompiler import parse_plan
from orchestra.planning import PlanContext
from orchestra.references import _WHOLE_RE

# Text with dollar amounts: letters, digits, blanks, punctuation and many "$" (no braces: ${k}
# is the reference syntax; no quotes or backslashes, to keep the literal simple to write).
# A string that is nothing but "$k" is a reference by the rule; everything else must survive.
_TEXT = st.text(alphabet="ab xyz$0123456789.,?%-", min_size=1, max_size=40).filter(
    lambda s: _WHOLE_RE.fullmatch(s) is None
)


def _expected(text: str) -> str:
    return text.replace("$$", "$")


@settings(max_examples=300, deadline=None)
@given(text=_TEXT, task_id=st.integers(min_value=1, max_value=500))
def test_dollar_amounts_inside_string_literals_survive_the_text_format(text: str, task_id: int) -> None:
    for line in (f'{task_id}. search("{text}")', f"{task_id}. search(query='{text}')"):
        (task,) = parse_plan(line)
        value = task.args[0] if task.args else task.kwargs["query"]
        assert value == _expected(text)
        assert task.deps == frozenset()
        # Written back and read again, the task is the same.
        (again,) = parse_plan(str(task))
        assert (again.args or list(again.kwargs.values())) == [_expected(text)]


@settings(max_examples=300, deadline=None)
@given(text=_TEXT, task_id=st.integers(min_value=1, max_value=500))
def test_dollar_amounts_inside_json_strings_survive(text: str, task_id: int) -> None:
    task = task_from_call(task_id, {"tool": "search", "args": {"query": text, "more": [text, {"k": text}]}})
    assert task.kwargs == {"query": _expected(text), "more": [_expected(text), {"k": _expected(text)}]}
    assert task.deps == frozenset()


def test_the_issues_examples() -> None:
    tasks = parse_plan(
        '1. search("coffee prices in Rome")\n'
        '2. search("is a coffee in Rome over $1 on average?")\n'
        '3. search("hotels under $150 a night")\n'
        '4. combine($1, "compare ${2} with ${3}")\n'
        "5. join()\n"
    )
    assert tasks[1].args == ["is a coffee in Rome over $1 on average?"] and not tasks[1].deps
    assert tasks[2].args == ["hotels under $150 a night"] and not tasks[2].deps
    assert tasks[3].deps == {1, 2, 3}


@pytest.mark.parametrize(
    "text",
    [
        '1. search("x")\n2. math(problem="10*4")<END_OF_PLAN>',
        '1. search("x")\n2. math(problem="10*4")<END_OF_PLAN>\n',
        '1. search("x")\n2. math(problem="10*4")\n3. join()<END_OF_PLAN>',
        '1. search("x")\n2. math(problem="10*4")  <END_OF_PLAN> 9. search("after the marker")',
    ],
)
@pytest.mark.parametrize("cut", [0, 5, 17, 30, 44])
def test_a_task_or_join_on_the_end_marker_line_is_kept(text: str, cut: int) -> None:
    tasks = parse_plan(text, chunks=[cut] if 0 < cut < len(text) else [])
    assert [t.tool for t in tasks if not t.is_join] == ["search", "math"]
    assert tasks[1].kwargs == {"problem": "10*4"}
    if "join()" in text:
        assert tasks[-1].is_join


@tool
def search(query: str) -> str:
    """Search."""
    return query


def test_a_reference_to_a_task_that_does_not_exist_says_so() -> None:
    tasks = [Task(1, "search", ["a"]), Task(2, "search", ["b"]), Task(3, "search", ["$7"])]
    (problem,) = validate(tasks, [search])
    assert "task 7, which does not exist" in str(problem) and "comes later" not in str(problem)
    # A task that is in the plan, but later, is named as such.
    (later,) = validate([Task(1, "search", ["$2"]), Task(2, "search", ["b"])], [search])
    assert "task 2, which comes later" in str(later)
    plan = Plan([search])
    plan.add(tasks[0])
    with pytest.raises(PlanError, match="task 7, which does not exist"):
        plan.add(Task(2, "search", ["$7"]))
    (bare,) = parse_plan("3. search($7)")
    assert bare.deps == {7}  # written outside quotes, $7 is a reference even to a missing task


@pytest.mark.parametrize(
    "planner", [JSONPlanner(), LLMCompilerPlanner(), ReActPlanner(), ParallelPlanner()], ids=type
)
def test_every_planner_teaches_the_dollar_rule(planner: object) -> None:
    context = PlanContext(question="q", tools=[search])
    request = (
        planner.plan_request(context)  # type: ignore[attr-defined]
        if hasattr(planner, "plan_request")
        else planner.step_request(context)  # type: ignore[attr-defined]
    )
    system = request.messages[0].content
    assert "$150" in system  # a dollar amount inside text is text
    if not isinstance(planner, ParallelPlanner):  # parallel calls carry values, not references
        assert "${1}" in system  # how to put a result inside text


@pytest.mark.parametrize("mode", ["turn", "native"])
def test_the_asynclm_planner_teaches_the_dollar_rule_too(mode: str) -> None:
    from orchestra.planners.asynclm import AsyncLMPlanner

    system = AsyncLMPlanner().start(PlanContext(question="q", tools=[search]), mode)[0].content
    assert "${k}" in system and "$150" in system and "{{" not in system
