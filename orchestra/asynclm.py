"""The ``async`` strategy: asynchronous function calling with interrupts (AsyncLM, Gim et al.).

The model calls tools inside its text in CML (:mod:`orchestra.cml`); each call is dispatched the
moment its frame closes, while the model keeps generating; results are queued
(:mod:`orchestra.interrupts`) and come back to the model as ``[INTR] k [HEAD] value [END]``
interrupts, batched, never inside a ``[CALL]`` frame. AsyncLM reports 1.6x to 5.4x lower
end-to-end latency than synchronous function calling on BFCL; its public code is tied to one
inference engine. Here three delivery modes cover the servers people run:

- ``turn`` (any chat-completions server): calls run while the turn streams; when the turn ends,
  ready results (and a placeholder line for calls still running) go into the next user message;
  if none is ready the runtime waits for the first.
- ``resume`` (servers that continue raw text: llama.cpp, vLLM, SGLang): when a result is ready at
  a safe boundary the stream is cancelled and generation resumes through ``/completions`` from the
  templated prompt plus the partial text plus the ``[INTR]`` frames; prefix caching makes the
  resume cheap (:mod:`orchestra.resume`).
- ``native`` (servers that stream ``tool_calls``): each call is dispatched as soon as its
  arguments JSON closes (merged by ``index``, :mod:`orchestra.tool_deltas`); results return as
  tool messages on the next turn.

The default (``async_mode=None``) is ``resume`` when the endpoint can apply its chat template,
else ``turn``. A run ends when the model answers with nothing pending, after ``max_turns`` turns
(or resumes), or at the agent's ``deadline``; either way every call still running is cancelled and
recorded as such: nothing is left running.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, cast

import anyio

from orchestra.call_runtime import CallRuntime
from orchestra.chat import ChatRequest, Message, ToolCall
from orchestra.cml import CALL, END, TRAP, CallFrame, CMLEvent, CMLParser, Forged, Malformed, Text, Trap
from orchestra.errors import PlanError, UsageError
from orchestra.executor import TaskResult
from orchestra.interrupts import Delivery
from orchestra.planning import InterruptPlanner
from orchestra.tool_deltas import MergedCall, ToolCallMerger

if TYPE_CHECKING:
    from orchestra.strategies import RunState

__all__ = ["ASYNC_MODES", "run_async"]

ASYNC_MODES = ("turn", "resume", "native")
"""The delivery modes of the ``async`` strategy."""


async def run_async(state: RunState) -> str:
    """AsyncLM over the agent's endpoint in ``agent.async_mode`` (None: the best it supports).

    Raises:
        UsageError: an unknown mode, or ``resume`` on an endpoint that cannot continue raw text.
        EndpointError: the model failed.
    """
    from orchestra.resume import run_resume, text_endpoint

    agent = state.agent
    mode = agent.async_mode
    if mode is not None and mode not in ASYNC_MODES:
        raise UsageError(f"unknown async mode {mode!r}; choose one of: {', '.join(ASYNC_MODES)}")
    if mode == "resume" and text_endpoint(state.model.endpoint) is None:
        raise UsageError(
            f"async mode 'resume' needs an endpoint that continues raw text (/completions); "
            f"{state.model.endpoint.name} cannot: use --async-mode turn"
        )
    runtime = CallRuntime(state, cast(InterruptPlanner, agent.planner))
    deadline = agent.deadline if agent.deadline is not None else math.inf
    answer: str | None = None
    failure: BaseException | None = None
    with anyio.move_on_after(deadline):
        async with anyio.create_task_group() as tg:
            tg.start_soon(runtime.execute)
            try:
                if mode in (None, "resume"):
                    answer = await run_resume(state, runtime, required=mode == "resume")
                if answer is None:  # auto: the endpoint has no chat template to resume with
                    mode = mode if mode not in (None, "resume") else "turn"
                    answer = await (
                        _run_native(state, runtime) if mode == "native" else _run_turns(state, runtime)
                    )
                else:
                    mode = "resume"
            except Exception as exc:  # the model failed: stop the calls, then raise
                failure = exc
            finally:
                runtime.finish()
                tg.cancel_scope.cancel()  # whatever is still running (deadline, max_turns)
    state.extra["async_mode"] = mode
    state.extra["deliveries"] = runtime.queue.deliveries
    if failure is not None:
        raise failure
    if answer is None:
        cancelled = [i for i, r in state.context.results.items() if r.status == "cancelled"]
        running = ", ".join(str(i) for i in sorted(cancelled)) or "none"
        return f"(no answer: the deadline of {agent.deadline} s passed; calls still running: {running})"
    return answer


# -- turn mode -------------------------------------------------------------------------------


async def _run_turns(state: RunState, rt: CallRuntime) -> str:
    """Interrupts at turn boundaries over chat completions."""
    agent = state.agent
    planner = cast(InterruptPlanner, agent.planner)
    context = state.context
    messages = planner.start(context, "turn")
    batches: list[Delivery] = []  # delivered since the model last wrote anything
    turn = 0
    while True:
        context.final = turn == agent.max_turns
        round_ = rt.new_round()
        request = planner.request(messages, context, "turn")
        name = f"turn {turn + 1}"
        outcome = await _stream_cml(rt, request, name, final=context.final, restartable=bool(batches))
        if outcome is None:
            # Results came in before the model wrote its first token: the turn had not begun, so
            # it is asked again with them in its interrupt message rather than one turn later.
            context.rounds.remove(round_)
            delivery = await rt.deliver(wait=False, settle=False)
            batches += [delivery] if delivery is not None else []
            messages[-1] = Message(role="user", content=_interrupt_message(rt, batches, context.final))
            continue
        text, visible, trapped = outcome
        round_.text = text
        messages.append(Message(role="assistant", content=text))
        if context.final or (rt.queue.idle and not trapped):
            return planner.answer(visible)
        delivery = await rt.deliver()
        batches = [delivery] if delivery is not None else []
        turn += 1
        messages.append(
            Message(role="user", content=_interrupt_message(rt, batches, turn == agent.max_turns))
        )


async def _stream_cml(
    rt: CallRuntime, request: ChatRequest, name: str, *, final: bool, restartable: bool = False
) -> tuple[str, str, bool] | None:
    """One streamed turn: dispatch each call as its frame closes; stop at a trap or a forgery.

    Args:
        restartable: give up the turn if a result arrives before its first token (the model is
            waiting on results, and has not begun to answer the ones it has).

    Returns:
        ``(text, visible, trapped)``: the turn's text for the transcript (cut at a forged
        ``[INTR]``, ended after a trap), the text outside frames, and whether it ended in a trap;
        None when the turn was given up for a result that arrived before its first token.
    """
    parser = CMLParser()
    visible: list[str] = []
    trapped = False
    started = False
    restarted = False
    failure: list[Exception] = []
    chunks = rt.chunks(request, name)

    async def read(scope: anyio.CancelScope) -> None:
        nonlocal trapped, started
        try:
            async for chunk in chunks:
                if chunk.delta and not started:
                    started = True
                    watcher.cancel()
                trapped = _handle(rt, parser.feed(chunk.delta), visible, final=final)
                if trapped or parser.done:
                    break
        except Exception as exc:  # the model failed: raised as itself below, not in a group
            failure.append(exc)
        scope.cancel()

    async def watch() -> None:
        nonlocal restarted
        with watcher:
            await rt.queue.wait()
            if not started:
                restarted = True
                group.cancel_scope.cancel()

    watcher = anyio.CancelScope()
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(read, group.cancel_scope)
            if restartable and not final:
                group.start_soon(watch)
    finally:
        await chunks.aclose()
    if failure:
        raise failure[0]
    if restarted:
        return None
    if not trapped and not parser.done:
        _handle(rt, parser.close(), visible, final=final)
    return _transcript(parser.text, trapped), "".join(visible), trapped


def _handle(rt: CallRuntime, events: list[CMLEvent], visible: list[str], *, final: bool) -> bool:
    """Act on parser events in order; True at a trap (later events of the chunk are dropped)."""
    for event in events:
        if isinstance(event, Text):
            visible.append(event.text)
        elif isinstance(event, CallFrame):
            if final:
                rt.malformed("no more calls are allowed: answer now", tool=_name(event.body))
            else:
                rt.call(event.body)
        elif isinstance(event, Malformed):
            rt.malformed(event.message)
        elif isinstance(event, Trap):
            return True
        elif isinstance(event, Forged):
            return False
    return False


def _transcript(text: str, trapped: bool) -> str:
    """The model's text as it goes back into its context: a trap is closed with ``[END]``."""
    if trapped:
        at = text.find(TRAP)
        return text[: at + len(TRAP)] + END
    return text


