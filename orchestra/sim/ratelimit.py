"""Server-side rate limits as OpenAI applies them: token buckets over a window.

Each limit is a bucket of ``capacity`` (the RPM or TPM figure) that refills continuously at
``capacity / window`` per second, so a request refused now is admitted as soon as enough has
dripped back, not at the next minute boundary. Note what that allows: a full bucket admits a burst
of ``capacity`` and then ``capacity`` more over the window, so a sliding window can see up to twice
the nominal limit. Clients that must never exceed ``rpm`` in any window check
:meth:`orchestra.sim.stats.SimStats.max_in_window`.

Pure logic on an injected :class:`~orchestra.clock.Clock`; the HTTP shell is :mod:`orchestra.sim.app`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from orchestra.clock import Clock

__all__ = ["LimitDecision", "SimRateLimiter", "TokenBucket", "format_duration"]

LimitType = Literal["requests", "tokens"]


def format_duration(seconds: float) -> str:
    """``seconds`` in OpenAI's (Go's) duration format: ``"20ms"``, ``"1s"``, ``"1.5s"``, ``"6m0s"``, ``"1h0m0s"``.

    Rounded up to whole milliseconds, so a client that waits this long is never early.
    """
    ms = math.ceil(seconds * 1000.0 - 1e-9)
    if ms <= 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


class TokenBucket:
    """A bucket of ``capacity`` units refilling continuously over ``window_seconds``.

    Args:
        capacity: the limit per window; the bucket starts full.
        window_seconds: time to refill from empty to full.
        clock: time source.
    """

    def __init__(self, capacity: float, window_seconds: float, clock: Clock) -> None:
        if capacity <= 0 or window_seconds <= 0:
            raise ValueError("capacity and window_seconds must be positive")
        self.capacity = float(capacity)
        self.rate = self.capacity / window_seconds
        self._clock = clock
        self._level = self.capacity
        self._last = clock.now()

    def _refill(self) -> None:
        now = self._clock.now()
        if now > self._last:
            self._level = min(self.capacity, self._level + (now - self._last) * self.rate)
            self._last = now

    @property
    def level(self) -> float:
        """Units available now."""
        self._refill()
        return self._level

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` units are available (0 if now; ``inf`` if above capacity)."""
        if amount > self.capacity:
            return math.inf
        missing = amount - self.level
        return max(0.0, missing / self.rate)

    def take(self, amount: float) -> None:
        """Debit ``amount`` units (call after ``wait_for`` returned 0)."""
        self._refill()
        self._level -= amount

    def time_to_full(self) -> float:
        """Seconds until the bucket is full again (OpenAI's ``x-ratelimit-reset-*``)."""
        return (self.capacity - self.level) / self.rate


@dataclass(frozen=True, slots=True)
class LimitDecision:
    """What the limiter said about one request.

    Args:
        allowed: whether the request was admitted (and debited).
        at: clock time of the decision.
        headers: the ``x-ratelimit-*`` headers to send, whatever the outcome.
        limit_type: which limit refused it ("requests" or "tokens"), when refused.
        retry_after: seconds until it would be admitted, when refused.
        message: OpenAI-style explanation, when refused.
    """

    allowed: bool
    at: float
    headers: dict[str, str] = field(default_factory=dict)
    limit_type: LimitType | None = None
    retry_after: float = 0.0
    message: str = ""


class SimRateLimiter:
    """The RPM and TPM buckets of one server; a request is debited from both or from neither.

    Args:
        rpm: request capacity per window, or None for no request limit.
        tpm: token capacity per window, or None for no token limit.
        window_seconds: the window (60 s at OpenAI; short in tests).
        clock: time source.
    """

    def __init__(self, rpm: int | None, tpm: int | None, window_seconds: float, clock: Clock) -> None:
        self._clock = clock
        self._window = window_seconds
        self._requests = TokenBucket(rpm, window_seconds, clock) if rpm else None
        self._tokens = TokenBucket(tpm, window_seconds, clock) if tpm else None

    def admit(self, tokens: int, model: str = "sim-model") -> LimitDecision:
        """Admit and debit one request costing ``tokens`` tokens, or say why and for how long not."""
        at = self._clock.now()
        refusals: list[tuple[LimitType, float, TokenBucket, float]] = []
        for kind, bucket, amount in (
            ("requests", self._requests, 1.0),
            ("tokens", self._tokens, float(tokens)),
        ):
            if bucket is not None:
                wait = bucket.wait_for(amount)
                if wait > 0:
                    refusals.append((kind, wait, bucket, amount))  # type: ignore[arg-type]
        if not refusals:
            for bucket, amount in ((self._requests, 1.0), (self._tokens, float(tokens))):
                if bucket is not None:
                    bucket.take(amount)
            return LimitDecision(allowed=True, at=at, headers=self.headers())
        kind, _, bucket, amount = refusals[0]
        retry_after = max(wait for _, wait, _, _ in refusals)
        message = self._message(kind, bucket, amount, retry_after, model)
        return LimitDecision(
            allowed=False,
            at=at,
            headers=self.headers(),
            limit_type=kind,
            # A request above the capacity never fits; still name a finite wait, as OpenAI does.
            retry_after=self._window if math.isinf(retry_after) else retry_after,
            message=message,
        )

    def headers(self) -> dict[str, str]:
        """``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` for the limits that are set."""
        out: dict[str, str] = {}
        for kind, bucket in (("requests", self._requests), ("tokens", self._tokens)):
            if bucket is not None:
                out[f"x-ratelimit-limit-{kind}"] = str(int(bucket.capacity))
                out[f"x-ratelimit-remaining-{kind}"] = str(max(0, math.floor(bucket.level)))
                out[f"x-ratelimit-reset-{kind}"] = format_duration(bucket.time_to_full())
        return out

    def _message(self, kind: LimitType, bucket: TokenBucket, amount: float, wait: float, model: str) -> str:
        # OpenAI's wording, so clients that match on it (the cookbook processor does) behave as they would there.
        unit = "RPM" if kind == "requests" else "TPM"
        limit = int(bucket.capacity)
        if math.isinf(wait):
            return (
                f"Request too large for {model} in organization org-sim on tokens per min (TPM): "
                f"Limit {limit}, Requested {int(amount)}. The input or output tokens must be reduced in order to run "
                "successfully."
            )
        used = max(0, math.ceil(bucket.capacity - bucket.level))
        return (
            f"Rate limit reached for {model} in organization org-sim on {kind} per min ({unit}): "
            f"Limit {limit}, Used {used}, Requested {int(amount)}. Please try again in {format_duration(wait)}. "
            "Visit https://platform.openai.com/account/rate-limits to learn more."
        )
