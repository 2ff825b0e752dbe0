"""The allocator's async shell: sends the units the policy picks, and feeds back their results.

:func:`run` does the I/O for an :class:`~orchestra.ttc.allocator.Allocator`: each model unit goes
to the endpoint the policy routed it to (through that endpoint's own wrappers, so a
:class:`~orchestra.endpoints.LimitedEndpoint` still guards its limits), each ``EXECUTE`` unit to
the sandbox. All of it lives in one task group. :func:`drive` is the synchronous loop for
endpoints that answer at once (a replayed bank), used by the comparison's many seeds; it makes the
same decisions in the same order as :func:`run` with one unit in flight.

While a trace is active (``--trace FILE``, OpenTelemetry), each ``EXECUTE`` unit is a ``task``
span; model calls are traced by wrapping the endpoints in
:class:`~orchestra.endpoints.traced.TracedEndpoint`.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping

import anyio

from orchestra.chat import ChatResponse
from orchestra.endpoints.base import Endpoint
from orchestra.errors import EndpointError, UsageError
from orchestra.trace import current_trace
from orchestra.ttc.allocator import Allocator, Dispatch
from orchestra.ttc.program import Execution, UnitResult

__all__ = ["CodeRunner", "drive", "result_of", "run"]

CodeRunner = Callable[[Execution], Awaitable[tuple[str, ...]]]
"""Runs an :class:`~orchestra.ttc.program.Execution` in a sandbox; one output per call."""


def result_of(dispatch: Dispatch, response: ChatResponse) -> UnitResult:
    """A model unit's result from its response."""
    choice = response.choices[0] if response.choices else None
    return UnitResult(
        dispatch.unit,
        text=response.text,
        prompt_tokens=response.usage.prompt_tokens,
        completion_tokens=response.usage.completion_tokens,
        dollars=response.cost,
        finish_reason=choice.finish_reason if choice else None,
    )


async def _perform(
    dispatch: Dispatch, endpoints: Mapping[str, Endpoint], code_runner: CodeRunner | None
) -> UnitResult:
    unit = dispatch.unit
    if unit.execution is not None:
        if code_runner is None:
            return UnitResult(unit, error="no code runner given for an execute unit")
        trace = current_trace()  # a span each only when someone records (--trace, OTel)
        if trace is None:
            return UnitResult(unit, outputs=await code_runner(unit.execution))
        attrs = {"tool": "python", "query_id": dispatch.query_id, "calls": list(unit.execution.calls)}
        with trace.span(f"{dispatch.query_id} execute", "task", **attrs) as span:
            outputs = await code_runner(unit.execution)
            span.attrs["result"] = list(outputs)
        return UnitResult(unit, outputs=outputs)
    assert unit.request is not None and dispatch.lane is not None
    try:
        response = await endpoints[dispatch.lane].complete(unit.request)
    except EndpointError as exc:
        return UnitResult(unit, error=str(exc))
    return result_of(dispatch, response)


async def run(
    allocator: Allocator,
    endpoints: Mapping[str, Endpoint],
    *,
    code_runner: CodeRunner | None = None,
    on_finish: Callable[[Dispatch, UnitResult], None] | None = None,
) -> None:
    """Run every query of ``allocator`` to its end (done, or the budget spent).

    Args:
        allocator: the policy, with its queries added; its lanes name ``endpoints``' keys.
        endpoints: the endpoint of each lane.
        code_runner: runs ``EXECUTE`` units (e.g. :func:`orchestra.ttc.sandbox.run_python`).
        on_finish: called after each unit's result was handed back (progress, journals).

    Raises:
        UsageError: a lane has no endpoint.
    """
    missing = [lane.name for lane in allocator.lanes if lane.name not in endpoints]
    if missing:
        raise UsageError(f"ttc: no endpoint for lane(s) {', '.join(missing)}")
    send, receive = anyio.create_memory_object_stream[tuple[Dispatch, UnitResult]](math.inf)
    in_flight = 0

    async def work(dispatch: Dispatch) -> None:
        result = await _perform(dispatch, endpoints, code_runner)
        await send.send((dispatch, result))

    async with anyio.create_task_group() as tg, send, receive:
        while True:
            step = allocator.next()
            while isinstance(step, Dispatch):
                tg.start_soon(work, step)
                in_flight += 1
                # Let the unit's task take its rate-limit permit before the next routing decision
                # reads the limiters (a LimitedEndpoint takes it in its first step).
                await anyio.lowlevel.checkpoint()
                step = allocator.next()
            if in_flight == 0:
                if step is None:
                    return
                await allocator.clock.sleep(step)  # only rate limits hold work back
                continue
            timeout = step if isinstance(step, float) else None
            with anyio.move_on_after(timeout):
                dispatch, result = await receive.receive()
                in_flight -= 1
                allocator.finish(dispatch, result)
                if on_finish is not None:
                    on_finish(dispatch, result)


def drive(allocator: Allocator, serve: Callable[[Dispatch], UnitResult]) -> None:
    """Run ``allocator`` to its end synchronously, one unit at a time, with ``serve`` answering.

    For endpoints that answer at once (a replayed bank); a unit a rate limit holds back ends the
    loop, since no time passes here.
    """
    while True:
        step = allocator.next()
        if not isinstance(step, Dispatch):
            return
        allocator.finish(step, serve(step))
