"""Execution strategies of the agent: ``sequential``, ``parallel`` and ``compiler``.

The four strategies docs/design.md compares on one workload:

- ``sequential`` (ReAct, Yao et al. 2023): one tool call per LLM turn;
- ``parallel`` (OpenAI parallel function calling): one batch of calls per turn;
- ``compiler`` (LLMCompiler, Kim et al., ICML 2024): the plan is streamed from
  ``endpoint.stream`` through the planner's incremental parser straight into the executor, so tools
  start while the plan is still being written; then the joiner answers or asks to replan.
  Replanning is incremental (earlier results stay referable, numbering continues) and
  ``max_replans`` is a true cap (the last joiner call may only finish). The public LLMCompiler
  never replans in its shipped configs and llama_index's cannot detect Replan;
- ``async`` (AsyncLM, Gim et al.): calls run while the model keeps generating, and results come
  back to it as interrupts (:mod:`orchestra.asynclm`).

A strategy is an async function of a :class:`RunState` returning the answer text; more are added
with :func:`register_strategy`. Each names its default planner by import path (``"module:Name"``),
so that the core never imports the planners package (the layering import-linter checks) and
``Agent(endpoint, tools)`` still works with no planner given.
"""

from __future__ import annotations

import logging
import pkgutil
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from orchestra.chat import ChatRequest, ChatResponse, Usage
from orchestra.endpoints.base import Endpoint
from orchestra.errors import PlanError, UsageError
from orchestra.executor import Executor
from orchestra.plan import Plan, Task
from orchestra.planning import (
    Decision,
    Finish,
    InterruptPlanner,
    Joiner,
    PlanContext,
    Planner,
    Replan,
    Round,
    StepPlanner,
)
from orchestra.trace import Span, Trace, request_record

if TYPE_CHECKING:
    from orchestra.agent import Agent

log = logging.getLogger(__name__)

__all__ = [
    "STRATEGIES",
    "ModelCalls",
    "RunState",
    "Strategy",
    "StrategySpec",
    "get_strategy",
    "register_strategy",
]


class ModelCalls:
    """Every LLM call of one run: a span each in the trace, usage and call counts summed.

    Each span holds what a failed plan needs to be inspected: the request (``attrs["request"]``:
    messages and parameters; secrets are redacted when the trace is written) and the model's raw
    text (``attrs["response"]``), with ``model``, ``prompt_tokens`` and ``completion_tokens``.

    Args:
        endpoint: the model.
        trace: where the spans go.
    """

    def __init__(self, endpoint: Endpoint, trace: Trace) -> None:
        self.endpoint = endpoint
        self.trace = trace
        self.usage = Usage()
        self.calls = 0

    def _open(self, request: ChatRequest, name: str, kind: str) -> Span:
        self.calls += 1
        return self.trace.start(
            name, kind, model=request.model or self.endpoint.name, request=request_record(request)
        )

    def _close(self, span: Span, text: str, usage: Usage | None) -> None:
        span.attrs["response"] = text
        if usage is not None:
            self.usage = self.usage + usage
            span.attrs.update(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens)

    async def complete(self, request: ChatRequest, name: str, kind: str = "llm") -> ChatResponse:
        """One whole completion, traced."""
        span = self._open(request, name, kind)
        error = None
        try:
            response = await self.endpoint.complete(request)
            self._close(span, response.text, response.usage)
            return response
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.trace.end(span, error=error)

    def stream(self, request: ChatRequest, name: str, kind: str = "plan") -> AsyncGenerator[str, None]:
        """The text deltas of the first choice of a streamed completion, traced (close it when done)."""
        return self.open_stream(request, name, kind)[1]

    def open_stream(
        self, request: ChatRequest, name: str, kind: str = "plan", *, end_span: bool = True
    ) -> tuple[Span, AsyncGenerator[str, None]]:
        """:meth:`stream`, and its span (open now), to add events to as the text arrives.

        With ``end_span=False`` the span's end time is set when the stream ends but listeners are
        told only when the caller calls ``trace.end(span)``, after its last events.
        """
        span = self._open(request, name, kind)
        return span, self._deltas(request, span, end_span)

    async def _deltas(
        self, request: ChatRequest, span: Span, end_span: bool = True
    ) -> AsyncGenerator[str, None]:
        usage = None
        parts: list[str] = []
        error = None
        chunks = self.endpoint.stream(request)
        try:
            async for chunk in chunks:
                if chunk.usage is not None:
                    usage = chunk.usage
                if chunk.delta and chunk.index == 0:
                    parts.append(chunk.delta)
                    yield chunk.delta
        except GeneratorExit:
            raise  # the caller stopped reading (the plan ended at join()): not a failure
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:  # stop the HTTP stream when the plan ended early (join())
                await close()
            self._close(span, "".join(parts), usage)
            if end_span:
                self.trace.end(span, error=error)
            else:
                span.end = self.trace.clock.now()
                span.error = error


