"""The agent's strategies against scripted models: turns, batches, streaming overlap, replans, repairs."""

from __future__ import annotations

import json

import anyio
import pytest

from orchestra._tool import tool
from orchestra.agent import Agent
from orchestra.chat import ChatRequest
from orchestra.errors import EndpointError, PlanError, UsageError
from orchestra.planners import AsyncLMPlanner, JSONPlanner, LLMCompilerPlanner, ParallelPlanner, ReActPlanner
from orchestra.testing import FunctionModel, ScriptedModel

LATENCY = 0.06


@tool
async def search(query: str) -> str:
    """Look something up (simulated latency)."""
    await anyio.sleep(LATENCY)
    return f"facts about {query}"


@tool
def explode(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(reason)


def spans(result, kind="task"):
    return result.trace.of_kind(kind)


def overlap(a, b) -> bool:
    return a.start < b.end and b.start < a.end


def react(tool_name: str, **args) -> str:
    return json.dumps({"thought": "next", "action": {"tool": tool_name, "args": args}})


async def test_sequential_takes_one_turn_per_call():
    model = ScriptedModel(
        [react("search", query="a"), react("search", query="$1"), react("finish", answer="done (2 calls)")]
    )
    result = await Agent(model, [search], planner=ReActPlanner(), strategy="sequential").run("q?")
    model.assert_all_used()
    assert result.answer == "done (2 calls)"
    assert result.llm_calls == 3
    first, second = spans(result)
    assert second.start >= first.end  # one action per turn: no overlap
    assert result.results[2].value == "facts about facts about a"  # $1 passed the object itself


async def test_sequential_drops_extra_calls_and_respects_max_turns():
    def always_search(request: ChatRequest) -> str:
        branches = request.response_format["json_schema"]["schema"]["properties"]["action"]["anyOf"]
        if len(branches) == 1:  # the final turn admits only finish
            return react("finish", answer="gave up")
        return react("search", query="again")

    model = FunctionModel(always_search)
    result = await Agent(model, [search], planner=ReActPlanner(), strategy="sequential", max_turns=3).run(
        "q?"
    )
    assert result.answer == "gave up"
    assert result.llm_calls == 4 and len(result.tasks) == 3


async def test_parallel_runs_one_batch_per_turn_concurrently():
    batch = json.dumps({"calls": [{"tool": "search", "args": {"query": q}} for q in "abc"]})
    model = ScriptedModel([batch, json.dumps({"answer": "three facts"})])
    result = await Agent(model, [search], planner=ParallelPlanner(native=False), strategy="parallel").run(
        "q?"
    )
    assert result.answer == "three facts" and result.llm_calls == 2
    a, b, c = spans(result)
    assert overlap(a, b) and overlap(b, c) and overlap(a, c)
    assert result.wall_time < 3 * LATENCY


COMPILER_PLAN = 'Thought: independent.\n1. search("Eiffel Tower")\n2. search(query="Statue of Liberty")\n3. join()\n<END_OF_PLAN>'


async def test_compiler_streams_the_plan_into_the_executor_and_overlaps_tasks():
    model = ScriptedModel(
        [COMPILER_PLAN, "Action: Finish(The Eiffel Tower (330 m) is taller.)"],
        chunk_chars=4,
        chunk_delay=0.004,
    )
    planner = LLMCompilerPlanner(joiner=None)
    planner.joiner.structured = False
    result = await Agent(model, [search], planner=planner).run("Which is taller?")
    model.assert_all_used()
    assert result.answer == "The Eiffel Tower (330 m) is taller."  # not cut at the first ')'
    (plan_span,) = spans(result, "plan")
    first, second = spans(result)
    assert first.start < plan_span.end  # a tool started while the plan was still streaming
    assert overlap(first, second)
    assert result.llm_calls == 2 and result.replans == 0
    assert result.plan_text().splitlines() == [
        "1. search('Eiffel Tower')",
        "2. search(query='Statue of Liberty')",
    ]


def json_plan_model(plans: list[dict], *, finish_when_final: bool = True) -> FunctionModel:
    """Plans from a list, then 'replan' from the joiner unless its schema forbids it."""
    plans = list(plans)

    def answer(request: ChatRequest) -> str:
        name = request.response_format["json_schema"]["name"]
        if name == "plan":
            return json.dumps(plans.pop(0))
        schema = request.response_format["json_schema"]["schema"]
        if "anyOf" in schema:
            return json.dumps({"action": "replan", "reason": "need more (details)"})
        return json.dumps({"action": "finish", "answer": "final (after replans)"})

    return FunctionModel(answer)


async def test_compiler_replans_incrementally_and_max_replans_is_a_true_cap():
    plans = [
        {"tasks": [{"tool": "search", "args": {"query": "a"}}]},
        {"tasks": [{"tool": "search", "args": {"query": "$1"}}]},
        {"tasks": [{"tool": "search", "args": {"query": "${2} and ${1}"}}]},
    ]
    model = json_plan_model(plans)
    result = await Agent(model, [search], planner=JSONPlanner(), max_replans=2).run("q?")
    assert result.replans == 2
    assert result.answer == "final (after replans)"
    assert result.llm_calls == 6  # 3 plans + 3 joiner calls, no more
    assert [t.id for t in result.tasks] == [1, 2, 3]  # numbering continues across rounds
    assert result.results[3].value == "facts about facts about facts about a and facts about a"
    replan_prompt = model.requests[2].messages[-1].content
    assert "need more (details)" in replan_prompt and "1. search(query='a') -> facts about a" in replan_prompt


async def test_invalid_plan_is_repaired_with_feedback():
    plans = [
        {"tasks": [{"tool": "serch", "args": {"query": "a"}}]},
        {"tasks": [{"tool": "search", "args": {"query": "a"}}]},
    ]
    model = json_plan_model(plans)
    result = await Agent(model, [search], planner=JSONPlanner(), max_replans=0).run("q?")
    assert result.rounds[0].error and "unknown tool 'serch'" in result.rounds[0].error
    assert "unknown tool 'serch'" in model.requests[1].messages[-1].content
    assert [t.tool for t in result.tasks] == ["search"] and result.results[1].ok


async def test_plan_still_invalid_after_repair_raises_plan_error():
    bad = {"tasks": [{"tool": "search", "args": {"query": "$7"}}]}
    model = json_plan_model([bad, bad])
    with pytest.raises(PlanError, match=r"after 1 repair round.*\$7 refers to task 7"):
        await Agent(model, [search], planner=JSONPlanner(), max_replans=0).run("q?")


async def test_tool_failure_reaches_the_joiner_and_skips_dependents():
    plan = '1. explode("boom")\n2. search($1)\n3. join()\n'
    model = ScriptedModel([plan, '{"action": "finish", "answer": "could not (boom)"}'])
    result = await Agent(model, [search, explode], planner=LLMCompilerPlanner()).run("q?")
    assert result.results[1].status == "error" and result.results[2].status == "skipped"
    joiner_prompt = model.requests[1].messages[-1].content
    assert "ERROR: explode raised RuntimeError: boom" in joiner_prompt
    assert result.answer == "could not (boom)"


async def test_planner_failure_mid_stream_ends_the_run():
    class Failing(ScriptedModel):
        async def stream(self, request):
            yield_count = 0
            async for chunk in super().stream(request):
                yield_count += 1
                if yield_count == 4:
                    raise EndpointError("connection dropped", status=None)
                yield chunk

    model = Failing([COMPILER_PLAN])
    with anyio.fail_after(5), pytest.raises(EndpointError, match="dropped"):
        await Agent(model, [search], planner=LLMCompilerPlanner()).run("q?")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "async", "planner": JSONPlanner()}, "needs a InterruptPlanner"),
        ({"strategy": "async", "planner": AsyncLMPlanner(), "async_mode": "warp"}, "unknown async mode"),
        ({"strategy": "async", "planner": AsyncLMPlanner(), "deadline": 0}, "deadline must be > 0"),
        ({"strategy": "warp", "planner": JSONPlanner()}, "unknown strategy"),
        ({"strategy": "sequential", "planner": JSONPlanner()}, "needs a StepPlanner"),
        ({"strategy": "compiler", "planner": ReActPlanner()}, "needs a Planner"),
    ],
)
def test_configuration_mistakes_are_usage_errors(kwargs, message):
    with pytest.raises(UsageError, match=message):
        Agent(ScriptedModel([]), [search], **kwargs)


