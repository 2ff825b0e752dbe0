"""What the simulator served: counters, per-model counts, and when each accepted request was admitted.

Every request lands in exactly one outcome counter, so
``requests == ok + rate_limited + errors_5xx + hangs + drops + malformed + bad_requests``.
The admission times of the ``ok`` requests let a test check a client's pacing from the server's
side ("never above the limit in any window") instead of trusting the client's own accounting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ModelStats", "SimStats"]

_COLLECTIONS = ("accepted_times", "per_model", "peers")
_OUTCOMES = ("ok", "rate_limited", "errors_5xx", "hangs", "drops", "malformed", "bad_requests")


@dataclass(slots=True)
class ModelStats:
    """Counts for one model name."""

    requests: int = 0
    ok: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(slots=True)
class SimStats:
    """Counters of one simulator run (``app.state.stats``; JSON at ``GET /sim/stats``)."""

    requests: int = 0
    ok: int = 0
    rate_limited: int = 0
    bursts_429: int = 0  # the injected subset of rate_limited
    errors_5xx: int = 0
    hangs: int = 0
    drops: int = 0
    malformed: int = 0
    bad_requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Admission times in seconds since the simulator started (``started_at_unix`` on the wall
    # clock), not raw monotonic values, which mean nothing outside the simulator's process.
    accepted_times: list[float] = field(default_factory=list)
    started_at_unix: float = 0.0
    # Client (host, port) pairs seen: how many connections clients opened. A client that builds a
    # new HTTP client per request (prompto, docs/design.md) shows one per request here.
    peers: set[tuple[str, int]] = field(default_factory=set)
    per_model: dict[str, ModelStats] = field(default_factory=dict)

    def model(self, name: str) -> ModelStats:
        """The counters of model ``name`` (created on first use)."""
        found = self.per_model.get(name)
        if found is None:
            found = self.per_model[name] = ModelStats()
        return found

    def record_ok(self, model: str, admitted_at: float, prompt_tokens: int, completion_tokens: int) -> None:
        """Count one request answered normally, admitted at ``admitted_at`` (seconds since the start)."""
        self.ok += 1
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        self.accepted_times.append(admitted_at)
        counts = self.model(model)
        counts.ok += 1
        counts.prompt_tokens += prompt_tokens
        counts.completion_tokens += completion_tokens

    def max_in_window(self, window_seconds: float) -> int:
        """Most accepted requests in any half-open window ``[t, t + window_seconds)``.

        Two pointers over the (sorted) admission times: linear, so a 100,000-request run is cheap.
        """
        times = sorted(self.accepted_times)
        best = 0
        start = 0
        for end, t in enumerate(times):
            while t - times[start] >= window_seconds:
                start += 1
            best = max(best, end - start + 1)
        return best

    @property
    def outcomes_total(self) -> int:
        """Sum of the outcome counters; equals ``requests`` once every request has finished."""
        return sum(getattr(self, name) for name in _OUTCOMES)

    def to_dict(self, *, times: bool = False) -> dict[str, Any]:
        """A JSON-ready dict; ``accepted_times`` only when ``times`` (it grows with the run)."""
        out: dict[str, Any] = {
            name: getattr(self, name) for name in self.__dataclass_fields__ if name not in _COLLECTIONS
        }
        out["per_model"] = {name: asdict(counts) for name, counts in self.per_model.items()}
        out["accepted"] = len(self.accepted_times)
        out["connections"] = len(self.peers)
        if times:
            out["accepted_times"] = list(self.accepted_times)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimStats:
        """Rebuild stats from :meth:`to_dict` output (e.g. fetched from a simulator subprocess)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["per_model"] = {
            name: ModelStats(**counts) for name, counts in data.get("per_model", {}).items()
        }
        known["accepted_times"] = list(data.get("accepted_times", []))
        return cls(**known)
