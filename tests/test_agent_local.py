"""The compiler strategy with the JSON planner against the real embedded model (SmolLM2-135M)."""

from __future__ import annotations

import pytest

from orchestra.agent import Agent
from orchestra.endpoints.base import WrapperEndpoint
from orchestra.endpoints.local import LocalModel
from orchestra.planners import JSONPlanner
from orchestra.tools import make_search, sample_corpus_path

pytestmark = pytest.mark.local_model


class Recording(WrapperEndpoint):
    """Keeps every request it forwards."""

    def __init__(self, inner):
        super().__init__(inner)
        self.requests = []

    async def complete(self, request):
        self.requests.append(request)
        return await super().complete(request)

    def stream(self, request):
        self.requests.append(request)
        return super().stream(request)


@pytest.fixture(scope="module")
async def local_endpoint():
    async with LocalModel() as lm:
        endpoint = lm.endpoint()
        yield endpoint
        await endpoint.aclose()


async def test_compiler_with_json_planner_on_the_embedded_model(local_endpoint):
    endpoint = Recording(local_endpoint)
    search = make_search(sample_corpus_path(), latency=0.2, k=1)
    agent = Agent(endpoint, [search], planner=JSONPlanner(), strategy="compiler", max_replans=0)
    result = await agent.run("Which is higher, Mount Everest or K2?")
    plan_request = endpoint.requests[0]
    assert plan_request.response_format["type"] == "json_schema"  # constrained decoding
    assert result.tasks, "the model planned no task"
    assert all(t.tool == "search" for t in result.tasks)
    assert all(result.results[t.id].ok for t in result.tasks)
    assert result.answer.strip()
    assert result.llm_calls == 2 and result.usage.completion_tokens > 0
    kinds = [s.kind for s in result.trace.spans]
    assert kinds.count("plan") == 1 and kinds.count("join") == 1 and kinds.count("task") == len(result.tasks)