def _interrupt_message(rt: CallRuntime, batches: list[Delivery], last: bool) -> str:
    """The user message of the next turn: the batches of interrupts, then what is still running."""
    lines = [delivery.frames() for delivery in batches]
    pending = sorted(rt.queue.pending)
    if pending:
        lines.append("Still running: " + ", ".join(f"call {i}" for i in pending) + " (results will follow).")
    elif not batches:
        lines.append(f"No call is pending: answer now, or make a call with {CALL} ... {END}.")
    if last:
        lines.append("No more calls are allowed: write the final answer now.")
    return "\n".join(lines)


def _name(body: str) -> str:
    head = body.split("(", 1)[0].strip()
    return head if head.isidentifier() else "?"


# -- native mode -----------------------------------------------------------------------------


async def _run_native(state: RunState, rt: CallRuntime) -> str:
    """Native ``tool_calls``: dispatch each as its JSON closes; results as tool messages next turn."""
    agent = state.agent
    planner = cast(InterruptPlanner, agent.planner)
    context = state.context
    messages = planner.start(context, "native")
    for turn in range(agent.max_turns + 1):
        context.final = turn == agent.max_turns
        round_ = rt.new_round()
        request = planner.request(messages, context, "native")
        text, calls = await _stream_native(rt, request, f"turn {turn + 1}")
        round_.text = text
        if not calls or context.final:
            return planner.answer(text)
        messages.append(
            Message(
                role="assistant",
                content=text or None,
                tool_calls=[
                    ToolCall(id=wire_id, name=c.name, arguments=c.arguments) for c, wire_id, _ in calls
                ],
            )
        )
        wanted = {call_id for _, _, call_id in calls}
        results: dict[int, TaskResult] = {}
        while wanted - results.keys():
            delivery = await rt.deliver()
            if delivery is None:  # pragma: no cover - every dispatched call ends with a result
                break
            results.update({r.task_id: r for r in delivery.results})
        for call, wire_id, call_id in calls:
            result = results.get(call_id)
            content = result.observation() if result is not None else "(no result)"
            messages.append(Message(role="tool", tool_call_id=wire_id, name=call.name, content=content))
    raise AssertionError("unreachable: the last turn always returns")


