"""Time as an injectable dependency.

Every limiter, scheduler and routing policy takes a :class:`Clock`, so tests drive time with
:class:`FakeClock` instead of sleeping (trio's ``MockClock`` idea).
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

import anyio

__all__ = ["Clock", "FakeClock", "MonotonicClock"]


@runtime_checkable
class Clock(Protocol):
    """A source of monotonic time in seconds and a way to wait for it."""

    def now(self) -> float:
        """Current monotonic time in seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class MonotonicClock:
    """The real clock: ``time.monotonic`` and ``anyio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that only moves when told to, or when someone sleeps on it.

    ``sleep`` advances time by its duration at once (it still yields to the event loop once),
    so code that waits 60 s for a rate-limit window runs in microseconds in tests. Each sleep adds
    its own duration: it suits pure classes and one sleeper at a time, while concurrent sleepers
    add up (two tasks sleeping 1 s and 2 s leave the clock at 3 s).

    Args:
        start: the initial reading.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (never backward)."""
        if seconds < 0:
            raise ValueError("time cannot go backward")
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await anyio.lowlevel.checkpoint()