@dataclass
class RunState:
    """The state of one :meth:`Agent.run <orchestra.agent.Agent.run>`, handed to the strategy.

    Attributes:
        agent: the agent's configuration.
        context: what planners see (question, tools, rounds, results, numbering).
        model: the traced LLM calls.
        executor: runs the tasks.
        plan: the run's growing plan (every round's tasks, validated).
        trace: the run's trace.
        replans: joiner-requested replans so far.
        repairs: plans sent back for repair so far.
    """

    agent: Agent
    context: PlanContext
    model: ModelCalls
    executor: Executor
    plan: Plan
    trace: Trace
    replans: int = 0
    repairs: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


Strategy = Callable[[RunState], Awaitable[str]]
"""An execution strategy: runs the question in ``state`` and returns the answer."""


@dataclass(frozen=True)
class StrategySpec:
    """A registered strategy and the planner protocol it needs.

    Attributes:
        run: the strategy.
        planner: the protocol the agent's planner must implement (None: no planner needed).
        description: one line for ``--help``.
        default_planner: import path (``"package.module:Name"``) of the planner class used when
            the agent is given none; None: the strategy needs none, or has no default.
    """

    run: Strategy
    planner: type | None
    description: str
    default_planner: str | None = None

    def make_default_planner(self) -> object:
        """A new instance of :attr:`default_planner`.

        Raises:
            UsageError: the strategy has no default planner.
        """
        if self.default_planner is None:
            raise UsageError("this strategy has no default planner; pass planner=")
        factory = pkgutil.resolve_name(self.default_planner)
        return factory()


STRATEGIES: dict[str, StrategySpec] = {}
"""The strategies by name; :func:`register_strategy` adds or replaces one."""


def register_strategy(
    name: str,
    run: Strategy,
    *,
    planner: type | None,
    description: str = "",
    default_planner: str | None = None,
) -> None:
    """Make ``Agent(strategy=name)`` use ``run``; see :class:`StrategySpec` for the fields."""
    STRATEGIES[name] = StrategySpec(run, planner, description, default_planner)


def get_strategy(name: str) -> StrategySpec:
    """The registered strategy ``name``.

    Raises:
        UsageError: no strategy of that name is registered.
    """
    spec = STRATEGIES.get(name)
    if spec is None:
        raise UsageError(f"unknown strategy {name!r}; choose one of: {', '.join(STRATEGIES)}")
    return spec


# -- shared steps -----------------------------------------------------------------------------


async def _execute_round(state: RunState, round_: Round, events: Any) -> None:
    """Run one round's tasks; keep in ``round_.tasks`` those the plan accepted."""
    emitted: list[Task] = []

    async def tracked() -> AsyncIterator[Task]:
        async with AsyncExitStack() as stack:
            source = events
            if hasattr(source, "aclose"):
                stack.push_async_callback(source.aclose)
            if hasattr(source, "__aiter__"):
                async for task in source:
                    emitted.append(task)
                    yield task
            else:
                for task in source:
                    emitted.append(task)
                    yield task

    try:
        await state.executor.run(tracked(), state.context.results, plan=state.plan)
    finally:
        accepted = state.plan.tasks
        round_.tasks = [t for t in emitted if accepted.get(t.id) is t]
        state.context.next_id = state.plan.next_id


def _repair(state: RunState, round_: Round, exc: PlanError) -> None:
    """Record a plan error as feedback for the next request, or give up after ``max_repairs``."""
    round_.error = str(exc)
    state.repairs += 1
    if state.repairs > state.agent.max_repairs:
        raise PlanError(
            f"the model's plan was still invalid after {state.agent.max_repairs} repair round(s): {exc}",
            task_id=exc.task_id,
        ) from exc
    log.info("plan repair %d of %d: %s", state.repairs, state.agent.max_repairs, exc)
    state.context.feedback = exc.feedback


# -- compiler ---------------------------------------------------------------------------------


async def _plan_events(state: RunState, planner: Planner, round_: Round) -> AsyncIterator[Task]:
    """Stream the plan from the endpoint through the planner's incremental parser."""
    context = state.context
    request = planner.plan_request(context)
    parser = planner.parser(context)
    name = f"planner (round {len(context.rounds)})"
    span, deltas = state.model.open_stream(request, name, "plan", end_span=False)
    trace = state.trace
    error = None
    try:
        try:
            async for delta in deltas:
                round_.text += delta
                for task in parser.feed(delta):
                    trace.event(span, "task", line=str(task), task_id=task.id)
                    yield task
        finally:
            await deltas.aclose()
        for task in parser.close():
            trace.event(span, "task", line=str(task), task_id=task.id)
            yield task
    except PlanError as exc:
        error = f"PlanError: {exc}"
        raise
    finally:
        trace.end(span, error=error)  # after the last plan line, so listeners see every event


