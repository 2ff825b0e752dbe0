"""Errors a user sees carry no text written for the model; the model still gets its repair hint."""

from __future__ import annotations

import pytest

from orchestra import Agent, tool
from orchestra.errors import PlanError
from orchestra.planners import JSONPlanner, ReActPlanner
from orchestra.planning import PlanContext
from orchestra.testing import ScriptedModel, response_of

MODEL_TEXT = ("answer with JSON only", "answer with {", "answer with a short JSON object")


@tool
def search(query: str) -> str:
    """Look QUERY up."""
    return f"facts about {query}"


async def test_a_plan_that_stays_invalid_is_reported_without_the_repair_instruction() -> None:
    model = ScriptedModel(["this is not json", "still not json {"])
    agent = Agent(model, [search], planner=JSONPlanner(), max_repairs=1)
    with pytest.raises(PlanError) as caught:
        await agent.run("What is the capital of France?")
    shown = str(caught.value)
    assert "not valid JSON" in shown
    assert not any(text in shown for text in MODEL_TEXT), shown
    # The model was asked to repair its plan, and told how.
    repair = model.requests[1].messages[-1].content or ""
    assert "not valid JSON" in repair and "answer with JSON only" in repair


async def test_a_step_planner_error_keeps_its_instruction_for_the_model_only() -> None:
    finish = '{"thought": "known", "action": {"tool": "finish", "args": {"answer": "Paris"}}}'
    model = ScriptedModel(['{"thought": "hmm"}', finish])
    agent = Agent(model, [search], planner=ReActPlanner(), strategy="sequential")
    result = await agent.run("What is the capital of France?")
    assert result.answer == "Paris"
    with pytest.raises(PlanError) as caught:
        ReActPlanner().parse_step(
            response_of('{"thought": "hmm"}', model.requests[0], "m"), PlanContext("q", [])
        )
    assert str(caught.value) == "the answer has no action"  # what a user would be shown
    assert 'answer with {"thought": ..., "action"' in (model.requests[1].messages[-1].content or "")
