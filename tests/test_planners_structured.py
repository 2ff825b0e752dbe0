"""The structured planners: JSON plan (streamed), joiner, ReAct and parallel calls."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra._tool import tool
from orchestra.agent import Agent
from orchestra.chat import ChatRequest, ToolCall
from orchestra.errors import PlanError
from orchestra.plan import Ref
from orchestra.planners import (
    JSONJoiner,
    JSONPlanner,
    JSONPlanParser,
    ParallelPlanner,
    ReActPlanner,
    parse_decision,
)
from orchestra.planning import Finish, PlanContext, Replan
from orchestra.testing import ScriptedModel, response_of


@tool
def search(query: str, k: int = 3) -> list[str]:
    """Search."""
    return [query] * k


@tool
def calculator(expression: str) -> float:
    """Calculate."""
    return 0.0


TOOLS = [search, calculator]
PLAN = json.dumps(
    {
        "tasks": [
            {"tool": "search", "args": {"query": "Nile {length}"}},
            {"tool": "search", "args": {"query": 'Amazon, "river"'}},
            {"tool": "calculator", "args": {"expression": "${1} - ${2}"}},
        ]
    }
)


def feed_all(text: str, cuts: list[int]) -> list[list]:
    parser = JSONPlanParser(4)
    batches, last = [], 0
    for cut in sorted(set(cuts)):
        batches.append(parser.feed(text[last:cut]))
        last = cut
    batches.append(parser.feed(text[last:]))
    batches.append(parser.close())
    return batches


def test_json_plan_streams_a_task_once_the_next_one_begins():
    parser = JSONPlanParser(1)
    head = PLAN[: PLAN.index('{"tool": "search", "args": {"query": "Amazon')]
    assert parser.feed(head) == []  # task 1 may still be growing
    emitted = parser.feed('{"tool": "se')
    assert [(t.id, t.kwargs) for t in emitted] == [(1, {"query": "Nile {length}"})]


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(PLAN)), max_size=30))
def test_json_plan_any_chunking_gives_the_same_tasks(cuts):
    tasks = [t for batch in feed_all(PLAN, cuts) for t in batch]
    assert [(t.id, t.tool) for t in tasks] == [(4, "search"), (5, "search"), (6, "calculator")]
    assert tasks[2].deps == {1, 2}


@pytest.mark.parametrize(
    "text",
    ['{"tasks": [{"tool": 3}]}', '{"plan": 1}', "not json", '{"tasks": [{"tool": "search", "args": [1]}]}'],
)
def test_json_plan_errors_are_plan_errors(text):
    with pytest.raises(PlanError):
        for _ in feed_all(text, []):
            pass


LOOP = json.dumps(
    {
        "tasks": [
            {"tool": "search", "args": {"query": "Nile"}},
            {"tool": "search", "args": {"query": "Amazon"}},
            {"tool": "search", "args": {"query": "Nile"}},
            {"tool": "search", "args": {"query": "Nile"}},
        ]
    }
)


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(LOOP)), max_size=30))
def test_json_plan_ends_at_the_first_exact_repeat_however_it_streams(cuts):
    # SmolLM2-135M writes its last call again until maxItems; the repeat ends the plan.
    parser = JSONPlanParser(1, stop_at_repeat=True)
    tasks, last = [], 0
    for cut in [*sorted(set(cuts)), len(LOOP)]:
        tasks += parser.feed(LOOP[last:cut])
        last = cut
    tasks += parser.close()
    assert [(t.id, t.tool, t.kwargs) for t in tasks] == [
        (1, "search", {"query": "Nile"}),
        (2, "search", {"query": "Amazon"}),
        (3, "join", {}),
    ]
    assert parser.repeated
    assert parser.feed('{"tool": "search"') == []  # the rest of the loop is ignored


def test_json_plan_keeps_identical_calls_when_asked_and_differing_ones_always():
    two_draws = (
        '{"tasks": [{"tool": "search", "args": {"query": "x"}}, {"tool": "search", "args": {"query": "x"}}]}'
    )
    kept = JSONPlanParser(1, stop_at_repeat=False)
    assert [t.tool for t in [*kept.feed(two_draws), *kept.close()]] == ["search", "search"]
    assert JSONPlanner().parser(PlanContext("q", TOOLS)).stop_at_repeat  # the weak-model default
    same_tool = '{"tasks": [{"tool": "search", "args": {"query": "x"}}, {"tool": "search", "args": {"query": "x", "k": 2}}]}'
    parser = JSONPlanParser(1, stop_at_repeat=True)
    assert [t.kwargs for t in [*parser.feed(same_tool), *parser.close()]] == [
        {"query": "x"},
        {"query": "x", "k": 2},
    ]


async def test_a_repeated_task_ends_the_plan_and_its_stream_in_the_compiler_strategy():
    plan = json.dumps({"tasks": [{"tool": "search", "args": {"query": "Nile"}}] * 6})
    model = ScriptedModel([plan, '{"action": "finish", "answer": "6650 km"}'], chunk_chars=7)
    agent = Agent(model, [search], planner=JSONPlanner(), strategy="compiler", max_replans=0)
    result = await agent.run("How long is the Nile?")
    assert [(t.tool, t.kwargs) for t in result.tasks] == [("search", {"query": "Nile"})]
    assert result.answer == "6650 km"
    (plan_span,) = result.trace.of_kind("plan")
    assert len(plan_span.attrs["response"]) < len(plan) / 2  # the stream was closed at the repeat


def test_json_plan_examples_show_one_call_and_two():
    request = JSONPlanner().plan_request(PlanContext("How long is the Nile?", TOOLS))
    plans = [json.loads(m.content or "") for m in request.messages if m.role == "assistant"]
    assert {len(p["tasks"]) for p in plans} == {1, 2}


def test_json_plan_request_constrains_tool_names_and_arguments():
    request = JSONPlanner().plan_request(PlanContext("How long are the Nile and the Amazon?", TOOLS))
    schema = request.response_format["json_schema"]["schema"]
    branches = schema["properties"]["tasks"]["items"]["anyOf"]
    assert [b["properties"]["tool"] for b in branches] == [{"const": "search"}, {"const": "calculator"}]
    assert list(branches[0]["properties"]["args"]["properties"]) == ["query"]  # required args only
    assert branches[0]["properties"]["args"]["additionalProperties"] is False
    roles = [m.role for m in request.messages]
    assert roles[0] == "system" and roles[-1] == "user" and "assistant" in roles  # few-shot turns


def test_joiner_keeps_parentheses_in_answers():
    # LLMCompiler's joiner cuts `Finish(Paris (France))` at the first `)`.
    assert parse_decision("Action: Finish(Paris (France) (capital))") == Finish("Paris (France) (capital)")
    assert parse_decision('{"action": "finish", "answer": "f(x) = (x + 1)"}') == Finish("f(x) = (x + 1)")
    assert parse_decision("Replan(need (more) data)") == Replan("need (more) data")


def test_joiner_final_round_admits_only_finish():
    ctx = PlanContext("q", TOOLS, final=True)
    joiner = JSONJoiner()
    schema = joiner.join_request(ctx).response_format["json_schema"]["schema"]
    assert schema["properties"]["action"] == {"const": "finish"}
    assert joiner.parse_join('{"action": "replan", "reason": "more"}', ctx) == Finish("more")
    assert "anyOf" in joiner.join_request(PlanContext("q", TOOLS)).response_format["json_schema"]["schema"]


def test_joiner_salvages_an_answer_cut_at_max_tokens():
    assert parse_decision('{"action": "finish", "answer": "Everest is high') == Finish("Everest is high")
    with pytest.raises(PlanError):
        parse_decision("I think the answer is 4")


def _response(step):
    return response_of(step, ChatRequest.of("x"), "t")


def test_react_parses_one_action_or_finish():
    ctx = PlanContext("q", TOOLS, next_id=3)
    planner = ReActPlanner()
    got = planner.parse_step(
        _response('{"thought": "t", "action": {"tool": "search", "args": {"query": "$1"}}}'), ctx
    )
    assert [(t.id, t.kwargs["query"]) for t in got] == [(3, Ref(1))]
    done = planner.parse_step(
        _response('{"thought": "t", "action": {"tool": "finish", "args": {"answer": "4 (four)"}}}'), ctx
    )
    assert done == Finish("4 (four)", "t")
    final = planner.step_request(PlanContext("q", TOOLS, final=True)).response_format["json_schema"]["schema"]
    assert len(final["properties"]["action"]["anyOf"]) == 1  # only finish


def test_parallel_uses_native_tool_calls_or_the_emulated_batch():
    ctx = PlanContext("q", TOOLS, next_id=1)
    planner = ParallelPlanner()
    request = planner.step_request(ctx)
    assert request.tools and request.response_format  # native offered, emulation ready
    native = planner.parse_step(
        _response(
            [
                ToolCall(id="a", name="search", arguments='{"query": "x"}'),
                ToolCall(id="b", name="calculator", arguments='{"expression": "1+1"}'),
            ]
        ),
        ctx,
    )
    assert [(t.id, t.tool) for t in native] == [(1, "search"), (2, "calculator")]
    emulated = planner.parse_step(_response('{"calls": [{"tool": "search", "args": {"query": "y"}}]}'), ctx)
    assert [(t.id, t.kwargs) for t in emulated] == [(1, {"query": "y"})]
    assert planner.parse_step(_response('{"answer": "done"}'), ctx) == Finish("done")
    assert ParallelPlanner(native=True).parse_step(_response("plain text answer"), ctx) == Finish(
        "plain text answer"
    )


def test_parallel_keeps_an_emulated_answer_cut_at_max_tokens():
    ctx = PlanContext("q", TOOLS)
    planner = ParallelPlanner(native=False)
    assert planner.parse_step(_response('{"answer": "The Nile (6,650 km) is lo'), ctx) == Finish(
        "The Nile (6,650 km) is lo"
    )
    schema = planner.step_request(PlanContext("q", TOOLS, final=True)).response_format["json_schema"][
        "schema"
    ]
    assert schema["properties"]["answer"]["maxLength"] == 500 and planner.step_request(ctx).tools is None


def test_parallel_emulated_batch_ends_at_its_first_repeat_and_native_calls_stay():
    ctx = PlanContext("q", TOOLS, next_id=1)
    loop = {"tool": "search", "args": {"query": "Nile"}}
    text = json.dumps({"calls": [loop, {"tool": "search", "args": {"query": "Amazon"}}, loop, loop]})
    batch = ParallelPlanner().parse_step(_response(text), ctx)
    assert [t.kwargs for t in batch] == [{"query": "Nile"}, {"query": "Amazon"}]
    assert len(ParallelPlanner(stop_at_repeat=False).parse_step(_response(text), ctx)) == 4
    draws = [ToolCall(id=i, name="search", arguments='{"query": "x"}') for i in "ab"]
    assert len(ParallelPlanner().parse_step(_response(draws), ctx)) == 2  # the server's own calls
