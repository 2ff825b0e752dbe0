"""The ``async`` strategy on the embedded model (SmolLM2-135M on llama.cpp): the GBNF grammar makes
its CML well-formed, and a resumed generation re-uses the cached prefix (the server's own timings)."""

from __future__ import annotations

import anyio
import pytest

from orchestra._tool import tool
from orchestra.agent import Agent
from orchestra.planners import AsyncLMPlanner

pytestmark = pytest.mark.local_model

FACTS = {"nile": "The Nile is about 6650 km long.", "amazon": "The Amazon is about 6400 km long."}


@tool
async def lookup(topic: str) -> str:
    """Look up one fact about a topic (a river, a city ...)."""
    await anyio.sleep(0.01)
    key = next((k for k in FACTS if k in topic.lower()), None)
    return FACTS[key] if key else f"No fact about {topic}."


async def test_apply_template_ends_with_the_assistant_prompt(local_endpoint):
    from orchestra.chat import Message

    prompt = await local_endpoint.apply_template([Message(role="user", content="hi")])
    assert prompt.endswith("<|im_start|>assistant\n") and "hi" in prompt


async def test_grammar_makes_the_135m_model_write_well_formed_calls(local_endpoint):
    planner = AsyncLMPlanner(grammar=True, max_tokens=64, max_answer_chars=120)
    agent = Agent(local_endpoint, [lookup], planner=planner, strategy="async", async_mode="turn", max_turns=2)
    result = await agent.run("How long is the Nile?")
    assert result.tasks, result.rounds[0].text  # the grammar asks for a call before any answer
    refused = [s for s in result.trace.of_kind("dispatch") if s.error]
    assert refused == []  # every frame it wrote was a readable call of a real tool
    assert all(t.tool == "lookup" for t in result.tasks)
    assert all(r.status == "ok" for r in result.results.values())
    assert result.answer.strip()


async def test_resume_continues_from_the_cached_prefix_after_an_interrupt():
    # One slot: with several, llama.cpp may give the resumed request another slot while the
    # cancelled one is still winding down (seen here: 287 of 414 prompt tokens from the cache).
    from orchestra.endpoints.local import LocalModel

    planner = AsyncLMPlanner(grammar=True, max_tokens=64, max_answer_chars=120)
    async with LocalModel(parallel=1, ctx=4096) as model:
        endpoint = model.endpoint()
        try:
            agent = Agent(
                endpoint, [lookup], planner=planner, strategy="async", async_mode="resume", max_turns=2
            )
            result = await agent.run("How long is the Nile?")
        finally:
            await endpoint.aclose()
    assert result.trace.of_kind("interrupt"), [r.text for r in result.rounds]
    segments = result.trace.of_kind("llm")
    first_interrupt = result.trace.of_kind("interrupt")[0].start
    resumed = [s for s in segments if s.start >= first_interrupt and "cache_n" in s.attrs]
    assert resumed, [s.attrs for s in segments]
    for segment in resumed:
        total = segment.attrs["prompt_tokens"]
        # From the server's timings: nearly all of the resumed prompt (instructions, question,
        # the partial answer) came from the cache; only the interrupt frame was evaluated.
        assert segment.attrs["cache_n"] >= 0.8 * total, segment.attrs
        assert segment.attrs["prompt_n"] <= 0.2 * total, segment.attrs
