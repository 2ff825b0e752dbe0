"""Which endpoint of a pool serves the next request: a pure policy with an injected clock.

Health is a circuit breaker per endpoint. A retryable failure (5xx, 429, timeout, connection)
puts the endpoint in *cooldown*; a failure after the cooldown ran out (a failed probe) doubles
it, up to ``max_cooldown``; any success closes the breaker. Failures reported while a cooldown
runs do not lengthen it: a hundred in-flight requests failing together are one event. A
non-retryable failure (a 400) is the request's fault and says nothing about the endpoint.

An endpoint can also be *disabled* for good, with a reason, when it fails in a way no wait
fixes (:attr:`orchestra.faults.Fault.endpoint_final`: an exhausted quota, a refused key, an
unknown model) or when it has never once been reached: ``unreachable_failures`` refused
connections spread over at least ``unreachable_after`` seconds and not one success. A disabled
endpoint is never chosen again; the pool raises :class:`~orchestra.errors.EndpointUnavailable`
once all of its members are. Before, 300 rows against a closed port made 5,400 connection
attempts over 78 s before ending.

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
        disabled: why the endpoint is out of use for good (None: in use).
        unreached_since: clock time of the first of the refused connections in a row, while it
            has never been reached (None otherwise).
        unreached: refused connections in a row while never reached.
    """

    in_flight: int = 0
    failures: int = 0
    cooldown: float = 0.0
    cooling_until: float = 0.0
    successes: int = 0
    errors: int = 0
    disabled: str | None = None
    unreached_since: float | None = None
    unreached: int = 0


class RoutingPolicy:
    """Health tracking and endpoint choice for a pool.

    Args:
        names: the endpoints' names, unique.
        clock: time source.
        cooldown: first cooldown in seconds.
        max_cooldown: longest cooldown in seconds.
        unreachable_failures: refused connections (with no success ever) before giving up.
        unreachable_after: ... and the least time in seconds they must span.
    """

    def __init__(
        self,
        names: Iterable[str],
        clock: Clock | None = None,
        cooldown: float = 1.0,
        max_cooldown: float = 60.0,
        unreachable_failures: int = 5,
        unreachable_after: float = 2.0,
    ) -> None:
        self.names = list(names)
        if not self.names:
            raise ValueError("a routing policy needs at least one endpoint")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"endpoint names must be unique: {self.names}")
        self.clock: Clock = clock or MonotonicClock()
        self.base_cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.unreachable_failures = unreachable_failures
        self.unreachable_after = unreachable_after
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
        candidates = [name for name in order if name not in exclude and self.health[name].disabled is None]
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

    def disabled(self) -> dict[str, str]:
        """Endpoints out of use for good, with the reason of each."""
        return {name: h.disabled for name, h in self.health.items() if h.disabled is not None}

    def all_disabled(self) -> bool:
        """Whether no endpoint is left in use."""
        return all(h.disabled is not None for h in self.health.values())

    def disable(self, name: str, reason: str) -> None:
        """Take ``name`` out of use for good (the first reason is kept)."""
        health = self.health[name]
        if health.disabled is None:
            health.disabled = reason

    def on_unreached(self, name: str, reason: str) -> None:
        """A connection to ``name`` was refused; give up on it if it has never been reached."""
        health = self.health[name]
        if health.successes:
            return
        now = self.clock.now()
        if health.unreached_since is None:
            health.unreached_since = now
        health.unreached += 1
        spanned = now - health.unreached_since >= self.unreachable_after
        if health.unreached >= self.unreachable_failures and spanned:
            self.disable(
                name,
                f"{reason} (never reached: {health.unreached} attempts over {now - health.unreached_since:.1f} s)",
            )

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
        health.unreached_since = None
        health.unreached = 0

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

    def snapshot(self) -> dict[str, dict[str, float | int | bool | str]]:
        """Per endpoint: in flight, health, cooldown left, successes, errors and the reason it is
        disabled ('' when in use), as plain dicts."""
        now = self.clock.now()
        return {
            name: {
                "in_flight": h.in_flight,
                "healthy": h.cooling_until <= now and h.disabled is None,
                "cooldown_left": max(0.0, h.cooling_until - now),
                "consecutive_failures": h.failures,
                "successes": h.successes,
                "errors": h.errors,
                "disabled": h.disabled or "",
            }
            for name, h in self.health.items()
        }
