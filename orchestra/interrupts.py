"""The interrupt queue of asynchronous function calling (AsyncLM, Gim et al.).

Calls run while the model keeps generating; each final result is queued here. The strategy takes
the queue's contents at a *safe boundary* (never inside a ``[CALL]`` frame, never with half a
marker read) and writes them into the model's context as one batch of ``[INTR] k [HEAD] value
[END]`` frames: results that became ready together are delivered together, so the model is
interrupted once rather than once per call.

The bookkeeping is a plain class; :meth:`InterruptQueue.wait` is the only async part (an
``anyio.Event`` set by :meth:`put`).
"""

from __future__ import annotations

import anyio

from orchestra.clock import Clock, MonotonicClock
from orchestra.cml import interrupt_frame
from orchestra.errors import OrchestraError
from orchestra.executor import TaskResult

__all__ = ["Delivery", "InterruptQueue"]


class Delivery:
    """One delivered batch: the results, their frames, and when.

    Attributes:
        results: the delivered results, in completion order.
        time: clock time of the delivery.
    """

    __slots__ = ("results", "time")

    def __init__(self, results: list[TaskResult], time: float) -> None:
        self.results = results
        self.time = time

    @property
    def ids(self) -> list[int]:
        """The call ids in the batch."""
        return [r.task_id for r in self.results]

    def frames(self) -> str:
        """The batch as ``[INTR] k [HEAD] value [END]`` lines."""
        return "\n".join(interrupt_frame(r.task_id, r.observation()) for r in self.results)


class InterruptQueue:
    """Calls in flight and results waiting for delivery.

    Args:
        clock: where delivery times come from.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or MonotonicClock()
        self.pending: dict[int, str] = {}
        """Dispatched calls without a final result: id -> tool name."""
        self.ready: list[TaskResult] = []
        """Final results not yet delivered, in completion order."""
        self.deliveries: list[Delivery] = []
        """Every batch delivered so far."""
        self.closed = False
        self._event = anyio.Event()  # set while results are ready
        self._changed = anyio.Event()  # set by every put

    @property
    def idle(self) -> bool:
        """Nothing in flight and nothing to deliver."""
        return not self.pending and not self.ready

    def dispatched(self, call_id: int, tool: str) -> None:
        """Record that call ``call_id`` started (its result will come through :meth:`put`)."""
        self.pending[call_id] = tool

    def put(self, result: TaskResult) -> None:
        """Queue a final result (the executor's ``on_result``; never blocks, never raises).

        Results of calls never dispatched through :meth:`dispatched`, and anything after
        :meth:`close`, are ignored: the run is over and nobody will read them.
        """
        if self.closed or self.pending.pop(result.task_id, None) is None:
            return
        self.ready.append(result)
        self._event.set()
        self._changed.set()

    def reject(self, call_id: int, tool: str, error: OrchestraError) -> None:
        """Queue an error result for a call that never ran (it was malformed or invalid)."""
        self.pending[call_id] = tool
        now = self.clock.now()
        self.put(TaskResult(call_id, tool, "error", error=error, end=now))

    def take(self, *, at_boundary: bool = True) -> Delivery | None:
        """Every ready result as one batch, or None when there is none or the model is mid-frame.

        Args:
            at_boundary: whether the model's text is at a safe boundary (outside any frame).
        """
        if not at_boundary or not self.ready:
            return None
        batch, self.ready = self.ready, []
        self._event = anyio.Event()
        delivery = Delivery(batch, self.clock.now())
        self.deliveries.append(delivery)
        return delivery

    async def wait(self) -> None:
        """Return once at least one result is ready (at once if one is), then let results that
        finish in the same moment join it."""
        await self._event.wait()
        # Tools finishing together complete on the same pass of the event loop; one more pass
        # lets their results land in this batch instead of the next.
        await anyio.lowlevel.checkpoint()

    async def settle(self, window: float) -> None:
        """Keep gathering results until nothing is pending or ``window`` seconds have passed.

        For a model that is *waiting*, each delivery costs a new request (at least one time to
        first token), and a model that has what it needs from part of a batch is rare on
        parallel calls: a result that follows within one such round trip is worth waiting for.
        Waiting costs at most ``window`` when the model could have used the first results alone;
        not waiting costs a whole extra turn when it could not.
        """
        with anyio.move_on_after(window):
            while self.pending and not self.closed:
                changed = self._changed = anyio.Event()
                await changed.wait()

    def close(self) -> None:
        """The run is over: later results are dropped."""
        self.closed = True
