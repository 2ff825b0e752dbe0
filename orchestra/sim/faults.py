"""Fault injection: which requests fail, and how, drawn from one seeded generator.

One ``random()`` draw per request is split into exclusive ranges (429 burst, 5xx, hang, drop,
malformed, none), so the configured rates are exact shares and a fixed seed replays the same
sequence of outcomes for the same sequence of requests.
"""

from __future__ import annotations

import enum
import random

from orchestra.sim.config import SimConfig

__all__ = ["Fault", "FaultInjector"]


class Fault(enum.Enum):
    """The outcome a request is destined for before it is served."""

    NONE = "none"
    BURST_429 = "burst_429"
    ERROR = "error"
    HANG = "hang"
    DROP = "drop"
    MALFORMED = "malformed"


# The 5xx statuses a busy OpenAI-compatible server answers: internal error, bad gateway behind a
# load balancer, and overloaded (vLLM and OpenAI both send 503 when saturated).
_ERROR_STATUSES = (500, 502, 503)


class FaultInjector:
    """Draws each request's fault from ``rng``.

    Args:
        config: the fault rates.
        rng: the seeded generator (shared by nothing else, so content does not shift faults).
    """

    def __init__(self, config: SimConfig, rng: random.Random) -> None:
        self._rng = rng
        self._active = config.fault_rate_total > 0
        bounds: list[tuple[float, Fault]] = []
        edge = 0.0
        for rate, fault in (
            (config.burst_429_rate, Fault.BURST_429),
            (config.error_rate, Fault.ERROR),
            (config.hang_rate, Fault.HANG),
            (config.drop_rate, Fault.DROP),
            (config.malformed_rate, Fault.MALFORMED),
        ):
            if rate > 0:
                edge += rate
                bounds.append((edge, fault))
        self._bounds = bounds

    def draw(self) -> Fault:
        """The fault of the next request."""
        if not self._active:
            return Fault.NONE
        u = self._rng.random()
        for edge, fault in self._bounds:
            if u < edge:
                return fault
        return Fault.NONE

    def error_status(self) -> int:
        """A 5xx status for an ``ERROR`` fault."""
        return self._rng.choice(_ERROR_STATUSES)