async def _plan_and_run(state: RunState) -> None:
    """One planning round streamed into the executor, with repair rounds on invalid plans."""
    planner = cast(Planner, state.agent.planner)  # Agent checked it against the strategy's protocol
    context = state.context
    while True:
        state.plan.reopen()
        round_ = Round(replan_reason=context.replan_reason)
        context.rounds.append(round_)
        try:
            await _execute_round(state, round_, _plan_events(state, planner, round_))
        except PlanError as exc:
            _repair(state, round_, exc)
            continue
        context.feedback = None
        return


async def _decide(state: RunState, joiner: Joiner) -> Decision:
    """Ask the joiner; an unreadable decision gets one retry, then its text is the answer."""
    context = state.context
    text = ""
    for _attempt in range(2):
        response = await state.model.complete(joiner.join_request(context), "joiner", "join")
        text = response.text
        try:
            return joiner.parse_join(text, context)
        except PlanError:
            continue
    return Finish(text.strip())


async def run_compiler(state: RunState) -> str:
    """LLMCompiler: streamed plan -> concurrent executor -> joiner, replanning up to ``max_replans``."""
    agent = state.agent
    joiner = agent.joiner or getattr(agent.planner, "joiner", None)
    if joiner is None:
        raise UsageError(
            "the compiler strategy needs a joiner: pass Agent(joiner=...) or a planner that has one"
        )
    context = state.context
    for round_no in range(agent.max_replans + 1):
        context.final = round_no == agent.max_replans
        await _plan_and_run(state)
        decision = await _decide(state, joiner)
        if isinstance(decision, Finish):
            return decision.answer
        if context.final:  # a custom joiner that ignored `final`: the cap still holds
            return f"(no answer: the joiner still asked to replan after {agent.max_replans} replan(s): {decision.reason})"
        assert isinstance(decision, Replan)
        state.replans += 1
        log.info("replan %d of %d: %s", state.replans, agent.max_replans, decision.reason)
        context.replan_reason = decision.reason
    raise AssertionError("unreachable: the last round always finishes")


# -- sequential / parallel --------------------------------------------------------------------


async def _run_turns(state: RunState, *, one_call: bool) -> str:
    """Ask for calls turn by turn, run each turn's calls, stop at Finish or after ``max_turns``."""
    agent = state.agent
    planner = cast(StepPlanner, agent.planner)  # Agent checked it against the strategy's protocol
    context = state.context
    for turn in range(agent.max_turns + 1):
        context.final = turn == agent.max_turns
        response = await state.model.complete(planner.step_request(context), f"turn {turn + 1}", "llm")
        round_ = Round(text=response.text)
        try:
            step = planner.parse_step(response, context)
            if isinstance(step, Finish):
                return step.answer
            if context.final:
                return response.text.strip()
            context.rounds.append(round_)
            # ReAct takes one action per turn: extra calls are dropped, not run.
            await _execute_round(state, round_, step[:1] if one_call else step)
        except PlanError as exc:
            if context.final:
                raise PlanError(f"no valid final answer after {agent.max_turns} turn(s): {exc}") from exc
            _repair(state, round_, exc)
            continue
        context.feedback = None
    raise AssertionError("unreachable: the last turn always finishes")


async def run_sequential(state: RunState) -> str:
    """ReAct: one tool call per LLM turn."""
    return await _run_turns(state, one_call=True)


async def run_parallel(state: RunState) -> str:
    """Parallel function calling: one batch of concurrent calls per LLM turn."""
    return await _run_turns(state, one_call=False)


register_strategy(
    "sequential",
    run_sequential,
    planner=StepPlanner,
    description="ReAct: one tool call per turn",
    default_planner="orchestra.planners:ReActPlanner",
)
register_strategy(
    "parallel",
    run_parallel,
    planner=StepPlanner,
    description="one batch of parallel calls per turn",
    default_planner="orchestra.planners:ParallelPlanner",
)
register_strategy(
    "compiler",
    run_compiler,
    planner=Planner,
    description="LLMCompiler: streamed DAG + joiner",
    # The JSON-schema planner: valid plans even from weak models such as the embedded one.
    default_planner="orchestra.planners:JSONPlanner",
)

from orchestra.asynclm import run_async  # noqa: E402 - it types its argument with RunState, above

register_strategy(
    "async",
    run_async,
    planner=InterruptPlanner,
    description="AsyncLM: calls run while the model writes; interrupts",
    default_planner="orchestra.planners:AsyncLMPlanner",
)
