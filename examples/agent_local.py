"""An LLMCompiler-style agent on the embedded model (no API key, no configuration).

SmolLM2-135M writes the plan as schema-constrained JSON (``planners.JSONPlanner``); the plan
streams into the executor, the two searches run concurrently, and the joiner answers.

Run it: ``python examples/agent_local.py "Which is longer, the Nile or the Amazon?"``
"""

from __future__ import annotations

import sys

import anyio

from orchestra.agent import Agent
from orchestra.endpoints.local import LocalModel
from orchestra.planners import JSONPlanner
from orchestra.tools import make_search, sample_corpus_path


async def main(question: str) -> None:
    search = make_search(sample_corpus_path(), latency=0.5, k=1)  # 0.5 s, like a remote search API
    async with LocalModel() as model:
        endpoint = model.endpoint()
        agent = Agent(endpoint, [search], planner=JSONPlanner(), strategy="compiler", max_replans=0)
        result = await agent.run(question)
        await endpoint.aclose()
    print("Plan:")
    print(result.plan_text())
    print("Answer:", result.answer)
    print(result.timeline(kinds=("plan", "task", "join")))
    print(f"{result.wall_time:.2f} s, {result.llm_calls} LLM calls, {result.usage.total_tokens} tokens")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else "Which is longer, the Nile or the Amazon?")
