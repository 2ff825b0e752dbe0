"""The LLMCompiler text planner: incremental parsing at any chunk boundary, arguments, errors."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestra._tool import tool
from orchestra.errors import PlanError
from orchestra.plan import Plan, Ref, Template
from orchestra.planners import LLMCompilerParser, LLMCompilerPlanner, parse_plan
from orchestra.planning import PlanContext


@tool
def search(query: str, k: int = 3) -> list[str]:
    """Search."""
    return [query] * k


@tool
def combine(items: list, note: str = "") -> str:
    """Combine."""
    return note + str(items)


TOOLS = [search, combine]

PLAN = """Here is my plan.
Thought: two independent lookups, then a combination.
1. search("Eiffel Tower (Paris) height")
2. search(query='Statue of Liberty', k=2)
Thought: combine both.
3. combine([$1, $2[0]], note="compare ${1} and ${2.items}")
4. join()
<END_OF_PLAN>
5. search("ignored after join")
"""


def outcome(text: str, cuts: list[int]) -> tuple[list, str | None]:
    """The tasks a parser emits for ``text`` cut at ``cuts``, and the PlanError text if one ends it."""
    parser = LLMCompilerParser(1)
    tasks: list = []
    last = 0
    try:
        for cut in sorted(set(cuts)):
            tasks += parser.feed(text[last:cut])
            last = cut
        tasks += parser.feed(text[last:])
        tasks += parser.close()
    except PlanError as exc:
        return tasks, str(exc)
    return tasks, None


def test_parses_positional_keyword_nested_refs_thoughts_and_join():
    tasks = parse_plan(PLAN)
    assert [t.id for t in tasks] == [1, 2, 3, 4]
    assert tasks[0].args == ["Eiffel Tower (Paris) height"]
    assert tasks[0].thought == "two independent lookups, then a combination."
    assert tasks[1].kwargs == {"query": "Statue of Liberty", "k": 2}
    third = tasks[2]
    assert third.args == [[Ref(1), Ref(2, (0,))]]  # bare references pass the object itself
    assert isinstance(third.kwargs["note"], Template)  # embedded references are interpolated
    assert third.deps == {1, 2}
    assert third.thought == "combine both."
    assert tasks[3].is_join


def test_two_lines_in_one_chunk_are_both_kept():
    # The public LLMCompiler parser drops one of two tasks that arrive in the same chunk.
    parser = LLMCompilerParser()
    got = parser.feed('1. search("a")\n2. search("b")\n3. jo')
    assert [t.args for t in got] == [["a"], ["b"]]
    assert [t.tool for t in parser.feed("in()\n")] == ["join"]


def test_tasks_are_emitted_as_their_lines_complete():
    parser = LLMCompilerParser()
    assert parser.feed('1. search("a")') == []  # the line may still grow
    assert [t.id for t in parser.feed("\n2. sea")] == [1]
    with pytest.raises(PlanError, match="task 2"):  # the stream ended mid-task
        parser.close()


def test_statement_spanning_lines_and_nested_literals():
    text = '1. combine(items=[\n  {"a": (1, -2.5), "b": [true, null]},\n  $0\n])\n2. join()\n'
    tasks = parse_plan(text)
    assert tasks[0].kwargs["items"] == [{"a": (1, -2.5), "b": [True, None]}, Ref(0)]


@pytest.mark.parametrize(
    "line",
    [
        "1. search(__import__('os').system('echo pwned'))",  # never eval
        "1. search(x + 1)",
        "1. search(**{'query': 'a'})",
        "1. search('unterminated)",
        "1. just some prose (with an open parenthesis",
    ],
)
def test_non_literal_arguments_are_plan_errors(line):
    with pytest.raises(PlanError, match="task 1"):
        parse_plan(line + "\n2. join()\n")


def test_unclosed_statement_at_end_is_a_plan_error():
    with pytest.raises(PlanError, match="task 1"):
        parse_plan('1. search("a", k=[1, 2')


def test_planner_request_lists_tools_and_continues_numbering():
    ctx = PlanContext("q?", TOOLS, next_id=5, feedback="task 5: unknown tool 'serch'")
    request = LLMCompilerPlanner().plan_request(ctx)
    system, user = request.messages[0].content, request.messages[1].content
    assert "search(query: string, k: integer = 3)" in system
    assert "Number new tasks from 5" in user and "unknown tool 'serch'" in user
    assert LLMCompilerPlanner().parser(ctx).feed("join()\n")[0].id == 5


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(PLAN)), max_size=40))
def test_any_chunking_gives_the_same_tasks(cuts):
    assert outcome(PLAN, cuts) == outcome(PLAN, [])


_ARG = st.one_of(
    st.sampled_from(
        [
            '"a"',
            "'b (c)'",
            "$1",
            "$2.items",
            "$3[0]",
            "${1}",
            "[1, 2]",
            "{'k': $1}",
            "-3",
            "true",
            "'$1 and $2'",
            "x",
            "(",
            ")",
            "[",
            "'",
            '"""',
            "1 +",
            "None",
            "\\n",
        ]
    ),
    st.text(alphabet="ab$1()[]{}'\",=: ", max_size=8),
)
_LINE = st.one_of(
    st.builds(
        lambda n, name, args, kw: f"{n}. {name}({', '.join(args + [f'{k}={v}' for k, v in kw])})",
        st.integers(min_value=0, max_value=6),
        st.sampled_from(["search", "combine", "join", "nope", "x-y"]),
        st.lists(_ARG, max_size=3),
        st.lists(st.tuples(st.sampled_from(["query", "k", "items", "note", "zz"]), _ARG), max_size=2),
    ),
    st.sampled_from(["Thought: hmm (", "<END_OF_PLAN>", "", "join()", "Plan:", "3)", "2. ("]),
    st.text(max_size=20),
)


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(_LINE, max_size=8), data=st.data())
def test_fuzz_random_plans_and_chunkings_give_a_dag_or_a_plan_error(lines, data):
    text = "\n".join(lines)
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(text)), max_size=10))
    tasks, error = outcome(text, cuts)
    assert (tasks, error) == outcome(text, [])
    if error is not None:
        return
    plan = Plan(TOOLS)
    try:
        for task in tasks:
            plan.add(task)
    except PlanError:
        return
    for task in plan:  # a valid DAG: every dependency is an earlier task of the plan
        assert all(dep in plan.tasks and dep < task.id for dep in task.deps)
