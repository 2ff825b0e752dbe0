"""Which endpoint of a pool serves the next request: a pure policy with an injected clock.

Health is a circuit breaker per endpoint. A retryable failure (5xx, 429, timeout, connection)
puts the endpoint in *cooldown*; a failure after the cooldown ran out (a failed probe) doubles
it, up to ``max_cooldown``; any success closes the breaker. Failures reported while a cooldown
runs do not lengthen it: a hundred in-flight requests failing together are one event. A
non-retryable failure (a 400) is the request's fault and says nothing about the endpoint.

Choice: the healthy endpoint with the fewest requests in flight, ties taken in round-robin
order. Cooldown is a preference, not a refusal: when every endpoint left is cooling down, the one
whose cooldown ends first is still tried, so a pool of one behaves like its endpoint and a
request is only refused once every endpoint has failed it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from orchestra.clock import Clock, MonotonicClock

__all__ = ["EndpointHealth", "RoutingPolicy"]


@dataclass
class EndpointHealth:
    """What the policy knows about one endpoint.

    Attributes:
        in_flight: requests started and not finished.
        failures: consecutive retryable failures.
        cooldown: length of the current (or last) cooldown in seconds; 0 when healthy.
        cooling_until: clock time the cooldown ends.
        successes: requests that succeeded.
        errors: requests that failed (retryable or not).
    """

    in_flight: int = 0
    failures: int = 0
    cooldown: float = 0.0
    cooling_until: float = 0.0
    successes: int = 0
    errors: int = 0


class RoutingPolicy:
    """Health tracking and endpoint choice for a pool.

    Args:
        names: the endpoints' names, unique.
        clock: time source.
        cooldown: first cooldown in seconds.
        max_cooldown: longest cooldown in seconds.
    """

    def __init__(
        self,
        names: Iterable[str],
        clock: Clock | None = None,
        cooldown: float = 1.0,
        max_cooldown: float = 60.0,
    ) -> None:
        self.names = list(names)
        if not self.names:
            raise ValueError("a routing policy needs at least one endpoint")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"endpoint names must be unique: {self.names}")
        self.clock: Clock = clock or MonotonicClock()
        self.base_cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.health = {name: EndpointHealth() for name in self.names}
        self._next = 0  # round-robin start among equally loaded endpoints

    def healthy(self, name: str) -> bool:
        """Whether ``name`` is out of cooldown."""
        return self.health[name].cooling_until <= self.clock.now()

    def choose(self, exclude: Collection[str] = ()) -> str | None:
        """The endpoint for the next request, or None when every endpoint is excluded.

        Healthy endpoints first (fewest in flight, round-robin among ties); when none is
        healthy, the one whose cooldown ends first.
        """
        count = len(self.names)
        order = [self.names[(self._next + i) % count] for i in range(count)]
        candidates = [name for name in order if name not in exclude]
        if not candidates:
            return None
        healthy = [name for name in candidates if self.healthy(name)]
        if healthy:
            chosen = min(healthy, key=lambda name: self.health[name].in_flight)
        else:
            chosen = min(candidates, key=lambda name: self.health[name].cooling_until)
        self._next = (self.names.index(chosen) + 1) % count
        return chosen

    def retry_after(self, names: Iterable[str] | None = None) -> float | None:
        """Seconds until the first of ``names`` (default: all) leaves cooldown; None if one is healthy."""
        now = self.clock.now()
        ends = [self.health[name].cooling_until for name in (self.names if names is None else names)]
        soonest = min(ends, default=now)
        return soonest - now if soonest > now else None

    def on_start(self, name: str) -> None:
        """A request was sent to ``name``."""
        self.health[name].in_flight += 1

    def on_success(self, name: str) -> None:
        """A request to ``name`` succeeded: the endpoint is healthy again."""
        health = self.health[name]
        health.in_flight -= 1
        health.successes += 1
        health.failures = 0
        health.cooldown = 0.0
        health.cooling_until = 0.0

    def on_failure(self, name: str, retryable: bool) -> None:
        """A request to ``name`` failed; ``retryable`` failures count against its health.

        Also call this (with ``retryable=False``) for a request that was cancelled, so that
        ``in_flight`` stays right.
        """
        health = self.health[name]
        health.in_flight -= 1
        health.errors += 1
        if not retryable:
            return
        health.failures += 1
        now = self.clock.now()
        if health.cooling_until > now:
            return  # already cooling: this request was sent before the breaker opened
        health.cooldown = (
            self.base_cooldown if health.cooldown == 0 else min(self.max_cooldown, health.cooldown * 2)
        )
        health.cooling_until = now + health.cooldown

    def snapshot(self) -> dict[str, dict[str, float | int | bool]]:
        """Per endpoint: in flight, health, cooldown left, successes and errors (plain dicts)."""
        now = self.clock.now()
        return {
            name: {
                "in_flight": h.in_flight,
                "healthy": h.cooling_until <= now,
                "cooldown_left": max(0.0, h.cooling_until - now),
                "consecutive_failures": h.failures,
                "successes": h.successes,
                "errors": h.errors,
            }
            for name, h in self.health.items()
        }
