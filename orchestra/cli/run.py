"""``orchestra run``: answer a question with tools, by one execution strategy, on any endpoint.

The CLI is the composition root (docs/design.md, layout): it is the one place in ``orchestra`` that
imports ``planners`` and ``tools``, and it does so inside the command, as it does the agent and
the endpoint stack, so that importing this module costs nothing but typer.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from orchestra.cli.help import example
from orchestra.cli.observe import observed
from orchestra.cli.options import (
    EndpointOpt,
    EndpointsFileOpt,
    JsonOpt,
    ModelOpt,
    QuestionArg,
    QuietOpt,
    TraceOpt,
    VerboseOpt,
)
from orchestra.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from orchestra.agent import AgentResult
    from orchestra.endpoints.config import EndpointSpec
    from orchestra.trace import Span

__all__ = ["TOOLS_HELP", "build_tools", "print_result", "run", "summary"]

TOOLS_HELP = (
    "Comma-separated built-in tools: calculator (arithmetic expressions), python (runs a Python "
    "snippet in a sandboxed subprocess and prints its output, or the value of a final expression), "
    "search (BM25 keyword search over a small built-in sample corpus of facts, or over --corpus)."
)


def build_tools(
    names: str, *, search_latency: float = 0.0, search_k: int = 3, corpus: Path | None = None
) -> list[Any]:
    """The tools named in ``--tools`` (search gets the corpus, latency and hit count asked for).

    Raises:
        UsageError: no or unknown tool names; a ``--corpus`` that cannot be read.
    """
    from orchestra import tools as toolbox

    wanted = [n.strip() for n in names.split(",") if n.strip()]
    if not wanted:
        raise UsageError("--tools needs at least one tool name, e.g. --tools calculator,search")
    built = toolbox.get_tools(wanted)  # raises UsageError naming unknown tools
    return [
        toolbox.make_search(corpus or toolbox.sample_corpus_path(), latency=search_latency, k=search_k)
        if t.name == "search"
        else t
        for t in built
    ]


def make_planner(strategy: str, planner: str | None, *, local: bool) -> Any:
    """The planner for ``--strategy``/``--planner`` (``auto``: JSON for the embedded model, text otherwise)."""
    from orchestra import planners

    if strategy != "compiler":
        if planner not in (None, "auto"):
            raise UsageError("--planner applies to --strategy compiler only")
        # async: CML frames constrained by a GBNF grammar on the embedded model (llama.cpp only).
        return planners.default_planner(strategy, structured=local)
    choice = planner or "auto"
    if choice == "auto":
        choice = "json" if local else "text"
    if choice not in ("json", "text"):
        raise UsageError(f"--planner must be auto, json or text, got {planner!r}")
    return planners.JSONPlanner() if choice == "json" else planners.LLMCompilerPlanner()


def print_result(console: Console, result: AgentResult, *, timeline: bool = True) -> None:
    """Print the plan, the answer, usage, and the per-task timeline."""
    from rich.markup import escape

    console.print("[bold]Plan[/bold]")
    console.print(result.plan_text() or "(no tool calls)", markup=False)
    deliveries = result.trace.of_kind("interrupt")
    if deliveries:
        t0 = min(s.start for s in result.trace.spans)
        console.print("[bold]Interrupts[/bold]")
        for span in deliveries:
            ids = ", ".join(str(i) for i in span.attrs.get("task_ids", []))
            console.print(
                f"results of call(s) {ids} delivered at {(span.start - t0) * 1000:.0f} ms", markup=False
            )
    for round_ in result.rounds:
        if round_.error:
            console.print(f"[yellow]repaired: {escape(str(round_.error))}[/yellow]", markup=True)
    console.print("[bold]Answer[/bold]")
    console.print(result.answer, markup=False)
    if timeline:
        console.print("[bold]Timeline[/bold]")
        console.print(result.trace.timeline(width=48))
    console.print(
        f"[dim]{result.strategy}: {result.wall_time:.2f} s, {result.llm_calls} LLM call(s), "
        f"{result.replans} replan(s), {result.usage.prompt_tokens} prompt + "
        f"{result.usage.completion_tokens} completion tokens[/dim]"
    )


def summary(result: AgentResult, *, origin: float | None = None) -> dict[str, Any]:
    """The run as one JSON-ready object (``--json``): answer, plan, usage, task spans.

    Span times are seconds since ``origin`` (a clock time; default: the start of the run's own
    trace), the same zero as the ``--trace`` file when the command passes its root trace's origin.
    """
    trace = result.trace
    zero = trace.origin if origin is None else origin

    def spans(chosen: list[Span]) -> list[dict[str, Any]]:
        return [s.to_dict(zero) for s in chosen]

    return {
        "answer": result.answer,
        "strategy": result.strategy,
        "plan": [str(t) for t in result.tasks],
        "wall_time": result.wall_time,
        "llm_calls": result.llm_calls,
        "replans": result.replans,
        "usage": {
            "prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": result.usage.completion_tokens,
        },
        "tasks": spans(trace.of_kind("task")),
        "interrupts": spans(trace.of_kind("interrupt")),
        "model_calls": spans([s for s in trace.spans if s.kind in ("llm", "plan", "join")]),
        "repairs": [r.error for r in result.rounds if r.error],
    }


async def _run(
    question: str,
    specs: list[EndpointSpec],
    tools: list[Any],
    planner: Any,
    strategy: str,
    max_replans: int,
    async_mode: str | None,
    deadline: float | None,
) -> AgentResult:
    from orchestra.agent import Agent
    from orchestra.endpoints.stack import connect

    async with connect(specs, check_models=True) as conn:
        agent = Agent(
            conn.default,
            tools,
            planner=planner,
            strategy=strategy,
            max_replans=max_replans,
            async_mode=async_mode,
            deadline=deadline,
        )
        return await agent.run(question)


def run(
    question: QuestionArg,
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy",
            "-s",
            metavar="NAME",
            help="sequential (ReAct: one tool call per model turn), parallel (several calls per "
            "turn), compiler (LLMCompiler: a streamed plan whose tasks run as soon as ready), or "
            "async (AsyncLM: the model keeps generating while calls run; results arrive as interrupts).",
        ),
    ] = "compiler",
    tools: Annotated[
        str, typer.Option("--tools", "-t", metavar="NAMES", help=TOOLS_HELP)
    ] = "calculator,search",
    corpus: Annotated[
        Path | None,
        typer.Option(
            "--corpus",
            metavar="FILE",
            help="Documents for the search tool: a JSONL file of {id, title, text} lines, a .txt/.md "
            "file (one document per blank-line-separated passage), or a directory of .txt/.md "
            "files. Default: the built-in sample corpus.",
        ),
    ] = None,
    planner: Annotated[
        str | None,
        typer.Option(
            "--planner",
            metavar="NAME",
            help="compiler planner: auto (json on the embedded model, else text), json (schema-"
            "constrained, for weak models) or text (LLMCompiler's format).",
        ),
    ] = None,
    endpoint: EndpointOpt = None,
    model: ModelOpt = None,
    endpoints: EndpointsFileOpt = None,
    max_replans: Annotated[int, typer.Option(min=0, help="Most replanning rounds (compiler).")] = 2,
    search_latency: Annotated[float, typer.Option(min=0.0, help="Simulated seconds per search call.")] = 0.0,
    async_mode: Annotated[
        str | None,
        typer.Option(
            "--async-mode",
            metavar="MODE",
            help="async: turn (any server), resume (mid-generation; llama.cpp) or native (tool_calls); "
            "default: resume where the server can, else turn.",
        ),
    ] = None,
    deadline: Annotated[
        float | None,
        typer.Option(min=0.001, help="async: seconds the run may take, then calls are cancelled."),
    ] = None,
    trace: TraceOpt = None,
    verbose: VerboseOpt = 0,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    import anyio
    from rich.console import Console

    from orchestra.endpoints.config import resolve_specs
    from orchestra.live import RunView
    from orchestra.redact import redact_value
    from orchestra.strategies import get_strategy

    console = Console()
    view = RunView(console) if not (as_json or quiet) else None
    with observed(
        "run", trace_file=trace, verbose=verbose, as_json=as_json, listeners=[view] if view else []
    ) as root:
        get_strategy(strategy)  # an unknown strategy: a one-line error before any model starts
        if async_mode is not None:
            if strategy != "async":
                raise UsageError("--async-mode applies to --strategy async only")
            if async_mode not in ("turn", "resume", "native"):
                raise UsageError(f"--async-mode must be turn, resume or native, got {async_mode!r}")
        specs = resolve_specs(endpoint, model, endpoints)
        chosen = make_planner(strategy, planner, local=all(s.is_local for s in specs))
        built = build_tools(tools, search_latency=search_latency, corpus=corpus)
        with view or contextlib.nullcontext():
            result = anyio.run(
                _run, question, specs, built, chosen, strategy, max_replans, async_mode, deadline
            )
    if as_json:
        sys.stdout.write(json.dumps(redact_value(summary(result, origin=root.origin))) + "\n")
    elif quiet:
        console.print(result.answer, markup=False, highlight=False)
    else:
        print_result(console, result)


run.__doc__ = "Answer QUESTION with tools, by one execution strategy." + example(
    'orchestra run "What is 15% of 80, plus 7?" --tools calculator',
    'orchestra run "Is the Eiffel Tower taller than Big Ben?" -s parallel',
    'orchestra run "Who wrote our style guide?" -t search --corpus notes.md',
    'orchestra run "What is 2+3?" -t calculator --trace run.jsonl',
    'orchestra run "How long is the Nile?" --strategy async --tools search',
)
