"""``orchestra demo``: a real agent run on the embedded model, with no configuration.

The question needs two independent lookups and a combination: the embedded SmolLM2-135M writes
the plan as schema-constrained JSON (:class:`planners.JSONPlanner`), the plan streams into the
executor, the two ``search`` calls (with a simulated latency, like LLMCompiler's Wikipedia tool)
run at the same time, and the joiner combines their results. The timeline shows the overlap.

The model is tiny. When its plan is still invalid after the repair round, the demo says so and
why, and runs a built-in plan instead, labelled as such, so the executor part is still shown.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from orchestra.cli.help import example
from orchestra.cli.observe import observed
from orchestra.cli.options import JsonOpt, QuietOpt, TraceOpt, VerboseOpt

if TYPE_CHECKING:
    from rich.console import Console

    from orchestra.agent import AgentResult
    from orchestra.plan import Task
    from orchestra.trace import Trace

__all__ = ["FALLBACK_QUERIES", "QUESTION", "demo", "fallback_plan", "overlap_line", "planner_speed_line"]

# Two independent lookups whose results the answer must combine. A comparison question ("which is
# taller ...") was tried first: SmolLM2-135M planned it right 5/5 but concluded wrongly at
# temperature 0, while it restates two looked-up facts correctly (measured 3/3).
QUESTION = "What are the capitals of France and Japan?"
ANSWER_CHARS = 120
"""The joiner's schema bounds the answer: SmolLM2-135M repeats its last sentence until the limit."""
FALLBACK_QUERIES = ("France", "Japan")
"""The built-in plan's two searches: run (and labelled as not the model's) only when the model's
plan stays invalid after repair."""


def fallback_plan() -> list[Task]:
    """The built-in plan: one ``search`` task per :data:`FALLBACK_QUERIES`."""
    from orchestra.plan import Task

    return [Task(i, "search", kwargs={"query": q}) for i, q in enumerate(FALLBACK_QUERIES, 1)]


async def _demo(console: Console, latency: float) -> AgentResult | None:
    from rich.markup import escape

    from orchestra import planners
    from orchestra import tools as toolbox
    from orchestra.agent import Agent
    from orchestra.endpoints.config import resolve_specs
    from orchestra.endpoints.stack import connect
    from orchestra.errors import PlanError
    from orchestra.executor import Executor
    from orchestra.trace import Trace

    search = toolbox.make_search(toolbox.sample_corpus_path(), latency=latency, k=1)
    async with connect(resolve_specs("local")) as conn:
        # max_replans=0: one plan and one joiner call, so the demo's time is bounded on a slow CPU.
        planner = planners.JSONPlanner(joiner=planners.JSONJoiner(max_answer_chars=ANSWER_CHARS))
        agent = Agent(conn.default, [search], planner=planner, strategy="compiler", max_replans=0)
        try:
            return await agent.run(QUESTION)
        except PlanError as exc:
            console.print(
                f"[red]The model's plan was invalid, even after a repair round:[/red] {escape(str(exc))}",
                markup=True,
            )
    console.print("[yellow]Running a built-in fallback plan instead (not written by the model):[/yellow]")
    trace = Trace()
    plan = fallback_plan()
    results = await Executor([search], trace=trace).run(plan)
    for task in plan:
        console.print(f"{task} -> {results[task.id].observation()[:160]}", markup=False)
    console.print(trace.timeline(width=48))
    console.print(overlap_line(trace))
    return None


def whole_sentences(answer: str, limit: int = ANSWER_CHARS) -> str:
    """Drop the unfinished last sentence of an answer that the schema's length bound cut off."""
    if len(answer) < limit - 1:
        return answer
    end = answer.rfind(". ")
    return answer[: end + 1] if end > 0 else answer


def planner_speed_line(trace: Trace) -> str:
    """How fast the plan was generated: the overlap depends on it, since the plan streams.

    Task 2 starts when its part of the plan has been written; on an idle 2-core machine that is a
    fraction of a second after task 1 (SmolLM2-135M writes ~135 tokens/s), well within the search
    latency. On a CPU shared with other heavy work it can be later than task 1's end.
    """
    spans = trace.of_kind("plan")
    tokens = sum(s.attrs.get("completion_tokens", 0) for s in spans)
    seconds = sum(s.duration or 0.0 for s in spans)
    rate = tokens / seconds if seconds > 0 else 0.0
    return f"planner: {tokens} tokens in {seconds:.2f} s ({rate:.0f} tokens/s)"


def overlap_line(trace: Trace) -> str:
    """One line saying which tasks ran at the same time, and for how long."""
    tasks = trace.of_kind("task")
    pairs = []
    for i, a in enumerate(tasks):
        for b in tasks[i + 1 :]:
            shared = min(a.end or a.start, b.end or b.start) - max(a.start, b.start)
            if shared > 0:
                pairs.append(f"{a.name} and {b.name} overlapped for {shared:.2f} s")
    return "; ".join(pairs) if pairs else "no two tasks overlapped in time"


def demo(
    latency: Annotated[float, typer.Option(min=0.0, help="Simulated seconds per search call.")] = 2.0,
    trace: TraceOpt = None,
    verbose: VerboseOpt = 0,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    import anyio
    from rich.console import Console

    from orchestra.cli.run import print_result, summary
    from orchestra.live import RunView
    from orchestra.redact import redact_value

    console = Console(quiet=as_json or quiet)
    view = RunView(console) if not (as_json or quiet) else None
    console.print(
        f"[bold]orchestra demo[/bold]: the embedded model plans, tools run concurrently.\n"
        f"[bold]Question[/bold]: {QUESTION}",
        markup=True,
    )
    with observed(
        "demo", trace_file=trace, verbose=verbose, as_json=as_json, listeners=[view] if view else []
    ) as root:
        with view or contextlib.nullcontext():
            result = anyio.run(_demo, console, latency)
    if result is None:  # the model's plan stayed invalid; the built-in plan ran (and was shown)
        if as_json:
            sys.stdout.write(json.dumps({"answer": None, "fallback_plan": True}) + "\n")
        return
    result = dataclasses.replace(result, answer=whole_sentences(result.answer))
    if as_json:
        sys.stdout.write(json.dumps(redact_value(summary(result, origin=root.origin))) + "\n")
    elif quiet:
        Console().print(result.answer, markup=False, highlight=False)
    else:
        print_result(console, result)
        console.print(overlap_line(result.trace))
        console.print(planner_speed_line(result.trace))


demo.__doc__ = (
    "Answer a two-lookup question with tools on the embedded model (no API key, no config).\n\n"
    "The model writes a plan, its two searches run at the same time, and the timeline shows it."
    + example("orchestra demo", "orchestra demo --latency 0.5")
)
