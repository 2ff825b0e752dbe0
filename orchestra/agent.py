"""The agent: a question in, an answer out, through a planner, an executor and a strategy.

``Agent`` is a dataclass of configuration (as in openai-agents); :meth:`Agent.run` does one run
and returns an :class:`AgentResult` carrying the answer, the trace of every LLM call and task,
usage and wall time. The agent is generic over the planning protocols of
:mod:`orchestra.planning`; the planners themselves live in the ``planners`` package, which the
core does not import (docs/design.md, layout)::

    from orchestra import Agent
    from orchestra.planners import JSONPlanner
    from orchestra.tools import get_tools

    agent = Agent(endpoint, get_tools(["search"]), planner=JSONPlanner(), strategy="compiler")
    result = agent.run_sync("Which is taller, the Eiffel Tower or the Statue of Liberty?")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio

from orchestra._sync import run_sync
from orchestra._tool import Tool
from orchestra.chat import Usage
from orchestra.clock import Clock, MonotonicClock
from orchestra.endpoints.base import Endpoint
from orchestra.errors import DeadlineExceeded, UsageError
from orchestra.executor import DEFAULT_RUN_TIMEOUT, DEFAULT_TASK_TIMEOUT, Executor, TaskResult
from orchestra.plan import Plan, Task
from orchestra.planning import InterruptPlanner, Joiner, PlanContext, Planner, Round, StepPlanner
from orchestra.strategies import STRATEGIES, ModelCalls, RunState, get_strategy
from orchestra.trace import Trace

__all__ = ["Agent", "AgentResult"]


@dataclass
class AgentResult:
    """What one run produced.

    Attributes:
        answer: the final answer.
        trace: the ``run`` span and, inside it, every LLM call (``plan``, ``join``, ``llm``) and
            task (``task``).
        usage: tokens of every LLM call of the run.
        wall_time: seconds from start to answer.
        llm_calls: LLM requests made (planner, joiner, turns).
        replans: rounds the joiner asked for (at most ``max_replans``).
        tasks: every task that was planned and accepted, in order.
        results: each task's result, by id.
        rounds: the planning rounds / turns, with the model's raw text and any repair feedback.
        strategy: the strategy used.
    """

    answer: str
    trace: Trace
    usage: Usage
    wall_time: float
    llm_calls: int
    replans: int
    tasks: list[Task]
    results: dict[int, TaskResult]
    rounds: list[Round]
    strategy: str

    def plan_text(self) -> str:
        """The tasks as numbered lines, e.g. ``1. search('Nile length')``."""
        return "\n".join(str(t) for t in self.tasks)

    def timeline(self, *, width: int = 50, kinds: tuple[str, ...] | None = None) -> str:
        """The trace as a plain-text timeline (tasks that ran together overlap)."""
        return self.trace.render_text(width=width, kinds=kinds)


@dataclass
class Agent:
    """Answers questions with tools, by one of the execution strategies.

    ``planner`` must fit the strategy: a :class:`~orchestra.planning.Planner` for ``compiler``
    (``planners.JSONPlanner`` / ``planners.LLMCompilerPlanner``), a
    :class:`~orchestra.planning.StepPlanner` for ``sequential`` (``planners.ReActPlanner``) and
    ``parallel`` (``planners.ParallelPlanner``), an :class:`~orchestra.planning.InterruptPlanner`
    for ``async`` (``planners.AsyncLMPlanner``). With no planner, the strategy's default is used.

    Raises:
        UsageError: an unknown strategy or async mode, a missing or unfit planner, or a bad limit.
    """

    endpoint: Endpoint
    """The model that plans and joins (any :class:`~orchestra.endpoints.base.Endpoint`)."""
    tools: Sequence[Tool]
    """The tools the planner may call."""
    planner: Planner | StepPlanner | InterruptPlanner | None = None
    """The planner; must implement the protocol the strategy needs (see the class docstring).
    None: the strategy's default planner (:attr:`StrategySpec.default_planner`)."""
    strategy: str = "compiler"
    """A registered strategy: ``sequential``, ``parallel``, ``compiler`` or ``async`` (see :data:`STRATEGIES`)."""
    joiner: Joiner | None = None
    """The compiler strategy's joiner; None: the planner's own ``joiner`` attribute."""
    max_replans: int = 2
    """Most replanning rounds the joiner may ask for (a true cap: the last joiner call must finish)."""
    max_turns: int = 8
    """Most tool-calling turns of ``sequential``/``parallel``/``async`` (for ``async`` ``resume``:
    most resumed segments) before the model must answer."""
    max_repairs: int = 1
    """Most times in one run an invalid plan is sent back to the planner with the validation error."""
    max_concurrency: int | None = None
    """Most tool calls running at once (None: no limit beyond each tool's own)."""
    task_timeout: float | None = DEFAULT_TASK_TIMEOUT
    """Seconds one attempt of a tool may take when the tool sets no timeout of its own (120 s; None: none)."""
    run_timeout: float | None = DEFAULT_RUN_TIMEOUT
    """Seconds one :meth:`run` may take, model calls and tools included (600 s; None: none); past
    it the run stops and raises :class:`~orchestra.errors.DeadlineExceeded`."""
    async_mode: str | None = None
    """``async`` only: ``turn``, ``resume`` or ``native``; None: ``resume`` when the endpoint can
    apply its chat template (llama.cpp), else ``turn``."""
    deadline: float | None = None
    """``async`` only: seconds the whole run may take; then every running call is cancelled."""
    clock: Clock = field(default_factory=MonotonicClock)
    """Where times in the trace come from (a FakeClock in tests)."""

    def __post_init__(self) -> None:
        spec = get_strategy(self.strategy)
        if self.planner is None and spec.default_planner is not None:
            self.planner = spec.make_default_planner()  # type: ignore[assignment]
        if spec.planner is not None and not isinstance(self.planner, spec.planner):
            got = "no planner" if self.planner is None else type(self.planner).__name__
            raise UsageError(
                f"strategy {self.strategy!r} needs a {spec.planner.__name__} (got {got}); "
                f"e.g. orchestra.planners.default_planner({self.strategy!r})"
            )
        for name in ("max_replans", "max_turns", "max_repairs"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.async_mode is not None and self.async_mode not in ("turn", "resume", "native"):
            raise UsageError(f"unknown async mode {self.async_mode!r}; choose one of: turn, resume, native")
        if self.deadline is not None and self.deadline <= 0:
            raise UsageError(f"deadline must be > 0 seconds, got {self.deadline}")
        for name in ("task_timeout", "run_timeout"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise UsageError(f"{name} must be > 0 seconds or None, got {getattr(self, name)}")
        self.tools = list(self.tools)
        names = [t.name for t in self.tools]
        if len(set(names)) != len(names):
            raise UsageError(f"tool names must be unique, got {', '.join(names)}")

    async def run(self, question: str, *, trace: Trace | None = None) -> AgentResult:
        """Answer ``question``.

        ``trace``: where the spans go (a fresh one by default); pass your own to keep the spans of
        a run that raises.

        Raises:
            PlanError: the model's plan stayed invalid after ``max_repairs`` repair rounds.
            EndpointError: the model failed (after the endpoint's own retries).
            DeadlineExceeded: the run took longer than ``run_timeout``.
        """
        trace = trace if trace is not None else Trace(self.clock)
        context = PlanContext(question=question, tools=list(self.tools))
        executor = Executor(
            self.tools,
            max_concurrency=self.max_concurrency,
            clock=self.clock,
            trace=trace,
            default_timeout=self.task_timeout,
            run_timeout=self.run_timeout,
        )
        state = RunState(
            agent=self,
            context=context,
            model=ModelCalls(self.endpoint, trace),
            executor=executor,
            plan=Plan(self.tools),
            trace=trace,
        )
        start = self.clock.now()
        run_scope = anyio.CancelScope()
        if self.run_timeout is not None:
            run_scope.deadline = anyio.current_time() + self.run_timeout
        with (
            trace.activate(),
            trace.span("agent run", "run", strategy=self.strategy, question=question) as span,
            run_scope,
        ):
            answer = await STRATEGIES[self.strategy].run(state)
            span.attrs["answer"] = answer
        if run_scope.cancelled_caught:
            raise DeadlineExceeded(f"the run took longer than {self.run_timeout:g} s (Agent.run_timeout)")
        return AgentResult(
            answer=answer,
            trace=trace,
            usage=state.model.usage,
            wall_time=self.clock.now() - start,
            llm_calls=state.model.calls,
            replans=state.replans,
            tasks=context.tasks,
            results=dict(context.results),
            rounds=list(context.rounds),
            strategy=self.strategy,
        )

    def run_sync(self, question: str) -> AgentResult:
        """:meth:`run` from synchronous code: scripts, notebooks (a cell's running loop is fine).

        It runs on orchestra's one background event loop (:func:`orchestra.open_endpoint`'s), so
        an endpoint opened for synchronous use serves every call.
        """
        return run_sync(self.run, question)
