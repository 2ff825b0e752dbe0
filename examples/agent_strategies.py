"""The same question by the three strategies, on a scripted model, to compare their latency.

The "model" here is a :class:`orchestra.testing.FunctionModel` that writes correct plans instantly
(as a strong model would), so the difference in wall time comes from the strategies alone:
``sequential`` (ReAct) runs the four searches one turn at a time, ``parallel`` runs them as one
batch, and ``compiler`` streams the plan into the executor so searches start while it is written.

Run it: ``python examples/agent_strategies.py``
"""

from __future__ import annotations

import json

import anyio

from orchestra.agent import Agent
from orchestra.chat import ChatRequest
from orchestra.planners import LLMCompilerPlanner, ParallelPlanner, ReActPlanner
from orchestra.testing import FunctionModel
from orchestra.tools import make_search, sample_corpus_path

QUESTION = "Which of Mount Everest, K2, the Eiffel Tower and the Statue of Liberty is the tallest?"
SUBJECTS = ["Mount Everest", "K2", "Eiffel Tower", "Statue of Liberty"]
ANSWER = "Mount Everest (8,849 m)"


def scripted_llm(request: ChatRequest) -> str:
    """What a capable model would answer to each planner's request."""
    prompt = request.messages[-1].content or ""
    done = prompt.count(" -> ")  # one line per finished call in the prompt's history
    fmt = request.response_format["json_schema"]["name"] if request.response_format else "text"
    if fmt == "action":  # ReAct: one search per turn, then finish
        if done < len(SUBJECTS):
            action = {"tool": "search", "args": {"query": SUBJECTS[done]}}
        else:
            action = {"tool": "finish", "args": {"answer": ANSWER}}
        return json.dumps({"thought": "next", "action": action})
    if fmt == "batch":  # parallel: all searches in one batch, then answer
        if done:
            return json.dumps({"answer": ANSWER})
        return json.dumps({"calls": [{"tool": "search", "args": {"query": s}} for s in SUBJECTS]})
    if fmt == "decision":  # the joiner
        return json.dumps({"action": "finish", "answer": ANSWER})
    lines = [f'{i}. search("{s}")' for i, s in enumerate(SUBJECTS, 1)]  # the LLMCompiler text plan
    return "\n".join([*lines, f"{len(SUBJECTS) + 1}. join()", "<END_OF_PLAN>"])


async def main() -> None:
    search = make_search(sample_corpus_path(), latency=0.2, k=1)
    planners = {
        "sequential": ReActPlanner(),
        "parallel": ParallelPlanner(native=False),
        "compiler": LLMCompilerPlanner(),
    }
    times = {}
    for strategy, planner in planners.items():
        agent = Agent(FunctionModel(scripted_llm), [search], planner=planner, strategy=strategy)
        result = await agent.run(QUESTION)
        times[strategy] = result.wall_time
        print(
            f"{strategy:>10}: {result.wall_time:.2f} s, {result.llm_calls} LLM calls, answer: {result.answer}"
        )
    print(f"compiler speedup over sequential: {times['sequential'] / times['compiler']:.1f}x")


if __name__ == "__main__":
    anyio.run(main)