async def _stream_native(
    rt: CallRuntime, request: ChatRequest, name: str
) -> tuple[str, list[tuple[MergedCall, str, int]]]:
    """One streamed turn of native calls; each is dispatched as soon as its arguments close."""
    merger = ToolCallMerger()
    text: list[str] = []
    calls: list[tuple[MergedCall, str, int]] = []

    def dispatch(closed: list[MergedCall]) -> None:
        for call in closed:
            call_id = _submit(rt, call)
            calls.append((call, call.id or f"call_{call_id}", call_id))

    chunks = rt.chunks(request, name)
    try:
        async for chunk in chunks:
            text.append(chunk.delta)
            if chunk.tool_calls:
                dispatch(merger.feed(chunk.tool_calls))
    finally:
        await chunks.aclose()
    dispatch(merger.close())
    return "".join(text), calls


def _submit(rt: CallRuntime, call: MergedCall) -> int:
    if not call.closed or (not call.parsed and call.arguments.strip() not in ("", "{}")):
        return rt.malformed(
            f"the arguments of {call.name} are not a JSON object: {call.arguments[:80]!r}", call.name
        )
    try:
        return rt.submit(call.name, call.parsed)
    except PlanError as exc:  # pragma: no cover - submit reports through the queue
        return rt.malformed(str(exc), call.name)