@pytest.mark.parametrize(
    ("strategy", "planner_type"),
    [("sequential", ReActPlanner), ("parallel", ParallelPlanner), ("compiler", JSONPlanner)],
)
def test_each_strategy_has_a_default_planner(strategy, planner_type):
    agent = Agent(ScriptedModel([]), [search], strategy=strategy)
    assert type(agent.planner) is planner_type


async def test_an_agent_with_no_planner_answers():
    plan = {"tasks": [{"tool": "search", "args": {"query": "Nile"}}]}
    finish = {"action": "finish", "answer": "6650 km"}
    model = ScriptedModel([json.dumps(plan), json.dumps(finish)])
    result = await Agent(model, [search]).run("How long is the Nile?")
    assert result.answer == "6650 km"
    assert [t.tool for t in result.tasks] == ["search"]


def test_run_sync_from_a_script():
    model = ScriptedModel(
        ['{"tasks": [{"tool": "search", "args": {"query": "x"}}]}', '{"action": "finish", "answer": "ok"}']
    )
    result = Agent(model, [search], planner=JSONPlanner()).run_sync("q?")
    assert result.answer == "ok" and result.usage.completion_tokens > 0


async def test_unreadable_final_turn_is_a_plan_error_not_a_hang():
    model = ScriptedModel([react("search", query="a"), "not json at all"])
    with pytest.raises(PlanError, match="no valid final answer after 1 turn"):
        await Agent(model, [search], planner=ReActPlanner(), strategy="sequential", max_turns=1).run("q?")
