"""The calls of one ``async`` run (AsyncLM): numbering, validation, dispatch, delivery.

The model's calls are numbered in the order their frames close and handed to the task-fetching
:class:`~orchestra.executor.Executor` at once, while the model keeps generating; a call that
refers to ``$k`` is held by the executor's scheduler until call ``k`` is done. Each final result
goes to an :class:`~orchestra.interrupts.InterruptQueue`, from which the strategy takes batches at
safe boundaries. A malformed or invalid call never reaches the executor: it gets an error result
at once, carrying repair feedback, delivered like any other interrupt.

Every dispatch and every delivery is a zero-length span in the run's trace (kinds ``dispatch`` and
``interrupt``), on the same time axis as the model's generation (``llm``) and the tasks
(``task``), so the timeline shows calls running under the generation.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from orchestra.chat import ChatChunk, ChatRequest
from orchestra.errors import PlanError
from orchestra.executor import TaskResult
from orchestra.interrupts import Delivery, InterruptQueue
from orchestra.plan import Plan, Task
from orchestra.planning import InterruptPlanner, Round
from orchestra.trace import Span

if TYPE_CHECKING:
    from orchestra.strategies import RunState

__all__ = ["CallRuntime"]


class CallRuntime:
    """Dispatches the calls of one run into the executor and queues their results.

    Use ``async with anyio.create_task_group() as tg: tg.start_soon(runtime.execute)``, then
    :meth:`call` / :meth:`submit` from the model loop; :meth:`finish` when the run ends.

    Args:
        state: the run.
        planner: reads call bodies.
    """

    def __init__(self, state: RunState, planner: InterruptPlanner) -> None:
        self.state = state
        self.planner = planner
        self.trace = state.trace
        self.queue = InterruptQueue(state.trace.clock)
        # Calls are validated here, synchronously, against a plan of our own that sees them in the
        # same order the executor will; the executor's plan may lag behind the stream.
        self._shadow = Plan(state.plan.tools, known=state.context.results.keys())
        self.next_id = state.plan.next_id
        self.round = Round()
        self.ttfts: list[float] = []
        """Seconds to the first token of each model request so far (the delivery window)."""
        channel: tuple[MemoryObjectSendStream[Task], MemoryObjectReceiveStream[Task]]
        channel = anyio.create_memory_object_stream[Task](math.inf)
        self._send, self._receive = channel

    async def execute(self) -> None:
        """Run every submitted task until :meth:`finish` (the executor's host task)."""
        state = self.state
        async with self._receive:
            await state.executor.run(
                self._receive, state.context.results, on_result=self.queue.put, plan=state.plan
            )

    def new_round(self) -> Round:
        """Start recording a new turn (or resumed segment) in the context."""
        self.round = Round()
        self.state.context.rounds.append(self.round)
        return self.round

    def call(self, body: str) -> int:
        """Number, read, validate and dispatch one ``[CALL] body [END]`` frame; return its id."""
        call_id = self._number()
        try:
            task = self.planner.parse_call(call_id, body, self.state.context)
        except PlanError as exc:
            self._reject(call_id, _tool_of(body), exc)
            return call_id
        self._dispatch(task)
        return call_id

    def submit(self, tool: str, kwargs: dict[str, object]) -> int:
        """Number, validate and dispatch a native tool call; return its id."""
        call_id = self._number()
        self._dispatch(Task(call_id, tool, kwargs=dict(kwargs)))
        return call_id

    def malformed(self, message: str, tool: str = "?") -> int:
        """A frame that was no call still took a number: its error result is the repair feedback."""
        call_id = self._number()
        self._reject(call_id, tool, PlanError(f"call {call_id}: {message}", task_id=call_id))
        return call_id

    async def deliver(self, *, wait: bool = True, settle: bool = True) -> Delivery | None:
        """The next batch for a model that stopped: waits for a result if ``wait`` and none is
        ready, then (``settle``) for the rest of the pending calls for up to one time to first
        token of this run's model (:meth:`InterruptQueue.settle`); traced."""
        if wait and not self.queue.ready and self.queue.pending:
            await self.queue.wait()
        if settle and self.queue.pending and self.ttfts:
            await self.queue.settle(statistics.median(self.ttfts))
        delivery = self.queue.take()
        if delivery is not None:
            ids = delivery.ids
            self.trace.add(
                Span(
                    "interrupt " + ",".join(str(i) for i in ids),
                    "interrupt",
                    delivery.time,
                    delivery.time,
                    {"task_ids": ids},
                )
            )
        return delivery

    def finish(self) -> None:
        """No more calls: the executor ends once what it runs is done (or cancelled)."""
        self.queue.close()
        self._send.close()
        self.state.context.next_id = self.next_id

    # -- internals ------------------------------------------------------------------------------

    def _number(self) -> int:
        call_id = self.next_id
        self.next_id += 1
        return call_id

    def _dispatch(self, task: Task) -> None:
        try:
            self._shadow.add(task)
        except PlanError as exc:
            self._reject(task.id, task.tool, exc)
            return
        now = self.trace.clock.now()
        self.queue.dispatched(task.id, task.tool)
        self.round.tasks.append(task)
        self.trace.add(Span(f"{task.id}. {task.tool} dispatched", "dispatch", now, now, {"task_id": task.id}))
        self._send.send_nowait(task)

    def first_token(self, span: Span) -> None:
        """Record the time to first token of the request traced by ``span``."""
        ttft = self.trace.clock.now() - span.start
        span.attrs["ttft"] = ttft
        self.ttfts.append(ttft)

    def _reject(self, call_id: int, tool: str, error: PlanError) -> None:
        """An error result for a call that never ran: kept in the run's results, and delivered."""
        self.queue.reject(call_id, tool, error)
        now = self.trace.clock.now()
        self.state.context.results[call_id] = TaskResult(call_id, tool, "error", error=error, end=now)
        self.trace.add(
            Span(f"{call_id}. {tool} refused", "dispatch", now, now, {"task_id": call_id}, str(error))
        )

    async def chunks(self, request: ChatRequest, name: str) -> AsyncGenerator[ChatChunk, None]:
        """The chunks of one streamed completion, traced as an ``llm`` span (close it when done)."""
        model = self.state.model
        span = self.trace.start(name, "llm")
        model.calls += 1
        usage = None
        stream = model.endpoint.stream(request)
        try:
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = chunk.usage
                if "ttft" not in span.attrs and (chunk.delta or chunk.tool_calls):
                    self.first_token(span)
                if chunk.index == 0:
                    yield chunk
        except BaseException as exc:
            span.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                with anyio.CancelScope(shield=True):
                    await close()
            if usage is not None:
                model.usage = model.usage + usage
                span.attrs.update(
                    prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens
                )
            self.trace.end(span)  # listeners (live view, trace file, OTel) see it end with its tokens


def _tool_of(body: str) -> str:
    name = body.split("(", 1)[0].strip()
    return name if name.isidentifier() else "?"
