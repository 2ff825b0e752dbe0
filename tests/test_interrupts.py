"""The interrupt queue and the native tool-call merger: pure pieces of the async strategy."""

from __future__ import annotations

import json

import anyio
import anyio.lowlevel
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestra.chat import ToolCall
from orchestra.clock import FakeClock
from orchestra.errors import PlanError
from orchestra.executor import TaskResult
from orchestra.interrupts import InterruptQueue
from orchestra.tool_deltas import ToolCallMerger


def test_results_ready_together_are_one_batch_in_completion_order():
    queue = InterruptQueue(FakeClock())
    for i in (1, 2, 3):
        queue.dispatched(i, "search")
    queue.put(TaskResult(2, "search", "ok", value="b"))
    queue.put(TaskResult(1, "search", "ok", value="a"))
    delivery = queue.take()
    assert delivery is not None and delivery.ids == [2, 1]
    assert delivery.frames() == "[INTR] 2 [HEAD] b [END]\n[INTR] 1 [HEAD] a [END]"
    assert queue.take() is None and list(queue.pending) == [3] and not queue.idle


def test_nothing_is_taken_while_the_model_is_inside_a_frame():
    queue = InterruptQueue(FakeClock())
    queue.dispatched(1, "search")
    queue.put(TaskResult(1, "search", "ok", value="a"))
    assert queue.take(at_boundary=False) is None
    assert queue.take(at_boundary=True) is not None


def test_unknown_and_late_results_are_dropped_and_rejections_are_errors():
    queue = InterruptQueue(FakeClock())
    queue.put(TaskResult(9, "search", "ok", value="never dispatched"))
    assert queue.idle
    queue.reject(4, "teleport", PlanError("call 4: unknown tool 'teleport'"))
    delivery = queue.take()
    assert (
        delivery is not None
        and delivery.frames() == "[INTR] 4 [HEAD] ERROR: call 4: unknown tool 'teleport' [END]"
    )
    queue.dispatched(5, "search")
    queue.close()
    queue.put(TaskResult(5, "search", "ok", value="late"))
    assert queue.take() is None


async def test_wait_returns_when_a_result_lands():
    queue = InterruptQueue()
    queue.dispatched(1, "search")
    async with anyio.create_task_group() as tg:
        tg.start_soon(queue.wait)
        await anyio.lowlevel.checkpoint()
        queue.put(TaskResult(1, "search", "ok", value="a"))
    assert queue.ready


def _deltas(calls: list[tuple[str, str, dict]], cuts: list[int]) -> list[list[ToolCall]]:
    """Wire-like deltas: the first of each call carries id and name, then argument pieces."""
    chunks: list[list[ToolCall]] = []
    for index, (call_id, name, args) in enumerate(calls):
        text = json.dumps(args)
        chunks.append([ToolCall(index=index, id=call_id, name=name, arguments="")])
        last = 0
        for cut in sorted({c % (len(text) + 1) for c in cuts} | {len(text)}):
            if cut > last:
                chunks.append([ToolCall(index=index, id=str(index), name="", arguments=text[last:cut])])
                last = cut
    return chunks


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=60), max_size=6))
def test_deltas_merge_by_index_and_each_call_closes_with_its_json(cuts):
    calls = [("call_a", "search", {"query": "Nile [x]", "k": 2}), ("call_b", "calc", {"expression": "1+2"})]
    merger = ToolCallMerger()
    closed_at: dict[int, int] = {}
    chunks = _deltas(calls, cuts)
    for position, chunk in enumerate(chunks):
        for call in merger.feed(chunk):
            closed_at[call.index] = position
    assert merger.close() == []
    assert [(c.id, c.name, c.parsed) for c in merger.calls.values()] == calls
    # Call 0 is reported the moment its JSON closes, before any piece of call 1 arrives.
    first_of_b = next(i for i, chunk in enumerate(chunks) if chunk[0].index == 1)
    assert closed_at[0] < first_of_b


def test_interleaved_deltas_and_a_call_left_open_at_the_end():
    merger = ToolCallMerger()
    assert merger.feed([ToolCall(index=0, id="a", name="f", arguments='{"x": ')]) == []
    assert merger.feed([ToolCall(index=1, id="b", name="g", arguments="{}")])[0].id == "b"
    (done,) = merger.feed([ToolCall(index=0, id="0", name="", arguments="1}")])
    assert done.id == "a" and done.parsed == {"x": 1}
    merger.feed([ToolCall(index=2, id="c", name="h", arguments='{"y": [1, ')])
    (broken,) = merger.close()
    assert broken.name == "h" and broken.parsed == {}
